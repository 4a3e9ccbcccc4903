//! Annealing at the φ⁴ point of CRAFT (arXiv:2201.13117; configs/craft.toml): L = 14,
//! m² = −4.75, λ = 5.1, 2000 particles from N(0, 1), 10 linear temperatures, 10 HMC
//! trajectories of 10 leapfrog steps per particle and temperature (step size 0.3 → 0.15 → 0.1
//! in β). One SMC pass, and one CRAFT training iteration (the same pass with a flow of two
//! conv affine couplings, hidden [10], kernel 3, per transition, its backward pass and the
//! Adam steps). Per temperature: divide by 10.
//!
//! Run: `cargo bench -p lft-sample --bench anneal`. Results: docs/PERFORMANCE.md.

use criterion::{Criterion, criterion_group, criterion_main};
use lft_action::{Phi4, Phi4Params};
use lft_flow::{Activation, FlowSpec, Prior, PriorSpec};
use lft_lattice::Lattice;
use lft_sample::anneal::{Craft, Resampling, Schedule, SmcSettings, smc_pass};
use lft_sample::{HmcParams, Integrator};
use std::hint::black_box;

fn craft_point(c: &mut Criterion) {
    let lat = Lattice::new(&[14, 14]).unwrap();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: -4.75,
            lambda: 5.1,
        },
    )
    .unwrap();
    let prior = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
    let settings = SmcSettings {
        particles: 2000,
        schedule: Schedule::Linear { steps: 10 },
        resampling: Some(Resampling::Systematic),
        ess_threshold: 0.3,
        hmc: HmcParams {
            step_size: 0.1,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.0,
        },
        trajectories: 10,
        step_knots: vec![(0.0, 0.3), (0.3, 0.15), (1.0, 0.1)],
        target_acceptance: None,
    };
    let spec = FlowSpec::affine_transport(2, vec![10], 3, Activation::LeakyRelu(0.01));
    let mut group = c.benchmark_group("anneal_craft_point");
    group.sample_size(10);
    let mut pass = 0;
    group.bench_function("smc_pass_10_temperatures", |b| {
        b.iter(|| {
            pass += 1;
            black_box(smc_pass(&prior, &action, &settings, 1, pass).unwrap().log_z)
        })
    });
    let mut craft = Craft::new(&spec, &lat, 10, 1);
    group.bench_function("craft_training_iteration", |b| {
        b.iter(|| {
            black_box(
                craft
                    .train_iteration(&prior, &action, &settings, 1e-3, 1)
                    .unwrap()
                    .grad_norm,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, craft_point);
criterion_main!(benches);
