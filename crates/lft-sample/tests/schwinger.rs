//! The Schwinger model's samplers: pseudofermion HMC is reversible at fixed pseudofermion,
//! with one time scale and with nested gauge steps (which lower ΔH at β = 6);
//! on 4 × 4 at β = 2, m = 0.1 and 0.5, HMC with the exact determinant, pseudofermion HMC (with
//! one and with two time scales),
//! independence Metropolis and flow-HMC with a gauge-equivariant flow, and the
//! determinant-free samplers (pseudo-marginal independence Metropolis on the ladder estimate
//! of det D, and joint (θ, ϕ) independence Metropolis with a gauge-covariant conditional
//! pseudofermion flow), agree with each other and with exact
//! reweighting of pure-gauge heat-bath samples by det D (computed here) within 4 combined
//! standard errors on ⟨cos θ_P⟩, ⟨Q²⟩ and Σ = (1/V) tr D⁻¹. The same at 8 × 8 is behind
//! `#[ignore]` (`cargo test --release -p lft-sample --test schwinger -- --ignored`, minutes).

use lft_action::{
    Action, EstimatedAction, JointAction, PseudofermionAction, PseudofermionCg, Schwinger,
    SchwingerEstimated, SchwingerExact, SchwingerJoint, SchwingerPseudofermion, U1Wilson,
};
use lft_fermion::{
    CgParams, EvenBlockInverse, GaugeDetEstimator, GaugeFlowDetEstimator, GaugePseudofermionFlow,
};
use lft_lattice::gauge::{average_plaquette, topological_charge};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{
    FlowHmc, FlowImh, HeatbathChain, HmcChain, HmcParams, Integrate, Integrator, MarkovChain,
    PfFlowTraining, PseudofermionHmc, Start, integrate_nested, train_gauge_pf_flow,
};
use lft_stats::{GammaOptions, gamma_method, weighted_jackknife};

mod common;
use common::gauge::trained_gauge_flow;

const NAMES: [&str; 3] = ["<cos θ_P>", "<Q²>", "Σ"];

/// ⟨cos θ_P⟩, Q² and Σ = (1/V) tr D⁻¹ of one configuration (with log det D, the reweighting
/// factor of a pure-gauge sample).
fn observables(model: &Schwinger, theta: &[f64]) -> ([f64; 3], f64) {
    let lattice = model.wilson().lattice();
    let q = topological_charge(lattice, theta);
    let inv = EvenBlockInverse::of(&model.dirac(theta)).unwrap();
    let sigma = inv.trace() / lattice.volume() as f64;
    (
        [average_plaquette(lattice, theta), q * q, sigma],
        inv.log_det(),
    )
}

/// Γ-method (value, error) of each observable over the chains.
fn chain_estimates(series: &[Vec<[f64; 3]>]) -> [(f64, f64); 3] {
    std::array::from_fn(|k| {
        let columns: Vec<Vec<f64>> = series
            .iter()
            .map(|c| c.iter().map(|o| o[k]).collect())
            .collect();
        let replicas: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let r = gamma_method(&[replicas], &|m| m[0], GammaOptions::default()).unwrap();
        (r.value, r.error)
    })
}

/// The reference: pure-gauge heat bath (4 chains, overrelaxation 1) reweighted by det D, with
/// a jackknife over 100 blocks.
fn reweighted_reference(model: &Schwinger, sweeps: usize) -> [(f64, f64); 3] {
    let wilson: &U1Wilson = model.wilson();
    let mut values = Vec::new();
    let mut log_w = Vec::new();
    for c in 0..4 {
        let mut chain = HeatbathChain::new(wilson, Start::Hot, stream_rng(20, c), 1);
        for _ in 0..100 {
            chain.sweep();
        }
        for _ in 0..sweeps {
            chain.sweep();
            let (o, log_det) = observables(model, chain.field());
            values.push(o);
            log_w.push(log_det);
        }
    }
    std::array::from_fn(|k| {
        let column: Vec<f64> = values.iter().map(|o| o[k]).collect();
        weighted_jackknife(&[&column], &log_w, 100, |m| m[0]).unwrap()
    })
}

