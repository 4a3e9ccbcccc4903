//! Autocorrelation function, integrated autocorrelation time and the error of a mean.

use crate::StatsError;

/// A mean with its error and integrated autocorrelation time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub error: f64,
    pub tau_int: f64,
    pub tau_int_error: f64,
}

/// Γ(t) = Σ_r Σ_i (a_{r,i} − ā)(a_{r,i+t} − ā) / Σ_r (N_r − t) over replicas sharing the mean ā.
fn gamma(replicas: &[&[f64]], mean: f64, t: usize) -> f64 {
    let mut sum = 0.0;
    let mut count = 0usize;
    for r in replicas {
        if r.len() > t {
            sum += r
                .iter()
                .zip(&r[t..])
                .map(|(a, b)| (a - mean) * (b - mean))
                .sum::<f64>();
            count += r.len() - t;
        }
    }
    if count > 0 { sum / count as f64 } else { 0.0 }
}

fn grand_mean(replicas: &[&[f64]]) -> f64 {
    let n: usize = replicas.iter().map(|r| r.len()).sum();
    replicas.iter().flat_map(|r| r.iter()).sum::<f64>() / n as f64
}

/// Normalised autocorrelation ρ(t) = Γ(t)/Γ(0) for t = 0 … t_max (a constant series gives
/// ρ(0) = 1 and zero elsewhere).
pub fn autocorrelation(replicas: &[&[f64]], t_max: usize) -> Vec<f64> {
    let mean = grand_mean(replicas);
    let g0 = gamma(replicas, mean, 0);
    (0..=t_max)
        .map(|t| match (t, g0 > 0.0) {
            (0, _) => 1.0,
            (_, true) => gamma(replicas, mean, t) / g0,
            (_, false) => 0.0,
        })
        .collect()
}

/// τ_int = ½ + Σ_{t=1}^{W} ρ(t) with the window W the smallest one with W ≥ c·τ_int(W)
/// (Madras–Sokal, c = 6), and its error τ_int·√(2(2W+1)/N). Returns (τ_int, error, W).
/// Γ(t) is computed only up to the window, so the cost is O(N·W).
pub fn tau_int(replicas: &[&[f64]]) -> (f64, f64, usize) {
    const C: f64 = 6.0;
    let n: usize = replicas.iter().map(|r| r.len()).sum();
    let longest = replicas.iter().map(|r| r.len()).max().unwrap_or(0);
    let t_max = (longest / 2).max(1);
    let mean = grand_mean(replicas);
    let g0 = gamma(replicas, mean, 0);
    if g0 <= 0.0 {
        return (0.5, 0.0, 0);
    }
    let mut tau = 0.5;
    let mut window = t_max;
    for w in 1..=t_max {
        tau += gamma(replicas, mean, w) / g0;
        if w as f64 >= C * tau {
            window = w;
            break;
        }
    }
    let tau = tau.max(0.5);
    let err = tau * (2.0 * (2 * window + 1) as f64 / n as f64).sqrt();
    (tau, err, window)
}

/// Mean over all replicas, with the error √(2 τ_int Γ(0) / N) corrected for autocorrelation.
pub fn estimate_mean(replicas: &[&[f64]]) -> Result<Estimate, StatsError> {
    let n: usize = replicas.iter().map(|r| r.len()).sum();
    if n < 2 {
        return Err(StatsError::TooFewSamples { needed: 2, got: n });
    }
    let mean = replicas.iter().flat_map(|r| r.iter()).sum::<f64>() / n as f64;
    let var = replicas
        .iter()
        .flat_map(|r| r.iter())
        .map(|a| (a - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    let (tau, tau_err, _) = tau_int(replicas);
    Ok(Estimate {
        value: mean,
        error: (2.0 * tau * var / (n - 1) as f64).sqrt(),
        tau_int: tau,
        tau_int_error: tau_err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lft_lattice::{gaussian_fill, stream_rng};

    /// AR(1): x_t = ρ x_{t−1} + √(1−ρ²) η_t has τ_int = ½(1+ρ)/(1−ρ) and unit variance.
    fn ar1(rho: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut eta = vec![0.0; n];
        gaussian_fill(&mut stream_rng(seed, 0), &mut eta);
        let mut x = vec![0.0; n];
        x[0] = eta[0];
        for t in 1..n {
            x[t] = rho * x[t - 1] + (1.0 - rho * rho).sqrt() * eta[t];
        }
        x
    }

    #[test]
    fn ar1_tau_and_error_of_mean() {
        for (i, rho) in [0.0, 0.5, 0.9].into_iter().enumerate() {
            let n = 200_000;
            let x = ar1(rho, n, 11 + i as u64);
            let est = estimate_mean(&[&x]).unwrap();
            let exact_tau = 0.5 * (1.0 + rho) / (1.0 - rho);
            // The window truncates the tail of ρ(t) = ρ^t; the bias is far below 3 errors here.
            assert!(
                (est.tau_int - exact_tau).abs() < 3.0 * est.tau_int_error,
                "rho {rho}: {est:?}"
            );
            let exact_err = (2.0 * exact_tau / n as f64).sqrt();
            assert!(
                (est.error / exact_err - 1.0).abs() < 0.1,
                "rho {rho}: {est:?}"
            );
            assert!(est.value.abs() < 4.0 * exact_err);
        }
    }

    #[test]
    fn constant_series_has_zero_error() {
        let x = vec![2.5; 100];
        let est = estimate_mean(&[&x]).unwrap();
        assert_eq!(est.value, 2.5);
        assert_eq!(est.error, 0.0);
        assert_eq!(est.tau_int, 0.5);
    }
}
