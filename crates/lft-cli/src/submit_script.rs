//! The batch scripts of `lft submit`: a training job (or, for a scan, a training array with
//! one task per point) and the job array of the sampling tasks, with `[slurm]` resources and a
//! relay of Slurm's warning signal to lft.

use lft_config::SlurmPlan;
use std::fmt::Write as _;
use std::path::Path;

/// What goes into the batch scripts.
pub(crate) struct Script<'a> {
    pub slurm: &'a SlurmPlan,
    pub name: String,
    pub folder: &'a Path,
    pub cwd: &'a Path,
    pub lft: &'a Path,
    pub config: &'a Path,
    pub overrides: &'a [String],
    /// A scan's array tasks: the `--set`s of task i (its point's, and its replica's `task`);
    /// empty: every task is `task = SLURM_ARRAY_TASK_ID` of one config.
    pub per_task: &'a [Vec<String>],
    /// A scan's training array: the `--set`s of point p's training.
    pub per_point: &'a [Vec<String>],
}

impl Script<'_> {
    /// The training job; for a scan, an array over the points `points` (Slurm's list).
    pub fn train(&self, command: &str, points: Option<&str>) -> String {
        let log = match points {
            Some(_) => self.folder.join("train-%4a.log"),
            None => self.folder.join("train.log"),
        };
        let mut s = self.header(&format!("lft-{}-train", self.name), &log, points);
        let cases = points.map(|_| self.per_point);
        self.body(&mut s, command, false, cases, false);
        s
    }

    /// The job array of the tasks `spec` (Slurm's `--array` list).
    pub fn array(&self, command: &str, spec: &str) -> String {
        let log = self.folder.join("task-%4a.log");
        let mut array = spec.to_string();
        if let Some(k) = self.slurm.max_running {
            let _ = write!(array, "%{k}");
        }
        let mut s = self.header(&format!("lft-{}", self.name), &log, Some(&array));
        let cases = (!self.per_task.is_empty()).then_some(self.per_task);
        self.body(&mut s, command, cases.is_none(), cases, true);
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

    /// Environment, the lft command in the background, and the signal relay. `is_task`: the
    /// array task is `task = SLURM_ARRAY_TASK_ID`; `cases`: array task i adds `cases[i]`;
    /// `sampling`: a sampling task, requeued after a clean stop where `[slurm] requeue` asks.
    fn body(
        &self,
        s: &mut String,
        command: &str,
        is_task: bool,
        cases: Option<&[Vec<String>]>,
        sampling: bool,
    ) {
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
        if let Some(cases) = cases {
            s.push_str("case \"${SLURM_ARRAY_TASK_ID}\" in\n");
            for (i, sets) in cases.iter().enumerate() {
                let _ = write!(s, "    {i}) point=(");
                for o in sets {
                    let _ = write!(s, " --set {}", shell_quote(o));
                }
                s.push_str(" ) ;;\n");
            }
            s.push_str(
                "    *) echo \"lft: no point for array task ${SLURM_ARRAY_TASK_ID}\" >&2; exit 1 ;;\nesac\n",
            );
            lft.push_str(" \"${point[@]}\"");
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
        if p.requeue && sampling {
            s.push_str(
                "if [ \"$status\" -eq 75 ]; then\n    \
                 scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\nfi\n",
            );
        }
        s.push_str("exit \"$status\"\n");
    }
}

/// `'text'` for the shell, with every `'` written as `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
