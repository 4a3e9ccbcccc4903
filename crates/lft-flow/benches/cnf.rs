//! The continuous flow at L = 32 (kernel radius 2, 8 frequencies, 4 time modes, 16 RK4
//! steps): one evaluation of the vector field and of its vector–Jacobian product, the forward
//! map of one configuration, and its gradient by the checkpointed backward pass against the
//! adjoint method; then the field and its VJP by gathers and by FFT for growing kernels (the
//! crossover that `Convolution::Auto` uses) and the whole lattice's kernel at L = 32 and 64.
//! Run: `cargo bench -p lft-flow --bench cnf`.

use criterion::{Criterion, criterion_group, criterion_main};
use lft_flow::KernelField;
use lft_flow::cnf_field::{Convolution, FieldScratch};
use lft_flow::cnf_ode::{OdeScratch, integrate, integrate_adjoint, integrate_backward};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};
use std::hint::black_box;
use std::time::Duration;

const STEPS: usize = 16;

fn bench(c: &mut Criterion) {
    let lattice = Lattice::new(&[32, 32]).unwrap();
    let v = lattice.volume();
    let field = KernelField::new(&lattice, 2, 8, 4);
    let params = field.init_params(&mut stream_rng(1, 0), 0.05);
    let mut x = vec![0.0; v];
    gaussian_fill(&mut stream_rng(2, 0), &mut x);
    let mut a = vec![0.0; v];
    gaussian_fill(&mut stream_rng(3, 0), &mut a);
    let h = 1.0 / STEPS as f64;

    let mut group = c.benchmark_group("cnf_l32");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    let mut fs = FieldScratch::default();
    let mut out = vec![0.0; v];
    group.bench_function("velocity", |b| {
        b.iter(|| field.velocity_with(&params, black_box(&x), 0.3, &mut out, &mut fs))
    });
    let mut dparams = vec![0.0; params.len()];
    group.bench_function("vjp", |b| {
        b.iter(|| {
            field.vjp(
                &params,
                black_box(&x),
                0.3,
                &a,
                0.5,
                &mut out,
                &mut dparams,
                &mut fs,
            )
        })
    });
    let mut s = OdeScratch::default();
    let mut states = vec![0.0; (STEPS + 1) * v];
    group.bench_function("forward_16_steps", |b| {
        b.iter(|| {
            states[..v].copy_from_slice(&x);
            integrate(&field, &params, 0.0, h, STEPS, &mut states, &mut s)
        })
    });
    states[..v].copy_from_slice(&x);
    integrate(&field, &params, 0.0, h, STEPS, &mut states, &mut s);
    let mut g = vec![0.0; v];
    group.bench_function("backward_checkpointed", |b| {
        b.iter(|| {
            g.copy_from_slice(&a);
            integrate_backward(
                &field,
                &params,
                0.0,
                h,
                STEPS,
                &states,
                &mut g,
                0.5,
                &mut dparams,
                &mut s,
            )
        })
    });
    let mut end = vec![0.0; v];
    group.bench_function("backward_adjoint", |b| {
        b.iter(|| {
            end.copy_from_slice(&states[STEPS * v..]);
            g.copy_from_slice(&a);
            integrate_adjoint(
                &field,
                &params,
                0.0,
                h,
                STEPS,
                &mut end,
                &mut g,
                0.5,
                &mut dparams,
                &mut s,
            )
        })
    });
    group.finish();
}

/// v and its VJP at L = 32 by gathers and by FFT, kernel radius 2, 3, 4 (25, 49, 81
/// offsets) and the whole lattice; the whole lattice's backward pass at L = 32 and v, VJP at
/// L = 64.
fn convolutions(c: &mut Criterion) {
    let mut group = c.benchmark_group("cnf_convolution");
    group
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    let cases = [
        (32, 2, Convolution::Direct),
        (32, 2, Convolution::Fft),
        (32, 3, Convolution::Direct),
        (32, 3, Convolution::Fft),
        (32, 4, Convolution::Direct),
        (32, 4, Convolution::Fft),
        (32, 16, Convolution::Fft),
        (64, 32, Convolution::Fft),
    ];
    for (l, radius, conv) in cases {
        let lattice = Lattice::new(&[l, l]).unwrap();
        let v = lattice.volume();
        let field = KernelField::with_convolution(&lattice, radius, 8, 4, conv);
        let params = field.init_params(&mut stream_rng(1, 0), 0.05);
        let mut x = vec![0.0; v];
        gaussian_fill(&mut stream_rng(2, 0), &mut x);
        let mut a = vec![0.0; v];
        gaussian_fill(&mut stream_rng(3, 0), &mut a);
        let name = format!("L{l}_r{radius}_{conv:?}");
        let mut fs = FieldScratch::default();
        let mut out = vec![0.0; v];
        group.bench_function(format!("{name}_velocity"), |b| {
            b.iter(|| field.velocity_with(&params, black_box(&x), 0.3, &mut out, &mut fs))
        });
        let mut dparams = vec![0.0; params.len()];
        group.bench_function(format!("{name}_vjp"), |b| {
            b.iter(|| {
                field.vjp(
                    &params,
                    black_box(&x),
                    0.3,
                    &a,
                    0.5,
                    &mut out,
                    &mut dparams,
                    &mut fs,
                )
            })
        });
        if l == 32 && radius == 16 {
            let h = 1.0 / STEPS as f64;
            let mut s = OdeScratch::default();
            let mut states = vec![0.0; (STEPS + 1) * v];
            states[..v].copy_from_slice(&x);
            group.bench_function(format!("{name}_forward_16_steps"), |b| {
                b.iter(|| integrate(&field, &params, 0.0, h, STEPS, &mut states, &mut s))
            });
            let mut g = vec![0.0; v];
            group.bench_function(format!("{name}_backward_checkpointed"), |b| {
                b.iter(|| {
                    g.copy_from_slice(&a);
                    integrate_backward(
                        &field,
                        &params,
                        0.0,
                        h,
                        STEPS,
                        &states,
                        &mut g,
                        0.5,
                        &mut dparams,
                        &mut s,
                    )
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench, convolutions);
criterion_main!(benches);
