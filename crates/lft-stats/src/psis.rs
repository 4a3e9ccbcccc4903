//! The Pareto k̂ diagnostic of importance weights (PSIS: Vehtari, Simpson, Gelman, Yao, Gabry,
//! arXiv:1507.02646).
//!
//! The M largest of S weights, M = ⌈min(S/5, 3√S)⌉, are fitted by a generalized Pareto
//! distribution of their exceedances over the next largest weight u,
//! p(x) = (1/σ)(1 + k x/σ)^{−1/k − 1}. The fitted shape k̂ tells how heavy the weights' tail
//! is: the weights have finite variance for k < ½ and finite mean for k < 1, and the paper's
//! rule is that for k̂ > 0.7 importance-sampling (and independence-Metropolis) estimates are
//! unreliable, since the variance of the weights is effectively infinite at that sample size.
//!
//! The fit is the profile-likelihood posterior mean of Zhang and Stephens (Technometrics 51,
//! 2009), with the paper's weakly informative prior that pulls k̂ towards ½ by the weight of
//! ten observations.

/// Above this k̂ the weights' variance is effectively infinite: importance-sampling and
/// independence-Metropolis results are unreliable (Vehtari et al.).
pub const PARETO_K_UNRELIABLE: f64 = 0.7;

/// Fewest weights for which [`pareto_k_hat`] fits a tail.
pub const PARETO_K_MIN_SAMPLES: usize = 20;

/// The Pareto k̂ of the weights w_i = exp(log_w_i) (see the module documentation). `None`
/// when there are fewer than [`PARETO_K_MIN_SAMPLES`] weights, a log weight is NaN or +∞, or
/// the largest weights are all equal (no tail to fit: equal weights are the ideal case).
pub fn pareto_k_hat(log_w: &[f64]) -> Option<f64> {
    let s = log_w.len();
    if s < PARETO_K_MIN_SAMPLES || log_w.iter().any(|x| x.is_nan() || *x == f64::INFINITY) {
        return None;
    }
    let mut sorted = log_w.to_vec();
    sorted.sort_by(f64::total_cmp);
    let m = tail_length(s);
    let max = sorted[s - 1];
    if max == f64::NEG_INFINITY {
        return None;
    }
    let threshold = (sorted[s - m - 1] - max).exp();
    let exceedances: Vec<f64> = sorted[s - m..]
        .iter()
        .map(|lw| (lw - max).exp() - threshold)
        .collect();
    if exceedances[m - 1] <= 0.0 {
        return None;
    }
    Some(generalized_pareto_shape(&exceedances))
}

/// What k̂ > [`PARETO_K_UNRELIABLE`] means for results from the weights.
pub fn pareto_warning(k: f64) -> String {
    format!(
        "Pareto k̂ = {k:.2} > {PARETO_K_UNRELIABLE}: the importance weights have effectively \
         infinite variance, so independence-Metropolis and reweighted results are unreliable \
         (error bars too small, long rejection runs); train the flow longer or better, or \
         sample with HMC or annealing"
    )
}

/// M = ⌈min(S/5, 3√S)⌉, the size of the fitted tail among S weights.
fn tail_length(s: usize) -> usize {
    let s = s as f64;
    (0.2 * s).min(3.0 * s.sqrt()).ceil() as usize
}

/// The shape k̂ of a generalized Pareto fit to `x` (sorted ascending, non-negative, largest
/// positive), by Zhang and Stephens' posterior mean over the profile likelihood in
/// θ = −k/σ, then shrunk towards ½ by the weight of ten observations:
/// - θ_j = 1/x_(n) + (1 − √(m/(j − ½)))/(3 x_(⌊n/4 + ½⌋)), j = 1 … m, m = 30 + ⌊√n⌋;
/// - k(θ) = (1/n) Σ_i log(1 − θ x_i), the maximiser in k at fixed θ;
/// - ℓ(θ) = n [log(−θ/k(θ)) − k(θ) − 1], the profile log likelihood;
/// - θ̂ = Σ_j θ_j w_j with w_j = 1/Σ_i exp(ℓ_i − ℓ_j); k̂ = k(θ̂);
/// - returned: (n k̂ + 10 · ½)/(n + 10).
pub(crate) fn generalized_pareto_shape(x: &[f64]) -> f64 {
    let n = x.len();
    let nf = n as f64;
    let largest = x[n - 1];
    let quartile = match x[((nf / 4.0 + 0.5).floor() as usize).clamp(1, n) - 1] {
        // Ties at the threshold: the smallest positive exceedance stands in.
        q if q > 0.0 => q,
        _ => x.iter().copied().find(|&v| v > 0.0).unwrap_or(largest),
    };
    let m = 30 + nf.sqrt().floor() as usize;
    let shape_at = |theta: f64| x.iter().map(|&xi| (-theta * xi).ln_1p()).sum::<f64>() / nf;
    let thetas: Vec<f64> = (1..=m)
        .map(|j| 1.0 / largest + (1.0 - (m as f64 / (j as f64 - 0.5)).sqrt()) / (3.0 * quartile))
        .collect();
    let profile: Vec<f64> = thetas
        .iter()
        .map(|&theta| {
            let k = shape_at(theta);
            nf * ((-theta / k).ln() - k - 1.0)
        })
        .collect();
    // w_j = 1/Σ_i exp(ℓ_i − ℓ_j); terms with a non-finite profile get no weight.
    let theta_hat: f64 = thetas
        .iter()
        .zip(&profile)
        .filter(|(_, l)| l.is_finite())
        .map(|(&theta, &lj)| {
            let denominator: f64 = profile
                .iter()
                .filter(|l| l.is_finite())
                .map(|li| (li - lj).exp())
                .sum();
            theta / denominator
        })
        .sum();
    let k = shape_at(theta_hat);
    (nf * k + 10.0 * 0.5) / (nf + 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_length_follows_the_paper() {
        assert_eq!(tail_length(100), 20);
        assert_eq!(tail_length(10_000), 300);
        assert_eq!(tail_length(65_536), 768);
    }

    #[test]
    fn equal_or_too_few_weights_have_no_k_hat() {
        assert_eq!(pareto_k_hat(&[0.0; 100]), None);
        assert_eq!(pareto_k_hat(&[0.0, 1.0, 2.0]), None);
        let mut lw: Vec<f64> = (0..100).map(|i| i as f64 * 0.01).collect();
        lw[3] = f64::NAN;
        assert_eq!(pareto_k_hat(&lw), None);
    }
}
