//! The pseudo-marginal determinant estimator of a Yukawa or Schwinger config with `fermions =
//! "pseudofermion"` and a `[flow]`: the `[action] pf_*` keys, their defaults and checks.
//!
//! For the Schwinger model the ladder is spaced geometrically in m² + μ² (`pf_twist_ratio` is
//! the ratio of consecutive m² + μ_k²), its reference is the free operator (no
//! `pf_reference`), `pf_twist_max² + mass² > 4` (finite variance on every link field), and the
//! defaults are [`PfEstimator::schwinger`]. Its `pf_estimator = "flow"` trains lft-fermion's
//! gauge-covariant `GaugePseudofermionFlow` (`pf_flow_blocks` blocks of Lower, Upper, Scale)
//! and samples the joint (θ, ϕ) by independence Metropolis (flow-HMC on the joint target is
//! the Yukawa model's).
//!
//! ```toml
//! [action]
//! fermions = "pseudofermion"
//! pf_estimator = "twisted-ladder"   # or "flow" (joint sampling, below)
//! pf_draws = 2                      # draws per rung (per estimate with "flow", default 1)
//! pf_twist_min = 0.01               # the ladder μ_1 = min, μ_k = min·ratio^(k−1), …, max
//! pf_twist_max = 3.0
//! pf_twist_ratio = 1.15
//! pf_reference = "mean-diagonal"    # or "free"
//! ```
//!
//! With `pf_estimator = "flow"`, `lft sample` first trains a conditional pseudofermion flow
//! q(ϕ | φ) on proposals of the trained flow q(φ) (reverse KL on the joint target), then runs
//! independence Metropolis on the joint (φ, ϕ), which needs one CG solve per draw:
//!
//! ```toml
//! pf_estimator = "flow"
//! pf_flow_blocks = 2            # (scale, shear odd, shear even) blocks after the free layer
//! pf_flow_steps = 300           # Adam steps, each on pf_flow_batch proposals × 2 draws
//! pf_flow_batch = 16
//! pf_flow_learning_rate = 5e-3
//! ```
//!
//! The ladder keys then set the estimator of the training loss `lft train` reports.
//!
//! The keys are fields of [`crate::ActionConfig`], which resolves them into a [`PfEstimator`].

use lft_action::{
    CgParams, DetEstimator, GaugeDetEstimator, GaugePseudofermionFlow, PseudofermionFlow, Reference,
};
use lft_sample::PfFlowTraining;
use serde::{Deserialize, Serialize};

/// `pf_estimator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PfEstimatorName {
    /// Ratios of twisted masses μ_0 = 0 < μ_1 < … < μ_N over a free reference (lft-fermion's
    /// `DetEstimator`).
    TwistedLadder,
    /// Importance sampling with a conditional pseudofermion flow trained before sampling
    /// (joint sampling of φ and the pseudofermion).
    Flow,
}

/// `pf_reference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PfReferenceName {
    Free,
    MeanDiagonal,
}

/// How the ladder's twists are spaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ladder {
    /// Yukawa: geometric in μ (μ_{k+1} = ratio · μ_k), over the `pf_reference`.
    Twist,
    /// Schwinger at bare mass m: geometric in m² + μ² (lft-fermion's
    /// `GaugeDetEstimator::ladder_twists`), over the free reference.
    MassSquared { mass: f64 },
}

/// The resolved estimator settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PfEstimator {
    pub ladder: Ladder,
    pub draws: usize,
    pub twist_min: f64,
    pub twist_max: f64,
    pub twist_ratio: f64,
    pub reference: Reference,
    /// With `pf_estimator = "flow"`: the conditional flow and its training.
    pub joint: Option<JointFlow>,
}

/// The conditional pseudofermion flow of `pf_estimator = "flow"` and its training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointFlow {
    pub blocks: usize,
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
}

impl Default for JointFlow {
    /// Two blocks, 300 steps of 16 proposals at learning rate 5e-3: Var(log d̂et | φ) about
    /// 0.13 (g = 0.5) and 1.5 (g = 1) on 4 × 4 (docs/PHYSICS.md).
    fn default() -> Self {
        let t = PfFlowTraining::default();
        Self {
            blocks: 2,
            steps: t.steps,
            batch: t.batch,
            learning_rate: t.learning_rate,
        }
    }
}

impl JointFlow {
    /// The Yukawa model's untrained flow in `dim` dimensions.
    pub fn untrained(&self, dim: usize) -> PseudofermionFlow {
        PseudofermionFlow::standard(self.blocks, dim)
    }

    /// The Schwinger model's untrained gauge-covariant flow at bare mass m: Scale, then
    /// `blocks` × (Lower, Upper, Scale).
    pub fn untrained_gauge(&self, mass: f64) -> GaugePseudofermionFlow {
        GaugePseudofermionFlow::standard(self.blocks, mass)
    }

    /// Its training, noise under `seed`, solves to the action's `cg` but no tighter than a
    /// relative residual of [`TRAINING_CG_TOLERANCE`] (the gradient's noise dwarfs that error).
    pub fn training(&self, cg: CgParams, seed: u64) -> PfFlowTraining {
        PfFlowTraining {
            steps: self.steps,
            batch: self.batch,
            learning_rate: self.learning_rate,
            cg: CgParams {
                tolerance: cg.tolerance.max(TRAINING_CG_TOLERANCE),
                ..cg
            },
            seed,
        }
    }
}

/// The loosest CG tolerance of the conditional flow's training.
pub const TRAINING_CG_TOLERANCE: f64 = 1e-8;

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
            ladder: Ladder::Twist,
            draws: 2,
            twist_min: 0.01,
            twist_max: 3.0,
            twist_ratio: 1.15,
            reference: Reference::MeanDiagonal,
            joint: None,
        }
    }
}

impl PfEstimator {
    /// The Schwinger model's defaults at bare mass m: one draw per rung on twists 0.05 … 2
    /// (the smallest largest twist that gives every link field a finite variance, above
    /// m = 0) at m² + μ² ratio 1.15: Var(log d̂et) about 1.4–1.9 on 4 × 4 and 6–10 on 8 × 8
    /// (β-independent fields of docs/PHYSICS.md's test; it grows with the volume).
    pub fn schwinger(mass: f64) -> Self {
        Self {
            ladder: Ladder::MassSquared { mass },
            draws: 1,
            twist_min: 0.05,
            twist_max: 2.0,
            twist_ratio: 1.15,
            reference: Reference::Free,
            joint: None,
        }
    }

    /// The twists: μ_1 = min, min·ratio, … below max, then max (Yukawa); geometric in m² + μ²
    /// (Schwinger).
    pub fn twists(&self) -> Vec<f64> {
        if let Ladder::MassSquared { mass } = self.ladder {
            return GaugeDetEstimator::ladder_twists(
                mass,
                self.twist_min,
                self.twist_max,
                self.twist_ratio,
            );
        }
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
            joint: None,
            ..*self
        }
    }

    /// The Schwinger model's estimator, its CG solves to `cg`.
    pub fn build_gauge(&self, mass: f64, cg: CgParams) -> GaugeDetEstimator {
        GaugeDetEstimator::new(self.twists(), self.draws, cg, mass)
            .expect("settings checked when the config was read")
    }

    /// The Yukawa model's estimator, its CG solves to `cg`.
    pub fn build(&self, cg: CgParams) -> DetEstimator {
        DetEstimator::new(self.twists(), self.draws, cg)
            .expect("settings checked when the config was read")
            .with_reference(self.reference)
    }
}
