//! lft-flow's own training loop driving a [`DeviceFlow`] on the host emulator — the path
//! `lft train --device cuda` takes — against the same loop on the CPU flow: same latent draws,
//! same clipping, same Adam, so the parameters after the steps agree to rounding. The batch
//! grows between steps, so a second device program is built on the way.

use lft_action::{Phi4, Phi4Params};
use lft_cuda::{DeviceFlow, Emulator, emulate};
use lft_flow::activation::Activation;
use lft_flow::precision::Precision;
use lft_flow::prior::PriorSpec;
use lft_flow::spec::{CouplingSpec, FlowSpec};
use lft_flow::train::{TrainHooks, TrainOptions, train_with};
use lft_flow::{Adam, Flow, Objective};
use lft_lattice::{Lattice, stream_rng};

#[test]
fn the_training_loop_drives_a_device_flow_like_the_cpu_flow() {
    if !emulate::available() {
        assert!(
            std::env::var("LFT_REQUIRE_EMULATOR").as_deref() != Ok("1"),
            "LFT_REQUIRE_EMULATOR=1 but no C++ compiler"
        );
        eprintln!("skipped: no C++ compiler to emulate the kernels with");
        return;
    }
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
    let mut device = DeviceFlow::new(Emulator::default(), device_start, &spec, params).unwrap();
    let device_records = train(&mut device);
    assert!(device.take_error().is_none());
    assert_eq!(cpu_records.len(), 2);
    for ((lc, ec), (ld, ed)) in cpu_records.iter().zip(&device_records) {
        assert!(
            (lc - ld).abs() < 1e-10 * lc.abs().max(1.0),
            "loss {lc} vs {ld}"
        );
        assert!((ec - ed).abs() < 1e-10, "ESS {ec} vs {ed}");
    }
    for (i, (a, b)) in cpu.params().iter().zip(device.flow().params()).enumerate() {
        assert!(
            (a - b).abs() < 1e-10 * a.abs().max(1.0),
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
    if !emulate::available() {
        eprintln!("skipped: no C++ compiler to emulate the kernels with");
        return;
    }
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
    let mut device = ResidentTrainer::new(
        Emulator::default(),
        &spec,
        &lattice,
        n,
        flow.params(),
        params,
        seed,
    )
    .unwrap();
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
            (step.loss - loss).abs() < 1e-10 * loss.abs(),
            "{} vs {loss}",
            step.loss
        );
        assert!(
            (step.grad_norm - norm).abs() < 1e-10 * norm,
            "{} vs {norm}",
            step.grad_norm
        );
    }
    assert!(device.steps() == 2);
    let got = device.params().unwrap();
    for (i, (a, b)) in flow.params().iter().zip(&got).enumerate() {
        assert!(
            (a - b).abs() < 1e-10 * a.abs().max(1.0),
            "param {i}: {a} vs {b}"
        );
    }
    let (m, v) = device.moments().unwrap();
    let (cm, cv) = adam.moments();
    assert!(m.iter().zip(cm).all(|(a, b)| (a - b).abs() < 1e-12));
    assert!(v.iter().zip(cv).all(|(a, b)| (a - b).abs() < 1e-12));
}
