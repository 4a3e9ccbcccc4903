//! `lft status DIR`: the state of every task of a submission (its task folder): done, queued
//! or running (from `squeue`), unfinished (stopped at a time limit, preempted, or failed; the
//! task's log tells which), or not started; the configurations stored, the acceptance, and the
//! command that submits the rest.

use crate::cli::StatusArgs;
use crate::submit::{Submission, TaskProgress, task_progress, task_states};
use anyhow::Result;
use lft_io::EnsembleReader;
use std::path::Path;

pub fn run(args: &StatusArgs) -> Result<()> {
    let dir = &args.dir;
    let submission = Submission::read(dir)?;
    let active = task_states(&submission.jobs)?;
    println!(
        "{}: {} task(s) of {}, jobs {}",
        dir.display(),
        submission.tasks,
        submission.config.display(),
        submission.jobs.join(", ")
    );
    println!(
        "{:>6}  {:<34} {:>18}  acceptance",
        "task", "state", "stored"
    );
    let mut left = 0;
    for task in 0..submission.tasks as u64 {
        let file = submission.task_file(task)?;
        let progress = task_progress(&submission, task)?;
        let (stored, planned) = match progress {
            TaskProgress::NotStarted => (0, None),
            TaskProgress::Unfinished { stored, planned } => (stored, Some(planned)),
            TaskProgress::Done { stored } => (stored, None),
        };
        let state = match (active.get(&task), progress) {
            (Some(s), _) => s.to_lowercase(),
            (None, TaskProgress::Done { .. }) => "done".into(),
            (None, TaskProgress::NotStarted) => {
                left += 1;
                "not started".into()
            }
            (None, TaskProgress::Unfinished { .. }) => {
                left += 1;
                unfinished_reason(&file.with_extension("log"))
            }
        };
        let stored = match planned {
            Some(p) => format!("{stored} of {p}"),
            None => stored.to_string(),
        };
        let acceptance = acceptance(&file).map_or("—".into(), |a| format!("{a:.4}"));
        // A scan's tasks: which point (and replica) each is.
        let point = if submission.per_task.is_empty() {
            String::new()
        } else {
            format!(
                "  {}",
                file.strip_prefix(&submission.cwd)
                    .unwrap_or(&file)
                    .display()
            )
        };
        println!("{task:>6}  {state:<34} {stored:>18}  {acceptance:<10}{point}");
    }
    if left > 0 {
        println!(
            "{left} task(s) to finish: lft submit --resume {}",
            dir.display()
        );
    }
    Ok(())
}

/// The mean acceptance over the stored steps, if the file has any.
fn acceptance(file: &Path) -> Option<f64> {
    let r = EnsembleReader::open(file).ok()?;
    let (mut accepted, mut n) = (0usize, 0usize);
    for c in 0..r.meta().n_chains {
        let a = r.read_accepted(c).ok()?;
        accepted += a.iter().filter(|&&x| x).count();
        n += a.len();
    }
    (n > 0).then(|| accepted as f64 / n as f64)
}

/// Why an inactive task is unfinished, from the end of its log.
fn unfinished_reason(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(20).collect();
    if tail.iter().any(|l| l.contains("stopped by a signal")) {
        "unfinished (stopped by a signal)".into()
    } else if tail.iter().any(|l| l.starts_with("error:")) {
        format!(
            "failed (see {})",
            log.file_name()
                .map_or("its log".into(), |n| n.to_string_lossy().into_owned())
        )
    } else {
        "unfinished (killed?)".into()
    }
}
