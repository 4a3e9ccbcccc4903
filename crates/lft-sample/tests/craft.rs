//! CRAFT: identity flows reproduce SMC bit for bit, the transition loss gradient matches
//! finite differences, results do not depend on the number of threads, and trained flows give
//! the exact free-field log Z (docs/PHYSICS.md) within 3 standard errors of repeated
//! evaluation passes; the same for continuous transports (a kernel vector field integrated by
//! RK4, exactly the identity at zero weights). The continuous transports' log|det| is the
//! solver's ∫∇·v dt, so log Z carries the integrator's error: with 8 RK4 steps (the config's
//! default) log Z = −2.841 ± 0.018 against the exact −2.858; with 4 steps −2.805 ± 0.021,
//! 2.5 standard errors off (the training exploits the solver's error).

use lft_action::{FreeField, Phi4, Phi4Params};
use lft_flow::{Activation, ContinuousSpec, CouplingSpec, FlowSpec, Prior, PriorSpec};
use lft_lattice::{Lattice, gaussian_fill, stream_rng, uniform};
use lft_sample::anneal::{Craft, Resampling, Schedule, SmcSettings, smc_pass};
use lft_sample::{HmcParams, Integrator};

mod common;

fn transport_spec(coupling: CouplingSpec) -> FlowSpec {
    FlowSpec {
        coupling,
        ..FlowSpec::affine_transport(2, vec![4], 3, Activation::Tanh)
    }
}

/// A continuous transport: kernel radius 1, 3 frequencies, 2 time modes, `steps` RK4 steps.
fn continuous_spec(steps: usize) -> FlowSpec {
    FlowSpec::continuous_transport(
        3,
        ContinuousSpec {
            radius: 1,
            frequencies: 3,
            time_modes: 2,
            steps,
        },
    )
}

fn settings(particles: usize, steps: usize) -> SmcSettings {
    SmcSettings {
        particles,
        schedule: Schedule::Linear { steps },
        resampling: Some(Resampling::Systematic),
        ess_threshold: 0.5,
        hmc: HmcParams {
            step_size: 0.2,
            n_steps: 5,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.5,
        },
        trajectories: 1,
        step_knots: Vec::new(),
        target_acceptance: None,
    }
}

fn phi4(lat: &Lattice, m2: f64, lambda: f64) -> Phi4 {
    Phi4::new(lat.clone(), Phi4Params { m2, lambda }).unwrap()
}

#[test]
fn identity_flows_give_the_smc_pass_exactly() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = phi4(&lat, -1.0, 0.5);
    let prior = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
    let s = settings(32, 6);
    for spec in [transport_spec(CouplingSpec::Affine), continuous_spec(4)] {
        let craft = Craft::new(&spec, &lat, 6, 3);
        for pass in [0, 5] {
            let smc = smc_pass(&prior, &action, &s, 11, pass).unwrap();
            let transported = craft.evaluate(&prior, &action, &s, 11, pass).unwrap();
            assert_eq!(transported, smc, "{:?} pass {pass}", spec.coupling);
            assert!(smc.temperatures.iter().any(|t| t.resampled));
        }
    }
}

/// Central differences of L(θ) against the analytic gradient, for every parameter of a random
/// (non-identity) flow, for affine and spline couplings and both priors. 13 particles: with
/// the standard normal prior the first 8 go through the lane-batched flow, the rest one by
/// one, so both paths are checked.
#[test]
fn the_transition_loss_gradient_matches_finite_differences() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let v = lat.volume();
    let action = phi4(&lat, -2.0, 1.0);
    let n = 13;
    let mut rng = stream_rng(1, 0);
    let mut particles = vec![0.0; n * v];
    gaussian_fill(&mut rng, &mut particles);
    let raw: Vec<f64> = (0..n).map(|_| 0.1 + uniform(&mut rng)).collect();
    let total: f64 = raw.iter().sum();
    let weights: Vec<f64> = raw.iter().map(|w| w / total).collect();
    let spline = CouplingSpec::Spline {
        bins: 4,
        tail_bound: 4.0,
    };
    for (coupling, prior_spec) in [
        (CouplingSpec::Affine, PriorSpec::StandardNormal),
        (spline, PriorSpec::StandardNormal),
        (spline, PriorSpec::FreeField { m2: 1.5 }),
        (continuous_spec(4).coupling, PriorSpec::StandardNormal),
    ] {
        let prior = Prior::new(prior_spec, &lat).unwrap();
        let spec = match coupling {
            CouplingSpec::Continuous(_) => continuous_spec(4),
            _ => transport_spec(coupling),
        };
        let mut flow = spec.build_stack(&lat, 7);
        // Make it far from the identity (a continuous flow starts there: its weights get
        // noise of 0.2).
        let mut noise = vec![0.0; flow.n_params()];
        gaussian_fill(&mut stream_rng(8, 0), &mut noise);
        let p: Vec<f64> = match coupling {
            CouplingSpec::Continuous(_) => (flow.params().iter().zip(&noise))
                .map(|(x, e)| x + 0.2 * e)
                .collect(),
            _ => flow.params().iter().map(|x| 0.5 * x).collect(),
        };
        flow.set_params(p).unwrap();
        let worst = common::transport::check_transition_loss_gradient(
            &format!("{coupling:?}"),
            &flow,
            &prior,
            &action,
            (0.3, 0.6),
            &particles,
            &weights,
        );
        eprintln!("{coupling:?}: worst relative error {worst:.2e}");
    }
}

