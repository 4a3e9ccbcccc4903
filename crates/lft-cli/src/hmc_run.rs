//! `lft run` / `lft hmc`: generate an HMC ensemble, resuming an unfinished output.
//!
//! Plain HMC for φ⁴ and for the Yukawa model with the exact determinant, pseudofermion HMC
//! for `fermions = "pseudofermion"`; both go through the one pipeline ([`crate::pipeline`]),
//! which thermalises fresh chains or continues stored ones bit for bit.

use crate::cli::RunArgs;
use crate::pipeline::{human_seconds, run_ensemble};
use crate::progress::RunProgress;
use anyhow::Result;
use lft_action::Yukawa;
use lft_config::{Config, Fermions, Model};
use lft_io::EnsembleReader;
use lft_sample::{HmcSampler, PseudofermionHmcSampler, RunSummary};
use std::path::Path;
use tracing::info;

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    crate::device::cpu_only(crate::device::choose(args.device, &config), "hmc")?;
    run_config(&config, args)
}

/// Generates the HMC ensemble of an already loaded config.
pub fn run_config(config: &Config, args: &RunArgs) -> Result<()> {
    let couplings = config.couplings();
    let model = *config.model();
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
        config.lattice().shape(),
        couplings.aks.m2,
        couplings.aks.lambda,
        couplings.hopping.kappa,
        couplings.hopping.lambda_tilde,
        h.chains,
        h.trajectories
    );
    let plan = config.run_plan(h.chains, h.trajectories, h.save_every);
    let mut progress = RunProgress::new("trajectories", args.abort_after);
    progress.log_settings = h.tune.is_some();
    let (summary, solver) = match model {
        Model::Yukawa {
            params,
            fermions: Fermions::Pseudofermion(cg),
        } => {
            let sampler = PseudofermionHmcSampler {
                model: Yukawa::new(config.lattice().clone(), params)?,
                cg,
                params: h.params,
                start: h.start,
                seed: config.seed(),
                thermalization: h.thermalization,
                tune: h.tune,
            };
            let outcome = run_ensemble(config, &sampler, &plan, "hmc.trajectories", &mut progress)?;
            let (solves, iterations) = outcome
                .chains
                .iter()
                .map(|c| c.action().cg_counts())
                .fold((0, 0), |(s, i), (ds, di)| (s + ds, i + di));
            let line = format!(
                "{solves} CG solves (this run, thermalisation included), {:.1} iterations each",
                iterations as f64 / solves.max(1) as f64
            );
            (outcome.summary, Some(line))
        }
        _ => {
            let action = config.field_action()?;
            let sampler = HmcSampler {
                action: action.as_ref(),
                params: h.params,
                start: h.start,
                seed: config.seed(),
                thermalization: h.thermalization,
                tune: h.tune,
            };
            (
                run_ensemble(config, &sampler, &plan, "hmc.trajectories", &mut progress)?.summary,
                None,
            )
        }
    };
    if summary.steps > 0 {
        print_summary(config, &summary, &config.output().path, solver)?;
    }
    Ok(())
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
        "  time per trajectory      {} (wall clock, {chains} chain(s) in parallel)",
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
