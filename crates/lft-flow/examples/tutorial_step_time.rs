//! Time per reverse-KL training step of the tutorial recipe (arXiv:2101.08176; L = 8,
//! m² = −4, λ = 8, 16 affine couplings, hidden [8, 8], kernel 3), measured like
//! `benches/pytorch/tutorial_step.py`: blocks of 5 steps for a time budget, reporting the
//! fastest block (the least disturbed by other load) and the mean.
//!
//!     cargo run --release -p lft-flow --example tutorial_step_time -- 64 1024
//!     cargo run --release -p lft-flow --example tutorial_step_time -- --f32 64 1024

use lft_action::{Phi4, Phi4Params};
use lft_flow::{Activation, Adam, CouplingSpec, Flow, FlowSpec, Precision, PriorSpec};
use lft_lattice::{Lattice, stream_rng};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let precision = if args.iter().any(|a| a == "--f32") {
        Precision::F32
    } else {
        Precision::F64
    };
    let batches: Vec<usize> = args
        .iter()
        .filter(|a| *a != "--f32")
        .map(|a| a.parse().expect("batch sizes are integers"))
        .collect();
    let batches = if batches.is_empty() {
        vec![64, 1024]
    } else {
        batches
    };
    let lat = Lattice::new(&[8, 8]).unwrap();
    let params = Phi4Params {
        m2: -4.0,
        lambda: 8.0,
    };
    let action = Phi4::new(lat.clone(), params).unwrap();
    let spec = FlowSpec {
        layers: 16,
        hidden: vec![8, 8],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: false,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision,
    };
    let mut flow = Flow::new(lat, &spec, 1).unwrap();
    let mut adam = Adam::new(flow.n_params());
    let mut rng = stream_rng(2, 0);
    println!(
        "lft, {} rayon threads, conditioners in {precision}, {} parameters",
        rayon::current_num_threads(),
        flow.n_params()
    );
    for batch in batches {
        let mut step = || {
            let z = flow.sample_latent(batch, &mut rng);
            let (_, _, grad) = flow.reverse_kl(&action, &z);
            adam.step(flow.params_mut(), &grad, 1e-3);
        };
        for _ in 0..3 {
            step();
        }
        let (start, mut best, mut n) = (Instant::now(), f64::INFINITY, 0);
        while start.elapsed().as_secs_f64() < 10.0 {
            let t = Instant::now();
            for _ in 0..5 {
                step();
            }
            best = best.min(t.elapsed().as_secs_f64() / 5.0);
            n += 5;
        }
        let mean = start.elapsed().as_secs_f64() / n as f64;
        println!(
            "train step, batch {batch}: best {:.2} ms, mean {:.2} ms ({n} steps)",
            best * 1e3,
            mean * 1e3
        );
    }
}
