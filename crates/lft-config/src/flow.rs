//! `[flow]`: the architecture of a normalizing flow, resolved into lft-flow's [`FlowSpec`].

use crate::ConfigError;
use crate::defaults;
use crate::error::{invalid, positive};
use lft_flow::{Activation, CouplingSpec, FlowSpec, Precision, PriorSpec};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouplingName {
    Affine,
    Spline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationName {
    LeakyRelu,
    Tanh,
    /// No activation (identity); for `final_activation`.
    None,
}

impl From<ActivationName> for Activation {
    /// Leaky ReLU with slope 0.01 for x < 0.
    fn from(name: ActivationName) -> Self {
        match name {
            ActivationName::LeakyRelu => Activation::LeakyRelu(0.01),
            ActivationName::Tanh => Activation::Tanh,
            ActivationName::None => Activation::Identity,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorName {
    /// Independent standard normal variables.
    Normal,
    /// The free field of mass² `prior_m2` (fitted if absent), sampled exactly.
    Free,
    /// ½ N(+a, 1)^V + ½ N(−a, 1)^V, a = `prior_shift`: both ordered vacua of a broken phase.
    Z2Mixture,
    /// Uniform angles in [−π, π): the Haar measure of U(1) links (gauge fields only).
    Uniform,
}

/// The prior of `[section]` from its `prior`, `prior_m2` and `prior_shift` keys, each key
/// allowed only with the prior that uses it.
pub(crate) fn resolve_prior(
    section: &str,
    name: PriorName,
    m2: Option<f64>,
    shift: Option<f64>,
) -> Result<PriorSpec, ConfigError> {
    let key = |k: &str| format!("{section}.{k}");
    if m2.is_some() && name != PriorName::Free {
        return Err(invalid(&key("prior_m2"), "only used with prior = \"free\""));
    }
    if shift.is_some() && name != PriorName::Z2Mixture {
        return Err(invalid(
            &key("prior_shift"),
            "only used with prior = \"z2_mixture\"",
        ));
    }
    match (name, m2, shift) {
        (PriorName::Normal, ..) => Ok(PriorSpec::StandardNormal),
        (PriorName::Uniform, ..) => Ok(PriorSpec::Uniform),
        (PriorName::Free, Some(m2), _) if m2.is_finite() && m2 > 0.0 => {
            Ok(PriorSpec::FreeField { m2 })
        }
        (PriorName::Free, ..) => Err(invalid(
            &key("prior_m2"),
            "the free-field prior needs prior_m2 > 0",
        )),
        (PriorName::Z2Mixture, _, Some(shift)) if shift.is_finite() && shift > 0.0 => {
            Ok(PriorSpec::Z2Mixture { shift })
        }
        (PriorName::Z2Mixture, ..) => Err(invalid(
            &key("prior_shift"),
            "the z2_mixture prior needs prior_shift > 0 (the centre ±a of its two normals; \
             about the expected |<phi>| for a flow that starts near the identity)",
        )),
    }
}

/// Architecture of the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    #[serde(default = "default_coupling")]
    pub coupling: CouplingName,
    /// Number of coupling layers; checkerboard masks alternate between even and odd sites.
    pub layers: usize,
    /// Hidden channels of each conditioner network.
    #[serde(default = "defaults::hidden")]
    pub hidden: Vec<usize>,
    /// Odd kernel size of the periodic convolutions.
    #[serde(default = "defaults::kernel")]
    pub kernel: usize,
    #[serde(default = "default_activation")]
    pub activation: ActivationName,
    /// Applied to the conditioner output (s and t); tanh keeps them in (−1, 1).
    #[serde(default = "default_final_activation")]
    pub final_activation: ActivationName,
    /// Symmetrise the conditioners under φ → −φ, so that q(−φ) = q(φ). Defaults to true
    /// for Z₂-symmetric actions (φ⁴; Yukawa with massless fermions), false otherwise; the
    /// resolved value is written out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equivariant: Option<bool>,
    /// Start the flow with a learnable momentum-space scale z̃(p) → e^{c(p)} z̃(p).
    #[serde(default)]
    pub spectral: bool,
    /// Spline bins K (coupling = "spline").
    #[serde(default = "defaults::bins")]
    pub bins: usize,
    /// The spline acts on [−tail_bound, tail_bound] and is the identity outside.
    #[serde(default = "defaults::tail_bound")]
    pub tail_bound: f64,
    #[serde(default = "default_prior")]
    pub prior: PriorName,
    /// Mass² of the free-field prior; absent, the one closest to e^{−S} in the reverse KL is
    /// fitted (`lft_flow::prior::fit_free_field_mass`) and written out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_m2: Option<f64>,
    /// Centre a of the `z2_mixture` prior's two unit normals N(±a, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_shift: Option<f64>,
    /// The floating-point type of the conditioner networks: "f64" (default) or "f32"
    /// (log-determinants, actions, losses and Metropolis weights stay in f64).
    #[serde(default, skip_serializing_if = "PrecisionName::is_default")]
    pub precision: PrecisionName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrecisionName {
    #[default]
    F64,
    F32,
}

impl PrecisionName {
    fn is_default(&self) -> bool {
        *self == PrecisionName::F64
    }
}

impl From<PrecisionName> for Precision {
    fn from(name: PrecisionName) -> Self {
        match name {
            PrecisionName::F64 => Precision::F64,
            PrecisionName::F32 => Precision::F32,
        }
    }
}

impl FlowConfig {
    /// The validated architecture for a lattice of extents `shape`.
    pub(crate) fn resolve(&self, shape: &[usize]) -> Result<FlowSpec, ConfigError> {
        if self.bins < 2 {
            return Err(invalid(
                "flow.bins",
                format!("must be at least 2, got {}", self.bins),
            ));
        }
        positive("flow.tail_bound", self.tail_bound)?;
        let min_extent = shape.iter().copied().min().unwrap_or(0);
        if self.kernel.is_multiple_of(2) || self.kernel > min_extent {
            return Err(invalid(
                "flow.kernel",
                format!(
                    "must be odd and at most the smallest lattice extent ({min_extent}), got {}",
                    self.kernel
                ),
            ));
        }
        if self.hidden.contains(&0) {
            return Err(invalid(
                "flow.hidden",
                "every hidden layer needs at least one channel",
            ));
        }
        if self.activation == ActivationName::None {
            return Err(invalid(
                "flow.activation",
                "hidden layers need \"leaky_relu\" or \"tanh\"",
            ));
        }
        if self.precision == PrecisionName::F32 && self.coupling == CouplingName::Spline {
            return Err(invalid(
                "flow.precision",
                "\"f32\" is for affine couplings; spline couplings compute in \"f64\" (narrow \
                 bins amplify float32 rounding in log|det J|)",
            ));
        }
        let prior = resolve_prior("flow", self.prior, self.prior_m2, self.prior_shift)?;
        Ok(FlowSpec {
            layers: self.layers,
            hidden: self.hidden.clone(),
            kernel: self.kernel,
            activation: self.activation.into(),
            final_activation: self.final_activation.into(),
            equivariant: self.equivariant.unwrap_or(false),
            coupling: match self.coupling {
                CouplingName::Affine => CouplingSpec::Affine,
                CouplingName::Spline => CouplingSpec::Spline {
                    bins: self.bins,
                    tail_bound: self.tail_bound,
                },
            },
            prior,
            spectral: self.spectral,
            precision: self.precision.into(),
        })
    }
}

fn default_coupling() -> CouplingName {
    CouplingName::Affine
}

fn default_activation() -> ActivationName {
    ActivationName::LeakyRelu
}

fn default_final_activation() -> ActivationName {
    ActivationName::Tanh
}

fn default_prior() -> PriorName {
    PriorName::Normal
}
