//! `[anneal]`: annealing from a normalised prior to e^{−S} (SMC, AIS, CRAFT, PIMH), resolved
//! into an [`AnnealPlan`] of lft-sample types.

use crate::ConfigError;
use crate::error::{at_least_one, invalid, positive};
use crate::flow::{
    ActivationName, DEFAULT_CNF_FREQUENCIES, DEFAULT_CNF_TIME_MODES, PriorName, resolve_prior,
};
use crate::hmc::IntegratorName;
use lft_flow::{ContinuousSpec, FlowSpec, PriorSpec};

/// RK4 steps of a continuous CRAFT transport. Each moves between neighbouring temperatures, a
/// gentle map, but its log|det| is the solver's ∫∇·v dt, whose error goes into log Z: with 4
/// steps the free field's log Z came out 2.5 standard errors high, with 8 and 16 within one
/// (crates/lft-sample/tests/craft.rs).
pub const DEFAULT_TRANSPORT_STEPS: usize = 8;
use lft_sample::HmcParams;
use lft_sample::anneal::{Resampling, Schedule, SmcSettings};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnealMethod {
    /// Sequential Monte Carlo: resampling when the ESS falls below the threshold.
    Smc,
    /// Annealed importance sampling: SMC without resampling.
    Ais,
    /// SMC with a trained flow per transition.
    Craft,
    /// Particle independent Metropolis–Hastings over whole SMC (or CRAFT) passes.
    Pimh,
}

impl AnnealMethod {
    pub fn name(self) -> &'static str {
        match self {
            AnnealMethod::Smc => "smc",
            AnnealMethod::Ais => "ais",
            AnnealMethod::Craft => "craft",
            AnnealMethod::Pimh => "pimh",
        }
    }
}

/// The kind of CRAFT's transition flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    #[default]
    Affine,
    Continuous,
}

