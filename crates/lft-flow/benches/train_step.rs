//! One reverse-KL training step of the tutorial recipe (arXiv:2101.08176): L = 8, m² = −4,
//! λ = 8, 16 affine couplings, conv hidden [8, 8], kernel 3, batch 64 (and 1024), plus
//! sampling throughput. Run: `cargo bench -p lft-flow --bench train_step`.

use criterion::{Criterion, criterion_group, criterion_main};
use lft_action::{Phi4, Phi4Params};
use lft_flow::{Activation, Adam, CouplingSpec, Flow, FlowSpec, PriorSpec};
use lft_lattice::{Lattice, stream_rng};
use std::hint::black_box;

fn tutorial() -> (Phi4, Flow) {
    let lat = Lattice::new(&[8, 8]).unwrap();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
    )
    .unwrap();
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
        precision: lft_flow::Precision::F64,
    };
    (action, Flow::new(lat, &spec, 1).unwrap())
}

fn bench(c: &mut Criterion) {
    let (action, mut flow) = tutorial();
    let mut adam = Adam::new(flow.n_params());
    let mut rng = stream_rng(2, 0);
    let mut group = c.benchmark_group("flow_tutorial");
    group.sample_size(20);
    for batch in [64, 1024] {
        group.bench_function(format!("train_step_batch{batch}"), |b| {
            b.iter(|| {
                let z = flow.sample_latent(batch, &mut rng);
                let (loss, _, grad) = flow.reverse_kl(&action, &z);
                adam.step(flow.params_mut(), &grad, 1e-3);
                black_box(loss)
            })
        });
    }
    group.bench_function("sample_1024", |b| {
        b.iter(|| black_box(flow.sample(1024, &mut rng).log_q[0]))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
