//! `[action]`: which theory and its couplings, resolved into a [`Model`] and [`Couplings`],
//! and from them the field action S(φ) the samplers and flows evaluate.

use crate::ConfigError;
use crate::error::invalid;
use crate::pf_estimator::{
    JointFlow, Ladder, MAX_RUNGS, PfEstimator, PfEstimatorName, PfReferenceName,
};
use lft_action::{
    Action, CgParams, GaugeDetEstimator, HoppingParams, Phi4, Phi4Params, PseudofermionCg,
    Reference, Schwinger, SchwingerExact, SchwingerPseudofermion, U1Wilson, Yukawa, YukawaExact,
    YukawaParams,
};
use lft_lattice::Lattice;
use serde::{Deserialize, Serialize};

/// Which theory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Scalar φ⁴ in any dimension.
    Phi4,
    /// φ⁴ coupled to N_f = 2 staggered fermions, D = K + m + gφ (2D, even extents).
    Yukawa,
    /// Compact U(1) gauge theory with the Wilson action on link angles (dimension ≥ 2).
    U1,
    /// The Schwinger model: 2D U(1) with N_f = 2 staggered fermions, D = m + K(θ).
    Schwinger,
}

/// How the fermion determinant of the Yukawa or the Schwinger model enters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FermionsName {
    /// The determinant densely at every action and force (small lattices): −2 log|det D| by
    /// LU (Yukawa), −log det(m² − K²)_ee by Cholesky (Schwinger).
    Exact,
    /// A pseudofermion, redrawn before every trajectory, solved by CG: ϕ†(D Dᵀ)⁻¹ϕ (Yukawa),
    /// ϕ†(m² − K²)_ee⁻¹ϕ on even sites (Schwinger).
    Pseudofermion,
}

/// The action: `kind` plus one complete parametrisation, (m2, lambda) or (kappa, lambda_tilde);
/// for `kind = "yukawa"` also `g`, `mass` and the fermion treatment; for `kind = "u1"` only
/// `beta`; for `kind = "schwinger"` `beta`, `mass` and the fermion treatment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    pub kind: ActionKind,
    /// The gauge coupling β of the Wilson action (u1, schwinger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kappa: Option<f64>,
    /// The external field h of φ⁴, S → S − h Σ_x φ_x (AKS normalisation of φ, also with
    /// `kappa` and `lambda_tilde`; default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_tilde: Option<f64>,
    /// Yukawa coupling g (yukawa).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub g: Option<f64>,
    /// Bare fermion mass m (yukawa, schwinger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mass: Option<f64>,
    /// "exact" (default) or "pseudofermion" (yukawa, schwinger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fermions: Option<FermionsName>,
    /// Relative CG residual of the molecular-dynamics force (pseudofermion; default 1e-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cg_force_tolerance: Option<f64>,
    /// Relative CG residual of the action at the accept/reject step (pseudofermion; default
    /// 1e-12: its error biases the ensemble, so keep it tight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cg_action_tolerance: Option<f64>,
    /// CG iterations before a solve counts as failed (pseudofermion; default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cg_max_iterations: Option<usize>,
    /// The determinant estimator of flows with pseudofermions (see [`crate::pf_estimator`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_estimator: Option<PfEstimatorName>,
    /// Draws per rung of the estimator (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_draws: Option<usize>,
    /// Smallest twisted mass of the ladder (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_twist_min: Option<f64>,
    /// Largest twisted mass μ_N (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_twist_max: Option<f64>,
    /// Ratio of neighbouring twists (default 1.15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_twist_ratio: Option<f64>,
    /// The free reference of the last rung: "mean-diagonal" (default) or "free".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_reference: Option<PfReferenceName>,
    /// Blocks of the conditional pseudofermion flow (`pf_estimator = "flow"`; default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_flow_blocks: Option<usize>,
    /// Its training steps (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_flow_steps: Option<usize>,
    /// Proposals per training step (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_flow_batch: Option<usize>,
    /// Adam's learning rate (default 5e-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_flow_learning_rate: Option<f64>,
}

