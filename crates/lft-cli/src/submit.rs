//! `lft submit`: a config as a Slurm job array. Task i runs lft on its own streams (the
//! config key `task = i`: global chain indices i · chains + c) into
//! `<output stem>/task-NNNN.h5`, with `[slurm]` resources. A flow config, and an annealing
//! config with CRAFT flows, first trains in one job; the array samples after it (`afterok`).
//! The batch script passes Slurm's warning signal to lft, which stops cleanly (exit 75).

use crate::cli::SubmitArgs;
use crate::pipeline::check_belongs;
use crate::submit_script::Script;
use anyhow::{Context, Result, bail};
use lft_config::output::task_folder;
use lft_config::{Config, Reuse};
use lft_io::EnsembleReader;
use std::path::{Path, PathBuf};
use std::process::Command;
use tracing::warn;

/// What the jobs of a config run.
struct Jobs {
    /// The `lft` subcommand of the training job, if the config trains first.
    train: Option<&'static str>,
    /// The `lft` subcommand of every array task.
    task: &'static str,
}

fn jobs(config: &Config) -> Result<Jobs> {
    if let Ok(plan) = config.anneal() {
        let train = plan.needs_craft().then_some("train");
        return Ok(Jobs {
            train,
            task: "anneal",
        });
    }
    if config.hmc().is_ok() {
        return Ok(Jobs {
            train: None,
            task: "hmc",
        });
    }
    if config.heatbath().is_ok() {
        return Ok(Jobs {
            train: None,
            task: "heatbath",
        });
    }
    if config.sample().is_err() {
        bail!("this flow config has no [sample] section: a job array would have nothing to sample");
    }
    Ok(Jobs {
        train: Some("train"),
        task: "sample",
    })
}

/// The record of a submission in its task folder, which `--resume` reads.
const RECORD: &str = "submission.json";

pub fn run(args: &SubmitArgs) -> Result<()> {
    if let Some(dir) = &args.resume {
        return resume(dir, args.dry_run);
    }
    let (Some(config_path), Some(tasks)) = (&args.config, args.tasks) else {
        bail!("lft submit needs CONFIG and --tasks N (or --resume DIR)");
    };
    if tasks == 0 {
        bail!("--tasks must be at least 1");
    }
    let cwd = std::env::current_dir().context("the working directory")?;
    let config_path =
        std::fs::canonicalize(config_path).with_context(|| format!("{}", config_path.display()))?;
    let submission = Submission {
        config: config_path,
        cwd,
        overrides: args.overrides.clone(),
        tasks,
        jobs: Vec::new(),
        per_task: Vec::new(),
        per_point: Vec::new(),
    };
    let config = submission.config(None)?;
    if config.task().is_some() {
        bail!(
            "{}: remove the key `task`; lft submit gives every task its own",
            submission.config.display()
        );
    }
    if !config.has_slurm_section() {
        warn!(
            "{} has no [slurm] section: the defaults apply ({}, {} CPUs per task, no partition)",
            submission.config.display(),
            config.slurm().time,
            config.slurm().cpus_per_task
        );
    }
    for task in 0..tasks as u64 {
        refuse_other_config(&submission, task)?;
    }
    let all: Vec<u64> = (0..tasks as u64).collect();
    let train = match jobs(&config)?.train {
        Some(_) => Train::Job,
        None => Train::No,
    };
    submit_jobs(submission, &config, train, &all, args.dry_run)
}

/// The training a submission needs before its array.
pub(crate) enum Train {
    No,
    /// One job: the config's flows.
    Job,
    /// A scan's training array: these points.
    Points(Vec<u64>),
}

/// What still needs training: for a scan, the points whose flows are not trained to the end.
pub(crate) fn training(submission: &Submission, config: &Config) -> Result<Train> {
    if jobs(config)?.train.is_none() {
        return Ok(Train::No);
    }
    if submission.per_point.is_empty() {
        return Ok(if flows_trained(config) {
            Train::No
        } else {
            Train::Job
        });
    }
    let mut points = Vec::new();
    for p in 0..submission.per_point.len() {
        if !flows_trained(&submission.point_config(p)?) {
            points.push(p as u64);
        }
    }
    Ok(if points.is_empty() {
        Train::No
    } else {
        Train::Points(points)
    })
}

