//! What an `[anneal]` config anneals to: S(φ), or with pseudofermions the joint action: for the
//! Yukawa model S_J(φ, ϕ) = S_φ⁴ + ϕ†(D Dᵀ)⁻¹ϕ of [`YukawaJoint`], whose Z_J = (2π)^V Z, for
//! the Schwinger model S_J(θ, ϕ) = S_W + ϕ†M_ee⁻¹ϕ of [`SchwingerJoint`], whose
//! Z_J = (2π)^{V/2} Z (docs/PHYSICS.md, "Annealing with pseudofermions"; the passes take the
//! factor off).

use crate::{Config, ConfigError};
use lft_action::{Action, JointAction, SchwingerJoint, YukawaJoint};

/// The annealing target of a config ([`Config::anneal_target`]).
pub enum AnnealTarget {
    /// S(φ) (φ⁴, or the Yukawa model with the exact determinant).
    Field(Box<dyn Action>),
    /// The joint (field, ϕ) target of pseudofermions: CG solves, no determinant.
    Joint(Box<dyn JointAction>),
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
    pub fn joint(&self) -> Option<&dyn JointAction> {
        match self {
            AnnealTarget::Joint(j) => Some(j.as_ref()),
            AnnealTarget::Field(_) => None,
        }
    }
}

impl Config {
    /// The annealing target: [`Config::field_action`], or for `fermions = "pseudofermion"` the
    /// joint target with the config's CG settings.
    pub fn anneal_target(&self) -> Result<AnnealTarget, ConfigError> {
        let Some(cg) = self.pseudofermion_cg() else {
            return self.field_action().map(AnnealTarget::Field);
        };
        if let Some(model) = self.schwinger_model() {
            return Ok(AnnealTarget::Joint(Box::new(SchwingerJoint::new(
                model, cg,
            ))));
        }
        let model = self
            .pseudofermion_model()
            .expect("a pseudofermion config is Yukawa or Schwinger");
        Ok(AnnealTarget::Joint(Box::new(YukawaJoint::new(model, cg))))
    }
}
