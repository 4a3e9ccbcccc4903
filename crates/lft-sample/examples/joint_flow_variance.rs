//! How well the conditional pseudofermion flow learns the Yukawa model's pseudofermion
//! (m² = −4, λ = 8, massless): trains a flow q(φ) with pseudofermion forces (as the tests do),
//! then the conditional flow on its proposals, printing Var(log d̂et | φ) along the way; then
//! measures Var(log d̂et) with 8 repeated estimates on 16 proposals, and the time per estimate.
//! docs/PHYSICS.md has the table.
//!
//!   cargo run --release -p lft-sample --example joint_flow_variance -- \
//!       L G [FLOW_STEPS=1500] [PF_STEPS=400] [BLOCKS=2] [LR=5e-3] [BATCH=16] [DRAWS=1,16]
use lft_action::{
    Action, EstimatedAction, FlowDetEstimator, Phi4Params, PseudofermionFlow, Yukawa,
    YukawaEstimated, YukawaParams,
};
use lft_fermion::{CgParams, DetEstimator, Reference};
use lft_flow::{
    Activation, Adam, CouplingSpec, Flow, FlowSpec, PriorSpec, Proposal, Schedule, TrainOptions,
    train,
};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{PfFlowTraining, train_pf_flow};
use std::time::Instant;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i)
        .map(|s| s.parse().ok().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!(
            "usage: joint_flow_variance L G [FLOW_STEPS] [PF_STEPS] [BLOCKS] [LR] [BATCH] [DRAWS]"
        );
        std::process::exit(2);
    }
    let l: usize = arg(&args, 1, 4);
    let g: f64 = arg(&args, 2, 1.0);
    let flow_steps: usize = arg(&args, 3, 1500);
    let pf_steps: usize = arg(&args, 4, 400);
    let blocks: usize = arg(&args, 5, 2);
    let lr: f64 = arg(&args, 6, 5e-3);
    let batch: usize = arg(&args, 7, 16);
    let draws: Vec<usize> = args
        .get(8)
        .map(|s| s.split(',').map(|d| d.parse().expect("a number")).collect())
        .unwrap_or(vec![1, 16]);
    let params = YukawaParams {
        phi4: Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
        g,
        mass: 0.0,
    };
    let model = || Yukawa::new(Lattice::new(&[l, l]).unwrap(), params).unwrap();
    // q(φ): the tests' flow, trained on pseudofermion forces (the ladder only enters the
    // reported loss: lft train's cheap one, twists 0.01 … 3 at ratio 1.5).
    let mut twists = vec![0.01];
    while twists[twists.len() - 1] * 1.5 < 3.0 {
        twists.push(twists[twists.len() - 1] * 1.5);
    }
    twists.push(3.0);
    let ladder = DetEstimator::new(twists, 1, CgParams::default())
        .unwrap()
        .with_reference(Reference::MeanDiagonal);
    let training_target = YukawaEstimated::new(model(), ladder, CgParams::default(), 31);
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
        precision: lft_flow::Precision::F64,
    };
    let mut flow = Flow::new(training_target.lattice().clone(), &spec, 21).unwrap();
    let options = TrainOptions {
        steps: flow_steps,
        batch: 64,
        lr: 1e-2,
        schedule: Schedule::Cosine,
        grad_clip: Some(100.0),
        max_failures: 5,
        ..TrainOptions::default()
    };
    let mut adam = Adam::new(flow.n_params());
    let t = Instant::now();
    train(
        &mut flow,
        &training_target,
        &options,
        flow_steps,
        &mut adam,
        &mut stream_rng(21, 1),
        &mut |_| {},
    )
    .unwrap();
    println!(
        "L = {l}, g = {g}: q(φ) trained for {flow_steps} steps in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut pf_flow = PseudofermionFlow::standard(blocks, 2);
    let settings = PfFlowTraining {
        steps: pf_steps,
        batch,
        learning_rate: lr,
        seed: 5,
        ..PfFlowTraining::default()
    };
    let every = (pf_steps / 10).max(1);
    let mut window = Vec::new();
    let t = Instant::now();
    train_pf_flow(&mut pf_flow, &flow, &model(), &settings, &mut |s| {
        window.push(s.log_det_variance);
        if (s.step + 1) % every == 0 {
            let mean = window.iter().sum::<f64>() / window.len() as f64;
            println!(
                "  steps {:>5}–{:>5}: Var(log d̂et | φ) {mean:.3}, loss {:.2}",
                s.step + 2 - window.len(),
                s.step + 1,
                s.loss
            );
            window.clear();
        }
    })
    .unwrap();
    println!(
        "conditional flow ({} parameters, {blocks} blocks) trained in {:.1} s",
        pf_flow.params().len(),
        t.elapsed().as_secs_f64()
    );
    let phis = flow.draw(16, &mut stream_rng(77, 0)).phi;
    for draws in draws {
        let estimator = FlowDetEstimator::new(pf_flow.clone(), draws, CgParams::default()).unwrap();
        let target = YukawaEstimated::new(model(), estimator, CgParams::default(), 32);
        let t = Instant::now();
        let vars: Vec<f64> = phis
            .chunks_exact(l * l)
            .map(|phi| {
                let logs = target.repeated_log_det(phi, 8).unwrap();
                let m = logs.iter().sum::<f64>() / 8.0;
                logs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 7.0
            })
            .collect();
        let per = t.elapsed().as_secs_f64() / (16.0 * 8.0);
        let c = target.counts();
        println!(
            "Var(log d̂et) on 16 proposals, {draws} draws: {:.3}; {:.2} ms and {:.0} CG iterations per estimate",
            vars.iter().sum::<f64>() / 16.0,
            1e3 * per,
            c.cg_iterations as f64 / c.estimates as f64
        );
    }
}
