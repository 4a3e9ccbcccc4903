//! One HMC trajectory (10 leapfrog steps, fixed length) on 2D L = 64 and 4D L = 16.
//!
//! Run: `cargo bench -p lft-sample --bench hmc`. Results: docs/PERFORMANCE.md.

use criterion::{Criterion, criterion_group, criterion_main};
use lft_action::{Phi4, Phi4Params};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{HmcChain, HmcParams, Integrator, Start};
use std::hint::black_box;

fn trajectory(c: &mut Criterion) {
    let mut group = c.benchmark_group("hmc_trajectory_10_leapfrog_steps");
    for (name, shape, m2, lambda) in [
        ("2d_L64", vec![64, 64], -4.0, 8.0),
        ("4d_L16", vec![16, 16, 16, 16], -8.0, 1.0),
    ] {
        let action = Phi4::new(Lattice::new(&shape).unwrap(), Phi4Params { m2, lambda }).unwrap();
        let params = HmcParams {
            step_size: 0.02,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.0,
        };
        let mut chain = HmcChain::new(&action, Start::Cold, stream_rng(1, 0), params);
        for _ in 0..20 {
            chain.trajectory(&action);
        }
        group.bench_function(name, |b| b.iter(|| black_box(chain.trajectory(&action))));
    }
    group.finish();
}

criterion_group!(benches, trajectory);
criterion_main!(benches);
