//! `[flow]`: the architecture of a normalizing flow, resolved into lft-flow's [`FlowSpec`].

use crate::ConfigError;
use crate::defaults;
use crate::error::{invalid, positive};
use lft_flow::{
    Activation, CircleSpec, ContinuousSpec, CouplingSpec, FlowSpec, MaskOrder, Precision, PriorSpec,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouplingName {
    Affine,
    Spline,
}

/// What kind of flow `[flow]` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKindName {
    /// A stack of coupling layers (default).
    Coupling,
    /// A continuous normalizing flow: the equivariant kernel vector field of Gerdes et al.,
    /// integrated by fixed RK4 steps (scalar fields).
    Continuous,
}

/// The ODE integrator of a continuous flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegratorName {
    /// The classical fourth-order Runge–Kutta method with fixed steps.
    Rk4,
}

/// The circle transform of a gauge-equivariant flow (`kind = "u1"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransformName {
    /// Mixtures of `components` non-compact projections (Kanwar et al.; the tutorial's).
    Ncp,
    /// Circular rational-quadratic splines of `bins` bins (C¹ on the circle).
    CircularSpline,
    /// C^∞ mixtures of `components` smooth-ramp bumps (Köhler et al.).
    SmoothMixture,
}

/// The order of the stripes of active links of a gauge-equivariant flow (`flow.masks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskOrderName {
    /// Offsets 3, 2, 1, 0: the passive stripe of a layer is the next one transformed (default).
    Descending,
    /// Offsets 0, 1, 2, 3: Kanwar et al.'s and the tutorial's order.
    Ascending,
}

