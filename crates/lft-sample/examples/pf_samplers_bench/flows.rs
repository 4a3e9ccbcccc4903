//! The bench's q(φ): the tests' small flow, trained by reverse or forward KL.

use crate::ladder;
use lft_action::{Action, PseudofermionCg, Yukawa, YukawaEstimated};
use lft_fermion::{CgParams, DetEstimator, Reference};
use lft_flow::{
    Activation, Adam, CouplingSpec, Flow, FlowSpec, Objective, PriorSpec, Schedule, TrainHooks,
    TrainOptions, train, train_with,
};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{HmcParams, MarkovChain, PseudofermionHmc, Start};

/// The tests' small flow (8 affine layers, hidden [8], Z₂-equivariant) from `prior`.
fn small_flow(lattice: &Lattice, prior: PriorSpec) -> Flow {
    let spec = FlowSpec {
        layers: 8,
        hidden: vec![8],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: true,
        coupling: CouplingSpec::Affine,
        prior,
        spectral: false,
        precision: lft_flow::Precision::F64,
    };
    Flow::new(lattice.clone(), &spec, 21).unwrap()
}

/// `steps` steps of batch 64 at learning rate `lr`, cosine schedule, gradient clipped at 100.
fn cosine_training(steps: usize, lr: f64) -> TrainOptions {
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

/// [`small_flow`] from N(0, 1), trained by reverse KL for `steps` steps on pseudofermion forces
/// (one-draw ladder estimate, batch 64, lr 10⁻² cosine).
pub fn reverse_kl_flow(model: &dyn Fn() -> Yukawa, steps: usize) -> Flow {
    let training = YukawaEstimated::new(
        model(),
        DetEstimator::new(ladder(0.01, 3.0, 1.5), 1, CgParams::default())
            .unwrap()
            .with_reference(Reference::MeanDiagonal),
        CgParams::default(),
        31,
    );
    let mut flow = small_flow(training.lattice(), PriorSpec::StandardNormal);
    let options = cosine_training(steps, 1e-2);
    let mut adam = Adam::new(flow.n_params());
    train(
        &mut flow,
        &training,
        &options,
        steps,
        &mut adam,
        &mut stream_rng(21, 1),
        &mut |_| {},
    )
    .unwrap();
    flow
}

/// [`small_flow`] from the Z₂ mixture (shift 0.34, the broken phase's |M|/V), trained by forward
/// KL for `steps` steps (batch 64, lr 3·10⁻³ cosine) on `n` configurations of a pseudofermion-HMC
/// chain independent of the bench's own (seed 90, cold, 200 trajectories of thermalisation).
/// The flow is Z₂-equivariant and the prior symmetric, so q(φ) = q(−φ) whichever vacuum the
/// chain sat in. Forward KL covers the target's mass, which IMH needs; reverse KL from N(0, 1)
/// collapses onto the bulk at L = 16.
pub fn forward_kl_flow(
    model: &dyn Fn() -> Yukawa,
    cg: PseudofermionCg,
    hmc: HmcParams,
    steps: usize,
    n: usize,
) -> Flow {
    let mut chain = PseudofermionHmc::new(model(), cg, Start::Cold, stream_rng(90, 0), hmc);
    for _ in 0..200 {
        chain.trajectory().unwrap();
    }
    let mut data = Vec::with_capacity(n * chain.field().len());
    for _ in 0..n {
        chain.trajectory().unwrap();
        data.extend_from_slice(chain.field());
    }
    let mut flow = small_flow(
        model().phi4().lattice(),
        PriorSpec::Z2Mixture { shift: 0.34 },
    );
    let options = cosine_training(steps, 3e-3);
    let mut adam = Adam::new(flow.n_params());
    train_with(
        &mut flow,
        Objective::ForwardKl(&data),
        &options,
        steps,
        &mut adam,
        &mut stream_rng(21, 1),
        TrainHooks {
            report: &mut |_| {},
            stop: &|| false,
        },
    )
    .unwrap();
    flow
}
