//! `[train]`: how the flow is trained, resolved into a [`TrainPlan`] around lft-flow's
//! [`TrainOptions`].

use crate::ConfigError;
use crate::defaults;
use crate::error::{invalid, positive};
use lft_flow::{GradientEstimator, Schedule, TrainOptions};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// Conditional flow matching of a continuous flow on an ensemble (`train.ensemble`).
    FlowMatching,
    /// Flow annealed importance sampling bootstrap: the α = 2 divergence through AIS towards
    /// p²/q and a prioritised replay buffer (settings in `[fab]`).
    Fab,
}

/// The probability path of flow matching, from the base distribution to each configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathName {
    /// x_t = (1 − t) x₀ + t φ₁ (rectified flow).
    #[default]
    Straight,
    /// x_t = (1 − (1 − σ) t) x₀ + t φ₁, σ = `train.path_sigma` (Lipman et al.'s OT path).
    Gaussian,
}

/// The estimator of the reverse-KL gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradientName {
    #[default]
    Total,
    Path,
}

impl GradientName {
    fn is_total(&self) -> bool {
        *self == GradientName::Total
    }
}

/// Training of the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimiser steps; 0 keeps the initial flow (with `flow.plaquette_basis`, already the
    /// plaquette marginal) and writes it as the checkpoint.
    pub steps: usize,
    #[serde(default = "defaults::batch")]
    pub batch: usize,
    #[serde(default = "defaults::lr")]
    pub lr: f64,
    #[serde(default = "default_schedule")]
    pub schedule: ScheduleName,
    /// For `schedule = "step"`: multiply the learning rate by `step_factor` every `step_every` steps.
    #[serde(default = "defaults::step_every")]
    pub step_every: usize,
    #[serde(default = "defaults::step_factor")]
    pub step_factor: f64,
    /// Clip gradients to this global norm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip: Option<f64>,
    #[serde(default = "default_objective")]
    pub objective: ObjectiveName,
    /// The reverse-KL gradient: "total" (the reparameterised derivative of log q + S) or
    /// "path" (without the score term: lower variance near the target, about twice the cost
    /// per step). Written out only when not "total".
    #[serde(default, skip_serializing_if = "GradientName::is_total")]
    pub gradient: GradientName,
    /// Steps of linear learning-rate warm-up (0: none). Written out only when not 0.
    #[serde(default, skip_serializing_if = "defaults::is_zero")]
    pub warmup: usize,
    /// The batch of the last step: the batch grows geometrically from `batch` to `batch_max`
    /// over training. Written out only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_max: Option<usize>,
    /// For `objective = "forward_kl"` or `"flow_matching"`: an ensemble file of the target
    /// (any sampler), whose configurations are the training data. `train.ensemble` is the
    /// same key.
    #[serde(default, alias = "ensemble", skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// For `objective = "flow_matching"`: "straight" (default) or "gaussian".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability_path: Option<PathName>,
    /// The width σ of the "gaussian" path at t = 1 (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_sigma: Option<f64>,
    /// The checkpoint file (HDF5): weights, optimiser and generator state, history.
    pub checkpoint: PathBuf,
    /// Steps between checkpoints (the most a crash can lose).
    #[serde(default = "defaults::every")]
    pub checkpoint_every: usize,
    /// Steps between log lines when not on a terminal.
    #[serde(default = "defaults::every")]
    pub report_every: usize,
    /// Fresh flow samples on which the quality is estimated at the end of training (ESS,
    /// acceptance, Pareto k̂, sign balance); 0 skips it. Written out only when not the default.
    #[serde(
        default = "defaults::eval_samples",
        skip_serializing_if = "defaults::is_eval_samples"
    )]
    pub eval_samples: usize,
}

/// A validated `[train]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainPlan {
    /// Steps (the total, counting those of a checkpoint), batch, learning rate and schedule.
    pub options: TrainOptions,
    /// `Some(ensemble)`: forward KL (or flow matching, with `flow_matching`) on its
    /// configurations; `None`: reverse KL.
    pub data: Option<PathBuf>,
    /// Flow matching along this path, on `data`.
    pub flow_matching: Option<lft_flow::ProbabilityPath>,
    /// `objective = "fab"`: FAB with these settings (`[fab]`, defaults written out).
    pub fab: Option<lft_sample::fab::FabSettings>,
    pub checkpoint: PathBuf,
    pub checkpoint_every: usize,
    pub report_every: usize,
    /// Fresh samples of the final quality estimate (0: none).
    pub eval_samples: usize,
}

