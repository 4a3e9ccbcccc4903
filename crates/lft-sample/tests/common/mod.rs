//! Helpers shared by the sampler tests.

#![allow(dead_code)]

pub mod gauge;
pub mod transport;
pub mod yukawa;

use lft_action::Action;
use lft_flow::{
    Activation, Adam, CouplingSpec, Flow, FlowSpec, Objective, PriorSpec, Schedule, TrainHooks,
    TrainOptions, train, train_with,
};
use lft_lattice::{Lattice, stream_rng};

/// A small affine flow (8 layers, one hidden layer of 8 channels) trained by reverse KL for
/// `steps` steps of batch 64 on `action`.
pub fn trained_flow(action: &dyn Action, steps: usize, seed: u64) -> Flow {
    trained_flow_in(action, steps, seed, lft_flow::Precision::F64)
}

/// [`trained_flow`] with conditioners in `precision` (trained in it too).
pub fn trained_flow_in(
    action: &dyn Action,
    steps: usize,
    seed: u64,
    precision: lft_flow::Precision,
) -> Flow {
    let spec = small_flow_spec(false, PriorSpec::StandardNormal, precision);
    let mut flow = Flow::new(action.lattice().clone(), &spec, seed).unwrap();
    let options = small_flow_training(steps, 1e-2);
    let mut adam = Adam::new(flow.n_params());
    train(
        &mut flow,
        action,
        &options,
        steps,
        &mut adam,
        &mut stream_rng(seed, 1),
        &mut |_| {},
    )
    .unwrap();
    flow
}

/// A small Z₂-equivariant affine flow (8 layers, hidden [8]) on `lattice` from `prior`, trained
/// by forward KL, −⟨log q(φ)⟩ over `data` (`[n, V]`), for `steps` steps of batch 64 (lr 3·10⁻³,
/// cosine). Forward KL covers the data's mass, which independence Metropolis needs.
pub fn forward_kl_flow(
    lattice: Lattice,
    data: &[f64],
    prior: PriorSpec,
    steps: usize,
    seed: u64,
) -> Flow {
    let spec = small_flow_spec(true, prior, lft_flow::Precision::F64);
    let mut flow = Flow::new(lattice, &spec, seed).unwrap();
    let options = small_flow_training(steps, 3e-3);
    let mut adam = Adam::new(flow.n_params());
    train_with(
        &mut flow,
        Objective::ForwardKl(data),
        &options,
        steps,
        &mut adam,
        &mut stream_rng(seed, 1),
        TrainHooks {
            report: &mut |_| {},
            stop: &|| false,
        },
    )
    .unwrap();
    flow
}

/// The tests' small flow: 8 affine layers, one hidden layer of 8 channels, kernel 3.
fn small_flow_spec(
    equivariant: bool,
    prior: PriorSpec,
    precision: lft_flow::Precision,
) -> FlowSpec {
    FlowSpec {
        layers: 8,
        hidden: vec![8],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant,
        coupling: CouplingSpec::Affine,
        prior,
        spectral: false,
        precision,
    }
}

/// `steps` steps of batch 64 at learning rate `lr` with a cosine schedule and the gradient
/// clipped at norm 100.
fn small_flow_training(steps: usize, lr: f64) -> TrainOptions {
    TrainOptions {
        steps,
        batch: 64,
        lr,
        schedule: Schedule::Cosine,
        grad_clip: Some(100.0),
        max_failures: 5,
        ..TrainOptions::default()
    }
}

/// `observables` after each of `n` Omelyan HMC trajectories (ε = 0.1, 10 steps, jitter 0.2)
/// of 4 chains from cold starts on streams (seed, c), after 500 thermalisation trajectories:
/// `[observable][chain][trajectory]`, the HMC reference of the statistical tests.
pub fn hmc_reference_series<const K: usize>(
    action: &dyn Action,
    seed: u64,
    n: usize,
    observables: impl Fn(&[f64]) -> [f64; K],
) -> Vec<Vec<Vec<f64>>> {
    use lft_sample::{HmcChain, HmcParams, Integrator, Start, thermalize_all};
    let params = HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Omelyan,
        length_jitter: 0.2,
    };
    let mut chains: Vec<HmcChain> = (0..4)
        .map(|c| HmcChain::new(action, Start::Cold, stream_rng(seed, c), params))
        .collect();
    thermalize_all(&mut chains, action, 500, None);
    let mut series = vec![vec![Vec::new(); 4]; K];
    for (c, chain) in chains.iter_mut().enumerate() {
        for _ in 0..n {
            chain.trajectory(action);
            for (k, o) in observables(chain.field()).into_iter().enumerate() {
                series[k][c].push(o);
            }
        }
    }
    series
}

/// The Γ-method mean of `[chain][sample]` series.
pub fn mean_of(series: &[Vec<f64>]) -> lft_stats::Estimate {
    lft_stats::estimate_mean(&series.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap()
}

/// φ⁴ at E2's couplings (m² = −4, λ = 6.008) on `lattice`.
pub fn e2_action(lattice: &Lattice) -> lft_action::Phi4 {
    let params = lft_action::Phi4Params {
        m2: -4.0,
        lambda: 6.008,
    };
    lft_action::Phi4::new(lattice.clone(), params).unwrap()
}

/// K `stages` of `steps` moves of `kind`, each leapfrog (no jitter) of `n_steps` steps of
/// `step_size` (a Langevin step uses the step size alone).
pub fn stages(
    kind: lft_sample::anneal::MoveKind,
    stages: usize,
    steps: usize,
    step_size: f64,
    n_steps: usize,
) -> lft_sample::anneal::Stages {
    lft_sample::anneal::Stages {
        kind,
        stages,
        steps,
        move_params: lft_sample::HmcParams {
            step_size,
            n_steps,
            integrator: lft_sample::Integrator::Leapfrog,
            length_jitter: 0.0,
        },
    }
}
