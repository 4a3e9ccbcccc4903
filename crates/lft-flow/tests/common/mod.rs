//! Finite-difference helpers shared by the gradient tests.

#![allow(dead_code)]

use lft_flow::{Bijection, Cotangent, LayerCache, Workspace};
use lft_lattice::{gaussian_fill, stream_rng};

/// Step of the central differences.
pub const H: f64 = 1e-6;

/// `n` normal variates of standard deviation `scale`, from the stream (seed, 7).
pub fn randn(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut v = vec![0.0; n];
    gaussian_fill(&mut stream_rng(seed, 7), &mut v);
    v.iter_mut().for_each(|x| *x *= scale);
    v
}

/// Asserts analytic ≈ numeric: |a − n| ≤ 1e-6 · max(1, |n|).
pub fn close(analytic: f64, numeric: f64, what: &str) {
    assert!(
        (analytic - numeric).abs() <= 1e-6 * numeric.abs().max(1.0),
        "{what}: analytic {analytic} vs finite difference {numeric}"
    );
}

/// Central difference of `f` with respect to entry i of `x`.
pub fn fd(x: &mut [f64], i: usize, f: &mut dyn FnMut(&[f64]) -> f64) -> f64 {
    let x0 = x[i];
    x[i] = x0 + H;
    let up = f(x);
    x[i] = x0 - H;
    let down = f(x);
    x[i] = x0;
    (up - down) / (2.0 * H)
}

/// log|det| of a square matrix by LU with partial pivoting.
pub fn log_abs_det(mut a: Vec<f64>, n: usize) -> f64 {
    let mut logdet = 0.0;
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap();
        if piv != col {
            for k in 0..n {
                a.swap(col * n + k, piv * n + k);
            }
        }
        let p = a[col * n + col];
        logdet += p.abs().ln();
        for r in col + 1..n {
            let f = a[r * n + col] / p;
            for k in col..n {
                a[r * n + k] -= f * a[col * n + k];
            }
        }
    }
    logdet
}

/// Jacobian ∂f_i/∂x_j of a map of V variables by central differences, row-major.
pub fn fd_jacobian(x: &[f64], f: &dyn Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    let n = x.len();
    let mut jac = vec![0.0; n * n];
    let mut xp = x.to_vec();
    for j in 0..n {
        xp[j] = x[j] + H;
        let up = f(&xp);
        xp[j] = x[j] - H;
        let down = f(&xp);
        xp[j] = x[j];
        for i in 0..n {
            jac[i * n + j] = (up[i] - down[i]) / (2.0 * H);
        }
    }
    jac
}

/// The laws of the [`Bijection`] trait for one layer at input x: the inverse undoes the
/// forward pass with the same log det, the log det equals log|det| of the finite-difference
/// Jacobian, and both backward passes equal central differences of L = c·y + γ ℓ (forward) and
/// L = c·x + γ ℓ(x) with x = f⁻¹(y) (inverse).
pub fn check_bijection(name: &str, layer: &dyn Bijection, params: &mut [f64], x: &mut [f64]) {
    let v = x.len();
    let scale = x.iter().fold(1.0f64, |m, a| m.max(a.abs()));
    let mut y = vec![0.0; v];
    let mut cache = LayerCache::default();
    let logdet = layer.forward(params, x, &mut y, &mut cache, &mut Workspace::default());
    let (mut back, mut inv_cache) = (vec![0.0; v], LayerCache::default());
    let logdet_inv = layer.inverse(
        params,
        &y,
        &mut back,
        &mut inv_cache,
        &mut Workspace::default(),
    );
    for i in 0..v {
        assert!(
            (back[i] - x[i]).abs() < 1e-10 * scale,
            "{name}: inverse at {i}"
        );
    }
    assert!(
        (logdet - logdet_inv).abs() < 1e-12,
        "{name}: inverse log det"
    );
    let fwd = |xx: &[f64]| {
        let mut yy = vec![0.0; v];
        layer.forward(
            params,
            xx,
            &mut yy,
            &mut LayerCache::default(),
            &mut Workspace::default(),
        );
        yy
    };
    let jac = fd_jacobian(x, &fwd);
    assert!(
        (log_abs_det(jac, v) - logdet).abs() < 1e-6,
        "{name}: logdet {logdet}"
    );

    check_backward(name, layer, params, x);
}

