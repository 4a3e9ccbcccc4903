//! `[output]`: where the ensemble goes and how often it is flushed.

use crate::ConfigError;
use crate::defaults;
use crate::error::invalid;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// The ensemble file (HDF5). Relative paths are relative to the working directory.
    pub path: PathBuf,
    /// Seconds between flushes of new configurations to disk (the most a crash can lose).
    #[serde(default = "defaults::flush_seconds")]
    pub flush_seconds: f64,
}

/// A validated `[output]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub path: PathBuf,
    /// The most a crash can lose.
    pub flush_every: Duration,
}

impl TryFrom<&OutputConfig> for Output {
    type Error = ConfigError;

    fn try_from(o: &OutputConfig) -> Result<Self, ConfigError> {
        if o.path.as_os_str().is_empty() {
            return Err(invalid("output.path", "must not be empty"));
        }
        if !(o.flush_seconds.is_finite() && o.flush_seconds >= 0.0) {
            return Err(invalid(
                "output.flush_seconds",
                "must be a finite number ≥ 0",
            ));
        }
        Ok(Output {
            path: o.path.clone(),
            flush_every: Duration::from_secs_f64(o.flush_seconds),
        })
    }
}

/// The folder of a job array's task files: the output path without its extension
/// (`ensembles/e5.h5` → `ensembles/e5`).
pub fn task_folder(output: &Path) -> PathBuf {
    output.with_extension("")
}

/// Task i's ensemble: `<task folder>/task-0007.h5`.
pub fn task_file(output: &Path, task: u64) -> PathBuf {
    task_folder(output).join(format!("task-{task:04}.h5"))
}
