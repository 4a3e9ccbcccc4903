//! The drivers of the device programs on the host emulator and, where there is one, a GPU:
//! lft-flow's own training loop driving a [`DeviceFlow`] — the path `lft train --device cuda`
//! takes — against the same loop on the CPU flow (same latent draws, same clipping, same Adam,
//! a batch that grows so that a second program is built on the way); the device-resident
//! trainer; device proposals (`lft sample --device cuda`) against the CPU flow's.

use lft_action::{Phi4, Phi4Params};
use lft_cuda::{CudaRuntime, DeviceFlow, Emulator, Executor, emulate};
use lft_flow::activation::Activation;
use lft_flow::precision::Precision;
use lft_flow::prior::PriorSpec;
use lft_flow::spec::{CouplingSpec, FlowSpec};
use lft_flow::train::{TrainHooks, TrainOptions, train_with};
use lft_flow::{Adam, Flow, Objective};
use lft_lattice::{Lattice, stream_rng};

/// Runs `check` on the emulator and on a GPU, each where there is one (`LFT_REQUIRE_EMULATOR=1`
/// and `LFT_REQUIRE_GPU=1` make a missing one a failure). The GPU gets the 1e-10 tolerance of
/// fused multiply-adds.
macro_rules! on_every_executor {
    ($test:literal, $check:ident) => {{
        let required = |var: &str| std::env::var(var).as_deref() == Ok("1");
        if emulate::available() {
            $check(Emulator::default(), 1e-10);
        } else {
            assert!(
                !required("LFT_REQUIRE_EMULATOR"),
                "LFT_REQUIRE_EMULATOR=1 but no C++ compiler"
            );
            eprintln!("{}: emulator skipped: no C++ compiler", $test);
        }
        match CudaRuntime::new(0) {
            Ok(gpu) => $check(gpu, 1e-9),
            Err(e) => {
                assert!(!required("LFT_REQUIRE_GPU"), "LFT_REQUIRE_GPU=1 but {e}");
                eprintln!("{}: GPU skipped: {e}", $test);
            }
        }
    }};
}

#[test]
fn the_training_loop_drives_a_device_flow_like_the_cpu_flow() {
    on_every_executor!("training loop", check_training_loop);
}

fn check_training_loop<E: Executor>(exec: E, tol: f64) {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let params = Phi4Params {
        m2: -4.0,
        lambda: 8.0,
    };
    let action = Phi4::new(lattice.clone(), params).unwrap();
    let spec = FlowSpec {
        layers: 2,
        hidden: vec![4],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: true,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision: Precision::F64,
    };
    let options = TrainOptions {
        steps: 2,
        batch: 8,
        batch_max: Some(16),
        lr: 0.01,
        grad_clip: Some(5.0),
        ..TrainOptions::default()
    };
    let train = |model: &mut dyn lft_flow::Trainable| {
        let mut adam = Adam::new(model.params().len());
        let mut rng = stream_rng(11, 1);
        let records = train_with(
            model,
            Objective::ReverseKl(&action),
            &options,
            options.steps,
            &mut adam,
            &mut rng,
            TrainHooks {
                report: &mut |_| {},
                stop: &|| false,
            },
        )
        .unwrap();
        records.iter().map(|r| (r.loss, r.ess)).collect::<Vec<_>>()
    };
    let mut cpu = Flow::new(lattice.clone(), &spec, 5).unwrap();
    let device_start = cpu.clone();
    let cpu_records = train(&mut cpu);
    let mut device = DeviceFlow::new(exec, device_start, &spec, params).unwrap();
    let device_records = train(&mut device);
    assert!(device.take_error().is_none());
    assert_eq!(cpu_records.len(), 2);
    for ((lc, ec), (ld, ed)) in cpu_records.iter().zip(&device_records) {
        assert!(
            (lc - ld).abs() < tol * lc.abs().max(1.0),
            "loss {lc} vs {ld}"
        );
        assert!((ec - ed).abs() < tol, "ESS {ec} vs {ed}");
    }
    for (i, (a, b)) in cpu.params().iter().zip(device.flow().params()).enumerate() {
        assert!(
            (a - b).abs() < tol * a.abs().max(1.0),
            "param {i}: {a} vs {b}"
        );
    }
}

