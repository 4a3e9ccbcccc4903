//! One HMC trajectory (10 leapfrog steps, fixed length) on 2D L = 64 and 4D L = 16; one
//! Yukawa trajectory (10 Omelyan steps of 0.1, m² = −4, λ = 8, g = 1, massless) with the exact
//! determinant at L = 8, 16 and with pseudofermions at L = 16, 32.
//!
//! Run: `cargo bench -p lft-sample --bench hmc`. Results: docs/PERFORMANCE.md.

use criterion::{Criterion, criterion_group, criterion_main};
use lft_action::{
    Phi4, Phi4Params, PseudofermionAction, PseudofermionCg, Yukawa, YukawaExact, YukawaParams,
};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{
    HmcChain, HmcParams, Integrator, MarkovChain, PseudofermionHmc, Start, WithAction,
};
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

fn yukawa(l: usize) -> Yukawa {
    let params = YukawaParams {
        phi4: Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
        g: 1.0,
        mass: 0.0,
    };
    Yukawa::new(Lattice::new(&[l, l]).unwrap(), params).unwrap()
}

fn yukawa_trajectory(c: &mut Criterion) {
    let params = HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Omelyan,
        length_jitter: 0.0,
    };
    let mut group = c.benchmark_group("yukawa_trajectory_10_omelyan_steps");
    group.sample_size(10);
    for l in [8, 16] {
        let action = YukawaExact::new(yukawa(l));
        let mut chain = WithAction {
            chain: HmcChain::new(&action, Start::Cold, stream_rng(2, 0), params),
            action: &action,
        };
        for _ in 0..20 {
            chain.trajectory().unwrap();
        }
        group.bench_function(format!("exact_det_L{l}"), |b| {
            b.iter(|| black_box(chain.trajectory().unwrap()))
        });
    }
    for l in [16, 32] {
        let cg = PseudofermionCg::default();
        let mut chain = PseudofermionHmc::new(yukawa(l), cg, Start::Cold, stream_rng(3, 0), params);
        for _ in 0..20 {
            chain.trajectory().unwrap();
        }
        let (solves, iterations) = chain.action().cg_counts();
        eprintln!(
            "pseudofermion L = {l}: {:.1} CG solves per trajectory, {:.1} iterations per solve",
            solves as f64 / 20.0,
            iterations as f64 / solves as f64
        );
        group.bench_function(format!("pseudofermion_L{l}"), |b| {
            b.iter(|| black_box(chain.trajectory().unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, trajectory, yukawa_trajectory);
criterion_main!(benches);
