//! Wiring a sampler to the ensemble file of a config: the one path every `lft run`, `lft hmc`
//! and `lft sample` takes. The sampling loop itself is lft-sample's [`lft_sample::run`].

use crate::progress::RunProgress;
use anyhow::{Context, Result, anyhow};
use lft_io::config::Reuse;
use lft_io::{Config, EnsembleMeta, EnsembleReader, EnsembleStore};
use lft_sample::{Chain, RunError, RunOutcome, RunPlan, Sampler, StoreMismatch};
use std::path::Path;
use std::time::Duration;
use tracing::info;

/// Refuses a stored file that does not belong to `config` for `purpose`, naming the first
/// key that differs. `what` names the config key of the path (`output.path`, ...).
pub fn check_belongs(
    config: &Config,
    stored_text: &str,
    path: &Path,
    what: &str,
    purpose: Reuse,
) -> Result<()> {
    let stored = Config::from_text(stored_text, path, &[])
        .with_context(|| format!("{}: its stored config is unreadable", path.display()))?;
    config.check_reuse(&stored, purpose).map_err(|m| {
        anyhow!(
            "{} was made with a different config ({m}); choose another {what} or remove the file (see `lft info {}`)",
            path.display(),
            path.display()
        )
    })
}

/// The plan of a run with `chains` chains of `steps` steps, flushed as the config says.
pub fn plan(config: &Config, chains: usize, steps: usize, save_every: usize) -> RunPlan {
    RunPlan {
        chains,
        steps,
        save_every,
        flush_every: Duration::from_secs_f64(config.output.flush_seconds),
        first_chain: 0,
    }
}

/// Runs `sampler` into the ensemble at `config.output.path`: begins it, or continues the
/// ensemble stored there if it was made with the same config (up to the run length, the
/// config key `steps_key`). The file is locked for the whole run; a second writer is refused
/// at once.
pub fn run_ensemble<S: Sampler>(
    config: &Config,
    sampler: &S,
    plan: &RunPlan,
    steps_key: &str,
    progress: &mut RunProgress,
) -> Result<RunOutcome<S::Chain>>
where
    <S::Chain as Chain>::Error: std::error::Error + Send + Sync + 'static,
{
    let path = &config.output.path;
    let meta = EnsembleMeta::from_config(config, sampler.kind(), plan.chains)?;
    let mut store = EnsembleStore::new(path, meta)?;
    if path.exists() {
        let reader = EnsembleReader::open(path).with_context(|| {
            format!(
                "output.path {} exists and is not an lft ensemble to continue; refusing to overwrite it",
                path.display()
            )
        })?;
        if reader.meta().sampler != sampler.kind() {
            anyhow::bail!(
                "{} holds an ensemble of sampler `{}`, not `{}`; choose another output.path",
                path.display(),
                reader.meta().sampler,
                sampler.kind()
            );
        }
        check_belongs(
            config,
            &reader.meta().config_text,
            path,
            "output.path",
            Reuse::Ensemble,
        )?;
    }
    let outcome = lft_sample::run(sampler, &mut store, plan, progress);
    progress.finish();
    let outcome = outcome.map_err(|e| match e {
        RunError::Stored(StoreMismatch::Longer { chain, stored, .. }) => anyhow!(
            "{}: chain {chain} already holds {stored} configurations, more than {steps_key} = {} asks for",
            path.display(),
            plan.steps
        ),
        RunError::Stored(m) => anyhow!("{}: {m}", path.display()),
        e => anyhow::Error::new(e).context(format!(
            "writing {} (every step completed before the failure is stored; run again to continue)",
            path.display()
        )),
    })?;
    if outcome.resumed && outcome.summary.steps == 0 {
        info!("{} is complete: nothing to do", path.display());
    }
    Ok(outcome)
}

/// 3.2 µs, 41.0 ms, 2.50 s.
pub fn human_seconds(t: f64) -> String {
    match t {
        t if t < 1e-3 => format!("{:.1} µs", t * 1e6),
        t if t < 1.0 => format!("{:.2} ms", t * 1e3),
        t => format!("{t:.2} s"),
    }
}
