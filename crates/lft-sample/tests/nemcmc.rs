//! NE-MCMC (lft-sample's `anneal::nemcmc`): the work of a protocol without stages in between
//! is the flow's −log w; without a flow its weights are lft's AIS (same seed, same numbers);
//! e^{−W} estimates the free field's log Z within 3 standard errors; and NE-MCMC chains give
//! ⟨|M|⟩/V and χ₂ at E2 (L = 8, m² = −4, λ = 6.008) within 4σ of HMC.

use lft_action::{Action, FreeField, Phi4, Phi4Params};
use lft_flow::{Activation, CouplingSpec, Flow, FlowSpec, Prior, PriorSpec};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::anneal::{
    ANNEAL_STREAM, MoveKind, NeMcmc, PathStart, Protocol, SmcSettings, Stages, TrajectorySource,
    pass_base, smc_pass,
};
use lft_sample::{HmcParams, Integrator};

mod common;

fn move_params(step_size: f64, n_steps: usize) -> HmcParams {
    HmcParams {
        step_size,
        n_steps,
        integrator: Integrator::Leapfrog,
        length_jitter: 0.0,
    }
}

fn e2(lat: &Lattice) -> Phi4 {
    common::e2_action(lat)
}

/// An affine flow with parameters far from the identity and a standard normal prior.
fn random_flow(lat: &Lattice) -> Flow {
    let spec = FlowSpec {
        layers: 4,
        hidden: vec![4],
        kernel: 3,
        activation: Activation::Tanh,
        final_activation: Activation::Tanh,
        equivariant: true,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision: lft_flow::Precision::F64,
    };
    let mut flow = Flow::new(lat.clone(), &spec, 11).unwrap();
    // Parameters away from the identity map (the last layers may start at zero).
    let params = (0..flow.n_params())
        .map(|i| 0.3 * ((i as f64 * 0.7).sin()))
        .collect();
    flow.set_params(params).unwrap();
    flow
}

#[test]
fn a_protocol_without_stages_in_between_has_the_flows_log_weight_as_work() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = e2(&lat);
    let flow = random_flow(&lat);
    let stages = Stages {
        stages: 1,
        steps: 0,
        move_params: move_params(0.1, 5),
        kind: MoveKind::Hmc,
    };
    let protocol = Protocol::new(PathStart::Flow(&flow), &action, stages).unwrap();
    let t = protocol.run(16, 3, 0).unwrap();
    for (i, phi) in t.configs.chunks_exact(16).enumerate() {
        let s = action.action(phi);
        // −log w(φ) = S(φ) + log q(φ), log q by the flow's inverse.
        let want = s + flow.log_q(phi)[0];
        assert!((t.actions[i] - s).abs() < 1e-12);
        assert!(
            (t.work[i] - want).abs() < 1e-9 * want.abs().max(1.0),
            "trajectory {i}: W = {} against S + log q = {want}",
            t.work[i]
        );
    }
}

#[test]
fn without_a_flow_the_weights_are_lfts_ais() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = e2(&lat);
    let prior = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
    let stages = Stages {
        stages: 6,
        steps: 2,
        move_params: move_params(0.15, 6),
        kind: MoveKind::Hmc,
    };
    let protocol = Protocol::new(PathStart::Prior(&prior), &action, stages).unwrap();
    let settings: SmcSettings = protocol.pass_settings(24);
    let pass = 3;
    let ais = smc_pass(&prior, &action, &settings, 5, pass).unwrap();
    let t = protocol.run(24, 5, pass_base(ANNEAL_STREAM, pass)).unwrap();
    let work: Vec<f64> = ais.log_weights.iter().map(|lw| -lw).collect();
    assert_eq!(t.work, work);
    assert_eq!(t.configs, ais.particles);
}

#[test]
fn the_free_fields_log_z_from_the_work_is_exact_within_three_errors() {
    let lat = Lattice::new(&[6, 6]).unwrap();
    let m2 = 0.3;
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let exact = FreeField::new(lat.clone(), m2).unwrap().log_z();
    // From the free field of mass² 1: the standard normal is so far from S that W spreads
    // over tens of units (the work of K = 1 has a standard deviation of 36 here).
    let prior = Prior::new(PriorSpec::FreeField { m2: 1.0 }, &lat).unwrap();
    let stages = Stages {
        stages: 10,
        steps: 1,
        move_params: move_params(0.3, 5),
        kind: MoveKind::Hmc,
    };
    let protocol = Protocol::new(PathStart::Prior(&prior), &action, stages).unwrap();
    let t = protocol.run(4000, 17, 0).unwrap();
    // Ẑ = mean e^{−W}; its relative standard error is sd(e^{−W})/(mean √n).
    let shift = t.work.iter().cloned().fold(f64::INFINITY, f64::min);
    let e: Vec<f64> = t.work.iter().map(|w| (shift - w).exp()).collect();
    let n = e.len() as f64;
    let mean = e.iter().sum::<f64>() / n;
    let var = e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let log_z = mean.ln() - shift;
    let error = (var / n).sqrt() / mean;
    eprintln!("free field log Z: {log_z} ± {error} (exact {exact})");
    assert!(
        error < 0.05,
        "the protocol is too poor to test: error {error}"
    );
    assert!(
        (log_z - exact).abs() < 3.0 * error,
        "log Z {log_z} ± {error} against {exact}"
    );
}

/// (⟨|M|⟩/V, χ₂ = ⟨M²⟩/V) series of one configuration.
fn observables(phi: &[f64]) -> [f64; 2] {
    let v = phi.len() as f64;
    let m: f64 = phi.iter().sum();
    [m.abs() / v, m * m / v]
}

#[test]
fn nemcmc_chains_agree_with_hmc_at_e2() {
    let lat = Lattice::new(&[8, 8]).unwrap();
    let action = e2(&lat);
    // The free field whose mass² fits the action (0.77), as a flow's "free" prior is.
    let m2 = lft_flow::prior::fit_free_field_mass(&lat, &action, 1);
    let prior = Prior::new(PriorSpec::FreeField { m2 }, &lat).unwrap();
    let stages = Stages {
        stages: 16,
        steps: 1,
        move_params: move_params(0.12, 8),
        kind: MoveKind::Hmc,
    };
    let protocol = Protocol::new(PathStart::Prior(&prior), &action, stages).unwrap();
    let mut nemcmc = vec![vec![Vec::new(); 4]; 2];
    let mut accepted = 0;
    let steps = 3000;
    for c in 0..4 {
        let mut chain = NeMcmc::new(&protocol, 250, stream_rng(21, c));
        while nemcmc[0][c as usize].len() < steps {
            for s in chain.next_batch(250).unwrap() {
                accepted += s.accepted as usize;
                for (k, o) in observables(&s.config).into_iter().enumerate() {
                    nemcmc[k][c as usize].push(o);
                }
            }
        }
    }
    let acceptance = accepted as f64 / (4 * steps) as f64;
    let hmc = common::hmc_reference_series(&action, 22, 5000, observables);
    for (k, name) in ["<|M|>/V", "chi2"].iter().enumerate() {
        let (a, b) = (common::mean_of(&nemcmc[k]), common::mean_of(&hmc[k]));
        eprintln!("E2 {name}: NE-MCMC {a:?} (acceptance {acceptance:.3}), HMC {b:?}");
        let pull = (a.value - b.value) / a.error.hypot(b.error);
        assert!(
            pull.abs() < 4.0,
            "{name}: NE-MCMC {a:?} vs HMC {b:?}: {pull:.2}σ"
        );
    }
    assert!(acceptance > 0.05, "acceptance {acceptance}");
}
