//! Whole reverse-KL training steps of a coupling flow on the device program
//! ([`FlowProgram`]), against lft-flow's `Flow::reverse_kl` and `Adam` from the same
//! parameters and the same latent draws (Philox on both sides): the loss, the per-sample
//! log q, the gradient and the parameters after three Adam steps agree — float64 to 1e-10,
//! float32 to the tolerance its rounding implies.

mod common;

use common::{assert_close, run_all};
use lft_action::{Action, Phi4, Phi4Params};
use lft_cuda::call::{HostBuffer, HostTable};
use lft_cuda::flow_program::FlowProgram;
use lft_cuda::ops::phi4::Phi4Batch;
use lft_cuda::philox::{PhiloxKey, normal_fill};
use lft_cuda::tables::NeighbourTables;
use lft_flow::activation::Activation;
use lft_flow::precision::Precision;
use lft_flow::prior::PriorSpec;
use lft_flow::spec::{CouplingSpec, FlowSpec};
use lft_flow::{Adam, Flow};
use lft_lattice::Lattice;

fn spec(coupling: CouplingSpec, equivariant: bool, precision: Precision) -> FlowSpec {
    FlowSpec {
        layers: 2,
        hidden: vec![4],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant,
        coupling,
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision,
    }
}

const PARAMS: Phi4Params = Phi4Params {
    m2: -4.0,
    lambda: 8.0,
};

/// Runs `steps` training steps on the device program and on the CPU; returns (device table,
/// program, CPU losses, CPU per-sample terms of the last step, CPU gradient of the last step,
/// CPU parameters after the steps).
fn check(name: &str, spec: &FlowSpec, steps: u64, tol: f64) {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let (n, v, lr) = (8, 16, 0.01);
    let key = PhiloxKey::from_seed(2026);
    let action = Phi4::new(lattice.clone(), PARAMS).unwrap();
    let mut flow = Flow::new(lattice.clone(), spec, 7).unwrap();
    let mut table = HostTable::default();
    let program = FlowProgram::new(
        spec,
        &lattice,
        n,
        flow.params(),
        lft_cuda::launch::SHARED_LIMIT,
        &mut table,
    )
    .unwrap();
    let tables = NeighbourTables::new(&lattice);
    let fwd = table.i32(&tables.fwd);
    let bwd = table.i32(&tables.bwd);
    let target = Phi4Batch::new(&tables, PARAMS.m2, PARAMS.lambda, fwd, bwd);
    let mut calls = Vec::new();
    for t in 1..=steps {
        calls.push(program.draw_latent(key, t).unwrap());
        calls.extend(program.reverse_kl(&target).unwrap());
        if t < steps {
            calls.push(program.adam(lr, t, 1.0).unwrap());
        }
    }
    // The CPU: the same draws, the same steps.
    let mut adam = Adam::new(flow.n_params());
    let mut z = vec![0.0; n * v];
    let mut last = (0.0, Vec::new(), Vec::new());
    for t in 1..=steps {
        normal_fill(&mut z, key, t);
        last = flow.reverse_kl(&action, &z);
        if t < steps {
            let grad = last.2.clone();
            adam.step(flow.params_mut(), &grad, lr);
        }
    }
    let (loss, terms, grad) = last;
    // S(x) + log q from the device buffers, per sample.
    for (backend, table) in &run_all(name, &table, &calls) {
        let tol = backend.tol(tol);
        let what = format!("{backend:?} {name}");
        let summary = table.get(program.summary);
        assert_close(&format!("{what} loss"), &summary[..1], &[loss], tol);
        let got_terms: Vec<f64> = table
            .get(program.logq)
            .iter()
            .zip(table.get(program.action))
            .map(|(q, s)| q + s)
            .collect();
        assert_close(&format!("{what} log q + S"), &got_terms, &terms, tol);
        assert_close(
            &format!("{what} gradient"),
            &table.get(program.grad),
            &grad,
            tol,
        );
        assert_close(
            &format!("{what} params"),
            &table.get(program.params),
            flow.params(),
            tol,
        );
        let norm2: f64 = grad.iter().map(|g| g * g).sum();
        assert_close(
            &format!("{what} |g|²"),
            &table.get(program.grad_norm2),
            &[norm2],
            tol,
        );
        // The flow's output is a real sample: its action is the CPU's of the same x.
        let x = table.get(program.output());
        let s: Vec<f64> = x.chunks_exact(v).map(|c| action.action(c)).collect();
        assert_close(
            &format!("{what} S(x)"),
            &table.get(program.action),
            &s,
            1e-12,
        );
    }
}

#[test]
fn affine_training_steps_match_the_cpu() {
    check(
        "affine",
        &spec(CouplingSpec::Affine, false, Precision::F64),
        3,
        1e-10,
    );
}

#[test]
fn equivariant_affine_training_steps_match_the_cpu() {
    check(
        "equivariant affine",
        &spec(CouplingSpec::Affine, true, Precision::F64),
        3,
        1e-10,
    );
}

#[test]
fn equivariant_spline_training_steps_match_the_cpu() {
    let spline = CouplingSpec::Spline {
        bins: 4,
        tail_bound: 4.0,
    };
    check("spline", &spec(spline, true, Precision::F64), 3, 1e-10);
}

/// Float32 conditioners on both sides, each rounding in its own order: θ agrees to a few
/// float32 ulps (~1e-6 relative), which the log-det sums and gradients carry over about V = 16
/// sites and 2 layers, so 1e-4 of max(1, |value|).
#[test]
fn float32_training_steps_match_the_cpu_float32_path() {
    check(
        "float32 affine",
        &spec(CouplingSpec::Affine, true, Precision::F32),
        3,
        1e-4,
    );
}

#[test]
fn the_device_refuses_what_it_cannot_run_by_name() {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let mut table = HostTable::default();
    let mut s = spec(CouplingSpec::Affine, false, Precision::F64);
    s.spectral = true;
    let e = FlowProgram::new(&s, &lattice, 8, &[], 48 * 1024, &mut table).unwrap_err();
    assert!(e.to_string().contains("spectral"), "{e}");
    s.spectral = false;
    s.prior = PriorSpec::FreeField { m2: 1.0 };
    let e = FlowProgram::new(&s, &lattice, 8, &[], 48 * 1024, &mut table).unwrap_err();
    assert!(e.to_string().contains("free-field"), "{e}");
    s.prior = PriorSpec::StandardNormal;
    let gauge = lft_flow::FlowSpec::gauge(
        2,
        vec![4],
        lft_flow::CircleSpec::Ncp { components: 2 },
        false,
    );
    let e = FlowProgram::new(&gauge, &lattice, 8, &[], 48 * 1024, &mut table).unwrap_err();
    assert!(e.to_string().contains("gauge-equivariant"), "{e}");
    let e = FlowProgram::new(&s, &lattice, 8, &[1.0; 3], 48 * 1024, &mut table).unwrap_err();
    assert!(e.to_string().contains("3 given"), "{e}");
    let _ = HostBuffer::F64(Vec::new());
}