impl From<MaskOrderName> for MaskOrder {
    fn from(name: MaskOrderName) -> Self {
        match name {
            MaskOrderName::Descending => MaskOrder::Descending,
            MaskOrderName::Ascending => MaskOrder::Ascending,
        }
    }
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

/// Bins of the plaquette-basis spline unless `flow.basis_bins` says otherwise: enough for a
/// KL per plaquette below 10⁻⁶ up to β = 8 (docs/PERFORMANCE.md).
pub const DEFAULT_BASIS_BINS: usize = 64;

/// Architecture of the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// "coupling" (default) or "continuous".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FlowKindName>,
    /// Continuous flows: sine features sin(ω_k φ) of learned frequencies ω_k (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequencies: Option<usize>,
    /// Continuous flows: cosine modes M of time in the kernels, cos(πmt) for m = 0 … M
    /// (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_modes: Option<usize>,
    /// Continuous flows: fixed integration steps over t ∈ [0, 1] (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// Continuous flows: the integrator, "rk4" (default, the only one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrator: Option<IntegratorName>,
    /// The couplings of a scalar field: "affine" (default) or "spline".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupling: Option<CouplingName>,
    /// The circle transform of a gauge field's couplings (kind = "u1"): "ncp" (default),
    /// "circular_spline" or "smooth_mixture".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<TransformName>,
    /// Mixture components of "ncp" (default 2) and "smooth_mixture" (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<usize>,
    /// Gauge fields: the order of the stripes of active links, "descending" (default) or
    /// "ascending" (Kanwar et al.'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masks: Option<MaskOrderName>,
    /// Gauge fields: also condition on the cosines and sines of the frozen 2 × 1 loops.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub loops: bool,
    /// Gauge fields: start with the plaquette-basis layer, which maps every plaquette but one
    /// by the same circular spline through the maximal-tree gauge, initialised (by `lft train`)
    /// to the Wilson action's one-plaquette marginal; exact for 2D pure gauge theory up to the
    /// one global constraint on the plaquettes. The `layers` couplings (0 allowed) follow it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plaquette_basis: bool,
    /// Bins of the plaquette-basis spline (default 64, written out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis_bins: Option<usize>,
    /// Number of coupling layers; checkerboard masks alternate between even and odd sites.
    /// Required for coupling flows; continuous flows have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
    /// Hidden channels of each conditioner network.
    #[serde(default = "defaults::hidden")]
    pub hidden: Vec<usize>,
    /// Odd kernel size of the periodic convolutions; for continuous flows the side 2r + 1 of
    /// the vector field's kernel, or 0 for a kernel over the whole lattice.
    #[serde(default = "defaults::kernel")]
    pub kernel: usize,
    #[serde(default = "default_activation")]
    pub activation: ActivationName,
    /// Applied to the conditioner output (s and t); tanh keeps them in (−1, 1). Defaults to
    /// "tanh" for scalar fields and "none" for gauge fields (whose circle maps need scales
    /// beyond e^{±1}); the resolved value is written out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_activation: Option<ActivationName>,
    /// Symmetrise the conditioners under φ → −φ, so that q(−φ) = q(φ). Defaults to true
    /// for Z₂-symmetric actions (φ⁴; Yukawa with massless fermions), false otherwise; the
    /// resolved value is written out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equivariant: Option<bool>,
    /// Start the flow with a learnable momentum-space scale z̃(p) → e^{c(p)} z̃(p).
    #[serde(default)]
    pub spectral: bool,
    /// Spline bins K (coupling = "spline", or transform = "circular_spline", where the K bins
    /// have K knots on the circle).
    #[serde(default = "defaults::bins")]
    pub bins: usize,
    /// The spline acts on [−tail_bound, tail_bound] and is the identity outside.
    #[serde(default = "defaults::tail_bound")]
    pub tail_bound: f64,
    /// "normal" by default for scalar fields; gauge fields take "uniform" (the Haar measure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<PriorName>,
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
    /// Volume transfer: start from the parameters of this flow checkpoint, trained on another
    /// lattice size with the same `[flow]` (the conditioners are convolutions, so their weights
    /// apply on any lattice of the same dimension). Used when `train.checkpoint` does not exist
    /// yet: `lft train` fine-tunes from it, `lft sample` samples with it as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<std::path::PathBuf>,
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
    /// Fills the defaults that depend on the field (written out with the effective config):
    /// prior, final activation, and the coupling or circle transform with its components.
    pub(crate) fn fill_defaults(&mut self, gauge: bool) {
        if gauge {
            self.prior.get_or_insert(PriorName::Uniform);
            self.final_activation.get_or_insert(ActivationName::None);
            if self.plaquette_basis {
                self.basis_bins.get_or_insert(DEFAULT_BASIS_BINS);
            }
            let transform = *self.transform.get_or_insert(TransformName::Ncp);
            match transform {
                TransformName::Ncp => _ = self.components.get_or_insert(2),
                TransformName::SmoothMixture => _ = self.components.get_or_insert(4),
                TransformName::CircularSpline => {}
            }
        } else if self.kind == Some(FlowKindName::Continuous) {
            self.prior.get_or_insert(PriorName::Normal);
            self.frequencies.get_or_insert(DEFAULT_CNF_FREQUENCIES);
            self.time_modes.get_or_insert(DEFAULT_CNF_TIME_MODES);
            self.steps.get_or_insert(DEFAULT_CNF_STEPS);
            self.integrator.get_or_insert(IntegratorName::Rk4);
        } else {
            self.prior.get_or_insert(PriorName::Normal);
            self.final_activation.get_or_insert(ActivationName::Tanh);
            self.coupling.get_or_insert(CouplingName::Affine);
        }
    }

    /// The prior named (after [`FlowConfig::fill_defaults`]).
    pub fn prior_name(&self) -> PriorName {
        self.prior.unwrap_or(PriorName::Normal)
    }

