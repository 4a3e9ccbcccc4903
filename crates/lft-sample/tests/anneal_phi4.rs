//! On a small φ⁴ lattice in the broken phase, the weighted ⟨|m|⟩ and χ₂ = V⟨m²⟩ of SMC and
//! CRAFT passes and of the PIMH chain agree with HMC within their combined errors (m = M/V), and their ⟨m⟩ with
//! the exact 0 of the Z₂ symmetry: annealing visits both signs, which HMC chains here do not
//! (each stays in the sign it fell into).

use lft_action::{Phi4, Phi4Params};
use lft_flow::{Activation, FlowSpec, Prior, PriorSpec};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::anneal::{Craft, Resampling, Schedule, SmcPass, SmcSettings, smc_pass, smc_pimh};
use lft_sample::{HmcChain, HmcParams, Integrator, Start};
use lft_stats::{estimate_mean, normalized_weights};

const V: usize = 16;

/// (|m|, V m² (whose mean is χ₂), m) of one configuration.
fn observables(phi: &[f64]) -> [f64; 3] {
    let m = phi.iter().sum::<f64>() / V as f64;
    [m.abs(), V as f64 * m * m, m]
}

fn hmc_params() -> HmcParams {
    HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Leapfrog,
        length_jitter: 0.5,
    }
}

/// (value, error) of each observable from 4 HMC chains of 20 000 trajectories (cold starts: a
/// hot start can put a site where λφ⁴ makes the leapfrog unstable).
fn hmc_reference(action: &Phi4) -> [(f64, f64); 3] {
    let mut series = vec![vec![Vec::new(); 4]; 3];
    for c in 0..4 {
        let mut chain = HmcChain::new(action, Start::Cold, stream_rng(100, c), hmc_params());
        for t in 0..21_000 {
            chain.trajectory(action);
            if t >= 1000 {
                for (k, o) in observables(chain.field()).into_iter().enumerate() {
                    series[k][c as usize].push(o);
                }
            }
        }
    }
    std::array::from_fn(|k| {
        let replicas: Vec<&[f64]> = series[k].iter().map(|s| s.as_slice()).collect();
        let e = estimate_mean(&replicas).unwrap();
        (e.value, e.error)
    })
}

/// |a − b| < 3σ with σ² = e_a² + e_b² (e_b = 0 for an exact value).
fn agree(name: &str, (a, ea): (f64, f64), (b, eb): (f64, f64)) {
    let sigma = (ea * ea + eb * eb).sqrt();
    assert!(
        sigma > 0.0 && (a - b).abs() < 3.0 * sigma,
        "{name}: {a} ± {ea} against {b} ± {eb}"
    );
}

/// The weighted averages of each pass, then their mean over passes, against the HMC reference
/// (|m| and χ₂) and the exact ⟨m⟩ = 0.
fn check_passes(method: &str, passes: &[SmcPass], reference: [(f64, f64); 3]) {
    let mut per_pass = vec![Vec::new(); 3];
    for pass in passes {
        let w = normalized_weights(&pass.log_weights);
        let mut avg = [0.0; 3];
        for (phi, wi) in pass.particles.chunks_exact(V).zip(&w) {
            for (k, o) in observables(phi).into_iter().enumerate() {
                avg[k] += wi * o;
            }
        }
        (0..3).for_each(|k| per_pass[k].push(avg[k]));
    }
    for (k, name) in ["<|m|>", "chi2", "<m>"].iter().enumerate() {
        let n = passes.len() as f64;
        let mean = per_pass[k].iter().sum::<f64>() / n;
        let var = per_pass[k].iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let truth = if k == 2 { (0.0, 0.0) } else { reference[k] };
        agree(&format!("{method} {name}"), (mean, (var / n).sqrt()), truth);
    }
}

fn transport_spec() -> FlowSpec {
    FlowSpec::affine_transport(2, vec![4], 3, Activation::Tanh)
}

#[test]
fn smc_craft_and_pimh_agree_with_hmc_in_the_broken_phase() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: -5.0,
            lambda: 2.0,
        },
    )
    .unwrap();
    let prior = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
    let reference = hmc_reference(&action);
    assert!(
        reference[0].0 > 0.5,
        "broken phase: <|m|> = {:?}",
        reference[0]
    );

    // SMC: the weighted average of each pass, then the mean over passes.
    let settings = SmcSettings {
        particles: 256,
        schedule: Schedule::Adaptive { target: 0.5 },
        resampling: Some(Resampling::Systematic),
        ess_threshold: 0.5,
        hmc: hmc_params(),
        trajectories: 2,
        step_knots: Vec::new(),
        target_acceptance: None,
    };
    let smc: Vec<SmcPass> = (0..24)
        .map(|p| smc_pass(&prior, &action, &settings, 5, p).unwrap())
        .collect();
    check_passes("SMC", &smc, reference);
    // The same with resampling in the order of M.
    let ordered = SmcSettings {
        resampling: Some(Resampling::Ordered),
        ..settings.clone()
    };
    let smc: Vec<SmcPass> = (0..24)
        .map(|p| smc_pass(&prior, &action, &ordered, 5, p).unwrap())
        .collect();
    check_passes("SMC, ordered resampling", &smc, reference);
    // The same from the free-field prior (the lane-batched moves of its tempered φ⁴).
    let free = Prior::new(PriorSpec::FreeField { m2: 1.0 }, &lat).unwrap();
    let smc: Vec<SmcPass> = (0..24)
        .map(|p| smc_pass(&free, &action, &settings, 5, p).unwrap())
        .collect();
    check_passes("SMC from the free field", &smc, reference);

    // CRAFT: 30 training iterations on a fixed schedule, then fresh evaluation passes.
    let fixed = SmcSettings {
        schedule: Schedule::Linear { steps: 8 },
        ..settings.clone()
    };
    let mut craft = Craft::new(&transport_spec(), &lat, 8, 1);
    for _ in 0..30 {
        craft
            .train_iteration(&prior, &action, &fixed, 1e-2, 5)
            .unwrap();
    }
    let evaluated: Vec<SmcPass> = (0..24)
        .map(|p| craft.evaluate(&prior, &action, &fixed, 6, p).unwrap())
        .collect();
    check_passes("CRAFT", &evaluated, reference);

    // PIMH over passes of 64 particles.
    let small = SmcSettings {
        particles: 64,
        ..settings
    };
    let (mut chain, mut passes) = smc_pimh(&prior, &action, &small, 9).unwrap();
    let mut series = vec![Vec::new(); 3];
    let mut accepted = 0;
    let steps = 1500;
    for _ in 0..steps {
        let step = chain.step(&mut passes).unwrap();
        accepted += step.accepted as usize;
        for (k, o) in observables(&step.config).into_iter().enumerate() {
            series[k].push(o);
        }
    }
    let acceptance = accepted as f64 / steps as f64;
    assert!(acceptance > 0.2, "PIMH acceptance {acceptance}");
    for (k, name) in ["PIMH <|m|>", "PIMH chi2", "PIMH <m>"].iter().enumerate() {
        let e = estimate_mean(&[&series[k]]).unwrap();
        let truth = if k == 2 { (0.0, 0.0) } else { reference[k] };
        agree(name, (e.value, e.error), truth);
    }
}
