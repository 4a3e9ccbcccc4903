//! `lft run` / `lft hmc`: generate an HMC ensemble, resuming an unfinished output.
//!
//! Fresh output: thermalise every chain, write the file skeleton (with the thermalised state),
//! then append production trajectories. Existing output made with the same config: continue
//! each chain from its last stored state (configuration and generator), so the finished file
//! is byte for byte the one an uninterrupted run writes. Either way the file is rewritten
//! canonically at the end.

use crate::cli::RunArgs;
use crate::progress::RunProgress;
use anyhow::{Context, Result, bail};
use lft_action::{Action, Phi4};
use lft_io::config::{IntegratorName, StartName};
use lft_io::{
    ChainMeta, ChainSampler, Config, EnsembleMeta, EnsembleReader, EnsembleWriter,
    rewrite_canonical,
};
use lft_lattice::{RngState, stream_rng};
use lft_sample::{
    HmcChain, HmcParams, Integrator, RunSummary, Start, run_production, thermalize_all,
};
use std::path::Path;
use std::time::Duration;
use tracing::info;

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    run_config(&config, args)
}

/// Generates the HMC ensemble of an already loaded config.
pub fn run_config(config: &Config, args: &RunArgs) -> Result<()> {
    let config = config.clone();
    let lattice = config.lattice()?;
    let couplings = config.couplings()?;
    let action = Phi4::new(lattice, couplings.aks)?;
    let path = config.output.path.clone();
    let h = config.hmc()?;
    info!(
        "phi4 on {:?}: m2 = {}, lambda = {} (kappa = {:.6}, lambda_tilde = {:.6}); {} chain(s) × {} trajectories",
        config.lattice.shape,
        couplings.aks.m2,
        couplings.aks.lambda,
        couplings.hopping.kappa,
        couplings.hopping.lambda_tilde,
        h.chains,
        h.trajectories
    );

    let (mut chains, remaining) = if path.exists() {
        resume(&config, &action, &path)?
    } else {
        start_fresh(&config, &action, &path)?
    };
    let total: usize = remaining.iter().sum();
    if total == 0 {
        // A crash during the final rewrite can leave a complete but non-canonical file.
        rewrite_canonical(&path, None, None)?;
        info!("{} is complete: nothing to do", path.display());
        return Ok(());
    }

    let mut writer = EnsembleWriter::open_append(&path)?;
    let mut progress = RunProgress::new(total as u64, false, args.abort_after);
    let flush = Duration::from_secs_f64(config.output.flush_seconds);
    let summary = run_production(
        &mut chains,
        &action,
        &remaining,
        &mut writer,
        flush,
        &mut progress,
    );
    progress.finish();
    let summary = summary.with_context(|| format!("writing {}", path.display()))?;
    writer.close()?;
    rewrite_canonical(&path, None, None)?;
    print_summary(&config, &summary, &path)?;
    Ok(())
}

fn hmc_params(h: &lft_io::config::HmcConfig) -> HmcParams {
    HmcParams {
        step_size: h.length / h.steps as f64,
        n_steps: h.steps,
        integrator: match h.integrator {
            IntegratorName::Leapfrog => Integrator::Leapfrog,
            IntegratorName::Omelyan => Integrator::Omelyan,
        },
        length_jitter: h.length_jitter,
    }
}

fn integrator_name(i: Integrator) -> &'static str {
    match i {
        Integrator::Leapfrog => "leapfrog",
        Integrator::Omelyan => "omelyan",
    }
}

/// Thermalises new chains and writes the file skeleton holding their starting states.
fn start_fresh(config: &Config, action: &Phi4, path: &Path) -> Result<(Vec<HmcChain>, Vec<usize>)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("output.path: cannot create directory {}", dir.display()))?;
    }
    let h = config.hmc()?;
    let params = hmc_params(h);
    let start = match h.start {
        StartName::Cold => Start::Cold,
        StartName::Hot => Start::Hot,
    };
    let mut chains: Vec<HmcChain> = (0..h.chains)
        .map(|c| HmcChain::new(action, start, stream_rng(config.seed, c as u64), params))
        .collect();
    if h.thermalization > 0 {
        info!("thermalising: {} trajectories per chain", h.thermalization);
        let tune = h.tune_step_size.then_some(h.target_acceptance);
        let therm = thermalize_all(&mut chains, action, h.thermalization, tune);
        info!(
            "thermalised in {:.1} s, acceptance {:.3}",
            therm.elapsed.as_secs_f64(),
            therm.acceptance()
        );
        if h.tune_step_size {
            for (c, chain) in chains.iter().enumerate() {
                let p = chain.params();
                info!(
                    "chain {c}: tuned step size {:.5} × {} steps",
                    p.step_size, p.n_steps
                );
            }
        }
    }
    let meta = EnsembleMeta::from_config(config, "hmc", h.chains)?;
    let metas: Vec<ChainMeta> = chains
        .iter()
        .map(|chain| {
            let p = chain.params();
            ChainMeta {
                sampler: ChainSampler::Hmc {
                    step_size: p.step_size,
                    n_steps: p.n_steps as u64,
                    integrator: integrator_name(p.integrator).into(),
                    length_jitter: p.length_jitter,
                },
                start_config: chain.field().to_vec(),
                start_rng: chain.rng_state(),
            }
        })
        .collect();
    EnsembleWriter::create(path, &meta, &metas)?.close()?;
    Ok((chains, vec![h.trajectories; h.chains]))
}

