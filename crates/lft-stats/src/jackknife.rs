//! Binning and the jackknife for functions of several means.

use crate::StatsError;

/// Means of consecutive bins of `bin` samples (a trailing partial bin is dropped).
pub fn bin_means(series: &[f64], bin: usize) -> Vec<f64> {
    let bin = bin.max(1);
    series
        .chunks_exact(bin)
        .map(|c| c.iter().sum::<f64>() / bin as f64)
        .collect()
}

/// Jackknife estimate of f(⟨a_1⟩, …, ⟨a_k⟩) from `k` binned series of equal length n:
/// f_(j) uses all bins but bin j, and the error is √((n−1)/n Σ_j (f_(j) − f̄)²).
/// Returns (f of the full means, error).
pub fn jackknife(bins: &[Vec<f64>], f: impl Fn(&[f64]) -> f64) -> Result<(f64, f64), StatsError> {
    let n = bins.first().map_or(0, |b| b.len());
    if n < 2 {
        return Err(StatsError::TooFewSamples { needed: 2, got: n });
    }
    let sums: Vec<f64> = bins.iter().map(|b| b.iter().sum()).collect();
    let full: Vec<f64> = sums.iter().map(|s| s / n as f64).collect();
    let value = f(&full);
    let mut loo = vec![0.0; bins.len()];
    let leave_out: Vec<f64> = (0..n)
        .map(|j| {
            for (k, b) in bins.iter().enumerate() {
                loo[k] = (sums[k] - b[j]) / (n - 1) as f64;
            }
            f(&loo)
        })
        .collect();
    let mean = leave_out.iter().sum::<f64>() / n as f64;
    let var = leave_out.iter().map(|x| (x - mean).powi(2)).sum::<f64>() * (n - 1) as f64 / n as f64;
    Ok((value, var.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For a linear function the jackknife error equals the standard error of the mean.
    #[test]
    fn jackknife_of_a_mean_is_the_standard_error() {
        let x: Vec<f64> = (0..50).map(|i| ((i * 37) % 17) as f64).collect();
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let se = (x.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n * (n - 1.0))).sqrt();
        let (v, e) = jackknife(std::slice::from_ref(&x), |m| m[0]).unwrap();
        assert!((v - mean).abs() < 1e-12 && (e - se).abs() < 1e-12);
    }

    #[test]
    fn bins_drop_the_partial_tail() {
        assert_eq!(bin_means(&[1.0, 3.0, 5.0, 7.0, 100.0], 2), vec![2.0, 6.0]);
    }
}
