//! `lft run` / `lft hmc`: generate an HMC ensemble, resuming an unfinished output.
//!
//! Plain HMC for φ⁴, U(1), and the Yukawa and Schwinger models with the exact determinant,
//! pseudofermion HMC for `fermions = "pseudofermion"`, and φ⁴ HMC with every chain on a GPU
//! (`--device cuda`, lft-cuda's [`DeviceHmcSampler`]); all go through the one pipeline
//! ([`crate::pipeline`]), which thermalises fresh chains or continues stored ones bit for bit.

use crate::cli::RunArgs;
use crate::device::Choice;
use crate::pipeline::{human_seconds, run_ensemble};
use crate::progress::RunProgress;
use anyhow::{Result, bail};
use lft_action::{
    PseudofermionAction, Schwinger, SchwingerPseudofermion, Yukawa, YukawaPseudofermion,
};
use lft_config::{Config, Fermions, HmcPlan, Model};
use lft_cuda::{DeviceHmcSampler, Engine, Executor};
use lft_io::EnsembleReader;
use lft_sample::{FourierMass, HmcSampler, PseudofermionHmcSampler, RunPlan, RunSummary};
use std::path::Path;
use tracing::info;

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    let choice = crate::device::choose(args.device, &config);
    run_config(&config, args, choice)
}

/// Generates the HMC ensemble of an already loaded config on the device `choice` names.
pub fn run_config(config: &Config, args: &RunArgs, choice: Choice) -> Result<()> {
    let model = *config.model();
    let h = config.hmc()?;
    info!(
        "{} on {:?}; {} chain(s) × {} trajectories",
        config.action_summary(),
        config.lattice().shape(),
        h.chains,
        h.trajectories
    );
    let plan = config.run_plan(h.chains, h.trajectories, h.save_every);
    if let Some(mu) = h.fa_mass {
        info!("Fourier acceleration: mass matrix 2(p^2 + {mu}^2) in momentum space");
    }
    if choice.device != lft_cuda::Device::Cpu {
        if h.fa_mass.is_some() {
            bail!(
                "{choice}: hmc.fourier_acceleration runs on the CPU (the device's HMC has no \
                 mass matrix yet; use --device cpu)"
            );
        }
        let Model::Phi4 {
            params: couplings,
            h: field,
        } = model
        else {
            bail!(
                "{choice}: the GPU runs HMC of φ⁴; this config's action is {} (use --device cpu)",
                model.kind_name()
            );
        };
        // Opened before anything is written: no GPU is a named error and an untouched output.
        let engine = crate::device::engine(choice, config)?.expect("not the CPU");
        let describe = engine.describe();
        let summary = match engine {
            Engine::Cuda(rt) => run_on_device(*rt, config, h, couplings, field, &plan, args)?,
            Engine::Emulator(e) => run_on_device(e, config, h, couplings, field, &plan, args)?,
        };
        if summary.steps > 0 {
            let on = format!("{} chain(s) together on {describe}", h.chains);
            print_summary(config, &summary, &config.output().path, None, &on)?;
        }
        return Ok(());
    }
    let mut progress = RunProgress::new("trajectories", args.abort_after);
    progress.log_settings = h.tune.is_some();
    let (summary, solver) = match model {
        Model::Yukawa {
            params,
            fermions: Fermions::Pseudofermion(cg),
        } => {
            let model = Yukawa::new(config.lattice().clone(), params)?;
            let action = YukawaPseudofermion::new(model, cg);
            run_pseudofermion(config, h, action, &plan, &mut progress)?
        }
        Model::Schwinger {
            beta,
            mass,
            fermions: Fermions::Pseudofermion(cg),
        } => {
            let model = Schwinger::new(config.lattice().clone(), beta, mass)?;
            let action = SchwingerPseudofermion::new(model, cg)?;
            run_pseudofermion(config, h, action, &plan, &mut progress)?
        }
        _ => {
            let action = config.field_action()?;
            let mass = h
                .fa_mass
                .map(|mu| std::sync::Arc::new(FourierMass::new(config.lattice(), mu)));
            let sampler = HmcSampler {
                action: action.as_ref(),
                params: h.params,
                start: h.start,
                seed: config.seed(),
                thermalization: h.thermalization,
                tune: h.tune,
                mass,
                tune_mass: h.tune_fa_mass,
            };
            (
                run_ensemble(config, &sampler, &plan, "hmc.trajectories", &mut progress)?.summary,
                None,
            )
        }
    };
    if summary.steps > 0 {
        let on = format!("{} chain(s) in parallel", h.chains);
        print_summary(config, &summary, &config.output().path, solver, &on)?;
    }
    Ok(())
}

/// Pseudofermion HMC of `action` (a fresh copy per chain) into the config's ensemble; the
/// summary and a line on the CG solves.
fn run_pseudofermion<A: PseudofermionAction + 'static>(
    config: &Config,
    h: &HmcPlan,
    action: A,
    plan: &RunPlan,
    progress: &mut RunProgress,
) -> Result<(RunSummary, Option<String>)> {
    let sampler = PseudofermionHmcSampler {
        action,
        params: h.params,
        start: h.start,
        seed: config.seed(),
        thermalization: h.thermalization,
        tune: h.tune,
        inner_steps: h.inner_steps,
    };
    let outcome = run_ensemble(config, &sampler, plan, "hmc.trajectories", progress)?;
    let (solves, iterations) = outcome
        .chains
        .iter()
        .map(|c| c.action().cg_counts())
        .fold((0, 0), |(s, i), (ds, di)| (s + ds, i + di));
    let line = format!(
        "{solves} CG solves (this run, thermalisation included), {:.1} iterations each",
        iterations as f64 / solves.max(1) as f64
    );
    Ok((outcome.summary, Some(line)))
}

/// φ⁴ HMC with every chain on the device `exec`, into the config's ensemble.
fn run_on_device<E: Executor + Send>(
    exec: E,
    config: &Config,
    h: &HmcPlan,
    couplings: lft_action::Phi4Params,
    field: f64,
    plan: &RunPlan,
    args: &RunArgs,
) -> Result<RunSummary> {
    let action =
        lft_action::Phi4::new(config.lattice().clone(), couplings)?.with_external_field(field)?;
    let sampler = DeviceHmcSampler::new(
        exec,
        action,
        h.chains,
        h.params,
        h.start,
        config.seed(),
        h.thermalization,
        h.tune,
    )?;
    let mut progress = RunProgress::new("trajectories", args.abort_after);
    progress.log_settings = h.tune.is_some();
    Ok(run_ensemble(config, &sampler, plan, "hmc.trajectories", &mut progress)?.summary)
}

fn print_summary(
    config: &Config,
    s: &RunSummary,
    path: &Path,
    solver: Option<String>,
    on: &str,
) -> Result<()> {
    let reader = EnsembleReader::open(path)?;
    let stored: usize = (0..reader.meta().n_chains)
        .map(|c| reader.chain_len(c))
        .sum::<Result<usize, _>>()?;
    let chains = config.hmc()?.chains;
    println!(
        "lft hmc: {chains} chain(s) on {:?}",
        config.lattice().shape()
    );
    println!("  trajectories (this run)  {}", s.steps);
    println!("  acceptance               {:.4}", s.acceptance());
    println!("  <dH>                     {:.5}", s.mean_delta_h());
    println!(
        "  <exp(-dH)>               {:.5}",
        s.mean_exp_minus_delta_h()
    );
    println!(
        "  time per trajectory      {} (wall clock, {on})",
        human_seconds(s.seconds_per_step()),
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
