//! Helpers shared by the sampler tests.

#![allow(dead_code)]

pub mod transport;
pub mod yukawa;

use lft_action::Action;
use lft_flow::{
    Activation, Adam, CouplingSpec, Flow, FlowSpec, PriorSpec, Schedule, TrainOptions, train,
};
use lft_lattice::stream_rng;

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
    let spec = FlowSpec {
        layers: 8,
        hidden: vec![8],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: false,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision,
    };
    let mut flow = Flow::new(action.lattice().clone(), &spec, seed).unwrap();
    let options = TrainOptions {
        steps,
        batch: 64,
        lr: 1e-2,
        schedule: Schedule::Cosine,
        grad_clip: Some(100.0),
        max_failures: 5,
        ..TrainOptions::default()
    };
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
