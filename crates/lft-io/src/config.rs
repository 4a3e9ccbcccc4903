//! Run configuration: TOML with `deny_unknown_fields`, command-line overrides, validation.
//!
//! ```toml
//! seed = 1
//! [lattice]
//! shape = [8, 8]
//! [action]
//! kind = "phi4"
//! m2 = -4.0          # or kappa = …, lambda_tilde = …
//! lambda = 8.0
//! [hmc]
//! trajectories = 10000
//! [output]
//! path = "ensembles/quickstart.h5"
//! ```

mod reuse;
pub use reuse::{Mismatch, Reuse};

use lft_action::{CgParams, HoppingParams, Phi4Params, PseudofermionCg, Yukawa, YukawaParams};
use lft_lattice::Lattice;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A config that cannot be used; every variant names the file or key at fault.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("override `{item}`: {message}")]
    Override { item: String, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// A complete run configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seed of every random stream of the run (chain c draws from stream (seed, c)).
    pub seed: u64,
    pub lattice: LatticeConfig,
    pub action: ActionConfig,
    /// Hybrid Monte Carlo (`lft run`, `lft hmc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmc: Option<HmcConfig>,
    /// A normalizing flow (`lft train`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowConfig>,
    /// How the flow is trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<TrainConfig>,
    /// Sampling with the trained flow (`lft sample`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<SampleConfig>,
    pub output: OutputConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatticeConfig {
    /// Extents [L0, L1, …], 1 to 4 of them, each ≥ 2; direction 0 is time.
    pub shape: Vec<usize>,
}

/// Which theory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Scalar φ⁴ in any dimension.
    Phi4,
    /// φ⁴ coupled to N_f = 2 staggered fermions, D = K + m + gφ (2D, even extents).
    Yukawa,
}

/// How the fermion determinant of the Yukawa model enters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FermionsName {
    /// −2 log|det D| by dense LU at every action and force (small lattices).
    Exact,
    /// A pseudofermion ϕ†(D Dᵀ)⁻¹ϕ, redrawn before every trajectory, solved by CG.
    Pseudofermion,
}

/// The action: `kind` plus one complete parametrisation, (m2, lambda) or (kappa, lambda_tilde);
/// for `kind = "yukawa"` also `g`, `mass` and the fermion treatment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    pub kind: ActionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kappa: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_tilde: Option<f64>,
    /// Yukawa coupling g (yukawa).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub g: Option<f64>,
    /// Bare fermion mass m (yukawa).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mass: Option<f64>,
    /// "exact" (default) or "pseudofermion" (yukawa).
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
}

/// The theory of a validated config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    Phi4(Phi4Params),
    Yukawa {
        params: YukawaParams,
        fermions: Fermions,
    },
}

/// The fermion treatment of a validated Yukawa config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fermions {
    Exact,
    Pseudofermion(PseudofermionCg),
}

