//! Error analysis of Markov-chain time series.
//!
//! This first version gives the integrated autocorrelation time with a self-consistent window
//! (Madras–Sokal), the autocorrelation-corrected error of a mean over one or several replicas,
//! binning, and a binned jackknife for derived quantities. The full Γ-method of Wolff arrives
//! with the observables work.

mod autocorr;
mod jackknife;

pub use autocorr::{Estimate, autocorrelation, estimate_mean, tau_int};
pub use jackknife::{bin_means, jackknife};

use thiserror::Error;

/// Why an analysis could not be done.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StatsError {
    #[error("need at least {needed} samples, got {got}")]
    TooFewSamples { needed: usize, got: usize },
    #[error("replicas are empty")]
    NoData,
}