/// Asking the device to train for another action is a named error, not a silent mismatch.
#[test]
fn a_device_flow_refuses_another_target() {
    if !emulate::available() {
        eprintln!("skipped: no C++ compiler to emulate the kernels with");
        return;
    }
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let spec = FlowSpec::affine_transport(2, vec![4], 3, Activation::Tanh);
    let flow = Flow::new(lattice.clone(), &spec, 5).unwrap();
    let device_target = Phi4Params {
        m2: -4.0,
        lambda: 8.0,
    };
    let other = Phi4::new(
        lattice,
        Phi4Params {
            m2: -3.0,
            lambda: 8.0,
        },
    )
    .unwrap();
    let mut device = DeviceFlow::new(Emulator::default(), flow, &spec, device_target).unwrap();
    let z = vec![0.3; 8 * 16];
    let (loss, _, _) = lft_flow::Trainable::reverse_kl(&mut device, &other, &z);
    assert!(loss.is_nan());
    let e = device.take_error().unwrap().to_string();
    assert!(e.contains("target action differs"), "{e}");
}

/// The device-resident loop (Philox latents, clipping and Adam on the device, five scalars
/// read per step) against lft-flow on the same draws.
#[test]
fn the_resident_trainer_matches_the_cpu() {
    on_every_executor!("resident trainer", check_resident);
}

fn check_resident<E: Executor>(exec: E, tol: f64) {
    use lft_cuda::philox::{PhiloxKey, normal_fill};
    use lft_cuda::resident::ResidentTrainer;
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let params = Phi4Params {
        m2: -4.0,
        lambda: 8.0,
    };
    let action = Phi4::new(lattice.clone(), params).unwrap();
    let spec = FlowSpec::affine_transport(2, vec![4], 3, Activation::LeakyRelu(0.01));
    let mut flow = Flow::new(lattice.clone(), &spec, 9).unwrap();
    let (n, lr, clip, seed) = (8, 0.02, 2.0, 31);
    let mut device =
        ResidentTrainer::new(exec, &spec, &lattice, n, flow.params(), params, seed).unwrap();
    device.grad_clip = Some(clip);
    let mut adam = Adam::new(flow.n_params());
    let mut z = vec![0.0; n * 16];
    for t in 1..=2 {
        let step = device.step(lr).unwrap();
        normal_fill(&mut z, PhiloxKey::from_seed(seed), t);
        let (loss, _, mut grad) = flow.reverse_kl(&action, &z);
        let norm = lft_flow::clip_grad_norm(&mut grad, clip);
        adam.step(flow.params_mut(), &grad, lr);
        assert!(step.applied && step.t == t);
        assert!(
            (step.loss - loss).abs() < tol * loss.abs(),
            "{} vs {loss}",
            step.loss
        );
        assert!(
            (step.grad_norm - norm).abs() < tol * norm,
            "{} vs {norm}",
            step.grad_norm
        );
    }
    assert!(device.steps() == 2);
    let got = device.params().unwrap();
    for (i, (a, b)) in flow.params().iter().zip(&got).enumerate() {
        assert!(
            (a - b).abs() < tol * a.abs().max(1.0),
            "param {i}: {a} vs {b}"
        );
    }
    let (m, v) = device.moments().unwrap();
    let (cm, cv) = adam.moments();
    assert!(
        m.iter()
            .zip(cm)
            .all(|(a, b)| (a - b).abs() < tol * b.abs().max(1e-2))
    );
    assert!(
        v.iter()
            .zip(cv)
            .all(|(a, b)| (a - b).abs() < tol * b.abs().max(1e-4))
    );
}

/// Proposals drawn on the device are the CPU flow's proposals (same latent draws, same φ and
/// log q to rounding), for every sampler that takes a `Proposal`.
#[test]
fn device_proposals_are_the_cpu_flows() {
    on_every_executor!("proposals", check_proposals);
}

fn check_proposals<E: Executor + Send>(exec: E, tol: f64) {
    use lft_cuda::DeviceProposal;
    use lft_flow::Proposal;
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let spline = CouplingSpec::Spline {
        bins: 4,
        tail_bound: 4.0,
    };
    let mut spec = FlowSpec::affine_transport(2, vec![4], 3, Activation::Tanh);
    spec.coupling = spline;
    spec.equivariant = true;
    let flow = Flow::new(lattice, &spec, 21).unwrap();
    let device = DeviceProposal::new(exec, flow.clone(), &spec).unwrap();
    let (mut r1, mut r2) = (stream_rng(4, 0), stream_rng(4, 0));
    let want = flow.draw(8, &mut r1);
    let got = device.draw(8, &mut r2);
    assert!(device.take_error().is_none());
    assert_eq!(got.latent, want.latent);
    for (a, b) in got.phi.iter().zip(&want.phi) {
        assert!((a - b).abs() < tol * b.abs().max(1.0), "φ {a} vs {b}");
    }
    for (a, b) in got.log_q.iter().zip(&want.log_q) {
        assert!((a - b).abs() < tol * b.abs().max(1.0), "log q {a} vs {b}");
    }
    // The round trip of a device draw, checked by the CPU inverse.
    let rt = device.round_trip(&got, 3).unwrap();
    assert!(rt.latent_error < 1e-10, "{rt:?}");
}
