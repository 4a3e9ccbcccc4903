//! `[heatbath]`: heat bath with overrelaxation for gauge fields, resolved into a
//! [`HeatbathPlan`].

use crate::ConfigError;
use crate::defaults;
use crate::error::{at_least_one, invalid};
use crate::hmc::StartName;
use lft_sample::Start;
use serde::{Deserialize, Serialize};

/// Heat-bath settings of a gauge-field config (`kind = "u1"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeatbathConfig {
    /// Production sweeps per chain; each one is a heat-bath sweep over every link followed
    /// by `overrelaxation` overrelaxation sweeps, and is stored (one in `save_every`).
    pub sweeps: usize,
    /// Overrelaxation sweeps after each heat-bath sweep.
    #[serde(default = "default_overrelaxation")]
    pub overrelaxation: usize,
    /// Thermalisation sweeps per chain (not stored).
    #[serde(default = "defaults::thermalization")]
    pub thermalization: usize,
    /// Independent chains, run in parallel.
    #[serde(default = "defaults::chains")]
    pub chains: usize,
    /// "cold" (every link 1) or "hot" (uniform angles).
    #[serde(default = "default_start")]
    pub start: StartName,
    /// Store one sweep in `save_every`. Written out only when it is not 1.
    #[serde(
        default = "defaults::save_every",
        skip_serializing_if = "defaults::is_one"
    )]
    pub save_every: usize,
}

/// A validated `[heatbath]` section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatbathPlan {
    pub overrelaxation: usize,
    pub start: Start,
    pub thermalization: usize,
    pub chains: usize,
    pub sweeps: usize,
    pub save_every: usize,
}

impl TryFrom<&HeatbathConfig> for HeatbathPlan {
    type Error = ConfigError;

    fn try_from(h: &HeatbathConfig) -> Result<Self, ConfigError> {
        at_least_one("heatbath.sweeps", h.sweeps)?;
        at_least_one("heatbath.chains", h.chains)?;
        if h.save_every == 0 || h.save_every > h.sweeps {
            return Err(invalid(
                "heatbath.save_every",
                format!("must be between 1 and heatbath.sweeps = {}", h.sweeps),
            ));
        }
        Ok(HeatbathPlan {
            overrelaxation: h.overrelaxation,
            start: h.start.into(),
            thermalization: h.thermalization,
            chains: h.chains,
            sweeps: h.sweeps,
            save_every: h.save_every,
        })
    }
}

fn default_overrelaxation() -> usize {
    2
}

fn default_start() -> StartName {
    StartName::Cold
}
