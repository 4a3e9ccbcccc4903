//! The weights of an ensemble's modes, the reference of a mode-collapse check
//! ([`lft_stats::check_modes`]): the two signs of M of a scalar field (from the fraction with
//! M > 0), or the topological sectors of a gauge field (from the charge histogram), each with
//! its error.

use crate::Measured;
use lft_stats::{ModeWeight, sign_modes};

/// What the modes of a measurement are ("sign of M" or "Q") and their weights.
pub fn mode_weights(measured: &Measured) -> Option<(&'static str, Vec<ModeWeight>)> {
    match measured {
        Measured::Scalar(m) => m
            .positive_fraction
            .as_ref()
            .map(|f| ("sign of M", sign_modes(f.value, f.error))),
        Measured::Gauge(g) => Some((
            "Q",
            g.charge_histogram
                .iter()
                .map(|c| ModeWeight {
                    mode: c.q,
                    weight: c.fraction,
                    error: c.error,
                })
                .collect(),
        )),
    }
}
