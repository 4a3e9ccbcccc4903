//! Binning analysis: the naive error of bin means as a function of the bin size.

/// For bin sizes 1, 2, 4, … (while at least `min_bins` bins remain), the error of the mean
/// computed from bin means as if they were independent: σ_B = √(Var(bins)/n_B).
/// It grows with B and plateaus at the true error, σ_B² / σ_1² → 2τ_int, once B ≫ τ_int.
pub fn binning_analysis(series: &[f64], min_bins: usize) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    let mut b = 1;
    while series.len() / b >= min_bins.max(2) {
        let bins = crate::bin_means(series, b);
        let n = bins.len() as f64;
        let mean = bins.iter().sum::<f64>() / n;
        let var = bins.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        out.push((b, (var / n).sqrt()));
        b *= 2;
    }
    out
}
