//! `lft submit CONFIG --vary KEY=SPEC … [--tasks R]`: a scan as a Slurm job array, one task
//! per point (or per point × replica: replica r of a point is `task = r`, into
//! `<output stem>/<point>/task-000r.h5`). A config that trains gets a training array first,
//! one task per point whose flow is not trained yet; the sampling array waits for it. The
//! scan folder holds `scan.json` (for `lft measure DIR`) and `submission.json` (for `lft
//! status` and `--resume`).

use crate::cli::SubmitArgs;
use crate::scan::{ScanPlan, plan, point_overrides};
use crate::submit::{Submission, submit_jobs, training};
use anyhow::{Context, Result, bail};

pub fn submit(args: &SubmitArgs) -> Result<()> {
    let Some(config) = &args.config else {
        bail!("lft submit --vary needs CONFIG");
    };
    let replicas = args.tasks.unwrap_or(1);
    if replicas == 0 {
        bail!("--tasks must be at least 1");
    }
    let ScanPlan {
        record,
        folder,
        base,
    } = plan(config, &args.vary, &args.overrides)?;
    let per_point: Vec<Vec<String>> = record
        .points
        .iter()
        .map(|p| point_overrides(&base, &[], &folder, p))
        .collect();
    let per_task: Vec<Vec<String>> = per_point
        .iter()
        .flat_map(|sets| {
            (0..replicas).map(move |r| {
                let mut sets = sets.clone();
                if replicas > 1 {
                    sets.push(format!("task={r}"));
                }
                sets
            })
        })
        .collect();
    let submission = Submission {
        config: record.config.clone(),
        cwd: record.cwd.clone(),
        overrides: args.overrides.clone(),
        tasks: per_task.len(),
        jobs: Vec::new(),
        per_task,
        per_point,
    };
    for task in 0..submission.tasks as u64 {
        crate::submit::refuse_other_config(&submission, task)?;
    }
    if !args.dry_run {
        let dir = record.cwd.join(&folder);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        record.write(&dir)?;
    }
    println!(
        "scan {}: {} point(s) × {replicas} task(s)",
        folder.display(),
        record.points.len()
    );
    let train = training(&submission, &base)?;
    let all: Vec<u64> = (0..submission.tasks as u64).collect();
    submit_jobs(submission, &base, train, &all, args.dry_run)
}
