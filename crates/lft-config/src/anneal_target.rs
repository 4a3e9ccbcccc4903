//! What an `[anneal]` config anneals to: S(φ), or for the Yukawa model with pseudofermions
//! the joint action S_J(φ, ϕ) = S_φ⁴ + ϕ†(D Dᵀ)⁻¹ϕ of [`YukawaJoint`], whose Z_J = (2π)^V Z
//! (docs/PHYSICS.md, "Annealing with pseudofermions"; the passes take the (2π)^V off).

use crate::{Config, ConfigError};
use lft_action::{Action, YukawaJoint};

/// The annealing target of a config ([`Config::anneal_target`]).
pub enum AnnealTarget {
    /// S(φ) (φ⁴, or the Yukawa model with the exact determinant).
    Field(Box<dyn Action>),
    /// The joint (φ, ϕ) target of pseudofermions: CG solves, no determinant.
    Joint(Box<YukawaJoint>),
}

impl AnnealTarget {
    /// The action the particles anneal to.
    pub fn action(&self) -> &dyn Action {
        match self {
            AnnealTarget::Field(a) => a.as_ref(),
            AnnealTarget::Joint(j) => j.as_ref(),
        }
    }

    /// The joint target, if this is one (for its CG counts).
    pub fn joint(&self) -> Option<&YukawaJoint> {
        match self {
            AnnealTarget::Joint(j) => Some(j),
            AnnealTarget::Field(_) => None,
        }
    }
}

impl Config {
    /// The annealing target: [`Config::field_action`], or for `fermions = "pseudofermion"` the
    /// joint target with the config's CG settings.
    pub fn anneal_target(&self) -> Result<AnnealTarget, ConfigError> {
        match (self.pseudofermion_model(), self.pseudofermion_cg()) {
            (Some(model), Some(cg)) => {
                Ok(AnnealTarget::Joint(Box::new(YukawaJoint::new(model, cg))))
            }
            _ => self.field_action().map(AnnealTarget::Field),
        }
    }
}