fn params() -> HmcParams {
    HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Leapfrog,
        length_jitter: 0.2,
    }
}

/// 4 chains of `steps` (after 100 dropped) made by `step(c)`.
fn run_chains<'a>(
    steps: usize,
    make: &dyn Fn(u64) -> Box<dyn FnMut() -> Vec<f64> + 'a>,
    model: &Schwinger,
) -> Vec<Vec<[f64; 3]>> {
    (0..4)
        .map(|c| {
            let mut step = make(c);
            for _ in 0..100 {
                step();
            }
            (0..steps).map(|_| observables(model, &step()).0).collect()
        })
        .collect()
}

fn compare(what: &str, a: &[(f64, f64); 3], b: &[(f64, f64); 3]) {
    for k in 0..3 {
        let ((x, ex), (y, ey)) = (a[k], b[k]);
        let sigma = (ex * ex + ey * ey).sqrt();
        eprintln!("{what} {}: {x:.5} ± {ex:.5} vs {y:.5} ± {ey:.5}", NAMES[k]);
        assert!(
            (x - y).abs() < 4.0 * sigma,
            "{what} {}: {x} ± {ex} vs {y} ± {ey}",
            NAMES[k]
        );
    }
}

/// 4 chains of `steps` of independence Metropolis with proposals from `flow` on `target`, with
/// the acceptance.
fn imh_chains(
    model: &Schwinger,
    flow: &lft_flow::Flow,
    target: &dyn Action,
    steps: usize,
    seed: u64,
) -> ([(f64, f64); 3], f64) {
    let n = target.state_len();
    let mut accepted = 0;
    let series: Vec<Vec<[f64; 3]>> = (0..4)
        .map(|c| {
            let mut chain = FlowImh::new(flow, target, 256, stream_rng(seed, c));
            let (configs, records) = chain.run(steps).unwrap();
            accepted += records.iter().filter(|r| r.accepted).count();
            configs
                .chunks_exact(n)
                .map(|theta| observables(model, theta).0)
                .collect()
        })
        .collect();
    (
        chain_estimates(&series),
        accepted as f64 / (4 * steps) as f64,
    )
}

/// Determinant-free flows, 4 chains of `steps` each: independence Metropolis on
/// S_W − log d̂et with the twisted-mass ladder (pseudo-marginal), with a flow trained on the
/// stochastic pseudofermion force alone; then with a gauge-covariant conditional pseudofermion
/// flow trained on that flow's proposals (joint (θ, ϕ) sampling).
fn determinant_free_imh(model: &Schwinger, steps: usize) -> [[(f64, f64); 3]; 2] {
    let mass = model.mass();
    let twists = GaugeDetEstimator::ladder_twists(mass, 0.05, 2.0, 1.15);
    let cg = CgParams {
        tolerance: 1e-10,
        max_iterations: 10_000,
    };
    let estimator = GaugeDetEstimator::new(twists, 1, cg, mass).unwrap();
    let estimated = SchwingerEstimated::new(model.clone(), estimator, cg, 27);
    let lattice = model.wilson().lattice().clone();
    let flow = trained_gauge_flow(&lattice, &estimated, 16, 600, 28);
    let (ladder, acceptance) = imh_chains(model, &flow, &estimated, steps, 29);
    let c = estimated.counts();
    eprintln!(
        "pseudo-marginal IMH m = {mass}: acceptance {acceptance:.3}, {:.0} CG iterations per estimate",
        c.cg_iterations as f64 / c.estimates as f64
    );
    assert!(
        acceptance > 0.05,
        "the pseudo-marginal chains move: {acceptance}"
    );
    assert_eq!(c.failures, 0);

    let mut pf_flow = GaugePseudofermionFlow::standard(2, mass);
    let settings = PfFlowTraining {
        steps: 200,
        batch: 16,
        learning_rate: 5e-3,
        cg,
        seed: 30,
    };
    let history = train_gauge_pf_flow(&mut pf_flow, &flow, model, &settings, &mut |_| {}).unwrap();
    let variance = |r: &[lft_sample::PfFlowStep]| {
        r.iter().map(|s| s.log_det_variance).sum::<f64>() / r.len() as f64
    };
    let (first, last) = (variance(&history[..20]), variance(&history[180..]));
    eprintln!("conditional flow m = {mass}: Var(log d̂et | θ) {first:.3} → {last:.3}");
    assert!(
        last < first,
        "training lowers the variance: {first} → {last}"
    );
    let joint = SchwingerEstimated::new(
        model.clone(),
        GaugeFlowDetEstimator::new(pf_flow, 1, cg).unwrap(),
        cg,
        31,
    );
    let (joint_estimates, acceptance) = imh_chains(model, &flow, &joint, steps, 32);
    let c = joint.counts();
    eprintln!(
        "joint IMH m = {mass}: acceptance {acceptance:.3}, {:.0} CG iterations per estimate",
        c.cg_iterations as f64 / c.estimates as f64
    );
    assert!(acceptance > 0.05, "the joint chains move: {acceptance}");
    [ladder, joint_estimates]
}