/// `--resume DIR`: submits again the tasks of DIR's submission that are neither done nor
/// queued or running (and the training job first if the flows are not fully trained).
fn resume(dir: &Path, dry_run: bool) -> Result<()> {
    let submission = Submission::read(dir)?;
    let config = submission.config(None)?;
    let active = active_tasks(&submission.jobs)?;
    let mut todo = Vec::new();
    let mut done = 0;
    for task in 0..submission.tasks as u64 {
        if active.contains(&task) {
            continue;
        }
        match task_progress(&submission, task)? {
            TaskProgress::Done { .. } => done += 1,
            _ => todo.push(task),
        }
    }
    if todo.is_empty() {
        println!(
            "nothing to resume in {}: {done} task(s) done, {} queued or running",
            dir.display(),
            active.len()
        );
        return Ok(());
    }
    let train = training(&submission, &config)?;
    submit_jobs(submission, &config, train, &todo, dry_run)
}

/// Writes the scripts of `tasks` (and of the training job or array `train` asks for) and
/// submits them, or prints them for a dry run; records the job ids in the task folder.
pub(crate) fn submit_jobs(
    mut submission: Submission,
    config: &Config,
    train: Train,
    tasks: &[u64],
    dry_run: bool,
) -> Result<()> {
    let jobs = jobs(config)?;
    let folder = submission.cwd.join(task_folder(config.base_output()));
    let lft = match &config.slurm().lft {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("the path of this lft binary")?,
    };
    let script = Script {
        slurm: config.slurm(),
        name: folder
            .file_name()
            .map_or("lft".into(), |n| n.to_string_lossy().into_owned()),
        folder: &folder,
        cwd: &submission.cwd,
        lft: &lft,
        config: &submission.config,
        overrides: &submission.overrides,
        per_task: &submission.per_task,
        per_point: &submission.per_point,
    };
    let train_points = match &train {
        Train::Points(p) => Some(array_spec(p)),
        _ => None,
    };
    let train = match (train, jobs.train) {
        (Train::No, _) | (_, None) => None,
        (_, Some(cmd)) => Some(script.train(cmd, train_points.as_deref())),
    };
    let array = script.array(jobs.task, &array_spec(tasks));
    if dry_run {
        if let Some(t) = &train {
            println!("# train.sbatch (runs first; the array waits for it with afterok)\n{t}");
            println!("# array.sbatch");
        }
        print!("{array}");
        return Ok(());
    }
    let sbatch = find_in_path("sbatch").ok_or_else(|| {
        anyhow::anyhow!(
            "sbatch is not on PATH: lft submit needs a Slurm client (or use --dry-run to see the \
             script)"
        )
    })?;
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let mut dependency = None;
    if let Some(t) = &train {
        let path = folder.join("train.sbatch");
        std::fs::write(&path, t).with_context(|| format!("{}", path.display()))?;
        let id = sbatch_submit(&sbatch, &path, None)?;
        match &train_points {
            Some(spec) => println!(
                "training array {id}: point(s) {spec}, logs train-NNNN.log in {}",
                folder.display()
            ),
            None => println!(
                "training job {id}: log {}",
                folder.join("train.log").display()
            ),
        }
        // A training array's tasks are not sampling tasks (squeue lists both as ID_i).
        if train_points.is_none() {
            submission.jobs.push(id.clone());
        }
        submission.write(&folder)?;
        dependency = Some(id);
    }
    let path = folder.join("array.sbatch");
    std::fs::write(&path, &array).with_context(|| format!("{}", path.display()))?;
    let id = sbatch_submit(&sbatch, &path, dependency.as_deref())?;
    submission.jobs.push(id.clone());
    submission.write(&folder)?;
    println!(
        "job array {id}: {} task(s) ({}) into {}, logs task-NNNN.log beside them",
        tasks.len(),
        array_spec(tasks),
        folder.display()
    );
    Ok(())
}

