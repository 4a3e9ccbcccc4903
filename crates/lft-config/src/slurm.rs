//! `[slurm]`: the resources and environment of the job arrays `lft submit` writes. Every key
//! is optional; a config without the section gets the defaults (and `lft submit` warns).

use crate::ConfigError;
use crate::error::invalid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `[slurm]` section as written.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// `--partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `--time` of one task, in Slurm's forms: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`,
    /// `D-HH:MM:SS` (default 1:00:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `--nodes` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// `--cpus-per-task`, also the rayon threads of each task (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<u32>,
    /// `--mem`, for example "4G".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// `--gres`, for example "gpu:1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres: Option<String>,
    /// `--account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `--qos`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// The warning signal Slurm sends the batch script before the time limit, which the script
    /// passes on to lft as SIGTERM: "USR2" (default), "USR1" or "TERM".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Seconds before the limit that the signal comes (default 120; less than `time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<u32>,
    /// `--requeue`: a task stopped by the signal or preempted is put back in the queue and
    /// continues its chains by itself (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue: Option<bool>,
    /// Tasks of the array running at once (`--array=0-N%K`; default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_running: Option<u32>,
    /// More `#SBATCH` lines, written as given (for example "--constraint=avx512").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
    /// `module load` lines before lft starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    /// Environment variables exported before lft starts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The lft binary the tasks run (default: the one that runs `lft submit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lft: Option<PathBuf>,
}

/// Slurm's warning signals that lft understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningSignal {
    Usr1,
    Usr2,
    Term,
}

impl WarningSignal {
    /// The name `--signal` and `trap` take.
    pub fn name(self) -> &'static str {
        match self {
            WarningSignal::Usr1 => "USR1",
            WarningSignal::Usr2 => "USR2",
            WarningSignal::Term => "TERM",
        }
    }
}

/// A validated `[slurm]` section, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmPlan {
    pub partition: Option<String>,
    /// As written (Slurm parses it); `time_seconds` is its value.
    pub time: String,
    pub time_seconds: u64,
    pub nodes: u32,
    pub cpus_per_task: u32,
    pub mem: Option<String>,
    pub gres: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub signal: WarningSignal,
    pub grace_seconds: u32,
    pub requeue: bool,
    pub max_running: Option<u32>,
    pub extra: Vec<String>,
    pub modules: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub lft: Option<PathBuf>,
}

impl TryFrom<&SlurmConfig> for SlurmPlan {
    type Error = ConfigError;

    fn try_from(s: &SlurmConfig) -> Result<Self, ConfigError> {
        let time = s.time.clone().unwrap_or_else(|| "1:00:00".into());
        let time_seconds = parse_time(&time).ok_or_else(|| {
            invalid(
                "slurm.time",
                format!(
                    "`{time}` is not a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"
                ),
            )
        })?;
        if time_seconds == 0 {
            return Err(invalid("slurm.time", "must be more than zero"));
        }
        let positive = |key: &str, v: Option<u32>, default: u32| match v {
            Some(0) => Err(invalid(key, "must be at least 1")),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        let nodes = positive("slurm.nodes", s.nodes, 1)?;
        let cpus_per_task = positive("slurm.cpus_per_task", s.cpus_per_task, 2)?;
        let max_running = s
            .max_running
            .map(|k| positive("slurm.max_running", Some(k), 1))
            .transpose()?;
        let signal = match s.signal.as_deref().unwrap_or("USR2") {
            "USR1" | "SIGUSR1" => WarningSignal::Usr1,
            "USR2" | "SIGUSR2" => WarningSignal::Usr2,
            "TERM" | "SIGTERM" => WarningSignal::Term,
            other => {
                return Err(invalid(
                    "slurm.signal",
                    format!("`{other}`: lft stops cleanly on USR1, USR2 or TERM"),
                ));
            }
        };
        let grace_seconds = s.grace_seconds.unwrap_or(120);
        if u64::from(grace_seconds) >= time_seconds {
            return Err(invalid(
                "slurm.grace_seconds",
                format!("{grace_seconds} s must be less than slurm.time ({time_seconds} s)"),
            ));
        }
        for (key, value) in [
            ("slurm.partition", &s.partition),
            ("slurm.mem", &s.mem),
            ("slurm.gres", &s.gres),
            ("slurm.account", &s.account),
            ("slurm.qos", &s.qos),
        ] {
            if let Some(v) = value {
                one_word(key, v)?;
            }
        }
        for line in &s.extra {
            if !line.starts_with("--") || line.contains('\n') {
                return Err(invalid(
                    "slurm.extra",
                    format!("`{line}`: each entry is one sbatch option, like \"--constraint=x\""),
                ));
            }
        }
        for name in s.env.keys() {
            let ok = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(invalid(
                    "slurm.env",
                    format!("`{name}` is not a variable name"),
                ));
            }
        }
        Ok(SlurmPlan {
            partition: s.partition.clone(),
            time,
            time_seconds,
            nodes,
            cpus_per_task,
            mem: s.mem.clone(),
            gres: s.gres.clone(),
            account: s.account.clone(),
            qos: s.qos.clone(),
            signal,
            grace_seconds,
            requeue: s.requeue.unwrap_or(false),
            max_running,
            extra: s.extra.clone(),
            modules: s.modules.clone(),
            env: s.env.clone(),
            lft: s.lft.clone(),
        })
    }
}

/// A value written into an `#SBATCH` line must be one word.
fn one_word(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace()) {
        return Err(invalid(key, format!("`{value}` must be one word")));
    }
    Ok(())
}

/// Seconds of a Slurm time: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`.
pub fn parse_time(text: &str) -> Option<u64> {
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (Some(number(d)?), rest),
        None => (None, text),
    };
    let parts: Vec<u64> = rest.split(':').map(number).collect::<Option<_>>()?;
    let seconds = match (days, parts.as_slice()) {
        (None, [m]) => m * 60,
        (None, [m, s]) => m * 60 + s,
        (None, [h, m, s]) => h * 3600 + m * 60 + s,
        (Some(d), [h]) => d * 86400 + h * 3600,
        (Some(d), [h, m]) => d * 86400 + h * 3600 + m * 60,
        (Some(d), [h, m, s]) => d * 86400 + h * 3600 + m * 60 + s,
        _ => return None,
    };
    Some(seconds)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn slurm_times_parse_to_seconds() {
        assert_eq!(parse_time("30"), Some(1800));
        assert_eq!(parse_time("30:15"), Some(1815));
        assert_eq!(parse_time("2:00:00"), Some(7200));
        assert_eq!(parse_time("1-12"), Some(129_600));
        assert_eq!(parse_time("1-0:30"), Some(88_200));
        assert_eq!(parse_time("2-01:02:03"), Some(176_523));
        for bad in ["", "1h", "1:2:3:4", "-5", "1-2:3:4:5", "a:00"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