/// Every sampler against the reweighted reference and against each other at (L, β, m).
fn samplers_agree(l: usize, beta: f64, mass: f64, steps: usize, imh_steps: usize) {
    let model = Schwinger::new(Lattice::new(&[l, l]).unwrap(), beta, mass).unwrap();
    let reference = reweighted_reference(&model, 4 * steps);
    let exact = SchwingerExact::new(model.clone());
    let exact_hmc = chain_estimates(&run_chains(
        steps,
        &|c| {
            let exact = &exact;
            let mut chain = HmcChain::new(exact, Start::Hot, stream_rng(21, c), params());
            Box::new(move || {
                chain.trajectory(exact);
                chain.field().to_vec()
            })
        },
        &model,
    ));
    let pf = SchwingerPseudofermion::new(model.clone(), PseudofermionCg::default()).unwrap();
    let pf_hmc = chain_estimates(&run_chains(
        steps,
        &|c| {
            let mut chain =
                PseudofermionHmc::with_action(pf.fresh(), Start::Hot, stream_rng(22, c), params());
            Box::new(move || {
                chain.trajectory().unwrap();
                chain.field().to_vec()
            })
        },
        &model,
    ));
    // Multi-timescale: 4 gauge-force steps per pseudofermion-force step, at twice the step.
    let nested_params = HmcParams {
        step_size: 0.2,
        n_steps: 5,
        ..params()
    };
    let pf_nested = chain_estimates(&run_chains(
        steps,
        &|c| {
            let mut chain = PseudofermionHmc::with_action(
                pf.fresh(),
                Start::Hot,
                stream_rng(33, c),
                nested_params,
            )
            .with_inner_steps(4);
            Box::new(move || {
                chain.trajectory().unwrap();
                chain.field().to_vec()
            })
        },
        &model,
    ));
    let lattice = model.wilson().lattice().clone();
    let flow = trained_gauge_flow(&lattice, &exact, 16, 600, 23);
    let n = exact.state_len();
    let mut accepted = 0;
    let series: Vec<Vec<[f64; 3]>> = (0..4)
        .map(|c| {
            let mut chain = FlowImh::new(&flow, &exact, 256, stream_rng(24, c));
            let (configs, records) = chain.run(imh_steps).unwrap();
            accepted += records.iter().filter(|r| r.accepted).count();
            configs
                .chunks_exact(n)
                .map(|theta| observables(&model, theta).0)
                .collect()
        })
        .collect();
    let acceptance = accepted as f64 / (4 * imh_steps) as f64;
    eprintln!("flow IMH L = {l}, m = {mass}: acceptance {acceptance:.3}");
    assert!(acceptance > 0.1, "the trained flow is useful: {acceptance}");
    let imh = chain_estimates(&series);
    let [pseudo_marginal, joint] = determinant_free_imh(&model, imh_steps);
    let flow_hmc = chain_estimates(&run_chains(
        steps,
        &|c| {
            let exact = &exact;
            let hmc = HmcChain::new(exact, Start::Hot, stream_rng(26, c), params());
            let mut chain = FlowHmc::new(&flow, exact, hmc, 1);
            Box::new(move || {
                chain.step().unwrap();
                chain.field().to_vec()
            })
        },
        &model,
    ));
    let at = format!("L = {l}, β = {beta}, m = {mass}:");
    compare(
        &format!("{at} exact HMC vs reweighting"),
        &exact_hmc,
        &reference,
    );
    compare(
        &format!("{at} pseudofermion HMC vs reweighting"),
        &pf_hmc,
        &reference,
    );
    compare(&format!("{at} flow IMH vs reweighting"), &imh, &reference);
    compare(
        &format!("{at} multi-timescale pseudofermion HMC vs reweighting"),
        &pf_nested,
        &reference,
    );
    compare(
        &format!("{at} exact vs pseudofermion HMC"),
        &exact_hmc,
        &pf_hmc,
    );
    compare(&format!("{at} flow IMH vs exact HMC"), &imh, &exact_hmc);
    compare(
        &format!("{at} pseudo-marginal flow IMH vs reweighting"),
        &pseudo_marginal,
        &reference,
    );
    compare(
        &format!("{at} joint (θ, ϕ) flow IMH vs reweighting"),
        &joint,
        &reference,
    );
    compare(
        &format!("{at} flow-HMC vs reweighting"),
        &flow_hmc,
        &reference,
    );
}

