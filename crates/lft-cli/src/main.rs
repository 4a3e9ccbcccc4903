//! `lft`: lattice field theory ensembles from a TOML config, and their observables.

mod anneal;
mod cli;
mod correlator_report;
mod craft;
mod device;
mod heatbath_run;
mod hmc_run;
mod info;
mod measure;
mod measure_gauge;
mod measure_scan;
mod measure_schwinger;
mod merge;
mod mode_report;
mod nemcmc;
mod pipeline;
mod pretrain;
mod progress;
mod pseudo_marginal;
mod quality_report;
mod sample;
mod sample_summary;
mod scan;
mod scan_check;
mod scan_points;
mod scan_record;
mod scan_report;
mod signals;
mod snf_train;
mod status;
mod store;
mod submit;
mod submit_scan;
mod submit_script;
mod train;
mod train_data;
mod train_device;
mod trained_flow;
mod transfer;
mod verify;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

/// `lft run`: HMC for an [hmc] config; heat bath for a [heatbath] config; training, then
/// sampling, for a [flow] config (NE-MCMC from the flow's prior trains nothing); annealing for
/// an [anneal] config.
fn run(args: &cli::RunArgs) -> anyhow::Result<()> {
    let config = lft_config::Config::load(&args.config, &args.overrides)?;
    let choice = device::choose(args.device, &config);
    if config.anneal().is_ok() {
        return anneal::run_config(&config, args.abort_after, choice);
    }
    if config.hmc().is_ok() {
        return hmc_run::run_config(&config, args, choice);
    }
    if config.heatbath().is_ok() {
        return heatbath_run::run_config(&config, args, choice);
    }
    let summary = mode_report::Summary {
        json: args.json,
        reference: args.reference.as_deref(),
    };
    if config.needs_training() {
        train::run_config(&config, choice, args.abort_after, summary)?;
    }
    if config.sample().is_ok() {
        sample::run_config(&config, choice, args.abort_after, summary)?;
    } else {
        tracing::info!("no [sample] section: the flow is trained; add one to sample with it");
    }
    Ok(())
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`lft measure | head`) would panic.
/// Restoring the default action makes `lft` end quietly there, like other Unix tools.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    default_sigpipe();
    signals::install();
    let cli = Cli::parse();
    progress::init_logging(cli.verbose, cli.quiet);
    let result = match &cli.command {
        Command::Run(args) => run(args),
        Command::Hmc(args) => hmc_run::run(args),
        Command::Heatbath(args) => heatbath_run::run(args),
        Command::Train(args) => train::run(args),
        Command::Sample(args) => sample::run(args),
        Command::Anneal(args) => anneal::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Submit(args) if !args.vary.is_empty() => submit_scan::submit(args),
        Command::Submit(args) => submit::run(args),
        Command::Status(args) => status::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Measure(args) => measure::run(args),
        Command::Info(args) => info::run(args),
        Command::Verify(args) => verify::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<signals::Stopped>().is_some() => {
            eprintln!("lft: {e:#}");
            ExitCode::from(signals::EXIT_STOPPED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            if verify::is_damage(&e) {
                eprintln!(
                    "hint: `lft verify FILE` lists every damaged round; `--no-verify` (lft measure, \
                     info, merge) leaves them out and reads the rest"
                );
            }
            ExitCode::FAILURE
        }
    }
}