    /// The keys of a gauge field's flow, checked: the circle transform, and none of the
    /// scalar-field keys.
    fn resolve_gauge_coupling(&self, shape: &[usize]) -> Result<CouplingSpec, ConfigError> {
        if self.coupling.is_some() {
            return Err(invalid(
                "flow.coupling",
                "gauge fields (kind = \"u1\") are mapped by gauge-equivariant couplings: \
                 choose their circle map with flow.transform (\"ncp\", \"circular_spline\" \
                 or \"smooth_mixture\")",
            ));
        }
        for (key, set) in [
            ("flow.spectral", self.spectral),
            ("flow.equivariant", self.equivariant == Some(true)),
            ("flow.precision", self.precision != PrecisionName::F64),
        ] {
            if set {
                return Err(invalid(
                    key,
                    "only for scalar fields: gauge-equivariant flows are gauge-covariant by \
                     construction, without a spectral layer, and compute in f64",
                ));
            }
        }
        let lattice = lft_lattice::Lattice::new(shape)
            .map_err(|e| invalid("lattice.shape", e.to_string()))?;
        match lft_flow::gauge_mask::check_lattice(&lattice) {
            // Without couplings there are no stripes to close around the torus.
            Err(lft_flow::GaugeMaskError::Extent(_)) if self.layers == Some(0) => {}
            checked => checked.map_err(|e| invalid("lattice.shape", e.to_string()))?,
        }
        let transform = self.transform.unwrap_or(TransformName::Ncp);
        let components = |default: usize| match self.components {
            Some(0) => Err(invalid("flow.components", "must be at least 1")),
            Some(k) => Ok(k),
            None => Ok(default),
        };
        let circle = match transform {
            TransformName::Ncp => CircleSpec::Ncp {
                components: components(2)?,
            },
            TransformName::SmoothMixture => CircleSpec::SmoothMixture {
                components: components(4)?,
            },
            TransformName::CircularSpline => {
                if self.components.is_some() {
                    return Err(invalid(
                        "flow.components",
                        "a circular spline has bins, not components: set flow.bins",
                    ));
                }
                CircleSpec::Spline { bins: self.bins }
            }
        };
        let plaquette_basis = match (self.plaquette_basis, self.basis_bins) {
            (false, Some(_)) => {
                return Err(invalid(
                    "flow.basis_bins",
                    "bins of the plaquette-basis layer: set flow.plaquette_basis = true too",
                ));
            }
            (true, Some(bins)) if bins < 2 => {
                return Err(invalid(
                    "flow.basis_bins",
                    format!("must be at least 2, got {bins}"),
                ));
            }
            (true, bins) => Some(bins.unwrap_or(DEFAULT_BASIS_BINS)),
            (false, None) => None,
        };
        Ok(CouplingSpec::Gauge {
            transform: circle,
            loops: self.loops,
            masks: self.masks.map_or(MaskOrder::Descending, MaskOrder::from),
            plaquette_basis,
        })
    }

    /// The coupling of a scalar field's flow, checked against the gauge-only keys.
    fn resolve_scalar_coupling(&self) -> Result<CouplingSpec, ConfigError> {
        for (key, set) in [
            ("flow.transform", self.transform.is_some()),
            ("flow.components", self.components.is_some()),
            ("flow.loops", self.loops),
            ("flow.masks", self.masks.is_some()),
            ("flow.plaquette_basis", self.plaquette_basis),
            ("flow.basis_bins", self.basis_bins.is_some()),
        ] {
            if set {
                return Err(invalid(
                    key,
                    "only for gauge fields (kind = \"u1\"); a scalar field's flow chooses \
                     flow.coupling (\"affine\" or \"spline\")",
                ));
            }
        }
        let coupling = self.coupling.unwrap_or(CouplingName::Affine);
        if self.precision == PrecisionName::F32 && coupling == CouplingName::Spline {
            return Err(invalid(
                "flow.precision",
                "\"f32\" is for affine couplings; spline couplings compute in \"f64\" (narrow \
                 bins amplify float32 rounding in log|det J|)",
            ));
        }
        Ok(match coupling {
            CouplingName::Affine => CouplingSpec::Affine,
            CouplingName::Spline => CouplingSpec::Spline {
                bins: self.bins,
                tail_bound: self.tail_bound,
            },
        })
    }

    /// The validated architecture for a lattice of extents `shape`, of a gauge field if
    /// `gauge`.
    pub(crate) fn resolve(&self, shape: &[usize], gauge: bool) -> Result<FlowSpec, ConfigError> {
        if self.bins < 2 {
            return Err(invalid(
                "flow.bins",
                format!("must be at least 2, got {}", self.bins),
            ));
        }
        positive("flow.tail_bound", self.tail_bound)?;
        let min_extent = shape.iter().copied().min().unwrap_or(0);
        if self.kind == Some(FlowKindName::Continuous) {
            return self.resolve_continuous(shape, gauge);
        }
        self.refuse_continuous_keys()?;
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
        let prior_name = self.prior_name();
        if gauge != (prior_name == PriorName::Uniform) {
            return Err(invalid(
                "flow.prior",
                if gauge {
                    "a gauge field's flow starts from the Haar measure of its links: prior = \
                     \"uniform\" (the default for kind = \"u1\")"
                } else {
                    "uniform angles are the prior of gauge fields (kind = \"u1\"); a scalar \
                     field's flow starts from \"normal\", \"free\" or \"z2_mixture\""
                },
            ));
        }
        let coupling = if gauge {
            self.resolve_gauge_coupling(shape)?
        } else {
            self.resolve_scalar_coupling()?
        };
        let prior = resolve_prior("flow", prior_name, self.prior_m2, self.prior_shift)?;
        let default_final = if gauge {
            ActivationName::None
        } else {
            ActivationName::Tanh
        };
        let Some(layers) = self.layers else {
            return Err(invalid(
                "flow.layers",
                "missing: the number of coupling layers (or kind = \"continuous\")",
            ));
        };
        Ok(FlowSpec {
            layers,
            hidden: self.hidden.clone(),
            kernel: self.kernel,
            activation: self.activation.into(),
            final_activation: self.final_activation.unwrap_or(default_final).into(),
            equivariant: self.equivariant.unwrap_or(false),
            coupling,
            prior,
            spectral: self.spectral,
            precision: self.precision.into(),
        })
    }
}

