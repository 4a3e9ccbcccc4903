//! `[run]`: how a run computes, as opposed to what it computes. Nothing here changes a
//! result beyond rounding, so these keys are free for every kind of reuse: a flow trained on a
//! GPU samples on the CPU, an ensemble started on one device continues on another.

use crate::ConfigError;
use crate::error::invalid;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// "cpu" (the default), "cuda" (device 0) or "cuda:N"; `--device` on the command line
    /// overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// Where a command computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceName {
    #[default]
    Cpu,
    /// CUDA device N.
    Cuda(usize),
}

impl DeviceName {
    /// "cpu", "cuda" or "cuda:N"; `key` names the setting in the error.
    pub fn parse(s: &str, key: &str) -> Result<Self, ConfigError> {
        let bad = || {
            invalid(
                key,
                format!("unknown device {s:?} (expected \"cpu\", \"cuda\" or \"cuda:N\")"),
            )
        };
        match s {
            "cpu" => Ok(DeviceName::Cpu),
            "cuda" => Ok(DeviceName::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceName::Cuda)
                .ok_or_else(bad),
        }
    }
}

impl TryFrom<&RunConfig> for Option<DeviceName> {
    type Error = ConfigError;

    fn try_from(r: &RunConfig) -> Result<Self, ConfigError> {
        r.device
            .as_deref()
            .map(|d| DeviceName::parse(d, "run.device"))
            .transpose()
    }
}