/// Both backward passes of one layer at input x against central differences of
/// L = c·y + γ ℓ (forward) and L = c·x + γ ℓ(x) with x = f⁻¹(y) (inverse, y = f(x)), each on
/// the caches of its own pass.
pub fn check_backward(name: &str, layer: &dyn Bijection, params: &mut [f64], x: &mut [f64]) {
    let v = x.len();
    let mut y = vec![0.0; v];
    let mut cache = LayerCache::default();
    layer.forward(params, x, &mut y, &mut cache, &mut Workspace::default());
    let (mut back, mut inv_cache) = (vec![0.0; v], LayerCache::default());
    layer.inverse(
        params,
        &y,
        &mut back,
        &mut inv_cache,
        &mut Workspace::default(),
    );
    let c = randn(v, 20 + v as u64, 1.0);
    let gamma = 0.7;
    let up = Cotangent {
        dy: &c,
        dlogdet: gamma,
    };
    // Forward: L = Σ c·y + γ log det.
    let loss = |p: &[f64], xx: &[f64]| {
        let mut yy = vec![0.0; v];
        let ld = layer.forward(
            p,
            xx,
            &mut yy,
            &mut LayerCache::default(),
            &mut Workspace::default(),
        );
        yy.iter().zip(&c).map(|(a, b)| a * b).sum::<f64>() + gamma * ld
    };
    let (mut dp, mut dx) = (vec![0.0; params.len()], vec![0.0; v]);
    layer.backward(
        params,
        &cache,
        up,
        &mut dp,
        &mut dx,
        &mut Workspace::default(),
    );
    let x0 = x.to_vec();
    for i in 0..params.len() {
        let num = fd(params, i, &mut |p| loss(p, &x0));
        close(dp[i], num, &format!("{name}: dparam[{i}]"));
    }
    let p0 = params.to_vec();
    for i in 0..v {
        let num = fd(x, i, &mut |xx| loss(&p0, xx));
        close(dx[i], num, &format!("{name}: dx[{i}]"));
    }
    // Inverse: L = Σ c·x + γ log det, x = f⁻¹(y).
    let inv_loss = |p: &[f64], yy: &[f64]| {
        let mut xx = vec![0.0; v];
        let ld = layer.inverse(
            p,
            yy,
            &mut xx,
            &mut LayerCache::default(),
            &mut Workspace::default(),
        );
        xx.iter().zip(&c).map(|(a, b)| a * b).sum::<f64>() + gamma * ld
    };
    let (mut dp, mut dy) = (vec![0.0; params.len()], vec![0.0; v]);
    layer.inverse_backward(
        params,
        &inv_cache,
        up,
        &mut dp,
        &mut dy,
        &mut Workspace::default(),
    );
    for i in 0..params.len() {
        let num = fd(params, i, &mut |p| inv_loss(p, &y));
        close(dp[i], num, &format!("{name}: inverse dparam[{i}]"));
    }
    for i in 0..v {
        let num = fd(&mut y, i, &mut |yy| inv_loss(&p0, yy));
        close(dy[i], num, &format!("{name}: inverse dy[{i}]"));
    }
}

/// A flow architecture with kernel 3, leaky-ReLU hidden layers and tanh on the conditioner
/// output (the tutorial's), with the rest as given.
pub fn flow_spec(
    layers: usize,
    hidden: Vec<usize>,
    coupling: lft_flow::CouplingSpec,
    equivariant: bool,
    prior: lft_flow::PriorSpec,
    spectral: bool,
) -> lft_flow::FlowSpec {
    lft_flow::FlowSpec {
        layers,
        hidden,
        kernel: 3,
        activation: lft_flow::Activation::LeakyRelu(0.01),
        final_activation: lft_flow::Activation::Tanh,
        equivariant,
        coupling,
        prior,
        spectral,
        precision: lft_flow::Precision::F64,
    }
}

/// The reverse-KL gradient of `flow` on the latent batch `z` equals central differences of
/// the loss, for every `stride`-th parameter.
pub fn check_reverse_kl_gradient(
    flow: &mut lft_flow::Flow,
    action: &dyn lft_action::Action,
    z: &[f64],
    stride: usize,
    what: &str,
) {
    let (_, _, grad) = flow.reverse_kl(action, z);
    for i in (0..flow.n_params()).step_by(stride) {
        let p0 = flow.params_mut()[i];
        flow.params_mut()[i] = p0 + H;
        let up = flow.reverse_kl(action, z).0;
        flow.params_mut()[i] = p0 - H;
        let down = flow.reverse_kl(action, z).0;
        flow.params_mut()[i] = p0;
        close(grad[i], (up - down) / (2.0 * H), &format!("{what} dθ[{i}]"));
    }
}
