//! How smooth a flow must be for HMC through it (docs/PERFORMANCE.md, issue 37): 2D U(1) at
//! L = 8, β = 4, one gauge-equivariant flow per circle transform with 13 parameters per active
//! plaquette (NCP with 6 components, the C¹ circular spline with 4 bins, the C^∞ smooth mixture
//! with 4 components), 16 layers, hidden [8], trained by reverse KL for `steps` steps of batch
//! 64 (Adam, lr 1e-3, cosine). Then HMC on the pulled-back action S̃(z) = S(f(z)) − log|det J|
//! (`lft_sample::PulledBack`: the flow's force in every leapfrog step), trajectory length 1
//! with n leapfrog steps (default 16, 64, 256), from the same latent draws for every flow:
//! ⟨ΔH⟩, ⟨ΔH²⟩ (which falls like n⁻⁴ for a smooth force once ΔH is small) and the acceptance,
//! and the milliseconds per trajectory.
//!
//!     cargo run --release -p lft-sample --example u1_flow_force -- [steps] [trajectories] [n...]

use lft_action::U1Wilson;
use lft_flow::{Adam, CircleSpec, Flow, FlowSpec, Schedule, TrainOptions, train};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{HmcChain, HmcParams, Integrator, PulledBack, Start};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let steps = args.first().copied().unwrap_or(1000);
    let trajectories = args.get(1).copied().unwrap_or(50);
    let leapfrog_steps: Vec<usize> = if args.len() > 2 {
        args[2..].to_vec()
    } else {
        vec![16, 64, 256]
    };
    let lattice = Lattice::new(&[8, 8]).unwrap();
    let action = U1Wilson::new(lattice.clone(), 4.0).unwrap();
    println!("L = 8, beta = 4: {steps} training steps, {trajectories} trajectories per point");
    println!("transform          loss     train s   n   <dH>       <dH^2>      acc    ms/traj");
    for transform in [
        CircleSpec::Ncp { components: 6 },
        CircleSpec::Spline { bins: 4 },
        CircleSpec::SmoothMixture { components: 4 },
    ] {
        let spec = FlowSpec::gauge(16, vec![8], transform, false);
        let mut flow = Flow::new(lattice.clone(), &spec, 1).unwrap();
        let options = TrainOptions {
            steps,
            batch: 64,
            lr: 1e-3,
            schedule: Schedule::Cosine,
            grad_clip: Some(100.0),
            ..TrainOptions::default()
        };
        let mut adam = Adam::new(flow.n_params());
        let t = Instant::now();
        let mut loss = f64::NAN;
        train(
            &mut flow,
            &action,
            &options,
            steps,
            &mut adam,
            &mut stream_rng(1, 1),
            &mut |r| loss = r.loss,
        )
        .unwrap();
        let train_s = t.elapsed().as_secs_f64();
        let pulled = PulledBack {
            flow: &flow,
            action: &action,
        };
        for &n in &leapfrog_steps {
            let params = HmcParams {
                step_size: 1.0 / n as f64,
                n_steps: n,
                integrator: Integrator::Leapfrog,
                length_jitter: 0.0,
            };
            let mut chain = HmcChain::new(&pulled, Start::Hot, stream_rng(2, 0), params);
            let t = Instant::now();
            let (mut dh, mut dh2, mut acc) = (0.0, 0.0, 0usize);
            for _ in 0..trajectories {
                let r = chain.trajectory(&pulled);
                dh += r.delta_h;
                dh2 += r.delta_h * r.delta_h;
                acc += r.accepted as usize;
            }
            let ms = 1e3 * t.elapsed().as_secs_f64() / trajectories as f64;
            let k = trajectories as f64;
            println!(
                "{:16} {loss:>9.3} {train_s:>8.1} {n:>3} {:>9.2e} {:>11.3e} {:>6.3} {ms:>8.2}",
                transform.name(),
                dh / k,
                dh2 / k,
                acc as f64 / k
            );
        }
    }
}
