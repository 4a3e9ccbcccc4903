//! Staggered operator throughput, CG solves and dense log det.
//!
//! Run: `cargo bench -p lft-fermion --bench fermion`. Results: docs/PERFORMANCE.md.
//! The scalar field is a typical broken-phase one (|φ| ≈ 0.4 with noise), g = 1, massless, so
//! the CG iteration counts are those HMC meets.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lft_fermion::{
    CgParams, CgScratch, Complex64, DenseLu, Dirac, Staggered, TimeBoundary, solve_ddt,
};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};
use std::hint::black_box;

fn field(v: usize, seed: u64) -> Vec<f64> {
    let mut phi = vec![0.0; v];
    gaussian_fill(&mut stream_rng(seed, 0), &mut phi);
    phi.iter_mut().for_each(|p| *p = 0.4 + 0.2 * *p);
    phi
}

fn staggered(l: usize) -> Staggered {
    Staggered::new(&Lattice::new(&[l, l]).unwrap(), TimeBoundary::Antiperiodic).unwrap()
}

fn apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("dirac_apply");
    for l in [16, 64, 256] {
        let st = staggered(l);
        let v = st.volume();
        let phi = field(v, 1);
        let d = Dirac::new(&st, 0.0, 1.0, &phi);
        let x: Vec<Complex64> = field(v, 2).iter().map(|&a| Complex64::new(a, -a)).collect();
        let mut out = vec![Complex64::default(); v];
        group.throughput(Throughput::Elements(v as u64));
        group.bench_function(format!("complex_L{l}"), |b| {
            b.iter(|| d.apply(black_box(&x), &mut out))
        });
    }
    group.finish();
}

fn cg(c: &mut Criterion) {
    let mut group = c.benchmark_group("cg_ddt");
    group.sample_size(10);
    for l in [16, 32, 64] {
        let st = staggered(l);
        let v = st.volume();
        let phi = field(v, 3);
        let d = Dirac::new(&st, 0.0, 1.0, &phi);
        let b: Vec<Complex64> = field(v, 4)
            .iter()
            .map(|&a| Complex64::new(a, 1.0 - a))
            .collect();
        let mut x = vec![Complex64::default(); v];
        let mut scratch = CgScratch::new(v);
        let params = CgParams {
            tolerance: 1e-10,
            max_iterations: 100_000,
        };
        group.bench_function(format!("tol1e-10_L{l}"), |bench| {
            bench.iter(|| {
                x.fill(Complex64::default());
                solve_ddt(&d, black_box(&b), &mut x, params, &mut scratch).unwrap()
            })
        });
    }
    group.finish();
}

fn dense(c: &mut Criterion) {
    let mut group = c.benchmark_group("dense_log_det");
    group.sample_size(10);
    for l in [8, 16, 32] {
        let st = staggered(l);
        let phi = field(st.volume(), 5);
        let d = Dirac::new(&st, 0.0, 1.0, &phi);
        group.bench_function(format!("L{l}"), |b| {
            b.iter(|| DenseLu::of(black_box(&d)).log_abs_det())
        });
    }
    group.finish();
}

criterion_group!(benches, apply, cg, dense);
criterion_main!(benches);