#[test]
fn training_does_not_depend_on_the_number_of_threads() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = phi4(&lat, -1.0, 0.5);
    let prior = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
    let s = settings(40, 4);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut craft = Craft::new(&transport_spec(CouplingSpec::Affine), &lat, 4, 2);
            let records: Vec<_> = (0..3)
                .map(|_| craft.train_iteration(&prior, &action, &s, 1e-2, 5).unwrap())
                .collect();
            (records, craft.params())
        })
    };
    let (one, params_one) = run(1);
    let (three, params_three) = run(3);
    assert_eq!(one, three);
    assert_eq!(params_one, params_three);
    assert!(one[2].losses.iter().all(|l| l.is_finite()));
}

/// A restored state continues exactly as the uninterrupted one.
#[test]
fn a_restored_craft_state_continues_exactly() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = phi4(&lat, -1.0, 0.5);
    let prior = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
    let s = settings(24, 3);
    let spec = transport_spec(CouplingSpec::Affine);
    let mut straight = Craft::new(&spec, &lat, 3, 4);
    for _ in 0..4 {
        straight
            .train_iteration(&prior, &action, &s, 1e-2, 6)
            .unwrap();
    }
    let mut first = Craft::new(&spec, &lat, 3, 4);
    for _ in 0..2 {
        first.train_iteration(&prior, &action, &s, 1e-2, 6).unwrap();
    }
    let (m, v) = first.adam_moments();
    let mut resumed = Craft::new(&spec, &lat, 3, 4)
        .restore(&first.params(), &m, &v, first.iterations())
        .unwrap();
    for _ in 0..2 {
        resumed
            .train_iteration(&prior, &action, &s, 1e-2, 6)
            .unwrap();
    }
    assert_eq!(resumed.params(), straight.params());
    assert_eq!(resumed.adam_moments(), straight.adam_moments());
    assert!(
        Craft::new(&spec, &lat, 3, 4)
            .restore(&[1.0], &m, &v, 2)
            .is_err()
    );
}

/// (mean, standard error) over values.
fn mean_se(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// Free field, L = 4 and 8, m² = 1, with the N(0, 1) prior and a free-field prior of another
/// mass: after training, evaluation passes give the exact log Z within 3 standard errors, and
/// the transition losses have fallen.
#[test]
fn trained_craft_gives_the_exact_free_field_log_z() {
    for (l, reference, prior_spec, spec) in [
        (
            4,
            -2.858132,
            PriorSpec::StandardNormal,
            transport_spec(CouplingSpec::Affine),
        ),
        (
            8,
            -11.622885,
            PriorSpec::FreeField { m2: 0.5 },
            transport_spec(CouplingSpec::Affine),
        ),
        (4, -2.858132, PriorSpec::StandardNormal, continuous_spec(8)),
    ] {
        let lat = Lattice::new(&[l, l]).unwrap();
        let action = phi4(&lat, 1.0, 0.0);
        let exact = FreeField::new(lat.clone(), 1.0).unwrap().log_z();
        assert!((exact - reference).abs() < 1e-6, "PHYSICS.md: {exact}");
        let prior = Prior::new(prior_spec, &lat).unwrap();
        // Particles in proportion to the volume (the bias of log Ẑ, about −var/2, stays below
        // the standard error of 16 passes).
        let s = settings(4 * l * l, 4);
        let mut craft = Craft::new(&spec, &lat, 4, 1);
        let losses: Vec<f64> = (0..40)
            .map(|_| {
                let it = craft.train_iteration(&prior, &action, &s, 1e-2, 9).unwrap();
                it.losses.iter().sum()
            })
            .collect();
        let (early, late) = (mean_se(&losses[..8]).0, mean_se(&losses[32..]).0);
        assert!(
            late < early,
            "L = {l}, {:?}: losses {early} -> {late}",
            spec.coupling
        );
        let log_z: Vec<f64> = (0..16)
            .map(|p| craft.evaluate(&prior, &action, &s, 9, p).unwrap().log_z)
            .collect();
        let (mean, se) = mean_se(&log_z);
        eprintln!(
            "L = {l}, {}: loss {early:.4} -> {late:.4}; log Z = {mean:.5} ± {se:.5} (exact {exact:.6})",
            spec.coupling.name()
        );
        assert!(se > 0.0 && se < 0.2, "standard error {se}");
        assert!(
            (mean - exact).abs() < 3.0 * se,
            "log Z {mean} ± {se}, exact {exact}"
        );
    }
}
