//! `[fab]`: the settings of `train.objective = "fab"` (Flow Annealed importance sampling
//! Bootstrap), resolved into lft-sample's [`FabSettings`].
//!
//! ```toml
//! [train]
//! objective = "fab"
//! steps = 2000
//! batch = 128          # buffer draws per gradient step
//!
//! [fab]
//! ais_steps = 8        # temperatures from q to p²/q
//! step_size = 0.1      # HMC in the flow's latent space, adapted towards target_acceptance
//! leapfrog_steps = 5
//! trajectories = 1     # per particle and temperature
//! batch = 256          # AIS samples per run
//! buffer = 4096        # replay buffer capacity (0: none)
//! reuse = 4            # gradient steps per AIS run
//! ```

use crate::ConfigError;
use crate::error::{invalid, positive};
use crate::hmc::IntegratorName;
use lft_sample::HmcParams;
use lft_sample::fab::FabSettings;
use serde::{Deserialize, Serialize};

/// The `[fab]` section as written (every key has a default, written out in the effective
/// config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FabConfig {
    /// Temperatures of each AIS run (β_k = k/K from the flow to p²/q).
    #[serde(default = "default_ais_steps")]
    pub ais_steps: usize,
    /// The HMC step size in the flow's latent space (the start, with target_acceptance).
    #[serde(default = "default_step_size")]
    pub step_size: f64,
    /// Mean integrator steps per trajectory.
    #[serde(default = "default_leapfrog_steps")]
    pub leapfrog_steps: usize,
    #[serde(default = "default_integrator")]
    pub integrator: IntegratorName,
    /// Relative half-width of the trajectory-length distribution.
    #[serde(default = "default_length_jitter")]
    pub length_jitter: f64,
    /// HMC trajectories per particle and temperature.
    #[serde(default = "default_trajectories")]
    pub trajectories: usize,
    /// AIS samples per run.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Replay buffer capacity; 0 trains on each run's samples with their AIS weights.
    #[serde(default = "default_buffer")]
    pub buffer: usize,
    /// Gradient steps per AIS run (1 without a buffer).
    #[serde(default = "default_reuse")]
    pub reuse: usize,
    /// Samples in the buffer before the first gradient step (default: the capacity's quarter,
    /// at least one run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_buffer: Option<usize>,
    /// The largest correction q_old/q of a buffered weight in the loss.
    #[serde(default = "default_weight_clip")]
    pub weight_clip: f64,
    /// Adapt the step size between runs towards this HMC acceptance (0 < a < 1).
    #[serde(default = "default_target_acceptance")]
    pub target_acceptance: f64,
}

impl Default for FabConfig {
    fn default() -> Self {
        toml::from_str("").expect("every key has a default")
    }
}

impl TryFrom<&FabConfig> for FabSettings {
    type Error = ConfigError;

    fn try_from(f: &FabConfig) -> Result<Self, ConfigError> {
        for (key, value) in [
            ("fab.ais_steps", f.ais_steps),
            ("fab.leapfrog_steps", f.leapfrog_steps),
            ("fab.reuse", f.reuse),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if f.batch < 2 {
            return Err(invalid("fab.batch", "must be at least 2"));
        }
        positive("fab.step_size", f.step_size)?;
        if !(0.0..1.0).contains(&f.length_jitter) {
            return Err(invalid(
                "fab.length_jitter",
                format!("must be in [0, 1), got {}", f.length_jitter),
            ));
        }
        if !(f.weight_clip.is_finite() && f.weight_clip >= 1.0) {
            return Err(invalid(
                "fab.weight_clip",
                format!("must be a finite number ≥ 1, got {}", f.weight_clip),
            ));
        }
        if !(f.target_acceptance > 0.0 && f.target_acceptance < 1.0) {
            return Err(invalid(
                "fab.target_acceptance",
                format!("must be in (0, 1), got {}", f.target_acceptance),
            ));
        }
        if f.buffer == 0 && f.reuse != 1 {
            return Err(invalid(
                "fab.reuse",
                "without a buffer (fab.buffer = 0) every gradient step takes a fresh AIS run: \
                 reuse must be 1",
            ));
        }
        if f.buffer > 0 && f.buffer < f.batch {
            return Err(invalid(
                "fab.buffer",
                format!(
                    "must hold at least one AIS run (fab.batch = {}), or be 0 for none",
                    f.batch
                ),
            ));
        }
        let min_buffer = f.min_buffer.unwrap_or((f.buffer / 4).max(f.batch));
        if f.buffer > 0 && min_buffer > f.buffer {
            return Err(invalid(
                "fab.min_buffer",
                format!("must be at most fab.buffer = {}", f.buffer),
            ));
        }
        Ok(FabSettings {
            temperatures: f.ais_steps,
            hmc: HmcParams {
                step_size: f.step_size,
                n_steps: f.leapfrog_steps,
                integrator: f.integrator.into(),
                length_jitter: f.length_jitter,
            },
            trajectories: f.trajectories,
            batch: f.batch,
            buffer: f.buffer,
            reuse: f.reuse,
            min_buffer,
            weight_clip: f.weight_clip,
            target_acceptance: Some(f.target_acceptance),
        })
    }
}

fn default_ais_steps() -> usize {
    8
}
fn default_step_size() -> f64 {
    0.1
}
fn default_leapfrog_steps() -> usize {
    5
}
fn default_integrator() -> IntegratorName {
    IntegratorName::Leapfrog
}
fn default_length_jitter() -> f64 {
    0.5
}
fn default_trajectories() -> usize {
    1
}
fn default_batch() -> usize {
    256
}
fn default_buffer() -> usize {
    4096
}
fn default_reuse() -> usize {
    4
}
fn default_weight_clip() -> f64 {
    10.0
}
fn default_target_acceptance() -> f64 {
    0.65
}
