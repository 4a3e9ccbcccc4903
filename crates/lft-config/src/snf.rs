//! `[snf]`: the protocol of NE-MCMC trajectories (`sample.method = "nemcmc"`), resolved into
//! an [`SnfPlan`]: where trajectories start, the K stages of the path β_k = k/K, and the Monte
//! Carlo move at each.

use crate::ConfigError;
use crate::error::{at_least_one, positive};
use crate::hmc::IntegratorName;
use lft_sample::HmcParams;
use lft_sample::anneal::Stages;
use serde::{Deserialize, Serialize};

/// Where NE-MCMC trajectories start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnfStart {
    /// Exact draws of the trained flow of `[flow]` (its checkpoint, or `flow.init_from`); the
    /// stages move its latent variables along the action pulled back through it.
    #[default]
    Flow,
    /// Exact draws of the `[flow]`'s prior r alone (no training needed): AIS trajectories.
    Prior,
}

/// The Monte Carlo move of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    /// HMC trajectories of `leapfrog_steps` steps.
    #[default]
    Hmc,
    /// Metropolis-adjusted Langevin: an HMC trajectory of one leapfrog step.
    Mala,
}

/// The `[snf]` section as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnfConfig {
    #[serde(default)]
    pub start: SnfStart,
    /// K: the actions π_k ∝ r^{1−β_k} e^{−β_k S}, β_k = k/K (with a flow start, S pulled back
    /// through the flow).
    pub stages: usize,
    /// Monte Carlo updates at each stage (0: none; with stages = 1 the work is then the flow's
    /// −log w).
    #[serde(default = "default_steps_per_stage")]
    pub steps_per_stage: usize,
    #[serde(default)]
    pub stage_kind: StageKind,
    /// hmc: leapfrog steps per trajectory (mala takes 1).
    #[serde(default = "default_leapfrog_steps")]
    pub leapfrog_steps: usize,
    /// The step size of every move.
    #[serde(default = "default_step_size")]
    pub step_size: f64,
    #[serde(default = "default_integrator")]
    pub integrator: IntegratorName,
}

/// A validated `[snf]` section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnfPlan {
    pub start: SnfStart,
    pub stages: Stages,
}

impl TryFrom<&SnfConfig> for SnfPlan {
    type Error = ConfigError;

    fn try_from(s: &SnfConfig) -> Result<Self, ConfigError> {
        at_least_one("snf.stages", s.stages)?;
        at_least_one("snf.leapfrog_steps", s.leapfrog_steps)?;
        positive("snf.step_size", s.step_size)?;
        let (n_steps, integrator) = match s.stage_kind {
            StageKind::Hmc => (s.leapfrog_steps, s.integrator),
            StageKind::Mala => (1, IntegratorName::Leapfrog),
        };
        Ok(SnfPlan {
            start: s.start,
            stages: Stages {
                stages: s.stages,
                steps: s.steps_per_stage,
                move_params: HmcParams {
                    step_size: s.step_size,
                    n_steps,
                    integrator: integrator.into(),
                    length_jitter: 0.0,
                },
            },
        })
    }
}

fn default_steps_per_stage() -> usize {
    1
}

fn default_leapfrog_steps() -> usize {
    4
}

fn default_step_size() -> f64 {
    0.1
}

fn default_integrator() -> IntegratorName {
    IntegratorName::Leapfrog
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> SnfConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_and_mala() {
        let plan = SnfPlan::try_from(&section("stages = 8")).unwrap();
        assert_eq!(plan.start, SnfStart::Flow);
        assert_eq!(plan.stages.stages, 8);
        assert_eq!(plan.stages.steps, 1);
        assert_eq!(plan.stages.move_params.n_steps, 4);
        let mala = SnfPlan::try_from(&section(
            "stages = 8\nstage_kind = \"mala\"\nleapfrog_steps = 9\nstart = \"prior\"",
        ))
        .unwrap();
        assert_eq!(mala.stages.move_params.n_steps, 1);
        assert_eq!(mala.start, SnfStart::Prior);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("stages = 0", "snf.stages"),
            ("stages = 2\nstep_size = -1.0", "snf.step_size"),
            ("stages = 2\nleapfrog_steps = 0", "snf.leapfrog_steps"),
        ] {
            let err = SnfPlan::try_from(&section(text)).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        assert!(toml::from_str::<SnfConfig>("stages = 2\nstart = \"moon\"").is_err());
    }
}
