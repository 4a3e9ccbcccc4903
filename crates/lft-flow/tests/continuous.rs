//! The continuous flow (issue 39): the integrated kernel field is a bijection to the
//! integrator's accuracy, its log-determinant is that of the integrated map, its gradients are
//! those of the discrete solver, and a linear field reproduces the free field exactly.

mod common;

use common::{check_backward, fd_jacobian, log_abs_det, randn};
use lft_flow::cnf_field::Convolution;
use lft_flow::{
    Bijection, BijectionStack, ContinuousFlow, Flow, KernelField, LayerCache, Prior, PriorSpec,
    Workspace,
};
use lft_lattice::{Lattice, stream_rng};
use std::sync::Arc;

fn cnf(shape: &[usize], radius: usize, steps: usize) -> (ContinuousFlow, Vec<f64>) {
    cnf_by(shape, radius, steps, Convolution::Auto)
}

fn cnf_by(
    shape: &[usize],
    radius: usize,
    steps: usize,
    conv: Convolution,
) -> (ContinuousFlow, Vec<f64>) {
    let lattice = Lattice::new(shape).unwrap();
    let field = KernelField::with_convolution(&lattice, radius, 3, 1, conv);
    let params = field.init_params(&mut stream_rng(11, 0), 0.15);
    (ContinuousFlow::new(field, steps), params)
}

fn forward(flow: &ContinuousFlow, params: &[f64], x: &[f64]) -> (Vec<f64>, f64) {
    let mut y = vec![0.0; x.len()];
    let ld = flow.forward(
        params,
        x,
        &mut y,
        &mut LayerCache::default(),
        &mut Workspace::default(),
    );
    (y, ld)
}

fn inverse(flow: &ContinuousFlow, params: &[f64], y: &[f64]) -> (Vec<f64>, f64) {
    let mut x = vec![0.0; y.len()];
    let ld = flow.inverse(
        params,
        y,
        &mut x,
        &mut LayerCache::default(),
        &mut Workspace::default(),
    );
    (x, ld)
}

/// Forward then inverse returns the start to the integrator's accuracy: the error falls by
/// about 2⁴ = 16 when the step halves; so does the error of the forward log det against a
/// solve with 256 steps, and the log det of the inverse agrees with it.
#[test]
fn the_inverse_undoes_the_forward_map_to_fourth_order() {
    let x = randn(36, 1, 1.0);
    let (reference, params) = cnf(&[6, 6], 1, 256);
    let (_, ld_ref) = forward(&reference, &params, &x);
    let errors: Vec<(f64, f64, f64)> = [8, 16]
        .iter()
        .map(|&steps| {
            let flow = reference.with_steps(steps);
            let (y, ld) = forward(&flow, &params, &x);
            let moved = x
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(moved > 0.05, "the map is far from the identity: {moved}");
            let (back, ld_inv) = inverse(&flow, &params, &y);
            let dx = x
                .iter()
                .zip(&back)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            (dx, (ld - ld_ref).abs(), (ld - ld_inv).abs())
        })
        .collect();
    let (coarse, fine) = (errors[0], errors[1]);
    // Within the samplers' tolerance for integrated flows.
    let tolerance = lft_flow::round_trip::INTEGRATED_ROUND_TRIP_TOLERANCE;
    assert!(
        fine.0 < tolerance && fine.1 < tolerance && fine.2 < tolerance,
        "16 steps: {fine:?}"
    );
    assert!(
        coarse.0 / fine.0 > 8.0,
        "order of the round trip: {errors:?}"
    );
    assert!(coarse.1 / fine.1 > 8.0, "order of the log det: {errors:?}");
}

