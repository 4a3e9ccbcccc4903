//! Blocked bootstrap for functions of several means.

use crate::StatsError;
use lft_lattice::{stream_rng, uniform};

/// Bootstrap of f(⟨a_1⟩, …, ⟨a_k⟩) from `k` binned series of equal length n (bins play the role
/// of independent samples): `samples` resamplings of n bins with replacement, drawn from the
/// stream (seed, 0). Returns (f of the full means, standard deviation of the resampled f).
pub fn bootstrap(
    bins: &[Vec<f64>],
    f: impl Fn(&[f64]) -> f64,
    samples: usize,
    seed: u64,
) -> Result<(f64, f64), StatsError> {
    let n = bins.first().map_or(0, |b| b.len());
    if n < 2 || samples < 2 {
        return Err(StatsError::TooFewSamples {
            needed: 2,
            got: n.min(samples),
        });
    }
    if bins.iter().any(|b| b.len() != n) {
        return Err(StatsError::Shape);
    }
    let full: Vec<f64> = bins
        .iter()
        .map(|b| b.iter().sum::<f64>() / n as f64)
        .collect();
    let value = f(&full);
    let mut rng = stream_rng(seed, 0);
    let mut means = vec![0.0; bins.len()];
    let mut picks = vec![0usize; n];
    let values: Vec<f64> = (0..samples)
        .map(|_| {
            picks
                .iter_mut()
                .for_each(|p| *p = ((uniform(&mut rng) * n as f64) as usize).min(n - 1));
            for (m, b) in means.iter_mut().zip(bins) {
                *m = picks.iter().map(|&j| b[j]).sum::<f64>() / n as f64;
            }
            f(&means)
        })
        .collect();
    let mean = values.iter().sum::<f64>() / samples as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (samples - 1) as f64;
    Ok((value, var.sqrt()))
}