impl FlowConfig {
    /// The continuous flow of a scalar field, checked: its own keys, the prior, the spectral
    /// layer, and none of the couplings' keys.
    fn resolve_continuous(&self, shape: &[usize], gauge: bool) -> Result<FlowSpec, ConfigError> {
        if gauge {
            return Err(invalid(
                "flow.kind",
                "continuous flows map scalar fields; gauge fields (kind = \"u1\") take \
                 gauge-equivariant couplings",
            ));
        }
        if self.equivariant == Some(false) {
            return Err(invalid(
                "flow.equivariant",
                "a continuous flow is odd in φ by construction (its features are), so it \
                 targets Z2-symmetric actions only",
            ));
        }
        for (key, set) in [
            ("flow.layers", self.layers.is_some()),
            ("flow.coupling", self.coupling.is_some()),
            ("flow.final_activation", self.final_activation.is_some()),
            ("flow.precision", self.precision != PrecisionName::F64),
        ] {
            if set {
                return Err(invalid(
                    key,
                    "only for coupling flows; a continuous flow has one vector field, set by \
                     flow.kernel, flow.frequencies, flow.time_modes and flow.steps",
                ));
            }
        }
        let min_extent = shape.iter().copied().min().unwrap_or(0);
        let radius = ContinuousSpec::radius_of_kernel(self.kernel, shape).ok_or_else(|| {
            invalid(
                "flow.kernel",
                format!(
                    "a continuous flow's kernel is odd and at most the smallest lattice extent \
                     ({min_extent}), or 0 for the whole lattice; got {}",
                    self.kernel
                ),
            )
        })?;
        let steps = self.steps.unwrap_or(DEFAULT_CNF_STEPS);
        if steps == 0 {
            return Err(invalid("flow.steps", "must be at least 1"));
        }
        let prior = resolve_prior("flow", self.prior_name(), self.prior_m2, self.prior_shift)?;
        Ok(FlowSpec {
            layers: 0,
            hidden: Vec::new(),
            kernel: self.kernel,
            activation: Activation::Identity,
            final_activation: Activation::Identity,
            // Odd in φ by construction.
            equivariant: true,
            coupling: CouplingSpec::Continuous(ContinuousSpec {
                radius,
                frequencies: self.frequencies.unwrap_or(DEFAULT_CNF_FREQUENCIES),
                time_modes: self.time_modes.unwrap_or(DEFAULT_CNF_TIME_MODES),
                steps,
            }),
            prior,
            spectral: self.spectral,
            precision: Precision::F64,
        })
    }

    /// Refuses the continuous flows' keys in a coupling flow.
    fn refuse_continuous_keys(&self) -> Result<(), ConfigError> {
        for (key, set) in [
            ("flow.frequencies", self.frequencies.is_some()),
            ("flow.time_modes", self.time_modes.is_some()),
            ("flow.steps", self.steps.is_some()),
            ("flow.integrator", self.integrator.is_some()),
        ] {
            if set {
                return Err(invalid(
                    key,
                    "only for continuous flows (flow.kind = \"continuous\")",
                ));
            }
        }
        Ok(())
    }
}

/// Defaults of a continuous flow: sine features, time modes and RK4 steps.
pub const DEFAULT_CNF_FREQUENCIES: usize = 8;
pub const DEFAULT_CNF_TIME_MODES: usize = 4;
pub const DEFAULT_CNF_STEPS: usize = 16;

fn default_activation() -> ActivationName {
    ActivationName::LeakyRelu
}
