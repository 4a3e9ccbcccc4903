//! The mean of one observable over replicas, with its Γ-method error: the common case.

use crate::{GammaOptions, StatsError, gamma_mean};

/// A mean with its error and integrated autocorrelation time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub error: f64,
    pub tau_int: f64,
    pub tau_int_error: f64,
}

/// Mean over all replicas with the Γ-method error (S = 1.5).
pub fn estimate_mean(replicas: &[&[f64]]) -> Result<Estimate, StatsError> {
    let g = gamma_mean(replicas, GammaOptions::default())?;
    Ok(Estimate {
        value: g.value,
        error: g.error,
        tau_int: g.tau_int,
        tau_int_error: g.tau_int_error,
    })
}