impl Model {
    /// "phi4" or "yukawa", as stored in ensemble files.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Model::Phi4(_) => "phi4",
            Model::Yukawa { .. } => "yukawa",
        }
    }

    /// The φ⁴ part of the couplings.
    pub fn phi4(&self) -> Phi4Params {
        match self {
            Model::Phi4(p) => *p,
            Model::Yukawa { params, .. } => params.phi4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegratorName {
    Leapfrog,
    Omelyan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartName {
    Cold,
    Hot,
}

/// Hybrid Monte Carlo settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmcConfig {
    /// Production trajectories per chain (each one stored).
    pub trajectories: usize,
    /// Thermalisation trajectories per chain (not stored).
    #[serde(default = "defaults::thermalization")]
    pub thermalization: usize,
    /// Mean number of integrator steps per trajectory.
    #[serde(default = "defaults::steps")]
    pub steps: usize,
    /// Mean trajectory length τ; the step size is ε = length / steps.
    #[serde(default = "defaults::length")]
    pub length: f64,
    #[serde(default = "defaults::integrator")]
    pub integrator: IntegratorName,
    /// Independent chains, run in parallel.
    #[serde(default = "defaults::chains")]
    pub chains: usize,
    /// Each trajectory takes round(steps·u) steps, u uniform in [1 − j, 1 + j]; 0 = fixed length.
    #[serde(default = "defaults::length_jitter")]
    pub length_jitter: f64,
    /// Adapt ε during thermalisation towards `target_acceptance` (n = round(length/ε)).
    #[serde(default)]
    pub tune_step_size: bool,
    #[serde(default = "defaults::target_acceptance")]
    pub target_acceptance: f64,
    #[serde(default = "defaults::start")]
    pub start: StartName,
    /// Store one trajectory in `save_every` (all are run and counted in the acceptance and
    /// ⟨ΔH⟩ of the run summary). Written out only when it is not 1.
    #[serde(
        default = "defaults::save_every",
        skip_serializing_if = "defaults::is_one"
    )]
    pub save_every: usize,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorName {
    /// Independent standard normal variables.
    Normal,
    /// The free field of mass² `prior_m2`, sampled exactly.
    Free,
}

/// Architecture of the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    #[serde(default = "defaults::coupling")]
    pub coupling: CouplingName,
    /// Number of coupling layers; checkerboard masks alternate between even and odd sites.
    pub layers: usize,
    /// Hidden channels of each conditioner network.
    #[serde(default = "defaults::hidden")]
    pub hidden: Vec<usize>,
    /// Odd kernel size of the periodic convolutions.
    #[serde(default = "defaults::kernel")]
    pub kernel: usize,
    #[serde(default = "defaults::activation")]
    pub activation: ActivationName,
    /// Applied to the conditioner output (s and t); tanh keeps them in (−1, 1).
    #[serde(default = "defaults::final_activation")]
    pub final_activation: ActivationName,
    /// Symmetrise the conditioners under φ → −φ (affine couplings).
    #[serde(default)]
    pub equivariant: bool,
    /// Start the flow with a learnable momentum-space scale z̃(p) → e^{c(p)} z̃(p).
    #[serde(default)]
    pub spectral: bool,
    /// Spline bins K (coupling = "spline").
    #[serde(default = "defaults::bins")]
    pub bins: usize,
    /// The spline acts on [−tail_bound, tail_bound] and is the identity outside.
    #[serde(default = "defaults::tail_bound")]
    pub tail_bound: f64,
    #[serde(default = "defaults::prior")]
    pub prior: PriorName,
    /// Mass² of the free-field prior.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_m2: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleName {
    Constant,
    Cosine,
    Step,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveName {
    ReverseKl,
    ForwardKl,
}

/// Training of the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub steps: usize,
    #[serde(default = "defaults::batch")]
    pub batch: usize,
    #[serde(default = "defaults::lr")]
    pub lr: f64,
    #[serde(default = "defaults::schedule")]
    pub schedule: ScheduleName,
    /// For `schedule = "step"`: multiply the learning rate by `step_factor` every `step_every` steps.
    #[serde(default = "defaults::step_every")]
    pub step_every: usize,
    #[serde(default = "defaults::step_factor")]
    pub step_factor: f64,
    /// Clip gradients to this global norm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip: Option<f64>,
    #[serde(default = "defaults::objective")]
    pub objective: ObjectiveName,
    /// For `objective = "forward_kl"`: an ensemble file of the target (any sampler), whose
    /// configurations are the training data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// The checkpoint file (HDF5): weights, optimiser and generator state, history.
    pub checkpoint: PathBuf,
    /// Steps between checkpoints (the most a crash can lose).
    #[serde(default = "defaults::every")]
    pub checkpoint_every: usize,
    /// Steps between log lines when not on a terminal.
    #[serde(default = "defaults::every")]
    pub report_every: usize,
}

