//! `lft run` / `lft hmc`: generate an HMC ensemble, resuming an unfinished output.
//!
//! Fresh output: thermalise every chain, write the file skeleton (with the thermalised state),
//! then append production trajectories. Existing output made with the same config: continue
//! each chain from its last stored state (configuration and generator), so the finished file
//! is byte for byte the one an uninterrupted run writes. Either way the file is rewritten
//! canonically at the end.

use crate::cli::RunArgs;
use crate::model::field_action;
use crate::progress::RunProgress;
use anyhow::{Context, Result, anyhow, bail};
use lft_action::{Action, PseudofermionCg, Yukawa};
use lft_io::config::{Fermions, IntegratorName, Model, StartName};
use lft_io::{
    ChainMeta, ChainSampler, Config, EnsembleMeta, EnsembleReader, EnsembleWriter,
    rewrite_canonical,
};
use lft_lattice::{Pcg64, RngState, stream_rng};
use lft_sample::{
    HmcChain, HmcParams, Integrator, MarkovChain, PseudofermionHmc, RunSummary, Start, WithAction,
    run_chains, thermalize_chains,
};
use std::path::Path;
use std::time::Duration;
use tracing::info;

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    run_config(&config, args)
}

/// Generates the HMC ensemble of an already loaded config: plain HMC for φ⁴ and for the
/// Yukawa model with the exact determinant, pseudofermion HMC for `fermions = "pseudofermion"`.
pub fn run_config(config: &Config, args: &RunArgs) -> Result<()> {
    let lattice = config.lattice()?;
    let couplings = config.couplings()?;
    let model = config.model()?;
    let h = config.hmc()?;
    let fermion_text = match model {
        Model::Phi4(_) => String::new(),
        Model::Yukawa { params, fermions } => format!(
            ", g = {}, mass = {}, {}",
            params.g,
            params.mass,
            match fermions {
                Fermions::Exact => "exact determinant",
                Fermions::Pseudofermion(_) => "pseudofermions",
            }
        ),
    };
    info!(
        "{} on {:?}: m2 = {}, lambda = {} (kappa = {:.6}, lambda_tilde = {:.6}){fermion_text}; {} chain(s) × {} trajectories",
        model.kind_name(),
        config.lattice.shape,
        couplings.aks.m2,
        couplings.aks.lambda,
        couplings.hopping.kappa,
        couplings.hopping.lambda_tilde,
        h.chains,
        h.trajectories
    );
    match model {
        Model::Yukawa {
            params,
            fermions: Fermions::Pseudofermion(cg),
        } => {
            let model = Yukawa::new(lattice, params)?;
            generate(config, args, &PfHmc { model, cg })
        }
        _ => generate(config, args, &PlainHmc(field_action(config)?.as_ref())),
    }
}

/// Makes the chains of one theory, new or continued from a stored state.
trait ChainMaker {
    type Chain: MarkovChain<Error: std::error::Error + Send + Sync + 'static>;
    fn volume(&self) -> usize;
    fn fresh(&self, start: Start, rng: Pcg64, params: HmcParams) -> Self::Chain;
    fn resume(&self, field: Vec<f64>, rng: Pcg64, params: HmcParams) -> Self::Chain;
    /// A line for the run summary about the solver work, if any.
    fn solver_summary(&self, _chains: &[Self::Chain]) -> Option<String> {
        None
    }
}

/// HMC on an action that needs nothing but φ.
struct PlainHmc<'a>(&'a dyn Action);

impl<'a> ChainMaker for PlainHmc<'a> {
    type Chain = WithAction<'a, HmcChain>;
    fn volume(&self) -> usize {
        self.0.lattice().volume()
    }
    fn fresh(&self, start: Start, rng: Pcg64, params: HmcParams) -> Self::Chain {
        WithAction {
            chain: HmcChain::new(self.0, start, rng, params),
            action: self.0,
        }
    }
    fn resume(&self, field: Vec<f64>, rng: Pcg64, params: HmcParams) -> Self::Chain {
        WithAction {
            chain: HmcChain::resume(self.0, field, rng, params),
            action: self.0,
        }
    }
}