#[test]
fn samplers_agree_on_4x4_at_two_masses() {
    for mass in [0.1, 0.5] {
        samplers_agree(4, 2.0, mass, 5_000, 20_000);
    }
}

#[test]
#[ignore = "minutes: cargo test --release -p lft-sample --test schwinger -- --ignored"]
fn samplers_agree_on_8x8() {
    for mass in [0.1, 0.5] {
        samplers_agree(8, 2.0, mass, 10_000, 20_000);
    }
}

/// Leapfrog and Omelyan at fixed pseudofermion, forwards then with reversed momenta, return
/// to the start. Every force solve starts from zero, so the force is a function of θ; with
/// solves to 1e-12 the path retraces itself to rounding (at the default force tolerance 1e-8 a
/// rounding-level change of θ can change the iteration count, which moves the path by about
/// 1e-9: harmless for detailed balance, which needs the map, not the bits, to be reversible).
#[test]
fn pseudofermion_molecular_dynamics_is_reversible() {
    let model = Schwinger::new(Lattice::new(&[6, 6]).unwrap(), 2.0, 0.1).unwrap();
    let tight = lft_fermion::CgParams {
        tolerance: 1e-12,
        max_iterations: 10_000,
    };
    let cg = PseudofermionCg {
        force: tight,
        action: tight,
    };
    let action = SchwingerPseudofermion::new(model, cg).unwrap();
    let mut rng = stream_rng(25, 0);
    let mut theta = vec![0.0; action.state_len()];
    action.hot_start(&mut rng, &mut theta);
    action.refresh(&theta, &mut rng).unwrap();
    let start = theta.clone();
    let mut pi: Vec<f64> = (0..theta.len()).map(|i| ((i * 7) as f64).sin()).collect();
    let mut grad = vec![0.0; theta.len()];
    for integrator in [Integrator::Leapfrog, Integrator::Omelyan] {
        action.gradient(&theta, &mut grad);
        integrator.integrate(&action, &mut theta, &mut pi, &mut grad, 0.05, 20);
        pi.iter_mut().for_each(|p| *p = -*p);
        integrator.integrate(&action, &mut theta, &mut pi, &mut grad, 0.05, 20);
        pi.iter_mut().for_each(|p| *p = -*p);
        for (a, b) in theta.iter().zip(&start) {
            assert!((a - b).abs() < 1e-10, "{integrator:?}: {a} vs {b}");
        }
        // Multi-timescale leapfrog with one inner step is plain leapfrog (up to rounding; the
        // nested Omelyan moves the gauge force with leapfrog weights, so it differs).
        if integrator == Integrator::Leapfrog {
            let (mut plain, mut plain_pi, mut plain_grad) =
                (theta.clone(), pi.clone(), grad.clone());
            action.gradient(&plain, &mut plain_grad);
            integrator.integrate(
                &action,
                &mut plain,
                &mut plain_pi,
                &mut plain_grad,
                0.05,
                20,
            );
            let (mut one, mut one_pi, mut one_grad) = (theta.clone(), pi.clone(), grad.clone());
            action.gradient(&one, &mut one_grad);
            integrate_nested(
                integrator,
                &action,
                &mut one,
                &mut one_pi,
                &mut one_grad,
                0.05,
                20,
                1,
            );
            for (a, b) in one.iter().zip(&plain).chain(one_pi.iter().zip(&plain_pi)) {
                assert!(
                    (a - b).abs() < 1e-10,
                    "{integrator:?}: nested(1) {a} vs {b}"
                );
            }
        }
        // Multi-timescale: 4 gauge-force steps per pseudofermion-force step.
        action.gradient(&theta, &mut grad);
        integrate_nested(
            integrator, &action, &mut theta, &mut pi, &mut grad, 0.05, 20, 4,
        );
        let mut check = vec![0.0; grad.len()];
        action.gradient(&theta, &mut check);
        assert_eq!(check, grad, "∇S at the end of the nested trajectory");
        pi.iter_mut().for_each(|p| *p = -*p);
        integrate_nested(
            integrator, &action, &mut theta, &mut pi, &mut grad, 0.05, 20, 4,
        );
        pi.iter_mut().for_each(|p| *p = -*p);
        for (a, b) in theta.iter().zip(&start) {
            assert!((a - b).abs() < 1e-10, "{integrator:?} nested: {a} vs {b}");
        }
    }
    assert!(action.take_error().is_none());
}

