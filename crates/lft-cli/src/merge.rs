//! `lft merge OUT FILES...|DIR`: the task files of a job array as one ensemble. Task i's
//! chain c becomes chain i · C + c, the chain its streams belong to, so merging tasks
//! 0 … N − 1 gives the file one run of N · C chains writes. An annealing task's per-pass
//! records (`/anneal`, whose pass column is already the global pass index) are joined in the
//! same order. Files of another config (other than the task, the output and `[slurm]`),
//! unfinished tasks and gaps are refused.

use crate::cli::MergeArgs;
use crate::pipeline::check_belongs;
use anyhow::{Context, Result, bail};
use lft_config::{Config, ConfigFile, Reuse};
use lft_io::{
    ANNEAL_GROUP, EnsembleReader, SamplerKind, StoredArray, StoredGroup, merge_ensembles,
};
use std::path::{Path, PathBuf};

pub fn run(args: &MergeArgs) -> Result<()> {
    let files = inputs(&args.inputs)?;
    if args.out.exists() {
        bail!(
            "{} exists; lft merge writes a new file and never overwrites one",
            args.out.display()
        );
    }
    // (task, file, stored config text, chains) of every input, in task order.
    let mut tasks = Vec::new();
    for file in &files {
        let reader = EnsembleReader::open_with(file, crate::verify::on_damage(args.no_verify))
            .with_context(|| format!("{}", file.display()))?;
        let skipped = reader.skipped()?;
        for d in &skipped {
            tracing::warn!("{}: skipping damaged rows: {d}", file.display());
        }
        let meta = reader.meta();
        let text = meta.config_text.clone();
        let config = Config::from_text(&text, file, &[])
            .with_context(|| format!("{}: its stored config is unreadable", file.display()))?;
        let Some(task) = config.task() else {
            bail!(
                "{} is not the file of a job-array task (its config has no `task`)",
                file.display()
            );
        };
        let plan = config
            .ensemble_plan()
            .expect("an ensemble's config plans one");
        for c in 0..meta.n_chains {
            // Rows left out as damaged were stored: they count towards a finished task.
            let lost: usize = skipped
                .iter()
                .filter(|d| d.chain == c)
                .map(|d| d.rows.len())
                .sum();
            let n = reader.chain_len(c)? + lost;
            if meta.n_chains != plan.chains || n != plan.records() {
                bail!(
                    "{}: task {task} is unfinished (chain {c} holds {n} of {} records); finish \
                     it (lft submit --resume) or leave it out",
                    file.display(),
                    plan.records()
                );
            }
        }
        tasks.push((task, file.clone(), text, meta.clone()));
    }
    tasks.sort_by_key(|t| t.0);
    for (i, t) in tasks.iter().enumerate() {
        if t.0 != i as u64 {
            let have: Vec<String> = tasks.iter().map(|t| t.0.to_string()).collect();
            bail!(
                "the tasks to merge must be 0 … N − 1, each once, so that merged chain k is the \
                 chain of stream k; these are tasks {}",
                have.join(", ")
            );
        }
    }
    let (_, first_file, first_text, first_meta) = &tasks[0];
    let first = Config::from_text(first_text, first_file, &[])?;
    for (_, file, text, _) in &tasks[1..] {
        check_belongs(&first, text, file, "file", Reuse::Merge)?;
    }
    let total: usize = tasks.iter().map(|t| t.3.n_chains).sum();
    let mut merged = ConfigFile::parse(first_text, first_file, &[])?;
    merged.task = None;
    merged.output.path = args.out.clone();
    match (
        &mut merged.hmc,
        &mut merged.heatbath,
        &mut merged.sample,
        &mut merged.anneal,
    ) {
        (Some(h), ..) => h.chains = total,
        (_, Some(h), ..) => h.chains = total,
        (_, _, Some(s), _) => s.chains = total,
        (.., Some(a)) if first_meta.sampler == SamplerKind::Pimh => a.pimh_chains = total,
        (.., Some(a)) => a.repeats = total,
        _ => unreachable!("an ensemble's config has a sampler"),
    }
    let side = anneal_records(&tasks.iter().map(|t| t.1.as_path()).collect::<Vec<_>>())?;
    let mut meta = first_meta.clone();
    meta.n_chains = total;
    meta.config_text = merged.to_toml();
    let paths: Vec<&Path> = tasks.iter().map(|t| t.1.as_path()).collect();
    merge_ensembles(
        &args.out,
        &paths,
        &meta,
        crate::verify::on_damage(args.no_verify),
    )?;
    if let Some((arrays, attrs)) = side {
        lft_io::store_group(&args.out, ANNEAL_GROUP, &arrays, &attrs)
            .with_context(|| format!("{}: storing the per-pass records", args.out.display()))?;
    }
    println!(
        "lft merge: {} task file(s), {total} chain(s), into {}",
        tasks.len(),
        args.out.display()
    );
    Ok(())
}

/// The files to merge: as given, or the `task-*.h5` of one folder.
fn inputs(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if let [dir] = given
        && dir.is_dir()
    {
        let files = task_files(dir)?;
        if files.is_empty() {
            bail!("{} holds no task-NNNN.h5 files", dir.display());
        }
        return Ok(files);
    }
    Ok(given.to_vec())
}

/// The `/anneal` groups of `files` joined row-wise in order (every array along its first
/// axis; the attributes of the first), or `None` if no file has one.
fn anneal_records(files: &[&Path]) -> Result<Option<StoredGroup>> {
    let groups = files
        .iter()
        .map(|f| lft_io::load_group(f, ANNEAL_GROUP).with_context(|| format!("{}", f.display())))
        .collect::<Result<Vec<_>>>()?;
    if groups.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut joined: Option<StoredGroup> = None;
    for (file, group) in files.iter().zip(groups) {
        let Some((arrays, attrs)) = group else {
            bail!(
                "{} has no /anneal records, unlike the other files",
                file.display()
            );
        };
        let Some((into, _)) = &mut joined else {
            joined = Some((arrays, attrs));
            continue;
        };
        let same = into.len() == arrays.len()
            && into.iter().zip(&arrays).all(|(a, b)| {
                a.name == b.name && a.columns == b.columns && a.shape[1..] == b.shape[1..]
            });
        if !same {
            bail!(
                "{}: its /anneal records differ in layout from the first file's",
                file.display()
            );
        }
        for (a, b) in into.iter_mut().zip(arrays) {
            let StoredArray { shape, data, .. } = b;
            a.shape[0] += shape[0];
            a.data.extend(data);
        }
    }
    Ok(joined)
}

/// The `task-*.h5` files of a folder, in task order.
pub(crate) fn task_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("task-") && n.ends_with(".h5"))
        })
        .collect();
    files.sort();
    Ok(files)
}