/// The accumulated ∫ ∇·v dt against log|det| of the finite-difference Jacobian of the whole
/// discrete map on a 4 × 4 lattice (with a kernel over the whole lattice), within the measured
/// integrator error: |ℓ_N − ℓ_{4N}|.
#[test]
fn the_log_det_is_that_of_the_integrated_map() {
    for steps in [3, 6] {
        let (flow, params) = cnf(&[4, 4], 2, steps);
        let x = randn(16, 2, 1.0);
        let (_, ld) = forward(&flow, &params, &x);
        let (_, ld_fine) = forward(&flow.with_steps(4 * steps), &params, &x);
        let measured = (ld - ld_fine).abs();
        let jac = fd_jacobian(&x, &|xx| forward(&flow, &params, xx).0);
        let exact = log_abs_det(jac, 16);
        assert!(ld.abs() > 0.1, "a non-trivial volume change: {ld}");
        assert!(
            (ld - exact).abs() < 2.0 * measured + 1e-7,
            "{steps} steps: ∫∇·v = {ld}, log|det J| = {exact}, integrator error {measured}"
        );
    }
}

/// Both backward passes are the exact gradients of the discrete solver, with convolutions by
/// gathers and by FFT (whose backward pass defers the kernel gradients to one projection).
#[test]
fn the_backward_passes_match_finite_differences() {
    for (radius, conv) in [
        (1, Convolution::Direct),
        (2, Convolution::Direct),
        (1, Convolution::Fft),
        (3, Convolution::Fft),
    ] {
        let (flow, mut params) = cnf_by(&[4, 5], radius, 3, conv);
        let mut x = randn(20, 3, 1.0);
        check_backward(
            &format!("cnf r = {radius}, {conv:?}"),
            &flow,
            &mut params,
            &mut x,
        );
    }
}

/// A linear field dφ/dt = K ∗ φ with the constant whole-lattice kernel
/// K̂(p) = −½ log 2(p̂² + m²) maps N(0, 1) onto the free field of mass² m² exactly
/// (φ = e^K z has covariance (2(−Δ + m²))⁻¹, that of S = φᵀ(−Δ + m²)φ): log q − log p is the same for every draw, up to the
/// integrator's error, so the importance weights are flat (ESS = 1).
#[test]
fn a_linear_field_gives_the_free_field_exactly() {
    let shape = [6, 6];
    let lattice = Lattice::new(&shape).unwrap();
    let v = lattice.volume();
    let m2: f64 = 0.5;
    let field = KernelField::new(&lattice, 3, 0, 0);
    // u(o) = K(δ) for any δ of orbit o; orbits are keyed by sorted folded |δ|.
    let kernel_at = |delta: &[usize]| {
        let mut k = 0.0;
        for p0 in 0..6 {
            for p1 in 0..6 {
                let p = [p0, p1].map(|n| 2.0 * std::f64::consts::PI * n as f64 / 6.0);
                let phat2: f64 = p.iter().map(|q| 4.0 * (q / 2.0).sin().powi(2)).sum();
                let phase = p[0] * delta[0] as f64 + p[1] * delta[1] as f64;
                k += -0.5 * (2.0 * (phat2 + m2)).ln() * phase.cos();
            }
        }
        k / v as f64
    };
    let mut keys: Vec<[usize; 2]> = Vec::new();
    for a in 0..=3 {
        for b in a..=3 {
            keys.push([a, b]);
        }
    }
    assert_eq!(field.orbits(), keys.len());
    let params: Vec<f64> = keys.iter().map(|k| kernel_at(k)).collect();
    let free = Prior::new(PriorSpec::FreeField { m2 }, &lattice).unwrap();
    // log p − log q of 64 draws: the largest |·| and the spread.
    let deviation = |steps: usize| {
        let mut stack = BijectionStack::new();
        stack.push(
            Arc::new(ContinuousFlow::new(field.clone(), steps)),
            params.clone(),
        );
        let prior = Prior::new(PriorSpec::StandardNormal, &lattice).unwrap();
        let flow = Flow::from_parts(lattice.clone(), prior, stack);
        let sample = flow.sample(64, &mut stream_rng(5, 0));
        let log_w: Vec<f64> = sample
            .phi
            .chunks_exact(v)
            .zip(&sample.log_q)
            .map(|(phi, lq)| free.log_prob(phi) - lq)
            .collect();
        let max = log_w.iter().fold(0.0f64, |m, w| m.max(w.abs()));
        let lo = log_w.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (max, hi - lo)
    };
    let (coarse, fine) = (deviation(16), deviation(64));
    assert!(coarse.0 < 1e-4 && coarse.1 < 1e-4, "16 steps: {coarse:?}");
    // Fourth order: 4× the steps, 4⁴ = 256× smaller.
    assert!(
        fine.0 < coarse.0 / 64.0 && fine.1 < coarse.1 / 64.0,
        "64 steps: {fine:?}"
    );
}