/// Multi-timescale molecular dynamics pays where the gauge force dominates: at the same
/// pseudofermion step, ΔH falls with the number of inner gauge steps (β = 6, where the gauge
/// force is three times the fermion force in RMS).
#[test]
fn nested_gauge_steps_lower_the_energy_violation() {
    let model = Schwinger::new(Lattice::new(&[8, 8]).unwrap(), 6.0, 0.1).unwrap();
    let action = SchwingerPseudofermion::new(model, PseudofermionCg::default()).unwrap();
    let mut rng = stream_rng(26, 0);
    let mut theta = vec![0.0; action.state_len()];
    action.hot_start(&mut rng, &mut theta);
    // Towards equilibrium first.
    let mut chain = PseudofermionHmc::with_action(
        action.fresh(),
        Start::Cold,
        stream_rng(27, 0),
        HmcParams {
            step_size: 0.05,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.0,
        },
    );
    for _ in 0..30 {
        chain.trajectory().unwrap();
    }
    theta.copy_from_slice(chain.field());
    action.refresh(&theta, &mut rng).unwrap();
    let violation = |inner: usize| {
        let mut pi = vec![0.0; theta.len()];
        lft_lattice::gaussian_fill(&mut stream_rng(28, 0), &mut pi);
        let mut x = theta.clone();
        let mut grad = vec![0.0; x.len()];
        action.gradient(&x, &mut grad);
        let h0 = action.action(&x) + pi.iter().map(|p| p * p).sum::<f64>() / 2.0;
        integrate_nested(
            Integrator::Leapfrog,
            &action,
            &mut x,
            &mut pi,
            &mut grad,
            0.2,
            5,
            inner,
        );
        let h1 = action.action(&x) + pi.iter().map(|p| p * p).sum::<f64>() / 2.0;
        (h1 - h0).abs()
    };
    let (one, four) = (violation(1), violation(4));
    eprintln!("|ΔH| at ε = 0.2: {one:.4} (one time scale), {four:.4} (4 gauge steps)");
    assert!(four < 0.5 * one, "{four} vs {one}");
}