/// The theory of a validated config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// φ⁴ with couplings `params` and the external field h (S → S − h Σ_x φ_x).
    Phi4 { params: Phi4Params, h: f64 },
    Yukawa {
        params: YukawaParams,
        fermions: Fermions,
    },
    /// U(1) gauge theory with the Wilson action at coupling β.
    U1 { beta: f64 },
    /// The Schwinger model at gauge coupling β and bare mass m.
    Schwinger {
        beta: f64,
        mass: f64,
        fermions: Fermions,
    },
}

impl Model {
    /// Whether S(−φ) = S(φ): φ⁴ without an external field, and the Yukawa model with
    /// massless fermions.
    pub fn is_z2_symmetric(&self) -> bool {
        match self {
            Model::Phi4 { h, .. } => *h == 0.0,
            Model::Yukawa { params, .. } => params.mass == 0.0,
            Model::U1 { .. } | Model::Schwinger { .. } => false,
        }
    }

    /// Whether the field is a gauge field (link angles) rather than a scalar one.
    pub fn is_gauge(&self) -> bool {
        matches!(self, Model::U1 { .. } | Model::Schwinger { .. })
    }

    /// Whether the fermions enter through a pseudofermion (Yukawa or Schwinger).
    pub fn has_pseudofermions(&self) -> bool {
        matches!(
            self,
            Model::Yukawa {
                fermions: Fermions::Pseudofermion(_),
                ..
            } | Model::Schwinger {
                fermions: Fermions::Pseudofermion(_),
                ..
            }
        )
    }
}

/// The fermion treatment of a validated Yukawa or Schwinger config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fermions {
    Exact,
    Pseudofermion(PseudofermionCg),
}

/// The physics couplings of a validated action, in both forms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Couplings {
    pub aks: Phi4Params,
    pub hopping: HoppingParams,
}

impl Model {
    /// "phi4", "yukawa", "u1" or "schwinger", as stored in ensemble files.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Model::Phi4 { .. } => "phi4",
            Model::Yukawa { .. } => "yukawa",
            Model::U1 { .. } => "u1",
            Model::Schwinger { .. } => "schwinger",
        }
    }

    /// The φ⁴ part of the couplings (`None` for a gauge field).
    pub fn phi4(&self) -> Option<Phi4Params> {
        match self {
            Model::Phi4 { params, .. } => Some(*params),
            Model::Yukawa { params, .. } => Some(params.phi4),
            Model::U1 { .. } | Model::Schwinger { .. } => None,
        }
    }

    /// S(φ) on `lattice`: φ⁴, or the Yukawa model's S_φ⁴ − 2 log|det D| by dense LU. A
    /// pseudofermion model has no exact one (its ϕ is part of the chain state): the flows of a
    /// pseudofermion config take [`crate::Config::field_action`], the estimated one.
    pub fn field_action(&self, lattice: &Lattice) -> Result<Box<dyn Action>, ConfigError> {
        let action_err = |e: lft_action::ActionError| invalid("action", e.to_string());
        Ok(match *self {
            Model::Phi4 { params, h } => Box::new(
                Phi4::new(lattice.clone(), params)
                    .and_then(|s| s.with_external_field(h))
                    .map_err(action_err)?,
            ),
            Model::U1 { beta } => {
                Box::new(U1Wilson::new(lattice.clone(), beta).map_err(action_err)?)
            }
            Model::Schwinger {
                beta,
                mass,
                fermions: Fermions::Exact,
            } => Box::new(SchwingerExact::new(
                Schwinger::new(lattice.clone(), beta, mass).map_err(action_err)?,
            )),
            Model::Schwinger {
                fermions: Fermions::Pseudofermion(_),
                ..
            } => {
                return Err(invalid(
                    "action.fermions",
                    "the Schwinger model with \"pseudofermion\" has no exact S(θ): it works \
                     with [hmc], and with a [flow] through the determinant estimator (pf_* keys)",
                ));
            }
            Model::Yukawa {
                params,
                fermions: Fermions::Exact,
            } => Box::new(YukawaExact::new(
                Yukawa::new(lattice.clone(), params).map_err(action_err)?,
            )),
            Model::Yukawa {
                fermions: Fermions::Pseudofermion(_),
                ..
            } => {
                return Err(invalid(
                    "action.fermions",
                    "\"pseudofermion\" has no exact S(φ): it works with [hmc], with a [flow] \
                     through the determinant estimator (pf_* keys), and with [anneal] on the \
                     joint (φ, ϕ) target",
                ));
            }
        })
    }
}

