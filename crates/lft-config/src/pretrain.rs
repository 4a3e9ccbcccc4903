//! `[pretrain]`: a first training stage on an ensemble (flow matching for a continuous flow,
//! forward KL for any flow) before `[train]`'s reverse KL, in the same `lft train`.
//!
//! ```toml
//! [pretrain]
//! objective = "flow_matching"
//! ensemble = "ensembles/l32-fahmc.h5"
//! steps = 3000
//! batch = 128
//! ```
//!
//! The stage runs only while `train.checkpoint` does not exist yet: its result is the start of
//! the reverse-KL training, and the first checkpoint holds it. It is not checkpointed itself (it
//! is short); an interrupted pretraining starts again.

use crate::ConfigError;
use crate::defaults;
use crate::error::invalid;
use crate::train::{ObjectiveName, PathName, ScheduleName, TrainConfig, TrainPlan};
use lft_flow::{ProbabilityPath, TrainOptions};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The `[pretrain]` section as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// "flow_matching" (continuous flows) or "forward_kl".
    pub objective: ObjectiveName,
    /// The ensemble file of the target whose configurations are the training data.
    #[serde(alias = "data")]
    pub ensemble: PathBuf,
    /// Optimiser steps of this stage (its own Adam state and schedule).
    pub steps: usize,
    #[serde(default = "defaults::batch")]
    pub batch: usize,
    #[serde(default = "defaults::lr")]
    pub lr: f64,
    #[serde(default = "default_schedule")]
    pub schedule: ScheduleName,
    /// Steps of linear learning-rate warm-up. Written out only when not 0.
    #[serde(default, skip_serializing_if = "defaults::is_zero")]
    pub warmup: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip: Option<f64>,
    /// For flow matching: "straight" (default) or "gaussian".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability_path: Option<PathName>,
    /// The width σ of the "gaussian" path at t = 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_sigma: Option<f64>,
}

/// A validated `[pretrain]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct PretrainPlan {
    /// Steps, batch, learning rate and schedule of the stage.
    pub options: TrainOptions,
    /// The ensemble it trains on.
    pub data: PathBuf,
    /// `Some`: flow matching along this path; `None`: forward KL.
    pub flow_matching: Option<ProbabilityPath>,
}

impl TryFrom<&PretrainConfig> for PretrainPlan {
    type Error = ConfigError;

    /// The checks of `[train]` for the same keys (errors name `pretrain.*`), and an objective
    /// that trains on data.
    fn try_from(p: &PretrainConfig) -> Result<Self, ConfigError> {
        if p.objective == ObjectiveName::ReverseKl {
            return Err(invalid(
                "pretrain.objective",
                "reverse_kl is what [train] does after pretraining; pretrain by \
                 \"flow_matching\" (continuous flows) or \"forward_kl\" on an ensemble",
            ));
        }
        if p.steps == 0 {
            return Err(invalid(
                "pretrain.steps",
                "must be at least 1 (remove [pretrain] to start from the initial flow)",
            ));
        }
        let as_train = TrainConfig {
            steps: p.steps,
            batch: p.batch,
            lr: p.lr,
            schedule: p.schedule,
            step_every: defaults::step_every(),
            step_factor: defaults::step_factor(),
            grad_clip: p.grad_clip,
            objective: p.objective,
            gradient: Default::default(),
            warmup: p.warmup,
            batch_max: None,
            data: Some(p.ensemble.clone()),
            probability_path: p.probability_path,
            path_sigma: p.path_sigma,
            checkpoint: PathBuf::from("pretrain"),
            checkpoint_every: defaults::every(),
            report_every: defaults::every(),
            eval_samples: 0,
        };
        let plan = TrainPlan::try_from(&as_train).map_err(renamed)?;
        Ok(PretrainPlan {
            options: plan.options,
            data: p.ensemble.clone(),
            flow_matching: plan.flow_matching,
        })
    }
}

/// A `[train]` key's error as the same key of `[pretrain]`.
fn renamed(e: ConfigError) -> ConfigError {
    match e {
        ConfigError::Invalid { key, message } => ConfigError::Invalid {
            key: match key.strip_prefix("train.") {
                Some("data") => "pretrain.ensemble".into(),
                Some(rest) => format!("pretrain.{rest}"),
                None => key,
            },
            message: message.replace("train.", "pretrain."),
        },
        other => other,
    }
}

fn default_schedule() -> ScheduleName {
    ScheduleName::Cosine
}
