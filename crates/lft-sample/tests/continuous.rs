//! Independence Metropolis with a continuous flow (issue 39): a CNF trained by reverse KL at
//! E2 (L = 8, m² = −4, λ = 6.008) gives χ₂ and ⟨|M|⟩/V within 4σ of HMC, and so does the same
//! flow integrated with half the step (its integrator error is below the statistical errors).

use lft_flow::{
    Adam, ContinuousSpec, CouplingSpec, Flow, FlowSpec, PriorSpec, Schedule, TrainOptions, train,
};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::FlowImh;
use lft_stats::{Estimate, estimate_mean};

mod common;

/// χ₂ = M²/V and |M|/V of every configuration.
fn series(configs: &[f64], v: usize) -> [Vec<f64>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    for phi in configs.chunks_exact(v) {
        let m: f64 = phi.iter().sum();
        out[0].push(m * m / v as f64);
        out[1].push(m.abs() / v as f64);
    }
    out
}

fn assert_agree(what: &str, a: &Estimate, b: &Estimate) {
    let combined = (a.error.powi(2) + b.error.powi(2)).sqrt();
    assert!(
        (a.value - b.value).abs() < 4.0 * combined,
        "{what}: {a:?} against {b:?}"
    );
}

#[test]
fn cnf_imh_at_e2_agrees_with_hmc_at_both_step_sizes() {
    let lat = Lattice::new(&[8, 8]).unwrap();
    let v = lat.volume();
    let action = common::e2_action(&lat);
    let spec = FlowSpec {
        coupling: CouplingSpec::Continuous(ContinuousSpec {
            radius: 2,
            frequencies: 4,
            time_modes: 3,
            steps: 12,
        }),
        prior: PriorSpec::StandardNormal,
        ..FlowSpec::affine_transport(0, Vec::new(), 1, lft_flow::Activation::Identity)
    };
    let mut flow = Flow::new(lat.clone(), &spec, 31).unwrap();
    let options = TrainOptions {
        steps: 300,
        batch: 64,
        lr: 5e-3,
        schedule: Schedule::Cosine,
        grad_clip: Some(100.0),
        ..TrainOptions::default()
    };
    let mut adam = Adam::new(flow.n_params());
    train(
        &mut flow,
        &action,
        &options,
        options.steps,
        &mut adam,
        &mut stream_rng(31, 1),
        &mut |_| {},
    )
    .unwrap();
    let reference = common::hmc_reference_series(&action, 32, 10_000, |phi| {
        let m: f64 = phi.iter().sum();
        [m * m / v as f64, m.abs() / v as f64]
    });
    let hmc: Vec<Estimate> = reference.iter().map(|s| common::mean_of(s)).collect();
    let halved = flow.refined(2).expect("an integrated flow");
    for (name, proposal) in [("12 steps", &flow), ("24 steps", &halved)] {
        let (configs, records) = FlowImh::new(proposal, &action, 256, stream_rng(33, 0))
            .run(20_000)
            .unwrap();
        let accepted = records.iter().filter(|r| r.accepted).count() as f64;
        assert!(accepted / records.len() as f64 > 0.1, "{name}: acceptance");
        let imh = series(&configs, v);
        for (k, what) in ["chi_2", "|M|/V"].iter().enumerate() {
            let estimate = estimate_mean(&[&imh[k]]).unwrap();
            assert_agree(&format!("{name}: {what}"), &estimate, &hmc[k]);
        }
    }
}
