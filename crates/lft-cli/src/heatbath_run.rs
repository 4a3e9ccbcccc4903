//! `lft heatbath` (and `lft run` of a `[heatbath]` config): heat bath with overrelaxation for
//! a U(1) gauge field through the one pipeline ([`crate::pipeline`]), which thermalises fresh
//! chains or continues stored ones bit for bit.

use crate::cli::RunArgs;
use crate::device::Choice;
use crate::pipeline::{human_seconds, run_ensemble};
use crate::progress::RunProgress;
use anyhow::{Result, bail};
use lft_action::U1Wilson;
use lft_config::{Config, Model};
use lft_io::EnsembleReader;
use lft_sample::HeatbathSampler;
use tracing::info;

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    let choice = crate::device::choose(args.device, &config);
    run_config(&config, args, choice)
}

/// Generates the heat-bath ensemble of an already loaded config.
pub fn run_config(config: &Config, args: &RunArgs, choice: Choice) -> Result<()> {
    let h = config.heatbath()?;
    let Model::U1 { beta } = *config.model() else {
        bail!("the heat bath updates gauge links: action.kind must be \"u1\"");
    };
    if choice.device != lft_cuda::Device::Cpu {
        bail!("{choice}: the heat bath runs on the CPU (use --device cpu)");
    }
    info!(
        "{} on {:?}; {} chain(s) × {} sweeps, {} overrelaxation sweep(s) after each",
        config.action_summary(),
        config.lattice().shape(),
        h.chains,
        h.sweeps,
        h.overrelaxation
    );
    let action = U1Wilson::new(config.lattice().clone(), beta)?;
    let sampler = HeatbathSampler {
        action: &action,
        overrelaxation: h.overrelaxation,
        start: h.start,
        seed: config.seed(),
        thermalization: h.thermalization,
    };
    let plan = config.run_plan(h.chains, h.sweeps, h.save_every);
    let mut progress = RunProgress::new("sweeps", args.abort_after);
    progress.show_acceptance = false;
    let outcome = run_ensemble(config, &sampler, &plan, "heatbath.sweeps", &mut progress)?;
    let s = &outcome.summary;
    if s.steps > 0 {
        let path = &config.output().path;
        let stored: usize = {
            let r = EnsembleReader::open(path)?;
            (0..r.meta().n_chains)
                .map(|c| r.chain_len(c))
                .sum::<Result<usize, _>>()?
        };
        println!(
            "lft heatbath: {} chain(s) on {:?}, beta = {beta}",
            h.chains,
            config.lattice().shape()
        );
        println!("  sweeps (this run)        {}", s.steps);
        println!(
            "  time per sweep           {} (wall clock, {} chain(s) in parallel; {} link updates each)",
            human_seconds(s.seconds_per_step()),
            h.chains,
            (1 + h.overrelaxation) * config.lattice().dim() * config.lattice().volume()
        );
        println!(
            "  output                   {} ({stored} configurations)",
            path.display()
        );
    }
    Ok(())
}
