//! Importance-weighted samples: φ_i drawn from q, target p ∝ e^{−S}, log weights
//! log w_i = −S(φ_i) − log q(φ_i) (up to a constant).
//!
//! ⟨O⟩_p = Σ_i w_i O_i / Σ_i w_i (a ratio estimator; weights are normalised in log space so
//! that no exponential overflows). Errors come from the jackknife over blocks of samples,
//! which covers derived quantities and the fluctuation of Σ w alike.

use crate::StatsError;

/// Kish effective sample size per sample, ESS = (Σ w)² / (N Σ w²) ∈ (0, 1]; 1 for equal weights.
pub fn kish_ess(log_weights: &[f64]) -> f64 {
    let n = log_weights.len();
    if n == 0 {
        return 0.0;
    }
    let max = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let (s1, s2) = log_weights.iter().fold((0.0, 0.0), |(s1, s2), &lw| {
        let w = (lw - max).exp();
        (s1 + w, s2 + w * w)
    });
    s1 * s1 / (n as f64 * s2)
}

/// log Σ_i e^{x_i}, shifted by the maximum so that nothing overflows or underflows:
/// m + log Σ_i e^{x_i − m}. −∞ for an empty slice or when every x_i is −∞; NaN if any x_i is.
pub fn log_sum_exp(x: &[f64]) -> f64 {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if x.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    if max.is_infinite() {
        return max;
    }
    max + x.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// log((1/N) Σ_i e^{x_i}) = log_sum_exp(x) − log N.
pub fn log_mean_exp(x: &[f64]) -> f64 {
    log_sum_exp(x) - (x.len() as f64).ln()
}

/// Effective sample size (Kish), ESS = (Σ w)² / Σ w² ∈ [1, N], from log weights: N for equal
/// weights, 1/Σ W² for normalised weights W.
pub fn ess(log_weights: &[f64]) -> f64 {
    kish_ess(log_weights) * log_weights.len() as f64
}

/// Normalised weights w_i / Σ w (computed in log space).
pub fn normalized_weights(log_weights: &[f64]) -> Vec<f64> {
    let max = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_weights.iter().map(|lw| (lw - max).exp()).collect();
    let sum: f64 = w.iter().sum();
    w.iter().map(|x| x / sum).collect()
}

/// Weighted estimate of f(⟨a_1⟩_p, …, ⟨a_k⟩_p), ⟨a⟩_p = Σ w a / Σ w, with a jackknife error over
/// `blocks` contiguous blocks (leave one block out, re-weight the rest). Returns (value, error).
pub fn weighted_jackknife(
    series: &[&[f64]],
    log_weights: &[f64],
    blocks: usize,
    f: impl Fn(&[f64]) -> f64,
) -> Result<(f64, f64), StatsError> {
    let n = log_weights.len();
    if series.iter().any(|s| s.len() != n) {
        return Err(StatsError::Shape);
    }
    let blocks = blocks.min(n);
    if blocks < 2 {
        return Err(StatsError::TooFewSamples { needed: 2, got: n });
    }
    let max = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_weights.iter().map(|lw| (lw - max).exp()).collect();
    // Per block: Σ w and Σ w a_k.
    let size = n / blocks;
    let block_of = |i: usize| (i / size).min(blocks - 1);
    let mut bw = vec![0.0; blocks];
    let mut bwa = vec![vec![0.0; series.len()]; blocks];
    for i in 0..n {
        let b = block_of(i);
        bw[b] += w[i];
        for (k, s) in series.iter().enumerate() {
            bwa[b][k] += w[i] * s[i];
        }
    }
    let tw: f64 = bw.iter().sum();
    let twa: Vec<f64> = (0..series.len())
        .map(|k| bwa.iter().map(|b| b[k]).sum())
        .collect();
    let full: Vec<f64> = twa.iter().map(|x| x / tw).collect();
    let value = f(&full);
    let loo: Vec<f64> = (0..blocks)
        .map(|b| {
            let m: Vec<f64> = (0..series.len())
                .map(|k| (twa[k] - bwa[b][k]) / (tw - bw[b]))
                .collect();
            f(&m)
        })
        .collect();
    let mean = loo.iter().sum::<f64>() / blocks as f64;
    let var =
        loo.iter().map(|x| (x - mean).powi(2)).sum::<f64>() * (blocks - 1) as f64 / blocks as f64;
    Ok((value, var.sqrt()))
}
