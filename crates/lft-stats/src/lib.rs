//! Error analysis of Monte Carlo data.
//!
//! - [`gamma_method`]: Wolff's Γ-method (hep-lat/0306017) for primary and derived quantities
//!   on one or several replicas, with automatic windowing, bias correction, the error of the
//!   error and a replica Q-value.
//! - [`jackknife`] and [`bootstrap`] over bins ([`bin_means`]), and [`binning_analysis`].
//! - Importance-weighted samples: [`kish_ess`], [`ess`], [`log_sum_exp`], [`weighted_jackknife`],
//!   and the Pareto k̂ of their tail, [`pareto_k_hat`].
//! - Reweighting between couplings: [`Mbar`] (multi-ensemble; one ensemble is single-histogram
//!   reweighting), [`Reweighter`] along a coupling that enters the action linearly, with
//!   block-jackknife errors, and the [`crossing`] of two such curves (Binder cumulants).

mod autocorr;
mod binning;
mod bootstrap;
pub mod crossing;
mod gamma;
mod jackknife;
pub mod mbar;
pub mod modes;
mod psis;
pub mod reweight;
pub mod special;
mod weighted;

pub use autocorr::{Estimate, estimate_mean};
pub use binning::binning_analysis;
pub use bootstrap::bootstrap;
pub use crossing::{Crossing, JackknifeCurve, crossing, first_root, root_in};
pub use gamma::{GammaOptions, GammaResult, Replicas, gamma_mean, gamma_method};
pub use jackknife::{bin_means, jackknife};
pub use mbar::Mbar;
pub use modes::{ModeCheck, ModeWeight, check_modes, sign_modes};
pub use psis::{PARETO_K_MIN_SAMPLES, PARETO_K_UNRELIABLE, pareto_k_hat, pareto_warning};
pub use reweight::{LinearFamily, Reweighted, Reweighter};
pub use weighted::{
    ess, kish_ess, log_mean_exp, log_sum_exp, normalized_weights, weighted_jackknife,
};

use thiserror::Error;

/// Why an analysis could not be done.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StatsError {
    #[error("need at least {needed} samples, got {got}")]
    TooFewSamples { needed: usize, got: usize },
    #[error("no data")]
    NoData,
    #[error("series of one replica (or of one analysis) differ in length")]
    Shape,
    #[error("the estimate is not a finite number")]
    NotFinite,
    #[error("did not converge in {0} iterations")]
    NotConverged(usize),
}