/// Slurm's `--array` list of `tasks`: `0-7`, or `1,4,6`.
fn array_spec(tasks: &[u64]) -> String {
    let contiguous = tasks.windows(2).all(|w| w[1] == w[0] + 1);
    match (tasks.first(), tasks.last()) {
        (Some(a), Some(b)) if contiguous && tasks.len() > 1 => format!("{a}-{b}"),
        _ => tasks
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// A submission: what `lft submit` was asked, and the jobs it made.
pub(crate) struct Submission {
    pub(crate) config: PathBuf,
    /// The working directory of the submission (relative output paths start there).
    pub(crate) cwd: PathBuf,
    pub(crate) overrides: Vec<String>,
    pub(crate) tasks: usize,
    pub(crate) jobs: Vec<String>,
    /// A scan (`--vary`): the `--set`s of array task i beyond the shared ones (its point's
    /// and its replica's `task`). Empty: task i is `task = i` of one config.
    pub(crate) per_task: Vec<Vec<String>>,
    /// A scan of a config that trains: the `--set`s of point p's training.
    pub(crate) per_point: Vec<Vec<String>>,
}

impl Submission {
    /// The config of task `task` (or of the whole submission).
    pub(crate) fn config(&self, task: Option<u64>) -> Result<Config> {
        let mut overrides = self.overrides.clone();
        match task {
            Some(t) if !self.per_task.is_empty() => {
                let sets = self.per_task.get(t as usize).ok_or_else(|| {
                    anyhow::anyhow!("task {t}: the submission has {} tasks", self.per_task.len())
                })?;
                overrides.extend(sets.iter().cloned());
            }
            Some(t) => overrides.push(format!("task={t}")),
            None => {}
        }
        Ok(Config::load(&self.config, &overrides)?)
    }

    /// The training config of point p of a scan.
    pub(crate) fn point_config(&self, point: usize) -> Result<Config> {
        let mut overrides = self.overrides.clone();
        overrides.extend(self.per_point[point].iter().cloned());
        Ok(Config::load(&self.config, &overrides)?)
    }

    /// Task `task`'s ensemble file.
    pub(crate) fn task_file(&self, task: u64) -> Result<PathBuf> {
        Ok(self.cwd.join(&self.config(Some(task))?.output().path))
    }

    fn write(&self, folder: &Path) -> Result<()> {
        let record = serde_json::json!({
            "config": self.config,
            "cwd": self.cwd,
            "overrides": self.overrides,
            "tasks": self.tasks,
            "jobs": self.jobs,
            "per_task": self.per_task,
            "per_point": self.per_point,
        });
        let path = folder.join(RECORD);
        let tmp = folder.join(format!("{RECORD}.tmp"));
        std::fs::write(&tmp, serde_json::to_string_pretty(&record)? + "\n")
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("writing {}", path.display()))
    }

    pub(crate) fn read(folder: &Path) -> Result<Self> {
        let path = folder.join(RECORD);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: not the task folder of an lft submit", path.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        let bad =
            |key: &str| anyhow::anyhow!("{}: `{key}` is missing or malformed", path.display());
        let text_of = |key: &str| v[key].as_str().map(str::to_string).ok_or_else(|| bad(key));
        let list = |key: &str| -> Result<Vec<String>> {
            v[key]
                .as_array()
                .ok_or_else(|| bad(key))?
                .iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(|| bad(key)))
                .collect()
        };
        Ok(Submission {
            config: text_of("config")?.into(),
            cwd: text_of("cwd")?.into(),
            overrides: list("overrides")?,
            tasks: v["tasks"].as_u64().ok_or_else(|| bad("tasks"))? as usize,
            jobs: list("jobs")?,
            per_task: nested(&v, "per_task").ok_or_else(|| bad("per_task"))?,
            per_point: nested(&v, "per_point").ok_or_else(|| bad("per_point"))?,
        })
    }
}