/// SMC from the Haar measure to the Schwinger model with the exact determinant: log Ẑ (mean
/// over 12 passes) against log Z_U1 + log⟨det D⟩_U1, the pure-gauge log Z of the character
/// expansion plus the log of the mean determinant over pure-gauge heat-bath samples (which is
/// Z_Schwinger / Z_U1 exactly), within 4 combined standard errors.
#[test]
fn smc_on_the_exact_and_the_joint_target_gives_the_log_z_of_the_pure_gauge_measure_times_the_mean_determinant()
 {
    use lft_action::U1Exact;
    use lft_flow::{Prior, PriorSpec};
    use lft_sample::anneal::{Resampling, Schedule, SmcSettings, smc_pass};
    let (l, beta, mass) = (4, 2.0, 0.3);
    let lattice = Lattice::new(&[l, l]).unwrap();
    let model = Schwinger::new(lattice.clone(), beta, mass).unwrap();
    // log⟨det D⟩ over pure-gauge samples: the mean of w = det D / max, its error by binning.
    let mut log_det = Vec::new();
    for c in 0..4 {
        let mut chain = HeatbathChain::new(model.wilson(), Start::Hot, stream_rng(30, c), 1);
        for _ in 0..100 {
            chain.sweep();
        }
        for _ in 0..10_000 {
            chain.sweep();
            log_det.push(model.log_det(chain.field()).unwrap());
        }
    }
    let max = log_det.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_det.iter().map(|x| (x - max).exp()).collect();
    let bins: Vec<f64> = w
        .chunks(400)
        .map(|b| b.iter().sum::<f64>() / b.len() as f64)
        .collect();
    let nb = bins.len() as f64;
    let mean_w = bins.iter().sum::<f64>() / nb;
    let se_w = (bins.iter().map(|b| (b - mean_w).powi(2)).sum::<f64>() / (nb - 1.0) / nb).sqrt();
    let reference = U1Exact::new(beta, l * l).unwrap().log_z() + max + mean_w.ln();
    let reference_se = se_w / mean_w;
    // SMC passes on the exact target, and on the joint (θ, ϕ) target (CG only, from the
    // uniform links and a standard normal pseudofermion).
    let exact = SchwingerExact::new(model.clone());
    let joint = SchwingerJoint::new(model, PseudofermionCg::default());
    let prior = Prior::new(PriorSpec::Uniform, &lattice).unwrap();
    let settings = SmcSettings {
        particles: 128,
        schedule: Schedule::Linear { steps: 16 },
        resampling: Some(Resampling::Systematic),
        ess_threshold: 0.5,
        hmc: HmcParams {
            step_size: 0.2,
            n_steps: 5,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.3,
        },
        trajectories: 2,
        step_knots: Vec::new(),
        target_acceptance: None,
    };
    let targets: [(&str, &dyn Action); 2] = [("exact", &exact), ("joint (θ, ϕ)", &joint)];
    for (name, action) in targets {
        let z: Vec<f64> = (0..12)
            .map(|p| smc_pass(&prior, action, &settings, 31, p).unwrap().log_z)
            .collect();
        let n = z.len() as f64;
        let mean = z.iter().sum::<f64>() / n;
        let se = (z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
        let sigma = (se * se + reference_se * reference_se).sqrt();
        eprintln!(
            "SMC on the {name} target: log Z {mean:.4} ± {se:.4}; pure gauge × <det D>: {reference:.4} ± {reference_se:.4}"
        );
        assert!(
            se > 0.0 && sigma < 0.2,
            "{name}: errors {se}, {reference_se}"
        );
        assert!(
            (mean - reference).abs() < 4.0 * sigma,
            "{name}: SMC {mean} ± {se} against {reference} ± {reference_se}"
        );
    }
    assert!(joint.take_error().is_none());
}
