//! φ⁴ action and gradient on 2D L = 14 (the CRAFT point) and 64 and 4D L = 16 (one
//! configuration, and 8 interleaved in lanes), and Gaussian momentum generation.
//!
//! Run: `cargo bench -p lft-action --bench action`. Results: docs/PERFORMANCE.md.

use criterion::{Criterion, criterion_group, criterion_main};
use lft_action::{Action, Phi4, Phi4Params};
use lft_lattice::{LANES, Lattice, gaussian_fill, lane_scatter, stream_rng};
use std::hint::black_box;

fn phi4(c: &mut Criterion) {
    let mut group = c.benchmark_group("phi4");
    for (name, shape) in [
        ("2d_L14", vec![14, 14]),
        ("2d_L64", vec![64, 64]),
        ("4d_L16", vec![16, 16, 16, 16]),
    ] {
        let lat = Lattice::new(&shape).unwrap();
        let action = Phi4::new(
            lat.clone(),
            Phi4Params {
                m2: -4.0,
                lambda: 8.0,
            },
        )
        .unwrap();
        let mut rng = stream_rng(1, 0);
        let mut phi = vec![0.0; lat.volume()];
        gaussian_fill(&mut rng, &mut phi);
        let mut grad = vec![0.0; lat.volume()];
        group.bench_function(format!("gradient_{name}"), |b| {
            b.iter(|| action.gradient(black_box(&phi), &mut grad))
        });
        group.bench_function(format!("action_{name}"), |b| {
            b.iter(|| action.action(black_box(&phi)))
        });
        // The same gradient (tempered: a ∂S + b φ) for LANES configurations interleaved, as
        // the annealing moves use it: divide by LANES for the cost per configuration.
        let lanes = action.lanes().expect("phi^4 has lane batches");
        let mut batch = vec![[0.0; LANES]; lat.volume()];
        for l in 0..LANES {
            lane_scatter(&phi, l, &mut batch);
        }
        let mut lane_grad = batch.clone();
        group.bench_function(format!("lane_scaled_gradient_x{LANES}_{name}"), |b| {
            b.iter(|| lanes.lane_scaled_gradient(black_box(&batch), &mut lane_grad, 0.7, 0.3))
        });
        group.bench_function(format!("scaled_gradient_{name}"), |b| {
            b.iter(|| action.scaled_gradient(black_box(&phi), &mut grad, 0.7, 0.3))
        });
        group.bench_function(format!("gaussian_fill_{name}"), |b| {
            b.iter(|| gaussian_fill(&mut rng, black_box(&mut grad)))
        });
    }
    group.finish();
}

criterion_group!(benches, phi4);
criterion_main!(benches);