impl ActionConfig {
    /// Writes out the defaults of optional keys (Yukawa: `fermions`, and the CG settings of
    /// pseudofermions), so that the stored effective config names every setting.
    pub(crate) fn fill_defaults(&mut self) {
        if !matches!(self.kind, ActionKind::Yukawa | ActionKind::Schwinger) {
            return;
        }
        if *self.fermions.get_or_insert(FermionsName::Exact) == FermionsName::Pseudofermion {
            let d = PseudofermionCg::default();
            self.cg_force_tolerance.get_or_insert(d.force.tolerance);
            self.cg_action_tolerance.get_or_insert(d.action.tolerance);
            self.cg_max_iterations.get_or_insert(d.force.max_iterations);
        }
    }

    /// The couplings in both parametrisations (whichever one the config gave), for a lattice
    /// of dimension `d`.
    fn couplings(&self, d: usize) -> Result<Couplings, ConfigError> {
        let action_err =
            |e: lft_action::ActionError| invalid(&format!("action.{}", e.name), e.to_string());
        match (self.m2, self.lambda, self.kappa, self.lambda_tilde) {
            (Some(m2), Some(lambda), None, None) => {
                let aks = Phi4Params { m2, lambda };
                aks.validate().map_err(action_err)?;
                let hopping = aks.to_hopping(d).map_err(action_err)?;
                Ok(Couplings { aks, hopping })
            }
            (None, None, Some(kappa), Some(lambda_tilde)) => {
                let hopping = HoppingParams {
                    kappa,
                    lambda_tilde,
                };
                hopping.validate(d).map_err(action_err)?;
                Ok(Couplings {
                    aks: hopping.to_aks(d),
                    hopping,
                })
            }
            _ => Err(invalid(
                "action",
                "give either `m2` and `lambda` (AKS form) or `kappa` and `lambda_tilde` \
                 (hopping form), not a mix",
            )),
        }
    }

    /// The gauge theories: `kind = "u1"` takes β only; `kind = "schwinger"` β, `mass` and the
    /// fermion treatment (with its CG keys). No key of the scalar theories.
    fn resolve_gauge(&self, lattice: &Lattice) -> Result<Model, ConfigError> {
        let schwinger = self.kind == ActionKind::Schwinger;
        let kind = if schwinger { "schwinger" } else { "u1" };
        let scalar_keys = [
            ("m2", self.m2.is_some()),
            ("lambda", self.lambda.is_some()),
            ("kappa", self.kappa.is_some()),
            ("lambda_tilde", self.lambda_tilde.is_some()),
            ("g", self.g.is_some()),
            ("h", self.h.is_some()),
        ];
        if let Some((key, _)) = scalar_keys.iter().find(|(_, set)| *set) {
            return Err(invalid(
                &format!("action.{key}"),
                format!(
                    "a coupling of the scalar theories (phi4, yukawa); kind = \"{kind}\" takes \
                     `beta`{}",
                    if schwinger {
                        ", `mass` and `fermions`"
                    } else {
                        " only"
                    }
                ),
            ));
        }
        let fermion_keys = [
            ("mass", self.mass.is_some()),
            ("fermions", self.fermions.is_some()),
            ("cg_force_tolerance", self.cg_force_tolerance.is_some()),
            ("cg_action_tolerance", self.cg_action_tolerance.is_some()),
            ("cg_max_iterations", self.cg_max_iterations.is_some()),
        ];
        if !schwinger && let Some((key, _)) = fermion_keys.iter().find(|(_, set)| *set) {
            return Err(invalid(
                &format!("action.{key}"),
                "pure U(1) has no fermions; for U(1) with N_f = 2 staggered fermions use \
                 kind = \"schwinger\"",
            ));
        }
        let beta = self.beta.ok_or_else(|| {
            invalid(
                "action.beta",
                format!("kind = \"{kind}\" needs the gauge coupling beta"),
            )
        })?;
        let named = |e: lft_action::ActionError| {
            let key = match e.name {
                "lattice.shape" => e.name.to_string(),
                name => format!("action.{name}"),
            };
            invalid(&key, format!("{} (got {})", e.reason, e.value))
        };
        if !schwinger {
            U1Wilson::new(lattice.clone(), beta).map_err(|e| {
                let key = if e.name == "beta" {
                    "action.beta"
                } else {
                    "lattice.shape"
                };
                invalid(key, format!("{} (got {})", e.reason, e.value))
            })?;
            return Ok(Model::U1 { beta });
        }
        let mass = self.mass.ok_or_else(|| {
            invalid(
                "action.mass",
                "kind = \"schwinger\" needs the bare fermion mass (> 0 with pseudofermions)",
            )
        })?;
        let model = Schwinger::new(lattice.clone(), beta, mass).map_err(named)?;
        let fermions = match self.fermions.unwrap_or(FermionsName::Exact) {
            FermionsName::Exact => {
                if let Some((key, _)) = fermion_keys[2..].iter().find(|(_, set)| *set) {
                    return Err(invalid(
                        &format!("action.{key}"),
                        "only used with fermions = \"pseudofermion\"",
                    ));
                }
                Fermions::Exact
            }
            FermionsName::Pseudofermion => {
                let cg = self.pseudofermion_cg()?;
                SchwingerPseudofermion::new(model, cg).map_err(named)?;
                Fermions::Pseudofermion(cg)
            }
        };
        Ok(Model::Schwinger {
            beta,
            mass,
            fermions,
        })
    }

