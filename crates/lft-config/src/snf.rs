//! `[snf]`: the protocol of NE-MCMC trajectories (`sample.method = "nemcmc"`), resolved into
//! an [`SnfPlan`]: where trajectories start, the K stages of the path β_k = k/K, and the Monte
//! Carlo move at each.

use crate::ConfigError;
use crate::error::{at_least_one, invalid, positive};
use crate::flow::ActivationName;
use crate::hmc::IntegratorName;
use lft_flow::FlowSpec;
use lft_sample::HmcParams;
use lft_sample::anneal::{MoveKind, Stages};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    /// Unadjusted Langevin, x′ = x − ε∇U + √(2ε) ξ, its kernel ratio in the work (exact,
    /// and differentiable for the training of blocks).
    Langevin,
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
    /// The step size of every move (for Langevin, ε of x′ = x − ε∇U + √(2ε) ξ).
    #[serde(default = "default_step_size")]
    pub step_size: f64,
    #[serde(default = "default_integrator")]
    pub integrator: IntegratorName,
    /// Affine coupling layers of the flow block before each stage's moves (0: no blocks);
    /// blocks are trained end to end by E[W] (a stochastic normalizing flow).
    #[serde(default)]
    pub block_layers: usize,
    #[serde(default = "default_block_hidden")]
    pub block_hidden: Vec<usize>,
    #[serde(default = "default_block_kernel")]
    pub block_kernel: usize,
    #[serde(default = "default_block_activation")]
    pub block_activation: ActivationName,
    /// Blocks: Adam steps of training, each on `train_batch` trajectories.
    #[serde(default = "default_train_steps")]
    pub train_steps: usize,
    #[serde(default = "default_train_batch")]
    pub train_batch: usize,
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Blocks: the trained blocks (default: the output path with `.snf.h5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<PathBuf>,
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
}

/// How the blocks of a stochastic normalizing flow are built and trained.
#[derive(Debug, Clone, PartialEq)]
pub struct SnfBlocks {
    /// The architecture of every block (an annealing transport, the identity until trained).
    pub transport: FlowSpec,
    pub train_steps: usize,
    pub train_batch: usize,
    pub learning_rate: f64,
    pub checkpoint: PathBuf,
    pub checkpoint_every: usize,
}

/// A validated `[snf]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct SnfPlan {
    pub start: SnfStart,
    pub stages: Stages,
    /// `None` without blocks (`block_layers = 0`).
    pub blocks: Option<SnfBlocks>,
}

impl SnfConfig {
    /// The plan, with the default checkpoint beside `output`.
    pub fn resolve(&self, output: &Path) -> Result<SnfPlan, ConfigError> {
        let s = self;
        at_least_one("snf.stages", s.stages)?;
        at_least_one("snf.leapfrog_steps", s.leapfrog_steps)?;
        positive("snf.step_size", s.step_size)?;
        let (n_steps, integrator, kind) = match s.stage_kind {
            StageKind::Hmc => (s.leapfrog_steps, s.integrator, MoveKind::Hmc),
            StageKind::Mala => (1, IntegratorName::Leapfrog, MoveKind::Hmc),
            StageKind::Langevin => (1, IntegratorName::Leapfrog, MoveKind::Langevin),
        };
        if s.stage_kind == StageKind::Langevin && s.start == SnfStart::Flow {
            return Err(invalid(
                "snf.stage_kind",
                "Langevin stages run from the prior (snf.start = \"prior\"); a flow start \
                 moves by HMC or MALA",
            ));
        }
        let blocks = match s.block_layers {
            0 => None,
            layers => Some(s.blocks(layers, output)?),
        };
        Ok(SnfPlan {
            start: s.start,
            blocks,
            stages: Stages {
                stages: s.stages,
                steps: s.steps_per_stage,
                move_params: HmcParams {
                    step_size: s.step_size,
                    n_steps,
                    integrator: integrator.into(),
                    length_jitter: 0.0,
                },
                kind,
            },
        })
    }
}

impl SnfConfig {
    fn blocks(&self, layers: usize, output: &Path) -> Result<SnfBlocks, ConfigError> {
        if self.start == SnfStart::Flow {
            return Err(invalid(
                "snf.block_layers",
                "the blocks of a stochastic normalizing flow start from the prior: set snf.start = \
                 \"prior\"",
            ));
        }
        if self.block_hidden.contains(&0) {
            return Err(invalid(
                "snf.block_hidden",
                "every hidden layer needs at least one channel",
            ));
        }
        if self.block_kernel.is_multiple_of(2) {
            return Err(invalid("snf.block_kernel", "must be odd"));
        }
        if self.block_activation == ActivationName::None {
            return Err(invalid(
                "snf.block_activation",
                "hidden layers need \"leaky_relu\" or \"tanh\"",
            ));
        }
        at_least_one("snf.train_batch", self.train_batch)?;
        at_least_one("snf.checkpoint_every", self.checkpoint_every)?;
        positive("snf.learning_rate", self.learning_rate)?;
        let checkpoint = self
            .checkpoint
            .clone()
            .unwrap_or_else(|| output.with_extension("snf.h5"));
        if checkpoint == output {
            return Err(invalid("snf.checkpoint", "must differ from output.path"));
        }
        Ok(SnfBlocks {
            transport: FlowSpec::affine_transport(
                layers,
                self.block_hidden.clone(),
                self.block_kernel,
                self.block_activation.into(),
            ),
            train_steps: self.train_steps,
            train_batch: self.train_batch,
            learning_rate: self.learning_rate,
            checkpoint,
            checkpoint_every: self.checkpoint_every,
        })
    }
}

fn default_block_hidden() -> Vec<usize> {
    vec![8, 8]
}

fn default_block_kernel() -> usize {
    3
}

fn default_block_activation() -> ActivationName {
    ActivationName::Tanh
}

fn default_train_steps() -> usize {
    1000
}

fn default_train_batch() -> usize {
    32
}

fn default_learning_rate() -> f64 {
    1e-3
}

fn default_checkpoint_every() -> usize {
    100
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

    fn resolve(s: &SnfConfig) -> Result<SnfPlan, ConfigError> {
        s.resolve(Path::new("runs/a.h5"))
    }

    #[test]
    fn blocks_need_a_prior_start_and_default_their_checkpoint() {
        let plan = resolve(&section("stages = 4\nstart = \"prior\"\nblock_layers = 2")).unwrap();
        let blocks = plan.blocks.unwrap();
        assert_eq!(blocks.checkpoint, Path::new("runs/a.snf.h5"));
        assert_eq!(blocks.transport.layers, 2);
        assert!(resolve(&section("stages = 4")).unwrap().blocks.is_none());
        let err = resolve(&section("stages = 4\nblock_layers = 2")).unwrap_err();
        assert!(err.to_string().contains("snf.block_layers"), "{err}");
        let err = resolve(&section(
            "stages = 4\nstart = \"prior\"\nblock_layers = 2\nlearning_rate = 0.0",
        ))
        .unwrap_err();
        assert!(err.to_string().contains("snf.learning_rate"), "{err}");
    }

    #[test]
    fn defaults_and_mala() {
        let plan = resolve(&section("stages = 8")).unwrap();
        assert_eq!(plan.start, SnfStart::Flow);
        assert_eq!(plan.stages.stages, 8);
        assert_eq!(plan.stages.steps, 1);
        assert_eq!(plan.stages.move_params.n_steps, 4);
        let mala = resolve(&section(
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
            let err = resolve(&section(text)).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        assert!(toml::from_str::<SnfConfig>("stages = 2\nstart = \"moon\"").is_err());
    }
}
