//! The observables of the U(1) sampler tests and their check against the exact values.

use lft_action::U1Exact;
use lft_lattice::Lattice;
use lft_lattice::gauge::{average_plaquette, rectangle_angle, topological_charge};
use lft_stats::{GammaOptions, gamma_method};

/// Per-configuration observables: ⟨cos θ_P⟩, Q², W(1×1), W(2×2) (averaged over the lattice).
pub fn observables(lattice: &Lattice, theta: &[f64]) -> [f64; 4] {
    let v = lattice.volume();
    let loops = |r: usize| {
        (0..v)
            .map(|x| rectangle_angle(lattice, theta, x, (1, r), (0, r)).cos())
            .sum::<f64>()
            / v as f64
    };
    let q = topological_charge(lattice, theta);
    assert!((q - q.round()).abs() < 1e-9, "a sampled Q of {q}");
    [average_plaquette(lattice, theta), q * q, loops(1), loops(2)]
}

/// The observables of `chains` chains, each made by `chain(c)` as a step function that moves
/// the chain once and returns the observables of its state: `thermalization` steps dropped,
/// then `steps` kept.
pub fn chain_series<'a>(
    chains: u64,
    thermalization: usize,
    steps: usize,
    chain: &dyn Fn(u64) -> Box<dyn FnMut() -> [f64; 4] + 'a>,
) -> Vec<Vec<[f64; 4]>> {
    (0..chains)
        .map(|c| {
            let mut step = chain(c);
            for _ in 0..thermalization {
                step();
            }
            (0..steps).map(|_| step()).collect()
        })
        .collect()
}

/// Each observable's series over `chains` replicas against the exact values, within 4σ.
pub fn check(what: &str, series: &[Vec<[f64; 4]>], exact: &U1Exact) {
    let want = [
        exact.plaquette(),
        exact.q2(),
        exact.wilson_loop(1),
        exact.wilson_loop(4),
    ];
    let names = ["<cos θ_P>", "<Q²>", "W(1×1)", "W(2×2)"];
    for k in 0..4 {
        let columns: Vec<Vec<f64>> = series
            .iter()
            .map(|chain| chain.iter().map(|o| o[k]).collect())
            .collect();
        let replicas: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let r = gamma_method(&[replicas], &|m| m[0], GammaOptions::default()).unwrap();
        eprintln!(
            "{what} {}: {:.5} ± {:.5} (τ_int {:.1}), exact {:.5}",
            names[k], r.value, r.error, r.tau_int, want[k]
        );
        assert!(
            (r.value - want[k]).abs() < 4.0 * r.error,
            "{what} {}: {} ± {}, exact {}",
            names[k],
            r.value,
            r.error,
            want[k]
        );
    }
}

/// A gauge-equivariant flow of `layers` NCP couplings (2 components, hidden [8]) trained by
/// reverse KL for `steps` steps of batch 64 on `action` (a U(1) action on `lattice`).
pub fn trained_gauge_flow(
    lattice: &Lattice,
    action: &dyn lft_action::Action,
    layers: usize,
    steps: usize,
    seed: u64,
) -> lft_flow::Flow {
    use lft_flow::{Adam, CircleSpec, Flow, FlowSpec};
    let spec = FlowSpec::gauge(layers, vec![8], CircleSpec::Ncp { components: 2 }, false);
    let mut flow = Flow::new(lattice.clone(), &spec, seed).unwrap();
    let options = lft_flow::TrainOptions {
        steps,
        batch: 64,
        lr: 3e-3,
        schedule: lft_flow::Schedule::Cosine,
        grad_clip: Some(100.0),
        max_failures: 5,
        ..lft_flow::TrainOptions::default()
    };
    let mut adam = Adam::new(flow.n_params());
    let mut rng = lft_lattice::stream_rng(seed, 1);
    lft_flow::train(
        &mut flow,
        action,
        &options,
        steps,
        &mut adam,
        &mut rng,
        &mut |_| {},
    )
    .unwrap();
    flow
}
