//! Command-line interface (clap).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// lft: Monte Carlo ensembles of lattice field theories, and their observables.
#[derive(Debug, Parser)]
#[command(name = "lft", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Do what the config says (for now: generate an HMC ensemble). Resumes an unfinished output.
    Run(RunArgs),
    /// Generate an ensemble with Hybrid Monte Carlo. Resumes an unfinished output.
    Hmc(RunArgs),
    /// Measure observables of one or more ensemble files (several files = replicas).
    Measure(MeasureArgs),
    /// Describe an ensemble file: parameters, chains, acceptance, config.
    Info(InfoArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run config (TOML).
    pub config: PathBuf,
    /// Override a config key, e.g. `--set hmc.trajectories=500` (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Test hook: abort the process (as a crash would) once this many production trajectories
    /// have been flushed.
    #[arg(long, hide = true)]
    pub abort_after: Option<u64>,
}

#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// Ensemble files; several files are combined as replicas of one ensemble.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Drop this many configurations at the start of every chain.
    #[arg(long, default_value_t = 0)]
    pub skip: usize,
    /// Bin size for the jackknife of derived observables (default: ⌈4 τ_int⌉).
    #[arg(long)]
    pub bin: Option<usize>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The ensemble file.
    pub file: PathBuf,
}