/// The adjoint method's gradient is that of the exact flow: it approaches the checkpointed
/// (discrete) gradient at fourth order in the step, and reconstructs the start.
#[test]
fn the_adjoint_method_converges_to_the_discrete_gradient() {
    use lft_flow::cnf_ode::{OdeScratch, integrate, integrate_adjoint, integrate_backward};
    let lattice = Lattice::new(&[4, 5]).unwrap();
    let field = KernelField::new(&lattice, 1, 3, 2);
    let params = field.init_params(&mut stream_rng(12, 0), 0.15);
    let x = randn(20, 7, 1.0);
    let c = randn(20, 8, 1.0);
    let gamma = 0.6;
    let gap = |steps: usize| {
        let h = 1.0 / steps as f64;
        let mut s = OdeScratch::default();
        let mut states = vec![0.0; (steps + 1) * 20];
        states[..20].copy_from_slice(&x);
        integrate(&field, &params, 0.0, h, steps, &mut states, &mut s);
        let mut g_disc = c.clone();
        let mut d_disc = vec![0.0; params.len()];
        integrate_backward(
            &field,
            &params,
            0.0,
            h,
            steps,
            &states,
            &mut g_disc,
            gamma,
            &mut d_disc,
            &mut s,
        );
        let mut end = states[steps * 20..].to_vec();
        let mut g_adj = c.clone();
        let mut d_adj = vec![0.0; params.len()];
        integrate_adjoint(
            &field, &params, 0.0, h, steps, &mut end, &mut g_adj, gamma, &mut d_adj, &mut s,
        );
        let max_diff = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f64::max)
        };
        (
            max_diff(&g_disc, &g_adj).max(max_diff(&d_disc, &d_adj)),
            max_diff(&end, &x),
        )
    };
    // 4× the steps: 4⁴ = 256× closer at fourth order.
    let (coarse, fine) = (gap(12), gap(48));
    assert!(fine.0 < 1e-3 && fine.1 < 1e-3, "48 steps: {fine:?}");
    assert!(
        coarse.0 / fine.0 > 64.0,
        "order of the gradient gap: {coarse:?} {fine:?}"
    );
}

/// Volume transfer: the parameters of a local kernel do not depend on the lattice size, and
/// the flow on 12 × 12 maps a configuration tiled from 6 × 6 to the tiling of the 6 × 6 flow's
/// image, with 4 × the log det (4 copies).
#[test]
fn a_local_kernel_transfers_to_a_larger_lattice() {
    let (small, params) = cnf(&[6, 6], 2, 8);
    let big_lattice = Lattice::new(&[12, 12]).unwrap();
    let big = ContinuousFlow::new(small.field().on(&big_lattice), 8);
    assert_eq!(big.n_params(), small.n_params());
    let x = randn(36, 9, 1.0);
    let tile =
        |f: &[f64]| -> Vec<f64> { (0..144).map(|i| f[(i / 12 % 6) * 6 + i % 12 % 6]).collect() };
    let (y, ld) = forward(&small, &params, &x);
    let (y_big, ld_big) = forward(&big, &params, &tile(&x));
    for (a, b) in y_big.iter().zip(tile(&y)) {
        assert!((a - b).abs() < 1e-12);
    }
    assert!((ld_big - 4.0 * ld).abs() < 1e-10 * ld.abs().max(1.0));
}