impl TransportKind {
    fn is_affine(&self) -> bool {
        *self == TransportKind::Affine
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// `temperatures` equal steps in β.
    Linear,
    /// The β of `betas`.
    List,
    /// Each step keeps the conditional ESS at `target_ess`.
    Adaptive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResamplingName {
    Systematic,
    Stratified,
    Multinomial,
    /// Systematic in the order of the particles' magnetisation.
    Ordered,
}

impl From<ResamplingName> for Resampling {
    fn from(name: ResamplingName) -> Self {
        match name {
            ResamplingName::Systematic => Resampling::Systematic,
            ResamplingName::Stratified => Resampling::Stratified,
            ResamplingName::Multinomial => Resampling::Multinomial,
            ResamplingName::Ordered => Resampling::Ordered,
        }
    }
}

/// What PIMH takes its passes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PimhPasses {
    Smc,
    Craft,
}

/// The `[anneal]` section as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnealConfig {
    pub method: AnnealMethod,
    /// Particles N of a pass.
    #[serde(default = "default_particles")]
    pub particles: usize,
    #[serde(default = "default_schedule")]
    pub schedule: ScheduleKind,
    /// linear: the number of transitions K (β_k = k/K).
    #[serde(default = "default_temperatures")]
    pub temperatures: usize,
    /// list: β_1 < … < β_K = 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub betas: Option<Vec<f64>>,
    /// adaptive: the conditional ESS fraction kept at each step.
    #[serde(default = "default_target_ess")]
    pub target_ess: f64,
    /// Resample when ESS/N falls below this (smc, craft, pimh; ais never resamples).
    #[serde(default = "default_ess_threshold")]
    pub ess_threshold: f64,
    #[serde(default = "default_resampling")]
    pub resampling: ResamplingName,
    /// HMC trajectories per particle at every temperature.
    #[serde(default = "default_trajectories")]
    pub trajectories: usize,
    /// Mean leapfrog (or Omelyan) steps per trajectory.
    #[serde(default = "default_leapfrog_steps")]
    pub leapfrog_steps: usize,
    /// The HMC step size, unless `step_betas` and `step_sizes` are given.
    #[serde(default = "default_step_size")]
    pub step_size: f64,
    /// Knots (β, ε): the step size at β is interpolated linearly between them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_betas: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_sizes: Option<Vec<f64>>,
    /// Adapt the step size towards this HMC acceptance, temperature after temperature
    /// (a factor e^{acceptance − target} on the step size per temperature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_acceptance: Option<f64>,
    #[serde(default = "default_integrator")]
    pub integrator: IntegratorName,
    /// Each trajectory takes round(steps·u) steps, u uniform in [1 − j, 1 + j].
    #[serde(default)]
    pub length_jitter: f64,
    /// The normalised prior r: "normal", "free" (of mass² `prior_m2`) or "z2_mixture"
    /// (½ N(+a, 1) + ½ N(−a, 1) per configuration, a = `prior_shift`) for scalar fields;
    /// "uniform" (the Haar measure) for gauge fields. Default: "normal", or "uniform" for
    /// `kind = "u1"` (written out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<PriorName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_m2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_shift: Option<f64>,
    /// Independent passes (smc, ais, craft evaluation), each stored as one chain.
    #[serde(default = "default_repeats")]
    pub repeats: usize,
    /// craft: training iterations (each a whole pass and one Adam step per flow).
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// craft: affine coupling layers per transition flow.
    #[serde(default = "default_flow_layers")]
    pub flow_layers: usize,
    #[serde(default = "default_flow_hidden")]
    pub flow_hidden: Vec<usize>,
    #[serde(default = "default_flow_kernel")]
    pub flow_kernel: usize,
    #[serde(default = "default_flow_activation")]
    pub flow_activation: ActivationName,
    /// craft: the transition flows, "affine" couplings (`flow_layers`, `flow_hidden`,
    /// `flow_kernel`, `flow_activation`) or "continuous" flows (`flow_kernel`, 0 for the
    /// whole lattice, `flow_frequencies`, `flow_time_modes`, `flow_steps`).
    #[serde(default, skip_serializing_if = "TransportKind::is_affine")]
    pub flow_kind: TransportKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_frequencies: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_time_modes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_steps: Option<usize>,
    /// craft: the trained flows (default: the output path with `.craft.h5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<PathBuf>,
    /// craft: iterations between checkpoints.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// pimh: steps per chain (each a fresh pass).
    #[serde(default = "default_pimh_steps")]
    pub pimh_steps: usize,
    #[serde(default = "default_pimh_chains")]
    pub pimh_chains: usize,
    /// pimh: passes of "smc" or of trained "craft" flows.
    #[serde(default = "default_pimh_passes")]
    pub pimh_passes: PimhPasses,
}

/// CRAFT training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CraftPlan {
    pub iterations: usize,
    pub learning_rate: f64,
    /// The architecture of every transition flow (its prior is unused).
    pub transport: FlowSpec,
    pub checkpoint: PathBuf,
    pub checkpoint_every: usize,
}

/// PIMH settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PimhPlan {
    pub steps: usize,
    pub chains: usize,
    pub passes: PimhPasses,
}

/// A validated `[anneal]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnealPlan {
    pub method: AnnealMethod,
    /// One pass (for AIS without resampling).
    pub settings: SmcSettings,
    pub prior: PriorSpec,
    pub repeats: usize,
    /// For craft, and for pimh over craft passes.
    pub craft: Option<CraftPlan>,
    pub pimh: Option<PimhPlan>,
}

impl AnnealPlan {
    /// Whether the method needs trained CRAFT flows.
    pub fn needs_craft(&self) -> bool {
        self.craft.is_some()
    }
}