/// Independence Metropolis with the trained flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Configurations per chain (each stored).
    pub configs: usize,
    /// Independent chains.
    #[serde(default = "defaults::chains")]
    pub chains: usize,
    /// Proposals drawn from the flow at a time (the chain resumes at batch boundaries).
    #[serde(default = "defaults::proposal_batch")]
    pub batch: usize,
    /// "imh": independence Metropolis chains; "reweight": independent flow samples with
    /// importance weights w = e^{−S}/q (no accept/reject); "flow_hmc": each step a flow
    /// proposal (independence Metropolis), then `hmc_per_step` HMC trajectories.
    #[serde(default)]
    pub method: SampleMethod,
    /// flow_hmc: HMC trajectories after each flow proposal.
    #[serde(default = "defaults::hmc_per_step")]
    pub hmc_per_step: usize,
    /// flow_hmc: mean integrator steps per trajectory.
    #[serde(default = "defaults::steps")]
    pub hmc_steps: usize,
    /// flow_hmc: trajectory length (step size = hmc_length / hmc_steps).
    #[serde(default = "defaults::length")]
    pub hmc_length: f64,
    /// flow_hmc: the integrator.
    #[serde(default = "defaults::flow_hmc_integrator")]
    pub hmc_integrator: IntegratorName,
    /// Store one step in `save_every` (`configs` counts steps). Written out only when it is
    /// not 1.
    #[serde(
        default = "defaults::save_every",
        skip_serializing_if = "defaults::is_one"
    )]
    pub save_every: usize,
}

/// How flow samples are turned into an ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleMethod {
    #[default]
    Imh,
    Reweight,
    FlowHmc,
}

impl SampleMethod {
    /// The sampler of the ensemble it writes.
    pub fn kind(self) -> lft_records::SamplerKind {
        match self {
            SampleMethod::Imh => lft_records::SamplerKind::FlowImh,
            SampleMethod::Reweight => lft_records::SamplerKind::FlowReweight,
            SampleMethod::FlowHmc => lft_records::SamplerKind::FlowHmc,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// The ensemble file (HDF5). Relative paths are relative to the working directory.
    pub path: PathBuf,
    /// Seconds between flushes of new configurations to disk (the most a crash can lose).
    #[serde(default = "defaults::flush_seconds")]
    pub flush_seconds: f64,
}

mod defaults {
    use super::{
        ActivationName, CouplingName, IntegratorName, ObjectiveName, PriorName, ScheduleName,
        StartName,
    };
    pub fn coupling() -> CouplingName {
        CouplingName::Affine
    }
    pub fn hidden() -> Vec<usize> {
        vec![8, 8]
    }
    pub fn kernel() -> usize {
        3
    }
    pub fn bins() -> usize {
        8
    }
    pub fn proposal_batch() -> usize {
        256
    }
    pub fn tail_bound() -> f64 {
        3.0
    }
    pub fn activation() -> ActivationName {
        ActivationName::LeakyRelu
    }
    pub fn final_activation() -> ActivationName {
        ActivationName::Tanh
    }
    pub fn prior() -> PriorName {
        PriorName::Normal
    }
    pub fn batch() -> usize {
        64
    }
    pub fn lr() -> f64 {
        1e-3
    }
    pub fn schedule() -> ScheduleName {
        ScheduleName::Constant
    }
    pub fn step_every() -> usize {
        1000
    }
    pub fn step_factor() -> f64 {
        0.5
    }
    pub fn objective() -> ObjectiveName {
        ObjectiveName::ReverseKl
    }
    pub fn every() -> usize {
        100
    }
    pub fn thermalization() -> usize {
        100
    }
    pub fn steps() -> usize {
        10
    }
    pub fn length() -> f64 {
        1.0
    }
    pub fn integrator() -> IntegratorName {
        IntegratorName::Leapfrog
    }
    pub fn chains() -> usize {
        1
    }
    pub fn save_every() -> usize {
        1
    }
    pub fn is_one(n: &usize) -> bool {
        *n == 1
    }
    pub fn hmc_per_step() -> usize {
        1
    }
    pub fn flow_hmc_integrator() -> IntegratorName {
        IntegratorName::Omelyan
    }
    pub fn length_jitter() -> f64 {
        0.5
    }
    pub fn target_acceptance() -> f64 {
        0.8
    }
    pub fn start() -> StartName {
        StartName::Cold
    }
    pub fn flush_seconds() -> f64 {
        2.0
    }
}

/// The physics couplings of a validated action, in both forms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Couplings {
    pub aks: Phi4Params,
    pub hopping: HoppingParams,
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

impl Config {
    /// Reads `path`, applies `overrides` (`section.key=value`, value in TOML syntax or a bare
    /// string) and validates the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_text(&text, path, overrides)
    }

    /// Parses config text (`origin` names it in errors), applies overrides, validates.
    pub fn from_text(text: &str, origin: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let parse_err = |e: toml::de::Error| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        };
        let config: Config = if overrides.is_empty() {
            toml::from_str(text).map_err(parse_err)?
        } else {
            let mut table: toml::Table = toml::from_str(text).map_err(parse_err)?;
            for item in overrides {
                apply_override(&mut table, item)?;
            }
            let merged = toml::to_string(&table).expect("a TOML table always serialises");
            toml::from_str(&merged).map_err(|e: toml::de::Error| ConfigError::Parse {
                path: origin.to_path_buf(),
                message: format!("after --set overrides: {}", e.to_string().trim_end()),
            })?
        };
        let mut config = config;
        config.fill_defaults();
        config.validate()?;
        Ok(config)
    }

