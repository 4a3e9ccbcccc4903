//! The Γ-method of U. Wolff, "Monte Carlo errors with less errors", hep-lat/0306017.
//!
//! Data: primary observables a_α (α = 1 … n) measured on R replicas (independent chains) of
//! lengths N_r, N = Σ N_r. A derived quantity F = f(A_1, …, A_n) of their means is estimated
//! by f(ā). Its fluctuations are projected on the gradient, δ_i = Σ_α ∂f/∂ā_α (a_α,i − ā_α),
//! and their autocorrelation function
//!
//!   Γ_F(t) = Σ_r Σ_{i=1}^{N_r − t} δ_{r,i} δ_{r,i+t} / (N − R t)
//!
//! is summed up to a window W chosen automatically: W is the first W at which
//! g(W) = exp(−W/τ_W) − τ_W/√(W N) turns negative, with τ_W = S / ln((2τ_int(W) + 1)/(2τ_int(W) − 1)).
//! That balances the truncation bias (∝ exp(−W/τ)) against the statistical error (∝ √(W/N)).
//! The variance C_F = Γ_F(0) + 2 Σ_{t=1}^{W} Γ_F(t) is corrected for the bias of the estimated
//! mean (Γ_F(t) → Γ_F(t) + C_F/N), and gives
//!
//!   σ_F = √(C_F/N),  τ_int = C_F / (2Γ_F(0)),  δσ_F = σ_F √((W + ½)/N),
//!   δτ_int = 2τ_int √((W − τ_int + ½)/N).
//!
//! With several replicas the O(1/N) bias of f(ā) is removed with the per-replica estimates
//! f(ā_r), and the spread of the replicas gives a Q-value (probability of a χ² at least as
//! large, if the replicas agree within their errors).

use crate::StatsError;

/// Options of the Γ-method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaOptions {
    /// S, the ratio of the assumed decay time of the slowest mode to τ_int (Wolff: 1 … 2).
    pub s: f64,
}

impl Default for GammaOptions {
    fn default() -> Self {
        Self { s: 1.5 }
    }
}

/// Result of a Γ-method analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct GammaResult {
    /// The estimate (bias-corrected with several replicas).
    pub value: f64,
    pub error: f64,
    /// Statistical error of `error`.
    pub error_of_error: f64,
    pub tau_int: f64,
    pub tau_int_error: f64,
    /// The chosen summation window W.
    pub window: usize,
    /// False when g(W) never turned negative before the largest window (N_min/2): the error
    /// is then unreliable (the chains are too short for their autocorrelation).
    pub window_found: bool,
    /// Normalised autocorrelation ρ(t) = Γ_F(t)/Γ_F(0) (bias-corrected), t = 0 … 2W (at most
    /// the largest window), for plots.
    pub rho: Vec<f64>,
    /// Replica consistency: P(χ² ≥ observed) with R − 1 degrees of freedom (None for R = 1).
    pub q_value: Option<f64>,
    /// Total number of measurements N.
    pub n: usize,
}

/// Primary observables on replicas: `data[α][r]` is the series of observable α on replica r.
/// All observables of one replica have the same length.
pub type Replicas<'a> = [Vec<&'a [f64]>];

fn check_shape(data: &Replicas<'_>) -> Result<(Vec<usize>, usize), StatsError> {
    let first = data.first().ok_or(StatsError::NoData)?;
    let lens: Vec<usize> = first.iter().map(|s| s.len()).collect();
    for obs in data {
        if obs.len() != lens.len() || obs.iter().zip(&lens).any(|(s, &l)| s.len() != l) {
            return Err(StatsError::Shape);
        }
    }
    let n: usize = lens.iter().sum();
    if lens.is_empty() || lens.iter().any(|&l| l < 2) {
        return Err(StatsError::TooFewSamples {
            needed: 2,
            got: lens.iter().copied().min().unwrap_or(0),
        });
    }
    Ok((lens, n))
}