impl AnnealConfig {
    /// The plan; `output` is the ensemble path (for the default checkpoint) and `shape` the
    /// lattice.
    /// The plan on a lattice of extents `shape`, for a gauge field if `gauge` (whose CRAFT
    /// transports are gauge-equivariant).
    pub(crate) fn resolve(
        &self,
        output: &std::path::Path,
        shape: &[usize],
        gauge: bool,
    ) -> Result<AnnealPlan, ConfigError> {
        if self.particles < 2 {
            return Err(invalid("anneal.particles", "must be at least 2"));
        }
        let schedule = match self.schedule {
            ScheduleKind::Linear => {
                at_least_one("anneal.temperatures", self.temperatures)?;
                if self.betas.is_some() {
                    return Err(invalid(
                        "anneal.betas",
                        "only used with schedule = \"list\"",
                    ));
                }
                Schedule::Linear {
                    steps: self.temperatures,
                }
            }
            ScheduleKind::List => Schedule::List(self.betas.clone().ok_or_else(|| {
                invalid(
                    "anneal.betas",
                    "schedule = \"list\" needs betas = [..., 1.0]",
                )
            })?),
            ScheduleKind::Adaptive => {
                if self.betas.is_some() {
                    return Err(invalid(
                        "anneal.betas",
                        "only used with schedule = \"list\"",
                    ));
                }
                Schedule::Adaptive {
                    target: self.target_ess,
                }
            }
        };
        schedule.validate().map_err(|e| {
            let key = match self.schedule {
                ScheduleKind::Linear => "anneal.temperatures",
                ScheduleKind::List => "anneal.betas",
                ScheduleKind::Adaptive => "anneal.target_ess",
            };
            invalid(key, e.to_string())
        })?;
        if !(0.0..=1.0).contains(&self.ess_threshold) {
            return Err(invalid(
                "anneal.ess_threshold",
                format!("must be in [0, 1], got {}", self.ess_threshold),
            ));
        }
        at_least_one("anneal.leapfrog_steps", self.leapfrog_steps)?;
        positive("anneal.step_size", self.step_size)?;
        if !(0.0..1.0).contains(&self.length_jitter) {
            return Err(invalid(
                "anneal.length_jitter",
                format!("must be in [0, 1), got {}", self.length_jitter),
            ));
        }
        let step_knots = self.step_knots()?;
        if let Some(t) = self.target_acceptance
            && !(t > 0.0 && t < 1.0)
        {
            return Err(invalid(
                "anneal.target_acceptance",
                format!("must be in (0, 1), got {t}"),
            ));
        }
        let name = self.prior.unwrap_or(PriorName::Normal);
        let prior = resolve_prior("anneal", name, self.prior_m2, self.prior_shift)?;
        at_least_one("anneal.repeats", self.repeats)?;
        let settings = SmcSettings {
            particles: self.particles,
            schedule,
            resampling: (self.method != AnnealMethod::Ais).then(|| self.resampling.into()),
            ess_threshold: self.ess_threshold,
            hmc: HmcParams {
                step_size: self.step_size,
                n_steps: self.leapfrog_steps,
                integrator: self.integrator.into(),
                length_jitter: self.length_jitter,
            },
            trajectories: self.trajectories,
            step_knots,
            target_acceptance: self.target_acceptance,
        };
        let uses_craft = self.method == AnnealMethod::Craft
            || (self.method == AnnealMethod::Pimh && self.pimh_passes == PimhPasses::Craft);
        let craft = if uses_craft {
            if self.schedule == ScheduleKind::Adaptive {
                return Err(invalid(
                    "anneal.schedule",
                    "CRAFT trains one flow per transition: use \"linear\" or \"list\"",
                ));
            }
            Some(self.craft_plan(output, shape, gauge)?)
        } else {
            None
        };
        let pimh = if self.method == AnnealMethod::Pimh {
            at_least_one("anneal.pimh_steps", self.pimh_steps)?;
            at_least_one("anneal.pimh_chains", self.pimh_chains)?;
            Some(PimhPlan {
                steps: self.pimh_steps,
                chains: self.pimh_chains,
                passes: self.pimh_passes,
            })
        } else {
            None
        };
        Ok(AnnealPlan {
            method: self.method,
            settings,
            prior,
            repeats: self.repeats,
            craft,
            pimh,
        })
    }

    fn step_knots(&self) -> Result<Vec<(f64, f64)>, ConfigError> {
        let (betas, sizes) = match (&self.step_betas, &self.step_sizes) {
            (None, None) => return Ok(Vec::new()),
            (Some(b), Some(s)) if b.len() == s.len() && !b.is_empty() => (b, s),
            _ => {
                return Err(invalid(
                    "anneal.step_sizes",
                    "step_betas and step_sizes go together, with as many entries each",
                ));
            }
        };
        let mut previous = f64::NEG_INFINITY;
        for &b in betas {
            if !(b > previous && (0.0..=1.0).contains(&b)) {
                return Err(invalid(
                    "anneal.step_betas",
                    "must increase strictly within [0, 1]",
                ));
            }
            previous = b;
        }
        for &s in sizes {
            positive("anneal.step_sizes", s)?;
        }
        Ok(betas.iter().copied().zip(sizes.iter().copied()).collect())
    }