    /// Writes out the defaults of optional action keys (Yukawa: `fermions`, and the CG
    /// settings of pseudofermions), so that the stored effective config names every setting.
    fn fill_defaults(&mut self) {
        let a = &mut self.action;
        if a.kind != ActionKind::Yukawa {
            return;
        }
        if *a.fermions.get_or_insert(FermionsName::Exact) == FermionsName::Pseudofermion {
            let d = PseudofermionCg::default();
            a.cg_force_tolerance.get_or_insert(d.force.tolerance);
            a.cg_action_tolerance.get_or_insert(d.action.tolerance);
            a.cg_max_iterations.get_or_insert(d.force.max_iterations);
        }
    }

    /// The effective configuration as TOML, with every default written out. This is the text
    /// stored in ensemble files: two runs with the same effective config produce the same file.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a Config always serialises")
    }

    /// The lattice of the run.
    pub fn lattice(&self) -> Result<Lattice, ConfigError> {
        Lattice::new(&self.lattice.shape).map_err(|e| invalid("lattice.shape", e.to_string()))
    }

    /// The couplings in both parametrisations (whichever one the config gave).
    pub fn couplings(&self) -> Result<Couplings, ConfigError> {
        let d = self.lattice.shape.len();
        let a = &self.action;
        let action_err =
            |e: lft_action::ActionError| invalid(&format!("action.{}", e.name), e.to_string());
        match (a.m2, a.lambda, a.kappa, a.lambda_tilde) {
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

    /// The theory: φ⁴, or Yukawa with its fermion treatment. Checks that keys of the other
    /// kind are absent and that the lattice suits the theory.
    pub fn model(&self) -> Result<Model, ConfigError> {
        let aks = self.couplings()?.aks;
        let a = &self.action;
        let cg_keys = [
            ("cg_force_tolerance", a.cg_force_tolerance.is_some()),
            ("cg_action_tolerance", a.cg_action_tolerance.is_some()),
            ("cg_max_iterations", a.cg_max_iterations.is_some()),
        ];
        let only_with = |key: &str, what: &str| {
            invalid(&format!("action.{key}"), format!("only used with {what}"))
        };
        match a.kind {
            ActionKind::Phi4 => {
                let yukawa_keys = [
                    ("g", a.g.is_some()),
                    ("mass", a.mass.is_some()),
                    ("fermions", a.fermions.is_some()),
                ];
                if let Some((key, _)) = yukawa_keys.iter().chain(&cg_keys).find(|(_, set)| *set) {
                    return Err(only_with(key, "kind = \"yukawa\""));
                }
                Ok(Model::Phi4(aks))
            }
            ActionKind::Yukawa => {
                let g = a.g.ok_or_else(|| {
                    invalid("action.g", "kind = \"yukawa\" needs the Yukawa coupling g")
                })?;
                let mass = a.mass.ok_or_else(|| {
                    invalid(
                        "action.mass",
                        "kind = \"yukawa\" needs the bare fermion mass (0 for massless)",
                    )
                })?;
                let params = YukawaParams { phi4: aks, g, mass };
                Yukawa::new(self.lattice()?, params).map_err(|e| {
                    let key = match e.name {
                        "lattice.shape" => e.name.to_string(),
                        name => format!("action.{name}"),
                    };
                    invalid(&key, format!("{} (got {})", e.reason, e.value))
                })?;
                let fermions = match a.fermions.unwrap_or(FermionsName::Exact) {
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
                Ok(Model::Yukawa { params, fermions })
            }
        }
    }

    /// The CG settings of a pseudofermion config (defaults where a key is absent).
    fn pseudofermion_cg(&self) -> Result<PseudofermionCg, ConfigError> {
        let a = &self.action;
        let d = PseudofermionCg::default();
        let max_iterations = a.cg_max_iterations.unwrap_or(d.force.max_iterations);
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
                a.cg_force_tolerance,
                d.force.tolerance,
            )?,
            action: tolerance(
                "cg_action_tolerance",
                a.cg_action_tolerance,
                d.action.tolerance,
            )?,
        })
    }

    /// The `[hmc]` section, or an error naming it.
    pub fn hmc(&self) -> Result<&HmcConfig, ConfigError> {
        self.hmc
            .as_ref()
            .ok_or_else(|| invalid("hmc", "this config has no [hmc] section"))
    }

    /// The `[flow]` and `[train]` sections, or an error naming the missing one.
    pub fn flow_and_train(&self) -> Result<(&FlowConfig, &TrainConfig), ConfigError> {
        let flow = self
            .flow
            .as_ref()
            .ok_or_else(|| invalid("flow", "this config has no [flow] section"))?;
        let train = self
            .train
            .as_ref()
            .ok_or_else(|| invalid("train", "a [flow] needs a [train] section"))?;
        Ok((flow, train))
    }

    /// The `[sample]` section (with its `[flow]` and `[train]`), or an error naming it.
    pub fn sample(&self) -> Result<&SampleConfig, ConfigError> {
        self.sample
            .as_ref()
            .ok_or_else(|| invalid("sample", "this config has no [sample] section"))
    }

    /// Checks every value for range and consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.lattice()?;
        let model = self.model()?;
        if self.flow.is_some()
            && matches!(
                model,
                Model::Yukawa {
                    fermions: Fermions::Pseudofermion(_),
                    ..
                }
            )
        {
            return Err(invalid(
                "action.fermions",
                "flows are trained on the exact effective action: use fermions = \"exact\"",
            ));
        }
        if self.hmc.is_none() && self.flow.is_none() {
            return Err(invalid(
                "hmc",
                "the config needs a sampler: an [hmc] or a [flow] section",
            ));
        }
        if self.flow.is_some() {
            self.validate_flow()?;
        } else if self.train.is_some() {
            return Err(invalid("train", "a [train] section needs a [flow] section"));
        }
        if self.hmc.is_some() {
            self.validate_hmc()?;
        }
        if let Some(sm) = &self.sample {
            if self.flow.is_none() {
                return Err(invalid(
                    "sample",
                    "a [sample] section needs a [flow] section",
                ));
            }
            if sm.configs == 0 {
                return Err(invalid("sample.configs", "must be at least 1"));
            }
            if sm.chains == 0 {
                return Err(invalid("sample.chains", "must be at least 1"));
            }
            if sm.batch == 0 {
                return Err(invalid("sample.batch", "must be at least 1"));
            }
            if sm.save_every == 0 || sm.save_every > sm.configs {
                return Err(invalid(
                    "sample.save_every",
                    format!("must be between 1 and sample.configs = {}", sm.configs),
                ));
            }
            if sm.method == SampleMethod::FlowHmc {
                if sm.hmc_steps == 0 {
                    return Err(invalid("sample.hmc_steps", "must be at least 1"));
                }
                if !(sm.hmc_length.is_finite() && sm.hmc_length > 0.0) {
                    return Err(invalid(
                        "sample.hmc_length",
                        format!("must be a finite number > 0, got {}", sm.hmc_length),
                    ));
                }
            }
        }
        let o = &self.output;
        if o.path.as_os_str().is_empty() {
            return Err(invalid("output.path", "must not be empty"));
        }
        if !(o.flush_seconds.is_finite() && o.flush_seconds >= 0.0) {
            return Err(invalid(
                "output.flush_seconds",
                "must be a finite number ≥ 0",
            ));
        }
        Ok(())
    }

    fn validate_flow(&self) -> Result<(), ConfigError> {
        let (f, t) = self.flow_and_train()?;
        if f.bins < 2 {
            return Err(invalid(
                "flow.bins",
                format!("must be at least 2, got {}", f.bins),
            ));
        }
        if !(f.tail_bound.is_finite() && f.tail_bound > 0.0) {
            return Err(invalid("flow.tail_bound", "must be a finite number > 0"));
        }
        match (t.objective, &t.data) {
            (ObjectiveName::ForwardKl, None) => {
                return Err(invalid(
                    "train.data",
                    "forward_kl training needs an ensemble file of the target",
                ));
            }
            (ObjectiveName::ReverseKl, Some(_)) => {
                return Err(invalid(
                    "train.data",
                    "only used with objective = \"forward_kl\"",
                ));
            }
            _ => {}
        }
        let min_extent = self.lattice.shape.iter().copied().min().unwrap_or(0);
        if f.kernel % 2 == 0 || f.kernel > min_extent {
            return Err(invalid(
                "flow.kernel",
                format!(
                    "must be odd and at most the smallest lattice extent ({min_extent}), got {}",
                    f.kernel
                ),
            ));
        }
        if f.hidden.contains(&0) {
            return Err(invalid(
                "flow.hidden",
                "every hidden layer needs at least one channel",
            ));
        }
        if f.activation == ActivationName::None {
            return Err(invalid(
                "flow.activation",
                "hidden layers need \"leaky_relu\" or \"tanh\"",
            ));
        }
        match (f.prior, f.prior_m2) {
            (PriorName::Free, Some(m2)) if m2.is_finite() && m2 > 0.0 => {}
            (PriorName::Free, _) => {
                return Err(invalid(
                    "flow.prior_m2",
                    "the free-field prior needs prior_m2 > 0",
                ));
            }
            (PriorName::Normal, Some(_)) => {
                return Err(invalid("flow.prior_m2", "only used with prior = \"free\""));
            }
            (PriorName::Normal, None) => {}
        }
        if t.steps == 0 {
            return Err(invalid("train.steps", "must be at least 1"));
        }
        if t.batch < 2 {
            return Err(invalid("train.batch", "must be at least 2"));
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(invalid(
                "train.lr",
                format!("must be a finite number > 0, got {}", t.lr),
            ));
        }
        if t.grad_clip.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            return Err(invalid("train.grad_clip", "must be a finite number > 0"));
        }
        if !(t.step_factor > 0.0 && t.step_factor <= 1.0) || t.step_every == 0 {
            return Err(invalid(
                "train.step_factor",
                "step_factor must be in (0, 1] and step_every ≥ 1",
            ));
        }
        if t.checkpoint.as_os_str().is_empty() {
            return Err(invalid("train.checkpoint", "must not be empty"));
        }
        if t.checkpoint_every == 0 || t.report_every == 0 {
            return Err(invalid(
                "train.checkpoint_every",
                "checkpoint_every and report_every must be ≥ 1",
            ));
        }
        Ok(())
    }

    fn validate_hmc(&self) -> Result<(), ConfigError> {
        let h = self.hmc()?;
        if h.trajectories == 0 {
            return Err(invalid("hmc.trajectories", "must be at least 1"));
        }
        if h.steps == 0 {
            return Err(invalid("hmc.steps", "must be at least 1"));
        }
        if !(h.length.is_finite() && h.length > 0.0) {
            return Err(invalid(
                "hmc.length",
                format!("must be a finite number > 0, got {}", h.length),
            ));
        }
        if h.chains == 0 {
            return Err(invalid("hmc.chains", "must be at least 1"));
        }
        if h.save_every == 0 || h.save_every > h.trajectories {
            return Err(invalid(
                "hmc.save_every",
                format!(
                    "must be between 1 and hmc.trajectories = {}",
                    h.trajectories
                ),
            ));
        }
        if !(0.0..1.0).contains(&h.length_jitter) {
            return Err(invalid(
                "hmc.length_jitter",
                format!("must be in [0, 1), got {}", h.length_jitter),
            ));
        }
        if !(h.target_acceptance > 0.0 && h.target_acceptance < 1.0) {
            return Err(invalid(
                "hmc.target_acceptance",
                format!("must be in (0, 1), got {}", h.target_acceptance),
            ));
        }
        if h.tune_step_size && h.thermalization < 20 {
            return Err(invalid(
                "hmc.thermalization",
                "tune_step_size needs at least 20 thermalisation trajectories",
            ));
        }
        Ok(())
    }
}