    /// The theory and its couplings on `lattice` (no φ⁴ couplings for a gauge field). Checks
    /// that keys of the other kinds are absent and that the lattice suits the theory.
    pub(crate) fn resolve(
        &self,
        lattice: &Lattice,
    ) -> Result<(Model, Option<Couplings>), ConfigError> {
        if matches!(self.kind, ActionKind::U1 | ActionKind::Schwinger) {
            return Ok((self.resolve_gauge(lattice)?, None));
        }
        if let Some(beta) = self.beta {
            return Err(invalid(
                "action.beta",
                format!(
                    "the gauge coupling (got {beta}) is only used with kind = \"u1\" or \
                     \"schwinger\""
                ),
            ));
        }
        let couplings = self.couplings(lattice.dim())?;
        let aks = couplings.aks;
        let cg_keys = [
            ("cg_force_tolerance", self.cg_force_tolerance.is_some()),
            ("cg_action_tolerance", self.cg_action_tolerance.is_some()),
            ("cg_max_iterations", self.cg_max_iterations.is_some()),
        ];
        let only_with = |key: &str, what: &str| {
            invalid(&format!("action.{key}"), format!("only used with {what}"))
        };
        let model = match self.kind {
            ActionKind::Phi4 => {
                let yukawa_keys = [
                    ("g", self.g.is_some()),
                    ("mass", self.mass.is_some()),
                    ("fermions", self.fermions.is_some()),
                ];
                if let Some((key, _)) = yukawa_keys.iter().chain(&cg_keys).find(|(_, set)| *set) {
                    return Err(only_with(key, "kind = \"yukawa\""));
                }
                let h = self.h.unwrap_or(0.0);
                if !h.is_finite() {
                    return Err(invalid(
                        "action.h",
                        format!("the external field must be a finite number, got {h}"),
                    ));
                }
                Model::Phi4 { params: aks, h }
            }
            ActionKind::Yukawa => {
                if self.h.is_some() {
                    return Err(only_with("h", "kind = \"phi4\""));
                }
                let g = self.g.ok_or_else(|| {
                    invalid("action.g", "kind = \"yukawa\" needs the Yukawa coupling g")
                })?;
                let mass = self.mass.ok_or_else(|| {
                    invalid(
                        "action.mass",
                        "kind = \"yukawa\" needs the bare fermion mass (0 for massless)",
                    )
                })?;
                let params = YukawaParams { phi4: aks, g, mass };
                Yukawa::new(lattice.clone(), params).map_err(|e| {
                    let key = match e.name {
                        "lattice.shape" => e.name.to_string(),
                        name => format!("action.{name}"),
                    };
                    invalid(&key, format!("{} (got {})", e.reason, e.value))
                })?;
                let fermions = match self.fermions.unwrap_or(FermionsName::Exact) {
                    FermionsName::Exact => {
                        if let Some((key, _)) = cg_keys.iter().find(|(_, set)| *set) {
                            return Err(only_with(key, "fermions = \"pseudofermion\""));
                        }
                        Fermions::Exact
                    }
                    FermionsName::Pseudofermion => {
                        Fermions::Pseudofermion(self.pseudofermion_cg()?)
                    }
                };
                Model::Yukawa { params, fermions }
            }
            ActionKind::U1 | ActionKind::Schwinger => unreachable!("resolved above"),
        };
        Ok((model, Some(couplings)))
    }

