//! What a measurement reports: per-observable results, the pole mass, the propagator, the
//! sampler's summary and per-chain histories, and the inputs of the analysis (the series of
//! every chain, the lattice geometry, the options).

use lft_stats::GammaResult;
use serde::Serialize;
use std::collections::BTreeMap;

/// One observable: value, error, τ_int and its error (plus the error of the error and the
/// summation window of the Γ-method).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ObservableResult {
    pub value: f64,
    pub error: f64,
    pub tau_int: f64,
    pub tau_int_error: f64,
    pub error_of_error: f64,
    pub window: usize,
}

impl From<&GammaResult> for ObservableResult {
    fn from(g: &GammaResult) -> Self {
        Self {
            value: g.value,
            error: g.error,
            tau_int: g.tau_int,
            tau_int_error: g.tau_int_error,
            error_of_error: g.error_of_error,
            window: g.window,
        }
    }
}

/// A value at time separation t.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PointResult {
    pub t: usize,
    pub value: f64,
    pub error: f64,
}

/// The pole mass from a cosh fit over `fit_range` (inclusive), error from a binned jackknife.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PoleMass {
    pub value: f64,
    pub error: f64,
    pub fit_range: [usize; 2],
    pub chi2_per_dof: f64,
}

/// Sampler statistics recorded in the ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SamplerSummary {
    pub acceptance: f64,
    /// ⟨ΔH⟩ (HMC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_delta_h: Option<f64>,
    /// ⟨e^{−ΔH}⟩ (HMC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_exp_minus_delta_h: Option<f64>,
    /// Kish ESS of the proposals (flow independence Metropolis, reweighting; NE-MCMC: of
    /// the trajectories, weights e^{−W}).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ess: Option<f64>,
    /// Pareto k̂ of the proposals' log weights (PSIS; > 0.7: unreliable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pareto_k: Option<f64>,
    /// Longest run of consecutive rejections in any chain.
    pub longest_rejection_run: usize,
    /// Annealing passes (SMC, AIS, CRAFT): their estimates of log Z.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_z: Option<LogZ>,
}

/// log Z = log ∫ e^{−S} dφ from R independent annealing passes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LogZ {
    pub passes: usize,
    /// The mean of the passes' log Ẑ_r (biased low by about var/2 per pass).
    pub mean: f64,
    /// Its standard error over passes (None for one pass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<f64>,
    /// log((1/R) Σ_r Ẑ_r): the log of an unbiased estimate of Z.
    pub log_mean_exp: f64,
}

impl LogZ {
    /// From each pass's log Ẑ_r.
    pub fn from_passes(log_z: &[f64]) -> Option<Self> {
        let r = log_z.len();
        if r == 0 {
            return None;
        }
        let mean = log_z.iter().sum::<f64>() / r as f64;
        let error = (r > 1).then(|| {
            let var = log_z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (r - 1) as f64;
            (var / r as f64).sqrt()
        });
        Some(LogZ {
            passes: r,
            mean,
            error,
            log_mean_exp: lft_stats::log_mean_exp(log_z),
        })
    }
}

/// G_c(x) = (1/V) Σ_y ⟨φ_y φ_{y+x}⟩ − ⟨φ⟩² for every x (laid out like a site index).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Propagator {
    pub shape: Vec<usize>,
    pub value: Vec<f64>,
    pub error: Vec<f64>,
}

/// A Monte Carlo history and its autocorrelation, for plots.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Per chain, the per-configuration values.
    pub series: Vec<Vec<f64>>,
    /// Normalised autocorrelation ρ(t) and the chosen window.
    pub rho: Vec<f64>,
    pub window: usize,
}

/// Everything `lft measure` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    pub n_configs: usize,
    pub n_chains: usize,
    /// Configurations per bin of the jackknife (pole-mass fit, propagator, weighted data).
    pub bin_size: usize,
    pub weighted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ess: Option<f64>,
    pub observables: BTreeMap<String, ObservableResult>,
    pub correlator: Vec<PointResult>,
    pub effective_mass: Vec<PointResult>,
    pub pole_mass: Option<PoleMass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler: Option<SamplerSummary>,
    /// The fraction of configurations with M > 0 (weighted for weighted samples): ½ for a
    /// sampler that visits both signs of M of a Z₂-symmetric action; with an external field,
    /// the weight of the mode along h.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positive_fraction: Option<ObservableResult>,
    /// Whether the action is Z₂-symmetric (½ expected of `positive_fraction`).
    #[serde(skip)]
    pub z2_symmetric: bool,
    /// What the results should not be trusted for (see [`crate::warnings`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub propagator: Option<Propagator>,
    #[serde(skip)]
    pub histories: BTreeMap<String, History>,
}

/// Per-chain series of the primary observables (one entry per configuration).
#[derive(Debug, Clone, Default)]
pub struct ChainSeries {
    pub magnetization: Vec<f64>,
    pub phi2: Vec<f64>,
    pub link: Vec<f64>,
    pub action: Vec<f64>,
    /// `slice_correlator[t][i]`: c(t) of configuration i.
    pub slice_correlator: Vec<Vec<f64>>,
    /// Σ = (1/V) tr D⁻¹ of each configuration (Yukawa ensembles; empty otherwise).
    pub condensate: Vec<f64>,
    /// sign det D of each configuration (Yukawa, exact method; empty otherwise).
    pub det_sign: Vec<f64>,
    /// log w of each configuration, for importance-weighted samples.
    pub log_weight: Option<Vec<f64>>,
    /// Sums of g(x) over consecutive groups of `propagator_bin` configurations.
    pub propagator_sums: Vec<Vec<f64>>,
    pub propagator_bin: usize,
}

/// Lattice facts the analysis needs.
#[derive(Debug, Clone)]
pub struct Geometry {
    pub shape: Vec<usize>,
}

impl Geometry {
    pub(crate) fn volume(&self) -> f64 {
        self.shape.iter().product::<usize>() as f64
    }
    pub(crate) fn l0(&self) -> usize {
        self.shape[0]
    }
}

/// Options of the analysis.
#[derive(Debug, Clone, Default)]
pub struct AnalysisOptions {
    /// Jackknife bin size (None: ⌈4 τ_int⌉ of the slowest primary observable).
    pub bin: Option<usize>,
    /// Fit range [t₁, t₂] of the pole mass (None: automatic plateau).
    pub fit_range: Option<(usize, usize)>,
    /// The action is Z₂-symmetric: warn when the fraction of configurations with M > 0 is
    /// far from ½.
    pub z2_symmetric: bool,
}
