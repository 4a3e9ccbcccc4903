//! Finite-difference helpers shared by the gradient tests.

#![allow(dead_code)]

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
