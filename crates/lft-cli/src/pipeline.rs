//! Wiring a sampler to the ensemble file of a config: the one path every `lft run`, `lft hmc`
//! and `lft sample` takes. The sampling loop itself is lft-sample's [`lft_sample::run`].

use crate::progress::RunProgress;
use anyhow::{Context, Result, anyhow};
use lft_config::{Config, Fermions, Model, Reuse};
use lft_io::{
    EnsembleMeta, EnsembleReader, EnsembleStore, FermionMeta, GaugeFermionMeta, SamplerKind,
    StoredCouplings,
};
use lft_sample::{Chain, RunError, RunOutcome, RunPlan, Sampler, StoreMismatch};
use std::path::Path;
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

/// The root attributes of a new ensemble of `config`, written by `sampler` with `n_chains`
/// chains.
pub fn ensemble_meta(config: &Config, sampler: SamplerKind, n_chains: usize) -> EnsembleMeta {
    let model = config.model();
    let treatment = |f: Fermions| {
        match f {
            Fermions::Exact => "exact",
            Fermions::Pseudofermion(_) => "pseudofermion",
        }
        .to_string()
    };
    let couplings = match (*model, config.couplings()) {
        (Model::U1 { beta }, _) => StoredCouplings::U1 {
            beta,
            fermions: None,
        },
        (
            Model::Schwinger {
                beta,
                mass,
                fermions,
            },
            _,
        ) => StoredCouplings::U1 {
            beta,
            fermions: Some(GaugeFermionMeta {
                mass,
                treatment: treatment(fermions),
            }),
        },
        (_, Some(c)) => StoredCouplings::Scalar {
            m2: c.aks.m2,
            lambda: c.aks.lambda,
            kappa: c.hopping.kappa,
            lambda_tilde: c.hopping.lambda_tilde,
            h: match *model {
                Model::Phi4 { h, .. } => h,
                _ => 0.0,
            },
            fermions: match *model {
                Model::Yukawa { params, fermions } => Some(FermionMeta {
                    g: params.g,
                    mass: params.mass,
                    treatment: treatment(fermions),
                }),
                _ => None,
            },
        },
        (_, None) => unreachable!("a scalar theory has its couplings"),
    };
    EnsembleMeta {
        lft_version: env!("CARGO_PKG_VERSION").to_string(),
        config_text: config.to_toml(),
        seed: config.seed(),
        shape: config.lattice().shape().to_vec(),
        action_kind: model.kind_name().into(),
        couplings,
        sampler,
        n_chains,
    }
}

/// Refuses an existing `output.path` that is no ensemble of `kind` made with this config
/// (up to the run length); `Ok` if there is none yet.
pub fn check_output(config: &Config, kind: SamplerKind) -> Result<()> {
    let path = &config.output().path;
    if !path.exists() {
        return Ok(());
    }
    let reader = EnsembleReader::open(path).with_context(|| {
        format!(
            "output.path {} exists and is not an lft ensemble to continue; refusing to overwrite it",
            path.display()
        )
    })?;
    if reader.meta().sampler != kind {
        anyhow::bail!(
            "{} holds an ensemble of sampler `{}`, not `{kind}`; choose another output.path",
            path.display(),
            reader.meta().sampler,
        );
    }
    check_belongs(
        config,
        &reader.meta().config_text,
        path,
        "output.path",
        Reuse::Ensemble,
    )
}

/// Runs `sampler` into the ensemble at `output.path`: begins it, or continues the
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
    let path = &config.output().path;
    let meta = ensemble_meta(config, sampler.kind(), plan.chains);
    let mut store = EnsembleStore::new(path, meta)?;
    check_output(config, sampler.kind())?;
    let plan = RunPlan {
        stop: Some(&crate::signals::STOP),
        ..*plan
    };
    let plan = &plan;
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
    if outcome.summary.stopped {
        return Err(crate::signals::Stopped {
            what: path.display().to_string(),
        }
        .into());
    }
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
