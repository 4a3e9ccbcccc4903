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
    /// Do what the config says: an HMC ensemble for [hmc], a heat-bath ensemble for
    /// [heatbath], training (and sampling) for [flow], annealing for [anneal]. Resumes.
    Run(RunArgs),
    /// Generate an ensemble with Hybrid Monte Carlo. Resumes an unfinished output.
    Hmc(RunArgs),
    /// Generate a U(1) gauge ensemble by heat bath with overrelaxation ([heatbath]). Resumes an
    /// unfinished output.
    Heatbath(RunArgs),
    /// Train the normalizing flow of a config by `train.objective`: reverse KL (default),
    /// forward KL or flow matching on an ensemble (optionally after [pretrain]), or FAB; the
    /// CRAFT flows of an [anneal] config. Writes and continues its checkpoint.
    Train(RunArgs),
    /// Sample with the trained flow: independence Metropolis chains into an ensemble file.
    Sample(RunArgs),
    /// Anneal from a prior to e^{-S} ([anneal]: SMC, AIS, CRAFT, PIMH): log Z and weighted
    /// particles, or a PIMH chain. CRAFT trains its flows first (checkpointed). Resumes.
    Anneal(RunArgs),
    /// A parameter scan: the config run at every point of a grid of `--vary KEY=SPEC`, in
    /// parallel on the local cores, into `<output stem>/<key=value,…>.h5`. Resumes.
    Scan(ScanArgs),
    /// Submit a config to Slurm as a job array: task i on its own streams into
    /// `<output stem>/task-NNNN.h5`, resources from [slurm]; flows and CRAFT train first.
    /// With `--vary`, a scan: one task per point.
    Submit(SubmitArgs),
    /// Merge the task files of a job array (files, or their folder) into one ensemble: task
    /// i's chains become chains i·C … i·C + C − 1.
    Merge(MergeArgs),
    /// The tasks of a submission (its task folder): done, queued, running, unfinished or
    /// failed, what each stored, and the command that submits the rest.
    Status(StatusArgs),
    /// Measure observables of one or more ensemble files (several files = replicas).
    Measure(MeasureArgs),
    /// Describe an ensemble file: parameters, chains, acceptance, config.
    Info(InfoArgs),
    /// Check ensemble files: every round against its stored CRC-32, and what the values can
    /// tell (finite, integer topological charge); one line per file, exit code 1 if any is
    /// damaged.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Ensemble files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print one JSON object (one line) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run config (TOML).
    pub config: PathBuf,
    /// Override a config key, e.g. `--set hmc.trajectories=500` (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
    /// `train` and `sample`: print the summary as one JSON object (one line) instead of text;
    /// `run` prints one line per phase.
    #[arg(long)]
    pub json: bool,
    /// Where to compute: "cpu", "cuda" or "cuda:N" (needs a build with `--features cuda` and
    /// an NVIDIA GPU; `lft train` and `lft sample` run there), or "emulator" (the kernels on
    /// the host, slow: for tests). Default: the config's `[run] device`, else cpu.
    #[arg(long, value_parser = parse_device)]
    pub device: Option<lft_cuda::Device>,
    /// `train` and `sample`: an ensemble of the same physics (HMC, heat bath, annealing) whose
    /// mode weights (the signs of M, or P(Q)) the flow's reweighted proposals (`train`) or the
    /// sampled ensemble (`sample`) are checked against: the missing mass is reported, with a
    /// warning where the flow dropped a mode.
    #[arg(long, value_name = "ENSEMBLE")]
    pub reference: Option<PathBuf>,
    /// Test hook: abort the process (as a crash would) once this many production trajectories
    /// have been flushed, or training steps checkpointed.
    #[arg(long, hide = true)]
    pub abort_after: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The run config (TOML) of every point.
    pub config: PathBuf,
    /// A varied key and its values: a list `action.m2=-4.2,-4.1,-4.0` (TOML values; `[8,8]`
    /// for arrays) or a range `START:STOP:COUNT`, ends included (`action.kappa=0.26:0.28:11`).
    /// Several make a grid (repeatable).
    #[arg(long, value_name = "KEY=SPEC", required = true)]
    pub vary: Vec<String>,
    /// Override a config key for every point, e.g. `--set hmc.trajectories=500` (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Points run at once (default: one per core, at most the points left).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Threads of each point's run (default: the cores shared among the jobs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print each point's command instead of running it.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The run config (TOML), with a [slurm] section (defaults otherwise).
    #[arg(required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// Tasks of the job array, each on its own random streams into its own file (with
    /// `--vary`: tasks per point, default 1).
    #[arg(long, required_unless_present_any = ["resume", "vary"])]
    pub tasks: Option<usize>,
    /// A scan as the job array: one task per point of the grid (per point × `--tasks`), as
    /// `lft scan --vary` (repeatable).
    #[arg(long, value_name = "KEY=SPEC")]
    pub vary: Vec<String>,
    /// Submit again exactly the unfinished tasks of an earlier submission (its task folder,
    /// `<output stem>/`): neither done nor still queued or running.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "tasks", "overrides", "vary"])]
    pub resume: Option<PathBuf>,
    /// Print the batch script(s) instead of submitting them.
    #[arg(long)]
    pub dry_run: bool,
    /// Override a config key for every task, e.g. `--set hmc.trajectories=500` (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The merged ensemble (a new file).
    pub out: PathBuf,
    /// Task files, or the folder that holds them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Leave out the rounds whose checksums fail (with a warning) instead of stopping: the
    /// merged file holds the rest, with checksums of its own.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The task folder of a submission (`<output stem>/`).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// Ensemble files; several files are combined as replicas of one ensemble. Or the folder
    /// of an `lft scan`: every point against the varied keys.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// A scan folder: print the points as CSV (one row per point: the varied keys, the
    /// configurations, every observable and its error).
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// A scan folder: estimate where the Binder cumulants U_4 of successive volumes cross,
    /// from the reweighted curves, with a jackknife error.
    #[arg(long, value_name = "OBSERVABLE")]
    pub crossing: Option<CrossingArg>,
    /// Reweight to these couplings (`action.m2=1.05,1.1` or `action.kappa=0.26:0.28:21`): of
    /// one ensemble (single-histogram) or of the points of a scan (MBAR). The key must enter
    /// the action linearly: action.m2, action.lambda, action.h, action.kappa,
    /// action.lambda_tilde or action.beta. Default for a scan: its varied coupling on a grid.
    #[arg(long, value_name = "KEY=SPEC")]
    pub reweight: Option<String>,
    /// Couplings of a scan's reweighted curves (evenly spaced between its points).
    #[arg(long, default_value_t = 41)]
    pub grid: usize,
    /// Jackknife blocks per ensemble of the reweighting errors (each should be much longer
    /// than τ_int).
    #[arg(long, default_value_t = 20)]
    pub blocks: usize,
    /// An ensemble of the same physics whose mode weights (the signs of M, or P(Q)) these
    /// files' are checked against: the missing mass is reported, with a warning where the
    /// ensemble lacks a mode (a flow's dropped mode).
    #[arg(long, value_name = "ENSEMBLE")]
    pub reference: Option<PathBuf>,
    /// Drop this many configurations at the start of every chain.
    #[arg(long, default_value_t = 0)]
    pub skip: usize,
    /// Bin size of the jackknife for the pole-mass fit and G_c(x) (default: ⌈4 τ_int⌉ of the
    /// slowest observable).
    #[arg(long)]
    pub bin: Option<usize>,
    /// Fit range of the pole mass, `T1:T2` (default: chosen from the effective-mass plateau).
    #[arg(long, value_name = "T1:T2", value_parser = parse_range)]
    pub fit_range: Option<(usize, usize)>,
    /// Write SVG figures into this directory: C(t), m_eff(t) with the fit, and the Monte Carlo
    /// histories of χ₂ and |M| with their autocorrelation functions.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Store the results in the (single) ensemble file, group /measurements; the
    /// configurations are not touched.
    #[arg(long)]
    pub store: bool,
    /// Yukawa and Schwinger ensembles: the fermionic observables `exact` (dense; for Yukawa also
    /// the fraction with det D < 0, for Schwinger every even site a pion source and the
    /// disconnected part), `stochastic` (Z₂ noise, and for Schwinger random point sources, by
    /// CG), or `off`. Default: exact up to 256 sites, stochastic beyond.
    #[arg(long, value_name = "METHOD")]
    pub condensate: Option<CondensateArg>,
    /// Noise vectors per configuration of the stochastic condensate (and point sources of the
    /// Schwinger pion correlator).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub noise: usize,
    /// For a known-damaged file: leave out the rounds whose checksums fail (each named in a
    /// warning) and measure the rest, instead of stopping.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CrossingArg {
    /// The Binder cumulant U_4 = 1 − ⟨M⁴⟩/(3⟨M²⟩²).
    Binder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CondensateArg {
    Exact,
    Stochastic,
    Off,
}

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s.split_once(':').ok_or("expected T1:T2, e.g. 2:8")?;
    let a: usize = a
        .trim()
        .parse()
        .map_err(|_| format!("`{a}` is not a time"))?;
    let b: usize = b
        .trim()
        .parse()
        .map_err(|_| format!("`{b}` is not a time"))?;
    if b <= a {
        return Err(format!("T2 = {b} must be larger than T1 = {a}"));
    }
    Ok((a, b))
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The ensemble file.
    pub file: PathBuf,
    /// Leave out the rounds whose checksums fail (with a warning) instead of stopping.
    #[arg(long)]
    pub no_verify: bool,
}

fn parse_device(s: &str) -> Result<lft_cuda::Device, String> {
    s.parse()
}