/// Sets `section.key = value` in a TOML table; the value is TOML (`8`, `[8, 8]`, `true`,
/// `"x"`) or, if it does not parse as TOML, a bare string.
fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        item: item.to_string(),
        message: message.into(),
    };
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| err("expected section.key=value"))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
        return Err(err("empty key"));
    }
    let value = match toml::from_str::<toml::Table>(&format!("v = {}", raw.trim())) {
        Ok(mut t) => t.remove("v").expect("parsed table has v"),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    let (last, sections) = parts.split_last().expect("non-empty key");
    let mut node = table;
    for s in sections {
        let entry = node
            .entry(s.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| err(&format!("`{s}` is not a section")))?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
seed = 3
[lattice]
shape = [8, 8]
[action]
kind = "phi4"
m2 = -4.0
lambda = 8.0
[hmc]
trajectories = 100
[output]
path = "x.h5"
"#;

    const YUKAWA: &str = r#"
seed = 3
[lattice]
shape = [8, 8]
[action]
kind = "yukawa"
m2 = -4.0
lambda = 8.0
g = 1.0
mass = 0.0
[hmc]
trajectories = 100
[output]
path = "x.h5"
"#;

    #[test]
    fn yukawa_defaults_are_written_out() {
        let c = load(YUKAWA, &[]).unwrap();
        assert_eq!(c.action.fermions, Some(FermionsName::Exact));
        let Model::Yukawa { params, fermions } = c.model().unwrap() else {
            panic!("not yukawa")
        };
        assert_eq!((params.g, params.mass, params.phi4.m2), (1.0, 0.0, -4.0));
        assert_eq!(fermions, Fermions::Exact);
        assert_eq!(load(&c.to_toml(), &[]).unwrap(), c);

        let pf = load(
            YUKAWA,
            &[
                "action.fermions=pseudofermion",
                "action.cg_force_tolerance=1e-7",
            ],
        )
        .unwrap();
        let Model::Yukawa {
            fermions: Fermions::Pseudofermion(cg),
            ..
        } = pf.model().unwrap()
        else {
            panic!("not pseudofermion")
        };
        assert_eq!(cg.force.tolerance, 1e-7);
        assert_eq!(
            cg.action.tolerance,
            PseudofermionCg::default().action.tolerance
        );
        let text = pf.to_toml();
        assert!(text.contains("cg_action_tolerance"), "{text}");
        assert_eq!(load(&text, &[]).unwrap(), pf);
    }

    #[test]
    fn flows_need_the_exact_determinant() {
        let flow = "[flow]\nlayers = 2\n[train]\nsteps = 10\ncheckpoint = \"c.h5\"\n";
        let text = format!("{YUKAWA}{flow}");
        assert!(load(&text, &[]).is_ok());
        let e = load(&text, &["action.fermions=pseudofermion"]).unwrap_err();
        assert!(e.to_string().contains("action.fermions"), "{e}");
    }

    fn load(text: &str, overrides: &[&str]) -> Result<Config, ConfigError> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Config::from_text(text, Path::new("test.toml"), &o)
    }

    #[test]
    fn defaults_and_round_trip() {
        let c = load(GOOD, &[]).unwrap();
        assert_eq!(c.hmc().unwrap().steps, 10);
        assert_eq!(c.hmc().unwrap().start, StartName::Cold);
        let again = load(&c.to_toml(), &[]).unwrap();
        assert_eq!(c, again);
        let k = c.couplings().unwrap();
        assert!((k.hopping.to_aks(2).m2 + 4.0).abs() < 1e-12);
    }

    #[test]
    fn overrides_set_any_key() {
        let c = load(
            GOOD,
            &[
                "hmc.steps=20",
                "lattice.shape=[4, 6]",
                "output.path=out/y.h5",
            ],
        )
        .unwrap();
        assert_eq!(c.hmc().unwrap().steps, 20);
        assert_eq!(c.lattice.shape, vec![4, 6]);
        assert_eq!(c.output.path, PathBuf::from("out/y.h5"));
        let e = load(GOOD, &["hmc.steps"]).unwrap_err();
        assert!(e.to_string().contains("hmc.steps"), "{e}");
    }

    #[test]
    fn hopping_form_is_accepted() {
        let text = GOOD.replace(
            "m2 = -4.0\nlambda = 8.0",
            "kappa = 0.2\nlambda_tilde = 0.02",
        );
        let c = load(&text, &[]).unwrap();
        let k = c.couplings().unwrap();
        assert!((k.aks.lambda - 0.5).abs() < 1e-12);
    }

    /// Every bad input names its key.
    #[test]
    fn bad_inputs_name_their_key() {
        let cases: &[(&str, &[&str], &str)] = &[
            (GOOD, &["hmc.stepz=3"], "stepz"),
            (GOOD, &["lattice.shape=[8, 1]"], "lattice.shape"),
            (GOOD, &["action.lambda=-1.0"], "action.lambda"),
            (GOOD, &["action.lambda=0.0"], "action.m2"),
            (GOOD, &["hmc.steps=0"], "hmc.steps"),
            (GOOD, &["hmc.steps=\"ten\""], "steps"),
            (GOOD, &["hmc.chains=0"], "hmc.chains"),
            (GOOD, &["action.kappa=0.1"], "action"),
            (GOOD, &["hmc.length=-1"], "hmc.length"),
            (&GOOD.replace("seed = 3\n", ""), &[], "seed"),
            (
                &GOOD.replace("trajectories = 100\n", ""),
                &[],
                "trajectories",
            ),
            (
                &GOOD.replace("kind = \"phi4\"", "kind = \"yukawa\""),
                &[],
                "action.g",
            ),
            (GOOD, &["action.kind=\"fermion\""], "fermion"),
            (GOOD, &["action.g=1.0"], "action.g"),
            (GOOD, &["action.fermions=\"exact\""], "action.fermions"),
            (YUKAWA, &["action.mass=\"none\""], "mass"),
            (YUKAWA, &["action.g=nan"], "action.g"),
            (YUKAWA, &["lattice.shape=[7, 8]"], "lattice.shape"),
            (YUKAWA, &["lattice.shape=[4, 4, 4]"], "lattice.shape"),
            (YUKAWA, &["action.fermions=\"wilson\""], "wilson"),
            (
                YUKAWA,
                &["action.cg_force_tolerance=1e-6"],
                "action.cg_force_tolerance",
            ),
            (
                YUKAWA,
                &[
                    "action.fermions=\"pseudofermion\"",
                    "action.cg_action_tolerance=0.0",
                ],
                "action.cg_action_tolerance",
            ),
            (
                YUKAWA,
                &[
                    "action.fermions=\"pseudofermion\"",
                    "action.cg_max_iterations=0",
                ],
                "action.cg_max_iterations",
            ),
        ];
        for (text, overrides, needle) in cases {
            let e = load(text, overrides).unwrap_err().to_string();
            assert!(e.contains(needle), "{overrides:?}: `{e}` lacks `{needle}`");
        }
    }
}