/// Γ-method error analysis of F = f(means of the primary observables).
pub fn gamma_method(
    data: &Replicas<'_>,
    f: &dyn Fn(&[f64]) -> f64,
    options: GammaOptions,
) -> Result<GammaResult, StatsError> {
    let (lens, n) = check_shape(data)?;
    let n_obs = data.len();
    let n_rep = lens.len();
    let nf = n as f64;
    // Means: overall and per replica.
    let means: Vec<f64> = data
        .iter()
        .map(|o| o.iter().flat_map(|s| s.iter()).sum::<f64>() / nf)
        .collect();
    let rep_means: Vec<Vec<f64>> = (0..n_rep)
        .map(|r| {
            data.iter()
                .map(|o| o[r].iter().sum::<f64>() / lens[r] as f64)
                .collect()
        })
        .collect();
    let value0 = f(&means);
    if !value0.is_finite() {
        return Err(StatsError::NotFinite);
    }
    // Gradient by central differences with steps of half the naive error of each mean.
    let grad: Vec<f64> = (0..n_obs)
        .map(|a| {
            let var = data[a]
                .iter()
                .flat_map(|s| s.iter())
                .map(|x| (x - means[a]).powi(2))
                .sum::<f64>()
                / nf;
            let h = 0.5 * (var / nf).sqrt();
            if h == 0.0 {
                return 0.0;
            }
            let mut p = means.clone();
            p[a] = means[a] + h;
            let up = f(&p);
            p[a] = means[a] - h;
            (up - f(&p)) / (2.0 * h)
        })
        .collect();
    // Projected fluctuations per replica.
    let deltas: Vec<Vec<f64>> = (0..n_rep)
        .map(|r| {
            (0..lens[r])
                .map(|i| {
                    (0..n_obs)
                        .map(|a| grad[a] * (data[a][r][i] - means[a]))
                        .sum()
                })
                .collect()
        })
        .collect();
    let gamma_at = |t: usize| -> f64 {
        let mut sum = 0.0;
        for d in &deltas {
            if d.len() > t {
                sum += d.iter().zip(&d[t..]).map(|(a, b)| a * b).sum::<f64>();
            }
        }
        let count = n as f64 - (n_rep * t) as f64;
        if count > 0.0 { sum / count } else { 0.0 }
    };
    let w_max = lens.iter().copied().min().unwrap_or(0) / 2;
    let mut gamma = vec![gamma_at(0)];
    if gamma[0] <= 0.0 {
        // No fluctuations: an exact result.
        return Ok(GammaResult {
            value: value0,
            error: 0.0,
            error_of_error: 0.0,
            tau_int: 0.5,
            tau_int_error: 0.0,
            window: 0,
            window_found: true,
            rho: vec![1.0],
            q_value: None,
            n,
        });
    }
    // Automatic windowing.
    let mut window = w_max;
    let mut window_found = false;
    let mut c_f = gamma[0];
    for w in 1..=w_max {
        gamma.push(gamma_at(w));
        c_f += 2.0 * gamma[w];
        let tau = c_f / (2.0 * gamma[0]);
        let tau_w = if tau <= 0.5 {
            f64::MIN_POSITIVE
        } else {
            options.s / ((2.0 * tau + 1.0) / (2.0 * tau - 1.0)).ln()
        };
        let g = (-(w as f64) / tau_w).exp() - tau_w / ((w * n) as f64).sqrt();
        if g < 0.0 {
            window = w;
            window_found = true;
            break;
        }
    }
    // Autocorrelation to 2W for plots.
    let t_plot = (2 * window).min(w_max).max(window);
    while gamma.len() <= t_plot {
        gamma.push(gamma_at(gamma.len()));
    }
    // Bias correction of Γ for the estimated mean.
    let c_raw = gamma[0] + 2.0 * gamma[1..=window].iter().sum::<f64>();
    let shift = c_raw / nf;
    let corrected: Vec<f64> = gamma.iter().map(|g| g + shift).collect();
    let c_f = (corrected[0] + 2.0 * corrected[1..=window].iter().sum::<f64>()).max(0.0);
    let error = (c_f / nf).sqrt();
    let tau_int = c_f / (2.0 * corrected[0]);
    let w = window as f64;
    let tau_int_error = 2.0 * tau_int * ((w - tau_int + 0.5).max(0.0) / nf).sqrt();
    let error_of_error = error * ((w + 0.5) / nf).sqrt();
    let rho = corrected.iter().map(|g| g / corrected[0]).collect();

    // Several replicas: bias correction of f(ā) and the Q-value of their spread.
    let (value, q_value) = if n_rep > 1 {
        let f_rep: Vec<f64> = rep_means.iter().map(|m| f(m)).collect();
        let weighted: f64 = f_rep
            .iter()
            .zip(&lens)
            .map(|(fr, &l)| fr * l as f64)
            .sum::<f64>()
            / nf;
        let bias = (value0 - weighted) / (n_rep - 1) as f64;
        let value = value0 - bias;
        let chi2: f64 = f_rep
            .iter()
            .zip(&lens)
            .map(|(fr, &l)| (fr - value).powi(2) / (c_f / l as f64))
            .sum();
        let q = if c_f > 0.0 {
            Some(crate::special::chi2_survival(chi2, (n_rep - 1) as f64))
        } else {
            None
        };
        (value, q)
    } else {
        (value0, None)
    };
    Ok(GammaResult {
        value,
        error,
        error_of_error,
        tau_int,
        tau_int_error,
        window,
        window_found,
        rho,
        q_value,
        n,
    })
}

/// Γ-method analysis of the mean of one observable measured on replicas.
pub fn gamma_mean(replicas: &[&[f64]], options: GammaOptions) -> Result<GammaResult, StatsError> {
    gamma_method(&[replicas.to_vec()], &|m| m[0], options)
}