    /// The CG settings of a pseudofermion config (defaults where a key is absent).
    fn pseudofermion_cg(&self) -> Result<PseudofermionCg, ConfigError> {
        let d = PseudofermionCg::default();
        let max_iterations = self.cg_max_iterations.unwrap_or(d.force.max_iterations);
        if max_iterations == 0 {
            return Err(invalid("action.cg_max_iterations", "must be at least 1"));
        }
        let tolerance = |key: &str, value: Option<f64>, default: f64| {
            let t = value.unwrap_or(default);
            if t.is_finite() && t > 0.0 && t < 1.0 {
                Ok(CgParams {
                    tolerance: t,
                    max_iterations,
                })
            } else {
                Err(invalid(
                    &format!("action.{key}"),
                    format!("a relative residual must be in (0, 1), got {t}"),
                ))
            }
        };
        Ok(PseudofermionCg {
            force: tolerance(
                "cg_force_tolerance",
                self.cg_force_tolerance,
                d.force.tolerance,
            )?,
            action: tolerance(
                "cg_action_tolerance",
                self.cg_action_tolerance,
                d.action.tolerance,
            )?,
        })
    }
}

/// The estimator defaults of `model`: the Yukawa ladder, or the Schwinger model's at its mass.
fn pf_defaults(model: &Model) -> PfEstimator {
    match *model {
        Model::Schwinger { mass, .. } => PfEstimator::schwinger(mass),
        _ => PfEstimator::default(),
    }
}

/// The `pf_*` keys of the determinant estimator ([`crate::pf_estimator`]).
impl ActionConfig {
    /// Whether any `pf_*` key is set.
    pub(crate) fn has_pf_keys(&self) -> bool {
        self.pf_estimator.is_some()
            || self.pf_draws.is_some()
            || self.pf_twist_min.is_some()
            || self.pf_twist_max.is_some()
            || self.pf_twist_ratio.is_some()
            || self.pf_reference.is_some()
            || self.has_pf_flow_keys()
    }

    /// Whether any `pf_flow_*` key is set.
    fn has_pf_flow_keys(&self) -> bool {
        self.pf_flow_blocks.is_some()
            || self.pf_flow_steps.is_some()
            || self.pf_flow_batch.is_some()
            || self.pf_flow_learning_rate.is_some()
    }

    /// Writes the estimator's defaults for `model` into the effective config.
    pub(crate) fn fill_pf_defaults(&mut self, model: &Model) {
        let d = pf_defaults(model);
        let name = *self
            .pf_estimator
            .get_or_insert(PfEstimatorName::TwistedLadder);
        if name == PfEstimatorName::Flow {
            let j = JointFlow::default();
            self.pf_draws.get_or_insert(1);
            self.pf_flow_blocks.get_or_insert(j.blocks);
            self.pf_flow_steps.get_or_insert(j.steps);
            self.pf_flow_batch.get_or_insert(j.batch);
            self.pf_flow_learning_rate.get_or_insert(j.learning_rate);
        }
        self.pf_draws.get_or_insert(d.draws);
        self.pf_twist_min.get_or_insert(d.twist_min);
        self.pf_twist_max.get_or_insert(d.twist_max);
        self.pf_twist_ratio.get_or_insert(d.twist_ratio);
        if d.ladder == Ladder::Twist {
            self.pf_reference
                .get_or_insert(PfReferenceName::MeanDiagonal);
        }
    }

