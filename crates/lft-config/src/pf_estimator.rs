//! The pseudo-marginal determinant estimator of a Yukawa config with `fermions =
//! "pseudofermion"` and a `[flow]`: the `[action] pf_*` keys, their defaults and checks.
//!
//! ```toml
//! [action]
//! fermions = "pseudofermion"
//! pf_estimator = "twisted-ladder"   # the only one so far
//! pf_draws = 2                      # draws per rung
//! pf_twist_min = 0.01               # the ladder μ_1 = min, μ_k = min·ratio^(k−1), …, max
//! pf_twist_max = 3.0
//! pf_twist_ratio = 1.15
//! pf_reference = "mean-diagonal"    # or "free"
//! ```
//!
//! The keys are fields of [`crate::ActionConfig`], which resolves them into a [`PfEstimator`].

use lft_action::{CgParams, DetEstimator, Reference};
use serde::{Deserialize, Serialize};

/// `pf_estimator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PfEstimatorName {
    /// Ratios of twisted masses μ_0 = 0 < μ_1 < … < μ_N over a free reference (lft-fermion's
    /// `DetEstimator`).
    TwistedLadder,
}

/// `pf_reference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PfReferenceName {
    Free,
    MeanDiagonal,
}

/// The resolved estimator settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PfEstimator {
    pub draws: usize,
    pub twist_min: f64,
    pub twist_max: f64,
    pub twist_ratio: f64,
    pub reference: Reference,
}

/// The smallest ladder ratio of [`PfEstimator::for_training`].
pub const TRAINING_RATIO: f64 = 1.5;

/// Ladders longer than this are surely a typo (each rung costs two CG solves per draw).
pub(crate) const MAX_RUNGS: usize = 10_000;

impl Default for PfEstimator {
    /// Two draws per rung on twists 0.01 … 3 at ratio 1.15 (43 rungs) over the mean-diagonal
    /// reference: a log-estimate variance of about 4–5 on 4 × 4 at g = 0.5 and 1
    /// (docs/PHYSICS.md).
    fn default() -> Self {
        Self {
            draws: 2,
            twist_min: 0.01,
            twist_max: 3.0,
            twist_ratio: 1.15,
            reference: Reference::MeanDiagonal,
        }
    }
}

impl PfEstimator {
    /// The twists μ_1 = min, min·ratio, … below max, then max.
    pub fn twists(&self) -> Vec<f64> {
        let mut v = vec![self.twist_min];
        while v[v.len() - 1] * self.twist_ratio < self.twist_max {
            v.push(v[v.len() - 1] * self.twist_ratio);
        }
        if self.twist_max > self.twist_min {
            v.push(self.twist_max);
        }
        v
    }

    /// The estimator of training losses: one draw per rung on a ladder of ratio at least
    /// [`TRAINING_RATIO`] over the same range: still unbiased, noisier, and about a sixth of
    /// the solves of the default. (A single rung from 0 to μ_N would be cheaper still, but its
    /// log estimate runs to 10⁵ on fields with a small mode of D Dᵀ.)
    pub fn for_training(&self) -> Self {
        Self {
            draws: 1,
            twist_ratio: self.twist_ratio.max(TRAINING_RATIO),
            ..*self
        }
    }

    /// The estimator, its CG solves to `cg`.
    pub fn build(&self, cg: CgParams) -> DetEstimator {
        DetEstimator::new(self.twists(), self.draws, cg)
            .expect("settings checked when the config was read")
            .with_reference(self.reference)
    }
}
