//! Ensemble averages with errors.
//!
//! Primary observables (a mean of a per-configuration series) get the autocorrelation-corrected
//! error √(2τ_int σ²/N) with a self-consistent window. Derived ones (χ₂, the Ising energy)
//! get a jackknife over bins of `bin` configurations per chain, which is valid once the bins
//! are longer than the autocorrelation time; τ_int is that of the series they depend on most.

use lft_stats::{Estimate, StatsError, bin_means, estimate_mean, jackknife};
use serde::Serialize;
use std::collections::BTreeMap;

/// One observable: value, error, τ_int and its error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ObservableResult {
    pub value: f64,
    pub error: f64,
    pub tau_int: f64,
    pub tau_int_error: f64,
}

impl From<Estimate> for ObservableResult {
    fn from(e: Estimate) -> Self {
        Self {
            value: e.value,
            error: e.error,
            tau_int: e.tau_int,
            tau_int_error: e.tau_int_error,
        }
    }
}

/// Acceptance statistics of an HMC ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SamplerSummary {
    pub acceptance: f64,
    pub mean_delta_h: f64,
    pub mean_exp_minus_delta_h: f64,
}

/// Everything `lft measure` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    pub n_configs: usize,
    pub n_chains: usize,
    /// Configurations per bin of the jackknife of derived observables.
    pub bin_size: usize,
    pub observables: BTreeMap<String, ObservableResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler: Option<SamplerSummary>,
}

/// Per-chain series of the primary observables (one entry per configuration).
#[derive(Debug, Clone, Default)]
pub struct ChainSeries {
    pub magnetization: Vec<f64>,
    pub phi2: Vec<f64>,
    pub link: Vec<f64>,
    pub action: Vec<f64>,
}

fn refs(chains: &[Vec<f64>]) -> Vec<&[f64]> {
    chains.iter().map(|c| c.as_slice()).collect()
}

/// Jackknife over bins of f(means of the given per-chain series), the bins of all chains
/// pooled. Returns (value, error).
fn binned_jackknife(
    series: &[Vec<Vec<f64>>],
    bin: usize,
    f: impl Fn(&[f64]) -> f64,
) -> Result<(f64, f64), StatsError> {
    let bins: Vec<Vec<f64>> = series
        .iter()
        .map(|per_chain| per_chain.iter().flat_map(|c| bin_means(c, bin)).collect())
        .collect();
    jackknife(&bins, f)
}

/// Averages over chains (replicas) on a lattice of `volume` sites. `bin = None`
/// chooses bins of ⌈4 τ_int⌉ (largest τ_int of the primary series, at least 1).
pub fn analyze(
    chains: &[ChainSeries],
    volume: usize,
    bin: Option<usize>,
    sampler: Option<SamplerSummary>,
) -> Result<Measurement, StatsError> {
    let v = volume as f64;
    let col =
        |f: &dyn Fn(&ChainSeries) -> Vec<f64>| -> Vec<Vec<f64>> { chains.iter().map(f).collect() };
    let m = col(&|c| c.magnetization.clone());
    let abs_m = col(&|c| c.magnetization.iter().map(|x| x.abs() / v).collect());
    let m2 = col(&|c| c.magnetization.iter().map(|x| x * x / v).collect());
    let phi2 = col(&|c| c.phi2.clone());
    let link = col(&|c| c.link.clone());
    let action = col(&|c| c.action.iter().map(|s| s / v).collect());
    let mean_phi = col(&|c| c.magnetization.iter().map(|x| x / v).collect());

    let e_abs = estimate_mean(&refs(&abs_m))?;
    let e_m2 = estimate_mean(&refs(&m2))?;
    let e_phi2 = estimate_mean(&refs(&phi2))?;
    let e_link = estimate_mean(&refs(&link))?;
    let e_action = estimate_mean(&refs(&action))?;
    let e_m = estimate_mean(&refs(&m))?;
    let tau_max = [&e_abs, &e_m2, &e_phi2, &e_link, &e_action, &e_m]
        .iter()
        .map(|e| e.tau_int)
        .fold(0.5, f64::max);
    let bin = bin.unwrap_or((4.0 * tau_max).ceil() as usize).max(1);

    // χ₂ = ⟨M²⟩/V − ⟨M⟩²/V (connected: ⟨φ⟩ is estimated from the same ensemble).
    let (chi2, chi2_err) =
        binned_jackknife(&[m2.clone(), m.clone()], bin, |a| a[0] - a[1] * a[1] / v)?;
    // E = (1/d) Σ_μ G_c(μ̂) = ⟨link⟩ − ⟨φ⟩².
    let (energy, energy_err) = binned_jackknife(&[link, mean_phi], bin, |a| a[0] - a[1] * a[1])?;

    let mut observables = BTreeMap::new();
    observables.insert("abs_mag".to_string(), e_abs.into());
    observables.insert("phi2".to_string(), e_phi2.into());
    observables.insert("action_density".to_string(), e_action.into());
    observables.insert(
        "chi2".to_string(),
        ObservableResult {
            value: chi2,
            error: chi2_err,
            tau_int: e_m2.tau_int,
            tau_int_error: e_m2.tau_int_error,
        },
    );
    observables.insert(
        "ising_energy".to_string(),
        ObservableResult {
            value: energy,
            error: energy_err,
            tau_int: e_link.tau_int,
            tau_int_error: e_link.tau_int_error,
        },
    );
    Ok(Measurement {
        n_configs: chains.iter().map(|c| c.magnetization.len()).sum(),
        n_chains: chains.len(),
        bin_size: bin,
        observables,
        sampler,
    })
}
