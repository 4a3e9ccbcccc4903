//! The Pareto k̂ on synthetic weights with a known tail: Pareto weights of shape ξ give k̂ ≈ ξ
//! within the fit's standard error, Gaussian log weights of small variance give k̂ < ½, and
//! those of large variance k̂ > 0.7.

use lft_lattice::{gaussian_fill, stream_rng, uniform};
use lft_stats::{PARETO_K_UNRELIABLE, pareto_k_hat};

const S: usize = 65_536;

/// log w of S Pareto weights w = U^{−ξ}: their exceedances over any threshold are generalized
/// Pareto with shape ξ.
fn pareto_log_weights(xi: f64, seed: u64) -> Vec<f64> {
    let mut rng = stream_rng(seed, 0);
    (0..S)
        .map(|_| -xi * (1.0 - uniform(&mut rng)).ln())
        .collect()
}

#[test]
fn pareto_weights_give_their_shape() {
    // The fitted tail holds M = ⌈min(S/5, 3√S)⌉ = 768 weights; the maximum-likelihood shape
    // has standard error (1 + ξ)/√M there.
    let m = 768.0f64;
    for (i, xi) in [0.2, 0.5, 0.7, 1.0, 1.5].into_iter().enumerate() {
        for seed in 0..3 {
            let k = pareto_k_hat(&pareto_log_weights(xi, 10 * i as u64 + seed)).unwrap();
            let se = (1.0 + xi) / m.sqrt();
            assert!(
                (k - xi).abs() < 4.0 * se,
                "shape {xi}, seed {seed}: k̂ = {k}, standard error {se}"
            );
        }
    }
}

#[test]
fn gaussian_log_weights_of_small_variance_have_a_light_tail() {
    for (sigma, seed) in [(0.3, 1), (0.5, 2), (1.0, 3)] {
        let mut lw = vec![0.0; S];
        gaussian_fill(&mut stream_rng(seed, 1), &mut lw);
        lw.iter_mut().for_each(|x| *x *= sigma);
        let k = pareto_k_hat(&lw).unwrap();
        assert!(k < 0.5, "σ = {sigma}: k̂ = {k}");
    }
    // A wide log-normal has weights of effectively infinite variance at this sample size.
    let mut lw = vec![0.0; S];
    gaussian_fill(&mut stream_rng(4, 1), &mut lw);
    lw.iter_mut().for_each(|x| *x *= 4.0);
    let k = pareto_k_hat(&lw).unwrap();
    assert!(k > PARETO_K_UNRELIABLE, "σ = 4: k̂ = {k}");
}

#[test]
fn k_hat_does_not_depend_on_the_scale_or_order_of_the_weights() {
    let lw = pareto_log_weights(0.6, 99);
    let k = pareto_k_hat(&lw).unwrap();
    let shifted: Vec<f64> = lw.iter().rev().map(|x| x - 700.0).collect();
    let k_shifted = pareto_k_hat(&shifted).unwrap();
    assert!((k - k_shifted).abs() < 1e-9, "{k} against {k_shifted}");
}
