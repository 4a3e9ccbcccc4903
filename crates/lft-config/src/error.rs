//! The one error type of config handling: every variant names the file, override or key.

use std::path::PathBuf;
use thiserror::Error;

/// A config that cannot be used; every variant names the file or key at fault.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("override `{item}`: {message}")]
    Override { item: String, message: String },
    #[error("--vary `{item}`: {message}")]
    Vary { item: String, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// The error of a bad value of the dotted `key`.
pub(crate) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// `Ok` if `n ≥ 1`, else the error of `key`.
pub(crate) fn at_least_one(key: &str, n: usize) -> Result<(), ConfigError> {
    if n == 0 {
        return Err(invalid(key, "must be at least 1"));
    }
    Ok(())
}

/// `Ok` if `x` is finite and > 0, else the error of `key`.
pub(crate) fn positive(key: &str, x: f64) -> Result<(), ConfigError> {
    if !(x.is_finite() && x > 0.0) {
        return Err(invalid(
            key,
            format!("must be a finite number > 0, got {x}"),
        ));
    }
    Ok(())
}