    /// The estimator settings, checked (defaults where a key is absent).
    pub(crate) fn pf_estimator(&self, model: &Model) -> Result<PfEstimator, ConfigError> {
        let d = pf_defaults(model);
        if matches!(d.ladder, Ladder::MassSquared { .. }) && self.pf_reference.is_some() {
            return Err(invalid(
                "action.pf_reference",
                "the Schwinger model's ladder ends on the free operator (its diagonal is \
                 the constant mass): pf_reference is the Yukawa model's",
            ));
        }
        let joint = self.joint_flow()?;
        let draws = self
            .pf_draws
            .unwrap_or(if joint.is_some() { 1 } else { d.draws });
        if draws == 0 {
            return Err(invalid(
                "action.pf_draws",
                "the estimator needs at least one draw (per rung of a ladder)",
            ));
        }
        let twist_min = self.pf_twist_min.unwrap_or(d.twist_min);
        let twist_max = self.pf_twist_max.unwrap_or(d.twist_max);
        let twist_ratio = self.pf_twist_ratio.unwrap_or(d.twist_ratio);
        if !(twist_min.is_finite() && twist_min > 0.0) {
            return Err(invalid(
                "action.pf_twist_min",
                format!("the smallest twist must be a positive number, got {twist_min}"),
            ));
        }
        if !(twist_max.is_finite() && twist_max >= twist_min) {
            return Err(invalid(
                "action.pf_twist_max",
                format!(
                    "the largest twist must be at least pf_twist_min = {twist_min}, got {twist_max}"
                ),
            ));
        }
        if !(twist_ratio.is_finite() && twist_ratio > 1.0) {
            return Err(invalid(
                "action.pf_twist_ratio",
                format!("the ladder's ratio must be above 1, got {twist_ratio}"),
            ));
        }
        let rungs = ((twist_max / twist_min).ln() / twist_ratio.ln()).ceil();
        if rungs > MAX_RUNGS as f64 {
            return Err(invalid(
                "action.pf_twist_ratio",
                format!(
                    "the ladder from {twist_min} to {twist_max} at ratio {twist_ratio} has {rungs} rungs, more than {MAX_RUNGS}"
                ),
            ));
        }
        if let Ladder::MassSquared { mass } = d.ladder {
            let needed = GaugeDetEstimator::smallest_top_twist(mass);
            if twist_max < needed {
                return Err(invalid(
                    "action.pf_twist_max",
                    format!(
                        "the last rung has a finite variance on every link field only when \
                         pf_twist_max² + mass² > 4: at mass = {mass} pf_twist_max must be above \
                         {:.6}, got {twist_max}",
                        needed - 1e-9
                    ),
                ));
            }
        }
        let reference = match self.pf_reference.unwrap_or(PfReferenceName::MeanDiagonal) {
            PfReferenceName::Free => Reference::Free,
            PfReferenceName::MeanDiagonal => Reference::MeanDiagonal,
        };
        Ok(PfEstimator {
            ladder: d.ladder,
            draws,
            twist_min,
            twist_max,
            twist_ratio,
            reference,
            joint,
        })
    }

    /// The conditional flow of `pf_estimator = "flow"`, checked; `None` for the ladder, which
    /// refuses `pf_flow_*` keys.
    fn joint_flow(&self) -> Result<Option<JointFlow>, ConfigError> {
        if self.pf_estimator != Some(PfEstimatorName::Flow) {
            if self.has_pf_flow_keys() {
                return Err(invalid(
                    "action.pf_estimator",
                    "the pf_flow_* keys belong to pf_estimator = \"flow\"",
                ));
            }
            return Ok(None);
        }
        let d = JointFlow::default();
        let positive = |key: &str, value: usize| {
            if value == 0 {
                Err(invalid(key, "must be at least 1"))
            } else {
                Ok(value)
            }
        };
        let learning_rate = self.pf_flow_learning_rate.unwrap_or(d.learning_rate);
        if !(learning_rate.is_finite() && learning_rate > 0.0) {
            return Err(invalid(
                "action.pf_flow_learning_rate",
                format!("must be a positive number, got {learning_rate}"),
            ));
        }
        Ok(Some(JointFlow {
            // Zero blocks is a valid flow: the free layer and one scale.
            blocks: self.pf_flow_blocks.unwrap_or(d.blocks),
            steps: positive(
                "action.pf_flow_steps",
                self.pf_flow_steps.unwrap_or(d.steps),
            )?,
            batch: positive(
                "action.pf_flow_batch",
                self.pf_flow_batch.unwrap_or(d.batch),
            )?,
            learning_rate,
        }))
    }
}