    fn craft_plan(
        &self,
        output: &std::path::Path,
        shape: &[usize],
        gauge: bool,
    ) -> Result<CraftPlan, ConfigError> {
        at_least_one("anneal.iterations", self.iterations)?;
        positive("anneal.learning_rate", self.learning_rate)?;
        at_least_one("anneal.flow_layers", self.flow_layers)?;
        at_least_one("anneal.checkpoint_every", self.checkpoint_every)?;
        let min_extent = shape.iter().copied().min().unwrap_or(0);
        let continuous = self.flow_kind == TransportKind::Continuous;
        if !continuous {
            for (key, set) in [
                ("anneal.flow_frequencies", self.flow_frequencies.is_some()),
                ("anneal.flow_time_modes", self.flow_time_modes.is_some()),
                ("anneal.flow_steps", self.flow_steps.is_some()),
            ] {
                if set {
                    return Err(invalid(
                        key,
                        "only for continuous transports (anneal.flow_kind = \"continuous\")",
                    ));
                }
            }
        }
        let whole = continuous && self.flow_kernel == 0;
        if !whole && (self.flow_kernel.is_multiple_of(2) || self.flow_kernel > min_extent) {
            let zero = if continuous {
                ", or 0 for the whole lattice"
            } else {
                ""
            };
            return Err(invalid(
                "anneal.flow_kernel",
                format!(
                    "must be odd and at most the smallest lattice extent ({min_extent}){zero}, \
                     got {}",
                    self.flow_kernel
                ),
            ));
        }
        if continuous && gauge {
            return Err(invalid(
                "anneal.flow_kind",
                "continuous transports map scalar fields; a gauge field's CRAFT takes the \
                 default gauge-equivariant couplings",
            ));
        }
        let checkpoint = self
            .checkpoint
            .clone()
            .unwrap_or_else(|| output.with_extension("craft.h5"));
        if checkpoint == output {
            return Err(invalid("anneal.checkpoint", "must differ from output.path"));
        }
        let (layers, hidden) = (self.flow_layers, self.flow_hidden.clone());
        let (kernel, activation) = (self.flow_kernel, self.flow_activation.into());
        let transport = if continuous {
            let steps = self.flow_steps.unwrap_or(DEFAULT_TRANSPORT_STEPS);
            at_least_one("anneal.flow_steps", steps)?;
            let radius = ContinuousSpec::radius_of_kernel(self.flow_kernel, shape)
                .expect("flow_kernel checked above");
            FlowSpec::continuous_transport(
                self.flow_kernel,
                ContinuousSpec {
                    radius,
                    frequencies: self.flow_frequencies.unwrap_or(DEFAULT_CNF_FREQUENCIES),
                    time_modes: self.flow_time_modes.unwrap_or(DEFAULT_CNF_TIME_MODES),
                    steps,
                },
            )
        } else if gauge {
            let lattice = lft_lattice::Lattice::new(shape)
                .map_err(|e| invalid("lattice.shape", e.to_string()))?;
            lft_flow::gauge_mask::check_lattice(&lattice)
                .map_err(|e| invalid("lattice.shape", format!("CRAFT's transports: {e}")))?;
            FlowSpec::gauge_transport(layers, hidden, kernel, activation)
        } else {
            FlowSpec::affine_transport(layers, hidden, kernel, activation)
        };
        Ok(CraftPlan {
            iterations: self.iterations,
            learning_rate: self.learning_rate,
            transport,
            checkpoint,
            checkpoint_every: self.checkpoint_every,
        })
    }
}