/// Consecutive non-finite training steps tolerated (each rolls back and halves the learning
/// rate) before training stops.
const MAX_FAILURES: usize = 5;

impl TryFrom<&TrainConfig> for TrainPlan {
    type Error = ConfigError;

    fn try_from(t: &TrainConfig) -> Result<Self, ConfigError> {
        match (t.objective, &t.data) {
            (ObjectiveName::ForwardKl | ObjectiveName::FlowMatching, None) => {
                return Err(invalid(
                    "train.data",
                    "forward_kl and flow_matching training need an ensemble file of the \
                     target (train.data, or train.ensemble)",
                ));
            }
            (ObjectiveName::ReverseKl | ObjectiveName::Fab, Some(_)) => {
                return Err(invalid(
                    "train.data",
                    "only used with objective = \"forward_kl\" or \"flow_matching\"",
                ));
            }
            _ => {}
        }
        let flow_matching = resolve_path(t)?;
        if t.batch < 2 {
            return Err(invalid("train.batch", "must be at least 2"));
        }
        positive("train.lr", t.lr)?;
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
        if t.batch_max.is_some_and(|b| b < t.batch) {
            return Err(invalid("train.batch_max", "must be at least train.batch"));
        }
        if t.gradient == GradientName::Path && t.objective != ObjectiveName::ReverseKl {
            return Err(invalid(
                "train.gradient",
                "the path gradient is an estimator of the reverse KL; forward_kl and \
                 flow_matching have their own",
            ));
        }
        if t.eval_samples == 1 {
            return Err(invalid(
                "train.eval_samples",
                "must be at least 2 (or 0 to skip the quality estimate)",
            ));
        }
        Ok(TrainPlan {
            options: TrainOptions {
                steps: t.steps,
                batch: t.batch,
                lr: t.lr,
                schedule: match t.schedule {
                    ScheduleName::Constant => Schedule::Constant,
                    ScheduleName::Cosine => Schedule::Cosine,
                    ScheduleName::Step => Schedule::Step {
                        every: t.step_every,
                        factor: t.step_factor,
                    },
                },
                grad_clip: t.grad_clip,
                max_failures: MAX_FAILURES,
                gradient: match t.gradient {
                    GradientName::Total => GradientEstimator::Total,
                    GradientName::Path => GradientEstimator::Path,
                },
                warmup: t.warmup,
                batch_max: t.batch_max,
            },
            data: t.data.clone(),
            flow_matching,
            fab: None,
            checkpoint: t.checkpoint.clone(),
            checkpoint_every: t.checkpoint_every,
            report_every: t.report_every,
            eval_samples: t.eval_samples,
        })
    }
}

/// The probability path of `objective = "flow_matching"`, its keys refused elsewhere.
fn resolve_path(t: &TrainConfig) -> Result<Option<lft_flow::ProbabilityPath>, ConfigError> {
    if t.objective != ObjectiveName::FlowMatching {
        for (key, set) in [
            ("train.probability_path", t.probability_path.is_some()),
            ("train.path_sigma", t.path_sigma.is_some()),
        ] {
            if set {
                return Err(invalid(key, "only used with objective = \"flow_matching\""));
            }
        }
        return Ok(None);
    }
    let sigma = match (t.probability_path.unwrap_or_default(), t.path_sigma) {
        (PathName::Straight, Some(_)) => {
            return Err(invalid(
                "train.path_sigma",
                "the width of the \"gaussian\" path; the straight path has none",
            ));
        }
        (PathName::Straight, None) => 0.0,
        (PathName::Gaussian, sigma) => {
            let sigma = sigma.unwrap_or(DEFAULT_PATH_SIGMA);
            if !(sigma > 0.0 && sigma < 1.0) {
                return Err(invalid(
                    "train.path_sigma",
                    format!("must be in (0, 1), got {sigma}"),
                ));
            }
            sigma
        }
    };
    Ok(Some(lft_flow::ProbabilityPath { sigma }))
}

/// The width of the "gaussian" probability path unless `train.path_sigma` says otherwise.
pub const DEFAULT_PATH_SIGMA: f64 = 0.01;

fn default_objective() -> ObjectiveName {
    ObjectiveName::ReverseKl
}

fn default_schedule() -> ScheduleName {
    ScheduleName::Constant
}
