//! `[run]`: how a run computes, as opposed to what it computes. Nothing here changes a
//! result beyond rounding, so these keys are free for every kind of reuse: a flow trained on a
//! GPU samples on the CPU, an ensemble started on one device continues on another.

use crate::ConfigError;
use crate::error::invalid;
use lft_cuda::Device;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// "cpu" (the default), "cuda" (device 0) or "cuda:N"; `--device` on the command line
    /// overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

impl RunConfig {
    /// `device` parsed as the command line's `--device` is.
    pub fn device(&self) -> Result<Option<Device>, ConfigError> {
        self.device
            .as_deref()
            .map(|d| d.parse::<Device>().map_err(|e| invalid("run.device", e)))
            .transpose()
    }
}