fn default_particles() -> usize {
    1000
}
fn default_schedule() -> ScheduleKind {
    ScheduleKind::Linear
}
fn default_temperatures() -> usize {
    10
}
fn default_target_ess() -> f64 {
    0.9
}
fn default_ess_threshold() -> f64 {
    0.3
}
fn default_resampling() -> ResamplingName {
    ResamplingName::Systematic
}
fn default_trajectories() -> usize {
    10
}
fn default_leapfrog_steps() -> usize {
    10
}
fn default_step_size() -> f64 {
    0.1
}
fn default_integrator() -> IntegratorName {
    IntegratorName::Leapfrog
}
fn default_repeats() -> usize {
    1
}
fn default_iterations() -> usize {
    1000
}
fn default_learning_rate() -> f64 {
    1e-3
}
fn default_flow_layers() -> usize {
    2
}
fn default_flow_hidden() -> Vec<usize> {
    vec![10]
}
fn default_flow_kernel() -> usize {
    3
}
fn default_flow_activation() -> ActivationName {
    ActivationName::LeakyRelu
}
fn default_checkpoint_every() -> usize {
    50
}
fn default_pimh_steps() -> usize {
    1000
}
fn default_pimh_chains() -> usize {
    1
}
fn default_pimh_passes() -> PimhPasses {
    PimhPasses::Smc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Reuse};
    use lft_flow::CouplingSpec;
    use std::path::Path;

    const ANNEAL: &str = r#"