/// Pseudofermion HMC for the Yukawa model: each chain owns its pseudofermion.
struct PfHmc {
    model: Yukawa,
    cg: PseudofermionCg,
}

impl ChainMaker for PfHmc {
    type Chain = PseudofermionHmc;
    fn volume(&self) -> usize {
        self.model.phi4().lattice().volume()
    }
    fn fresh(&self, start: Start, rng: Pcg64, params: HmcParams) -> Self::Chain {
        PseudofermionHmc::new(self.model.clone(), self.cg, start, rng, params)
    }
    fn resume(&self, field: Vec<f64>, rng: Pcg64, params: HmcParams) -> Self::Chain {
        PseudofermionHmc::resume(self.model.clone(), self.cg, field, rng, params)
    }
    fn solver_summary(&self, chains: &[Self::Chain]) -> Option<String> {
        let (solves, iterations) = chains
            .iter()
            .map(|c| c.action().cg_counts())
            .fold((0, 0), |(s, i), (ds, di)| (s + ds, i + di));
        Some(format!(
            "{solves} CG solves (this run, thermalisation included), {:.1} iterations each",
            iterations as f64 / solves.max(1) as f64
        ))
    }
}

fn generate<M: ChainMaker>(config: &Config, args: &RunArgs, maker: &M) -> Result<()>
where
    <M::Chain as MarkovChain>::Error: 'static,
{
    let path = config.output.path.clone();
    let (mut chains, remaining) = if path.exists() {
        resume(config, maker, &path)?
    } else {
        start_fresh(config, maker, &path)?
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
    let summary = run_chains(
        &mut chains,
        maker.volume(),
        &remaining,
        &mut writer,
        flush,
        &mut progress,
    );
    progress.finish();
    let summary = summary.with_context(|| {
        format!(
            "writing {} (every trajectory completed before the failure is stored; \
             run again to continue)",
            path.display()
        )
    })?;
    writer.close()?;
    rewrite_canonical(&path, None, None)?;
    print_summary(config, &summary, &path, maker.solver_summary(&chains))?;
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
fn start_fresh<M: ChainMaker>(
    config: &Config,
    maker: &M,
    path: &Path,
) -> Result<(Vec<M::Chain>, Vec<usize>)> {
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
    let mut chains: Vec<M::Chain> = (0..h.chains)
        .map(|c| maker.fresh(start, stream_rng(config.seed, c as u64), params))
        .collect();
    if h.thermalization > 0 {
        info!("thermalising: {} trajectories per chain", h.thermalization);
        let tune = h.tune_step_size.then_some(h.target_acceptance);
        let therm = thermalize_chains(&mut chains, h.thermalization, tune)
            .map_err(|(c, e)| anyhow!("thermalising chain {c}: {e}"))?;
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
fn resume<M: ChainMaker>(
    config: &Config,
    maker: &M,
    path: &Path,
) -> Result<(Vec<M::Chain>, Vec<usize>)> {
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
        if state.field.len() != maker.volume() {
            bail!(
                "{}: chain {c} state does not fit the lattice",
                path.display()
            );
        }
        chains.push(maker.resume(state.field, RngState::restore(&state.rng), params));
    }
    drop(reader);
    // Drop any partial block a crash left, and record the (possibly extended) config.
    rewrite_canonical(path, Some(&lengths), Some(&config.to_toml()))?;
    let remaining = lengths.iter().map(|&n| wanted - n).collect();
    Ok((chains, remaining))
}

fn print_summary(
    config: &Config,
    s: &RunSummary,
    path: &Path,
    solver: Option<String>,
) -> Result<()> {
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
    if let Some(line) = solver {
        println!("  solver                   {line}");
    }
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