/// A list of lists of strings (absent in records of plain submissions: empty).
fn nested(v: &serde_json::Value, key: &str) -> Option<Vec<Vec<String>>> {
    let Some(outer) = v.get(key) else {
        return Some(Vec::new());
    };
    outer
        .as_array()?
        .iter()
        .map(|inner| {
            inner
                .as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .collect()
}

/// How far a task's ensemble is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskProgress {
    /// No file yet.
    NotStarted,
    /// Records stored of those planned, over all chains.
    Unfinished { stored: usize, planned: usize },
    /// Every planned record stored.
    Done { stored: usize },
}

pub(crate) fn task_progress(submission: &Submission, task: u64) -> Result<TaskProgress> {
    let config = submission.config(Some(task))?;
    let file = submission.task_file(task)?;
    if !file.exists() {
        return Ok(TaskProgress::NotStarted);
    }
    let plan = config
        .ensemble_plan()
        .ok_or_else(|| anyhow::anyhow!("this config writes no ensemble"))?;
    let reader = EnsembleReader::open(&file).with_context(|| format!("{}", file.display()))?;
    let planned = plan.chains * plan.records();
    let mut stored = 0;
    for c in 0..reader.meta().n_chains {
        stored += reader.chain_len(c)?;
    }
    Ok(
        if reader.meta().n_chains == plan.chains && stored == planned {
            TaskProgress::Done { stored }
        } else {
            TaskProgress::Unfinished { stored, planned }
        },
    )
}

/// Whether the config's flows (a flow's or CRAFT's) are trained to the end.
fn flows_trained(config: &Config) -> bool {
    if let Ok(plan) = config.anneal() {
        return plan.craft.as_ref().is_none_or(|cp| {
            lft_io::checkpoint::read_craft_checkpoint(&cp.checkpoint)
                .is_ok_and(|c| c.step as usize == cp.iterations)
        });
    }
    config.flow().is_ok_and(|f| {
        lft_io::checkpoint::read_checkpoint(&f.train.checkpoint)
            .is_ok_and(|c| c.step as usize == f.train.options.steps)
    })
}

/// The tasks of `jobs` that Slurm still lists (queued or running), from `squeue`.
fn active_tasks(jobs: &[String]) -> Result<std::collections::BTreeSet<u64>> {
    Ok(task_states(jobs)?.into_keys().collect())
}

/// Slurm's state (PENDING, RUNNING, ...) of every task of `jobs` that it still lists.
pub(crate) fn task_states(jobs: &[String]) -> Result<std::collections::BTreeMap<u64, String>> {
    let out = Command::new("squeue")
        .args(["-h", "-r", "-o", "%i %T"])
        .output()
        .context("running squeue (to ask Slurm which tasks are queued or running)")?;
    if !out.status.success() {
        bail!(
            "squeue failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut states = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((id, state)) = line.trim().split_once(' ') else {
            continue;
        };
        let Some((job, task)) = id.split_once('_') else {
            continue;
        };
        if let (true, Ok(task)) = (jobs.iter().any(|j| j == job), task.parse()) {
            states.insert(task, state.trim().to_string());
        }
    }
    Ok(states)
}

/// Refuses a task file already there that another config (or other overrides) made.
pub(crate) fn refuse_other_config(submission: &Submission, task: u64) -> Result<()> {
    let config = submission.config(Some(task))?;
    let file = submission.task_file(task)?;
    if !file.exists() {
        return Ok(());
    }
    let reader = EnsembleReader::open(&file).with_context(|| {
        format!(
            "{} exists and is not an lft ensemble; refusing to submit over it",
            file.display()
        )
    })?;
    check_belongs(
        &config,
        &reader.meta().config_text,
        &file,
        "output.path",
        Reuse::Ensemble,
    )
}

/// `sbatch --parsable [--dependency=afterok:ID] SCRIPT`; returns the job id.
fn sbatch_submit(sbatch: &Path, script: &Path, after: Option<&str>) -> Result<String> {
    let mut command = Command::new(sbatch);
    command.arg("--parsable");
    if let Some(id) = after {
        command.arg(format!("--dependency=afterok:{id}"));
    }
    let out = command
        .arg(script)
        .output()
        .with_context(|| format!("running {}", sbatch.display()))?;
    if !out.status.success() {
        bail!(
            "sbatch {} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // --parsable prints `ID` or `ID;cluster`.
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() {
        bail!("sbatch {} printed no job id", script.display());
    }
    Ok(id)
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
