//! `lft submit`: a config as a Slurm job array. Task i runs lft on its own streams (the
//! config key `task = i`: global chain indices i · chains + c) into
//! `<output stem>/task-NNNN.h5`, with `[slurm]` resources. A flow config, and an annealing
//! config with CRAFT flows, first trains in one job; the array samples after it (`afterok`).
//! The batch script passes Slurm's warning signal to lft, which stops cleanly (exit 75).

use crate::cli::SubmitArgs;
use crate::pipeline::check_belongs;
use anyhow::{Context, Result, bail};
use lft_config::output::{task_file, task_folder};
use lft_config::{Config, Reuse, SlurmPlan};
use lft_io::EnsembleReader;
use std::fmt::Write as _;
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
    if config.sample().is_err() {
        bail!("this flow config has no [sample] section: a job array would have nothing to sample");
    }
    Ok(Jobs {
        train: Some("train"),
        task: "sample",
    })
}

pub fn run(args: &SubmitArgs) -> Result<()> {
    if args.tasks == 0 {
        bail!("--tasks must be at least 1");
    }
    let config = Config::load(&args.config, &args.overrides)?;
    if config.task().is_some() {
        bail!(
            "{}: remove the key `task`; lft submit gives every task its own",
            args.config.display()
        );
    }
    if !config.has_slurm_section() {
        warn!(
            "{} has no [slurm] section: the defaults apply ({}, {} CPUs per task, no partition)",
            args.config.display(),
            config.slurm().time,
            config.slurm().cpus_per_task
        );
    }
    let jobs = jobs(&config)?;
    let folder = task_folder(config.base_output());
    for task in 0..args.tasks as u64 {
        refuse_other_config(&args.config, &args.overrides, task)?;
    }
    let cwd = std::env::current_dir().context("the working directory")?;
    let config_path = std::fs::canonicalize(&args.config)
        .with_context(|| format!("{}", args.config.display()))?;
    let lft = match &config.slurm().lft {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("the path of this lft binary")?,
    };
    let absolute_folder = cwd.join(&folder);
    let script = Script {
        slurm: config.slurm(),
        name: folder
            .file_name()
            .map_or("lft".into(), |n| n.to_string_lossy().into_owned()),
        folder: &absolute_folder,
        cwd: &cwd,
        lft: &lft,
        config: &config_path,
        overrides: &args.overrides,
    };
    let train = jobs.train.map(|cmd| script.train(cmd));
    let array = script.array(jobs.task, args.tasks);
    if args.dry_run {
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
    std::fs::create_dir_all(&absolute_folder)
        .with_context(|| format!("creating {}", absolute_folder.display()))?;
    let mut dependency = None;
    if let Some(t) = &train {
        let path = absolute_folder.join("train.sbatch");
        std::fs::write(&path, t).with_context(|| format!("{}", path.display()))?;
        let id = submit(&sbatch, &path, None)?;
        println!(
            "training job {id}: log {}",
            absolute_folder.join("train.log").display()
        );
        dependency = Some(id);
    }
    let path = absolute_folder.join("array.sbatch");
    std::fs::write(&path, &array).with_context(|| format!("{}", path.display()))?;
    let id = submit(&sbatch, &path, dependency.as_deref())?;
    println!(
        "job array {id}: {} task(s) into {} ({}, ...), logs task-NNNN.log beside them",
        args.tasks,
        absolute_folder.display(),
        task_file(config.base_output(), 0).display()
    );
    Ok(())
}

/// Refuses a task file already there that another config (or other overrides) made.
fn refuse_other_config(path: &Path, overrides: &[String], task: u64) -> Result<()> {
    let with_task = [overrides, &[format!("task={task}")]].concat();
    let config = Config::load(path, &with_task)?;
    let file = &config.output().path;
    if !file.exists() {
        return Ok(());
    }
    let reader = EnsembleReader::open(file).with_context(|| {
        format!(
            "{} exists and is not an lft ensemble; refusing to submit over it",
            file.display()
        )
    })?;
    check_belongs(
        &config,
        &reader.meta().config_text,
        file,
        "output.path",
        Reuse::Ensemble,
    )
}

/// `sbatch --parsable [--dependency=afterok:ID] SCRIPT`; returns the job id.
fn submit(sbatch: &Path, script: &Path, after: Option<&str>) -> Result<String> {
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

/// `'text'` for the shell, with every `'` written as `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// What goes into the batch scripts.
struct Script<'a> {
    slurm: &'a SlurmPlan,
    name: String,
    folder: &'a Path,
    cwd: &'a Path,
    lft: &'a Path,
    config: &'a Path,
    overrides: &'a [String],
}

impl Script<'_> {
    /// The training job.
    fn train(&self, command: &str) -> String {
        let log = self.folder.join("train.log");
        let mut s = self.header(&format!("lft-{}-train", self.name), &log, None);
        self.body(&mut s, command, false);
        s
    }

    /// The job array of `tasks` tasks.
    fn array(&self, command: &str, tasks: usize) -> String {
        let log = self.folder.join("task-%4a.log");
        let mut array = format!("0-{}", tasks - 1);
        if let Some(k) = self.slurm.max_running {
            let _ = write!(array, "%{k}");
        }
        let mut s = self.header(&format!("lft-{}", self.name), &log, Some(&array));
        self.body(&mut s, command, true);
        s
    }

    fn header(&self, job: &str, log: &Path, array: Option<&str>) -> String {
        let p = self.slurm;
        let mut s = String::from("#!/bin/bash\n");
        let _ = writeln!(
            s,
            "# Written by lft submit. lft stops cleanly on the {} warning {} s before the time\n\
             # limit (or on TERM), stores everything and exits with 75; `lft run`, `lft sample` or\n\
             # `lft anneal` with the same arguments continues where it stopped.",
            p.signal.name(),
            p.grace_seconds
        );
        let mut line = |option: String| {
            let _ = writeln!(s, "#SBATCH {option}");
        };
        line(format!("--job-name={job}"));
        if let Some(a) = array {
            line(format!("--array={a}"));
        }
        line(format!("--output={}", log.display()));
        line(format!("--time={}", p.time));
        line(format!("--nodes={}", p.nodes));
        line("--ntasks=1".into());
        line(format!("--cpus-per-task={}", p.cpus_per_task));
        line(format!(
            "--signal=B:{}@{}",
            p.signal.name(),
            p.grace_seconds
        ));
        for (option, value) in [
            ("partition", &p.partition),
            ("mem", &p.mem),
            ("gres", &p.gres),
            ("account", &p.account),
            ("qos", &p.qos),
        ] {
            if let Some(v) = value {
                line(format!("--{option}={v}"));
            }
        }
        // Explicit either way: clusters differ in their default (JobRequeue).
        line(
            if p.requeue {
                "--requeue"
            } else {
                "--no-requeue"
            }
            .into(),
        );
        for extra in &p.extra {
            line(extra.clone());
        }
        s
    }

    /// Environment, the lft command in the background, and the signal relay.
    fn body(&self, s: &mut String, command: &str, is_task: bool) {
        let p = self.slurm;
        s.push_str("set -u\n");
        for module in &p.modules {
            let _ = writeln!(s, "module load {}", shell_quote(module));
        }
        for (name, value) in &p.env {
            let _ = writeln!(s, "export {name}={}", shell_quote(value));
        }
        let _ = writeln!(
            s,
            "export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{}}}\"",
            p.cpus_per_task
        );
        let _ = writeln!(
            s,
            "cd {} || exit 1",
            shell_quote(&self.cwd.to_string_lossy())
        );
        let mut lft = format!(
            "{} {command} {}",
            shell_quote(&self.lft.to_string_lossy()),
            shell_quote(&self.config.to_string_lossy())
        );
        for o in self.overrides {
            let _ = write!(lft, " --set {}", shell_quote(o));
        }
        if is_task {
            lft.push_str(" --set \"task=${SLURM_ARRAY_TASK_ID}\"");
        }
        let _ = writeln!(s, "{lft} &");
        let _ = write!(
            s,
            "pid=$!\n\
             # Slurm's warning, a TERM at the limit or on preemption: lft finishes its step.\n\
             trap 'kill -TERM \"$pid\" 2>/dev/null' {} TERM INT\n\
             wait \"$pid\"\n\
             status=$?\n\
             # A trapped signal ends `wait` early (status > 128): wait for lft itself.\n\
             while [ \"$status\" -gt 128 ]; do\n\
             \x20   wait \"$pid\"\n\
             \x20   next=$?\n\
             \x20   [ \"$next\" -eq 127 ] && break\n\
             \x20   status=$next\n\
             done\n",
            if p.signal.name() == "TERM" {
                "USR2".to_string()
            } else {
                p.signal.name().to_string()
            }
        );
        if p.requeue && is_task {
            s.push_str(
                "if [ \"$status\" -eq 75 ]; then\n    \
                 scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\nfi\n",
            );
        }
        s.push_str("exit \"$status\"\n");
    }
}