/// Continues the chains stored in `path`, which must hold an ensemble of the same config
/// (up to a larger `hmc.trajectories`).
fn resume(config: &Config, action: &Phi4, path: &Path) -> Result<(Vec<HmcChain>, Vec<usize>)> {
    let reader = EnsembleReader::open(path).with_context(|| {
        format!("output.path {} exists and is not an lft ensemble to continue; refusing to overwrite it", path.display())
    })?;
    let stored = Config::from_text(&reader.meta().config_text, path, &[])
        .with_context(|| format!("{}: stored config is unreadable", path.display()))?;
    let wanted = config.hmc()?.trajectories;
    let mut comparable = stored.clone();
    if let Some(h) = comparable.hmc.as_mut() {
        h.trajectories = wanted;
    }
    if comparable.to_toml() != config.to_toml() {
        bail!(
            "{} holds an ensemble made with a different config (see `lft info {}`); \
             choose another output.path or remove the file",
            path.display(),
            path.display()
        );
    }
    let n_chains = reader.meta().n_chains;
    let mut lengths = Vec::with_capacity(n_chains);
    for c in 0..n_chains {
        let n = reader.chain_len(c)?;
        if n > wanted {
            bail!(
                "{}: chain {c} already holds {n} trajectories, more than hmc.trajectories = {wanted}",
                path.display()
            );
        }
        lengths.push(n);
    }
    if lengths.iter().all(|&n| n == wanted)
        && stored.hmc.as_ref().map(|h| h.trajectories) == Some(wanted)
    {
        return Ok((Vec::new(), vec![0; n_chains]));
    }
    info!(
        "resuming {}: {:?} trajectories stored per chain",
        path.display(),
        lengths
    );
    let mut chains = Vec::with_capacity(n_chains);
    for c in 0..n_chains {
        let m = reader.chain_meta(c)?;
        let state = reader.chain_state(c)?;
        let ChainSampler::Hmc {
            step_size,
            n_steps,
            integrator,
            length_jitter,
        } = m.sampler
        else {
            bail!("{}: chain {c} was not made by HMC", path.display());
        };
        let params = HmcParams {
            step_size,
            n_steps: n_steps as usize,
            integrator: match integrator.as_str() {
                "leapfrog" => Integrator::Leapfrog,
                "omelyan" => Integrator::Omelyan,
                other => bail!(
                    "{}: chain {c} has unknown integrator `{other}`",
                    path.display()
                ),
            },
            length_jitter,
        };
        if state.field.len() != action.lattice().volume() {
            bail!(
                "{}: chain {c} state does not fit the lattice",
                path.display()
            );
        }
        chains.push(HmcChain::resume(
            action,
            state.field,
            RngState::restore(&state.rng),
            params,
        ));
    }
    drop(reader);
    // Drop any partial block a crash left, and record the (possibly extended) config.
    rewrite_canonical(path, Some(&lengths), Some(&config.to_toml()))?;
    let remaining = lengths.iter().map(|&n| wanted - n).collect();
    Ok((chains, remaining))
}

fn print_summary(config: &Config, s: &RunSummary, path: &Path) -> Result<()> {
    let reader = EnsembleReader::open(path)?;
    let stored: usize = (0..reader.meta().n_chains)
        .map(|c| reader.chain_len(c))
        .sum::<Result<usize, _>>()?;
    println!(
        "lft hmc: {} chain(s) on {:?}",
        config.hmc.as_ref().map_or(1, |h| h.chains),
        config.lattice.shape
    );
    println!("  trajectories (this run)  {}", s.trajectories);
    println!("  acceptance               {:.4}", s.acceptance());
    println!("  <dH>                     {:.5}", s.mean_delta_h());
    println!(
        "  <exp(-dH)>               {:.5}",
        s.mean_exp_minus_delta_h()
    );
    println!(
        "  time per trajectory      {} (wall clock, {} chain(s) in parallel)",
        human_seconds(s.seconds_per_trajectory()),
        config.hmc.as_ref().map_or(1, |h| h.chains)
    );
    println!(
        "  output                   {} ({stored} configurations)",
        path.display()
    );
    Ok(())
}

/// 3.2 µs, 41.0 ms, 2.50 s.
fn human_seconds(t: f64) -> String {
    match t {
        t if t < 1e-3 => format!("{:.1} µs", t * 1e6),
        t if t < 1.0 => format!("{:.2} ms", t * 1e3),
        t => format!("{t:.2} s"),
    }
}
