//! `scan.json`, the record of a parameter scan in its folder: the config and `--set`s every
//! point shares, the varied keys, and every point with its overrides, file and state. `lft
//! scan` continues from it, `lft measure DIR` reads it, `lft submit --vary` writes its jobs
//! into it.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The record's file name in the scan folder.
pub const RECORD: &str = "scan.json";

/// A point's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointState {
    /// Not run yet, or stopped or failed: run it (again).
    Pending,
    /// Ran to the end (its run exited with 0).
    Done,
    Failed,
    Stopped,
}

impl PointState {
    fn name(self) -> &'static str {
        match self {
            PointState::Pending => "pending",
            PointState::Done => "done",
            PointState::Failed => "failed",
            PointState::Stopped => "stopped",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            PointState::Pending,
            PointState::Done,
            PointState::Failed,
            PointState::Stopped,
        ]
        .into_iter()
        .find(|p| p.name() == s)
    }
}

/// One point of a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct PointRecord {
    /// `key=value,…`: also the stem of its files.
    pub name: String,
    /// The varied keys' overrides, `key=value` in TOML.
    pub assignments: Vec<String>,
    /// Its ensemble, relative to the working directory of the scan.
    pub file: PathBuf,
    pub state: PointState,
}

/// A scan: what every point shares, and the points.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRecord {
    pub config: PathBuf,
    /// The working directory of the scan (relative paths start there).
    pub cwd: PathBuf,
    /// `--set`s of every point.
    pub overrides: Vec<String>,
    /// The varied keys, in `--vary` order.
    pub keys: Vec<String>,
    pub points: Vec<PointRecord>,
    /// Slurm jobs of `lft submit --vary`.
    pub jobs: Vec<String>,
}

impl ScanRecord {
    pub fn path(folder: &Path) -> PathBuf {
        folder.join(RECORD)
    }

    /// Writes the record atomically (a temporary file, then a rename).
    pub fn write(&self, folder: &Path) -> Result<()> {
        let points: Vec<serde_json::Value> = self
            .points
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "set": p.assignments,
                    "file": p.file,
                    "state": p.state.name(),
                })
            })
            .collect();
        let record = serde_json::json!({
            "config": self.config,
            "cwd": self.cwd,
            "overrides": self.overrides,
            "vary": self.keys,
            "points": points,
            "jobs": self.jobs,
        });
        let path = Self::path(folder);
        let tmp = folder.join(format!("{RECORD}.tmp"));
        std::fs::write(&tmp, serde_json::to_string_pretty(&record)? + "\n")
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Reads `folder/scan.json`.
    pub fn read(folder: &Path) -> Result<Self> {
        let path = Self::path(folder);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: not the folder of an lft scan (no {RECORD})",
                folder.display()
            )
        })?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        let bad =
            |key: &str| anyhow::anyhow!("{}: `{key}` is missing or malformed", path.display());
        let text_of = |v: &serde_json::Value, key: &str| {
            v[key].as_str().map(str::to_string).ok_or_else(|| bad(key))
        };
        let list = |v: &serde_json::Value, key: &str| -> Result<Vec<String>> {
            v[key]
                .as_array()
                .ok_or_else(|| bad(key))?
                .iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(|| bad(key)))
                .collect()
        };
        let points = v["points"]
            .as_array()
            .ok_or_else(|| bad("points"))?
            .iter()
            .map(|p| {
                Ok(PointRecord {
                    name: text_of(p, "name")?,
                    assignments: list(p, "set")?,
                    file: text_of(p, "file")?.into(),
                    state: PointState::parse(&text_of(p, "state")?).ok_or_else(|| bad("state"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ScanRecord {
            config: text_of(&v, "config")?.into(),
            cwd: text_of(&v, "cwd")?.into(),
            overrides: list(&v, "overrides")?,
            keys: list(&v, "vary")?,
            points,
            jobs: list(&v, "jobs").unwrap_or_default(),
        })
    }

    /// Adds the points of a new invocation to an earlier record of the same folder: the
    /// config and the shared `--set`s must be the same (else the folder would mix scans),
    /// points already recorded keep their state, new ones are appended.
    pub fn merge(mut self, new: ScanRecord, folder: &Path) -> Result<Self> {
        if self.config != new.config {
            bail!(
                "{} holds a scan of {}, not of {}; choose another output.path",
                folder.display(),
                self.config.display(),
                new.config.display()
            );
        }
        if self.overrides != new.overrides {
            bail!(
                "{} holds a scan with --set {:?}; this one has --set {:?} (a different scan: \
                 choose another output.path)",
                folder.display(),
                self.overrides,
                new.overrides
            );
        }
        if self.keys != new.keys {
            bail!(
                "{} holds a scan varying {:?}; this one varies {:?} (a different grid: choose \
                 another output.path)",
                folder.display(),
                self.keys,
                new.keys
            );
        }
        for p in new.points {
            if !self.points.iter().any(|q| q.name == p.name) {
                self.points.push(p);
            }
        }
        self.cwd = new.cwd;
        Ok(self)
    }
}
