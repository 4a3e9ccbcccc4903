//! `lft`: lattice field theory ensembles from a TOML config, and their observables.

mod cli;
mod hmc_run;
mod info;
mod measure;
mod progress;
mod store;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    progress::init_logging(cli.verbose, cli.quiet);
    let result = match &cli.command {
        Command::Run(args) | Command::Hmc(args) => hmc_run::run(args),
        Command::Measure(args) => measure::run(args),
        Command::Info(args) => info::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