seed = 1
[lattice]
shape = [8, 8]
[action]
kind = "phi4"
m2 = -4.0
lambda = 8.0
[anneal]
method = "smc"
[output]
path = "runs/a.h5"
"#;

    fn config(overrides: &[&str]) -> Result<Config, crate::ConfigError> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Config::from_text(ANNEAL, Path::new("test.toml"), &o)
    }

    #[test]
    fn defaults_resolve_into_a_plan() {
        let c = config(&[]).unwrap();
        let plan = c.anneal().unwrap();
        assert_eq!(plan.method, AnnealMethod::Smc);
        assert_eq!(plan.settings.particles, 1000);
        assert_eq!(plan.settings.schedule, Schedule::Linear { steps: 10 });
        assert_eq!(plan.settings.resampling, Some(Resampling::Systematic));
        assert_eq!(plan.settings.ess_threshold, 0.3);
        assert!(plan.craft.is_none() && plan.pimh.is_none());
        // The defaults are written out, so the stored text names every setting.
        assert!(c.to_toml().contains("trajectories = 10"));
        let ais = config(&["anneal.method=\"ais\""]).unwrap();
        assert_eq!(ais.anneal().unwrap().settings.resampling, None);
        let ordered = config(&["anneal.resampling=\"ordered\""]).unwrap();
        let resampling = ordered.anneal().unwrap().settings.resampling;
        assert_eq!(resampling, Some(Resampling::Ordered));
        let craft = config(&["anneal.method=\"craft\""]).unwrap();
        let cp = craft.anneal().unwrap().craft.clone().unwrap();
        assert_eq!(cp.checkpoint, Path::new("runs/a.craft.h5"));
        assert_eq!((cp.iterations, cp.transport.layers), (1000, 2));
        let pimh = config(&["anneal.method=\"pimh\"", "anneal.pimh_passes=\"craft\""]).unwrap();
        let plan = pimh.anneal().unwrap();
        assert!(plan.craft.is_some());
        assert_eq!(plan.pimh.unwrap().passes, PimhPasses::Craft);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (set, key) in [
            ("anneal.particles=1", "anneal.particles"),
            ("anneal.schedule=\"list\"", "anneal.betas"),
            ("anneal.target_acceptance=1.5", "anneal.target_acceptance"),
            ("anneal.step_betas=[0.0, 1.0]", "anneal.step_sizes"),
            ("anneal.prior_m2=1.0", "anneal.prior_m2"),
            ("anneal.prior_shift=0.3", "anneal.prior_shift"),
            ("anneal.prior=\"z2_mixture\"", "anneal.prior_shift"),
            ("anneal.repeats=0", "anneal.repeats"),
        ] {
            let e = config(&[set]).unwrap_err().to_string();
            assert!(e.contains(key), "{set}: {e}");
        }
        let bad_shift = config(&["anneal.prior=\"z2_mixture\"", "anneal.prior_shift=-0.3"]);
        assert!(
            bad_shift
                .unwrap_err()
                .to_string()
                .contains("anneal.prior_shift")
        );
        let mixture = config(&["anneal.prior=\"z2_mixture\"", "anneal.prior_shift=0.34"]).unwrap();
        assert_eq!(
            mixture.anneal().unwrap().prior,
            PriorSpec::Z2Mixture { shift: 0.34 }
        );
        let list = config(&["anneal.schedule=\"list\"", "anneal.betas=[0.5, 0.9]"]);
        assert!(list.unwrap_err().to_string().contains("anneal.betas"));
        let both = Config::from_text(
            &format!("{ANNEAL}[hmc]\ntrajectories = 10\n"),
            Path::new("t.toml"),
            &[],
        );
        assert!(
            both.unwrap_err()
                .to_string()
                .contains("remove the [hmc] section")
        );
    }

    #[test]
    fn craft_flows_may_train_further_but_not_change() {
        let stored = config(&["anneal.method=\"craft\""]).unwrap();
        let more = config(&["anneal.method=\"craft\"", "anneal.iterations=2000"]).unwrap();
        assert_eq!(more.check_reuse(&stored, Reuse::Craft), Ok(()));
        let pimh = config(&["anneal.method=\"pimh\"", "anneal.pimh_passes=\"craft\""]).unwrap();
        assert_eq!(pimh.check_reuse(&stored, Reuse::Craft), Ok(()));
        let other = config(&["anneal.method=\"craft\"", "anneal.particles=500"]).unwrap();
        assert_eq!(
            other.check_reuse(&stored, Reuse::Craft).unwrap_err().key,
            "anneal.particles"
        );
        // An ensemble of those flows is another ensemble once they train further.
        assert_eq!(
            more.check_reuse(&stored, Reuse::Ensemble).unwrap_err().key,
            "anneal.iterations"
        );
    }

    /// `flow_kind = "continuous"` gives continuous transports (default 8 frequencies, 4 time
    /// modes, 8 RK4 steps; kernel 0 = the whole lattice); their keys are refused for affine
    /// transports, as are even kernels and gauge fields.
    #[test]
    fn craft_takes_continuous_transports() {
        let craft = |extra: &[&str]| {
            let mut o = vec!["anneal.method=\"craft\""];
            o.extend_from_slice(extra);
            config(&o).and_then(|c| c.anneal().cloned())
        };
        let plan = craft(&["anneal.flow_kind=\"continuous\"", "anneal.flow_kernel=0"]).unwrap();
        let spec = plan.craft.unwrap().transport;
        let CouplingSpec::Continuous(cnf) = spec.coupling else {
            panic!("{spec:?}")
        };
        assert_eq!((cnf.radius, cnf.frequencies, cnf.time_modes), (8, 8, 4));
        assert_eq!(cnf.steps, DEFAULT_TRANSPORT_STEPS);
        let plan = craft(&["anneal.flow_kind=\"continuous\"", "anneal.flow_steps=12"]).unwrap();
        let spec = plan.craft.unwrap().transport;
        assert!(
            matches!(spec.coupling, CouplingSpec::Continuous(c) if c.steps == 12 && c.radius == 1)
        );
        let key = |extra: &[&str]| match craft(extra).unwrap_err() {
            crate::ConfigError::Invalid { key, .. } => key,
            e => panic!("{e}"),
        };
        assert_eq!(key(&["anneal.flow_steps=12"]), "anneal.flow_steps");
        assert_eq!(key(&["anneal.flow_kernel=0"]), "anneal.flow_kernel");
        assert_eq!(
            key(&["anneal.flow_kind=\"continuous\"", "anneal.flow_kernel=4"]),
            "anneal.flow_kernel"
        );
        assert_eq!(
            key(&["anneal.flow_kind=\"continuous\"", "anneal.flow_steps=0"]),
            "anneal.flow_steps"
        );
        // The affine default writes no new keys (stored CRAFT checkpoints still match).
        assert!(
            !config(&["anneal.method=\"craft\""])
                .unwrap()
                .to_toml()
                .contains("flow_kind")
        );
    }
}
