//! `lft scan CONFIG --vary KEY=SPEC …`: a grid of runs of one config. Each point is `lft run`
//! of the config with its `--set`s, into `<output stem>/<key=value,…>.h5` (a flow's checkpoint
//! beside it), its log in `<name>.log`; the grid and every point's state in
//! `<output stem>/scan.json`. Points run in parallel as child processes, each with its share of
//! the cores; a rerun skips finished points and continues the others exactly (each point's
//! run resumes as `lft run` does). A signal stops every running point cleanly (exit 75).

use crate::cli::ScanArgs;
use crate::scan_record::{PointRecord, PointState, ScanRecord};
use crate::signals::{STOP, Stopped};
use anyhow::{Context, Result, bail};
use lft_config::output::task_folder;
use lft_config::scan::{check_key, grid};
use lft_config::{Config, Vary};
use lft_io::FileLock;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scan resolved from its arguments: the record (new points merged into the folder's) and
/// the folder.
pub(crate) struct ScanPlan {
    pub record: ScanRecord,
    /// `<output stem>/`, relative to the working directory as the config gives it.
    pub folder: PathBuf,
    pub base: Config,
}

/// Resolves `config` with the shared `overrides` and the `--vary` items into the points of the
/// grid, each checked by loading its config, merged with the record already in the folder.
pub(crate) fn plan(config: &Path, varies: &[String], overrides: &[String]) -> Result<ScanPlan> {
    if varies.is_empty() {
        bail!("a scan needs at least one --vary KEY=SPEC");
    }
    let cwd = std::env::current_dir().context("the working directory")?;
    let config_path =
        std::fs::canonicalize(config).with_context(|| format!("{}", config.display()))?;
    let base = Config::load(&config_path, overrides)?;
    if base.task().is_some() {
        bail!(
            "{}: remove the key `task` to scan this config",
            config.display()
        );
    }
    let varies = varies
        .iter()
        .map(|v| v.parse::<Vary>())
        .collect::<Result<Vec<_>, _>>()?;
    for v in &varies {
        check_key(base.file(), &v.key)?;
    }
    let folder = task_folder(&base.output().path);
    let mut points = Vec::new();
    for point in grid(&varies)? {
        let name = point.name();
        let record = PointRecord {
            file: folder.join(format!("{name}.h5")),
            assignments: point.overrides(),
            name,
            state: PointState::Pending,
        };
        let all = point_overrides(&base, overrides, &folder, &record);
        Config::load(&config_path, &all).with_context(|| format!("scan point {}", record.name))?;
        points.push(record);
    }
    let new = ScanRecord {
        config: config_path,
        cwd,
        overrides: overrides.to_vec(),
        keys: varies.iter().map(|v| v.key.clone()).collect(),
        points,
        jobs: Vec::new(),
    };
    let record = if ScanRecord::path(&folder).exists() {
        let mut old = ScanRecord::read(&folder)?.merge(new.clone(), &folder)?;
        // This invocation's points, in its grid order, first; earlier ones after.
        old.points.sort_by_key(|p| {
            new.points
                .iter()
                .position(|q| q.name == p.name)
                .unwrap_or(usize::MAX)
        });
        old
    } else {
        new
    };
    Ok(ScanPlan {
        record,
        folder,
        base,
    })
}

/// A path as a TOML string value.
fn toml_string(path: &Path) -> String {
    serde_json::to_string(&path.to_string_lossy()).expect("a string serialises")
}

/// Every `--set` of a point's run: the shared ones, its assignments, and its files in the scan
/// folder (the ensemble; a flow's checkpoint, and explicitly set CRAFT and NE-MCMC
/// checkpoints; those left to their defaults follow the ensemble).
pub(crate) fn point_overrides(
    base: &Config,
    shared: &[String],
    folder: &Path,
    point: &PointRecord,
) -> Vec<String> {
    let mut all: Vec<String> = shared.to_vec();
    all.extend(point.assignments.iter().cloned());
    all.push(format!("output.path={}", toml_string(&point.file)));
    let file = base.file();
    let beside = |suffix: &str| toml_string(&folder.join(format!("{}.{suffix}", point.name)));
    if file.train.is_some() {
        all.push(format!("train.checkpoint={}", beside("train.h5")));
    }
    if file.anneal.as_ref().is_some_and(|a| a.checkpoint.is_some()) {
        all.push(format!("anneal.checkpoint={}", beside("craft.h5")));
    }
    if file.snf.as_ref().is_some_and(|s| s.checkpoint.is_some()) {
        all.push(format!("snf.checkpoint={}", beside("snf.h5")));
    }
    all
}

pub fn run(args: &ScanArgs) -> Result<()> {
    let ScanPlan {
        mut record,
        folder,
        base,
    } = plan(&args.config, &args.vary, &args.overrides)?;
    let mut todo = Vec::new();
    for (i, p) in record.points.iter().enumerate() {
        let finished = p.state == PointState::Done
            && p.file.exists()
            && holds_its_run(&record, &base, &folder, p)?;
        if !finished {
            todo.push(i);
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or(cores).clamp(1, todo.len().max(1));
    let threads = args.threads.unwrap_or((cores / jobs).max(1));
    let lft = std::env::current_exe().context("the path of this lft binary")?;
    if args.dry_run {
        for p in &record.points {
            let overrides = point_overrides(&base, &record.overrides, &folder, p);
            let mut line = format!(
                "RAYON_NUM_THREADS={threads} {} run {}",
                lft.display(),
                crate::submit_script::shell_quote(&record.config.to_string_lossy())
            );
            for o in overrides {
                line.push_str(&format!(" --set {}", crate::submit_script::shell_quote(&o)));
            }
            println!("{line}");
        }
        return Ok(());
    }
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let _lock = FileLock::acquire(&ScanRecord::path(&folder))?;
    record.write(&folder)?;
    let total = record.points.len();
    for (i, p) in record.points.iter().enumerate() {
        if !todo.contains(&i) {
            println!("[{}/{total}] {}: done before, skipped", i + 1, p.name);
        }
    }
    if !todo.is_empty() {
        println!(
            "scan {}: {} point(s) to run, {jobs} at a time with {threads} thread(s) each",
            folder.display(),
            todo.len()
        );
    }
    let runner = Runner {
        lft: &lft,
        base: &base,
        folder: &folder,
        threads,
    };
    let outcome = runner.run_all(&mut record, &todo, jobs);
    record.write(&folder)?;
    let done = record
        .points
        .iter()
        .filter(|p| p.state == PointState::Done)
        .count();
    outcome?;
    let failed: Vec<&str> = record
        .points
        .iter()
        .filter(|p| p.state == PointState::Failed)
        .map(|p| p.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {total} point(s) failed ({}); their logs are in {}; run the same command \
             again to retry them",
            failed.len(),
            failed.join("; "),
            folder.display()
        );
    }
    println!(
        "scan {}: {done} of {total} point(s) done; measure them with: lft measure {}",
        folder.display(),
        folder.display()
    );
    Ok(())
}

/// Whether a finished point's ensemble holds everything its config (as it is now) plans: a
/// config edited to run longer sends its finished points to `lft run` again, which extends
/// them. Configs that plan no chain of records (annealing) count as finished.
fn holds_its_run(
    record: &ScanRecord,
    base: &Config,
    folder: &Path,
    point: &PointRecord,
) -> Result<bool> {
    let overrides = point_overrides(base, &record.overrides, folder, point);
    let config = Config::load(&record.config, &overrides)?;
    let Some(plan) = config.ensemble_plan() else {
        return Ok(true);
    };
    let Ok(reader) = lft_io::EnsembleReader::open(&point.file) else {
        return Ok(false);
    };
    if reader.meta().n_chains != plan.chains {
        return Ok(false);
    }
    for chain in 0..plan.chains {
        if reader.chain_len(chain)? != plan.records() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs points as child `lft run` processes.
struct Runner<'a> {
    lft: &'a Path,
    base: &'a Config,
    folder: &'a Path,
    threads: usize,
}

/// A point's run in progress.
struct Running {
    index: usize,
    child: Child,
    started: Instant,
}

impl Runner<'_> {
    fn spawn(&self, record: &ScanRecord, index: usize) -> Result<Child> {
        let point = &record.points[index];
        let log_path = self.folder.join(format!("{}.log", point.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("{}", log_path.display()))?;
        let mut command = Command::new(self.lft);
        command
            .arg("run")
            .arg(&record.config)
            .env("RAYON_NUM_THREADS", self.threads.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for o in point_overrides(self.base, &record.overrides, self.folder, point) {
            command.arg("--set").arg(o);
        }
        command
            .spawn()
            .with_context(|| format!("starting {}", self.lft.display()))
    }

    /// Runs the points `todo`, `jobs` at a time, recording each one's end in the record.
    /// On a stop request every running point is asked to stop (SIGTERM) and waited for.
    fn run_all(&self, record: &mut ScanRecord, todo: &[usize], jobs: usize) -> Result<()> {
        let total = record.points.len();
        let mut queue = todo.iter().copied();
        let mut running: Vec<Running> = Vec::new();
        let mut stopping = false;
        loop {
            if STOP.requested() && !stopping {
                stopping = true;
                for r in &running {
                    terminate(&r.child);
                }
            }
            while !stopping && running.len() < jobs {
                let Some(index) = queue.next() else { break };
                let child = self.spawn(record, index)?;
                println!(
                    "[{}/{total}] {}: running (log {})",
                    index + 1,
                    record.points[index].name,
                    self.folder
                        .join(format!("{}.log", record.points[index].name))
                        .display()
                );
                running.push(Running {
                    index,
                    child,
                    started: Instant::now(),
                });
            }
            if running.is_empty() {
                break;
            }
            let mut finished = None;
            for (k, r) in running.iter_mut().enumerate() {
                if let Some(status) = r.child.try_wait()? {
                    finished = Some((k, status));
                    break;
                }
            }
            let Some((k, status)) = finished else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let r = running.swap_remove(k);
            let point = &mut record.points[r.index];
            let seconds = r.started.elapsed().as_secs_f64();
            point.state = match status.code() {
                Some(0) => PointState::Done,
                Some(code) if code == i32::from(crate::signals::EXIT_STOPPED) => {
                    PointState::Stopped
                }
                _ => PointState::Failed,
            };
            let what = match point.state {
                PointState::Done => format!("done in {}", crate::pipeline::human_seconds(seconds)),
                PointState::Stopped => "stopped (resumable)".into(),
                _ => format!("failed ({status}); see its log"),
            };
            println!("[{}/{total}] {}: {what}", r.index + 1, point.name);
            record.write(self.folder)?;
        }
        if stopping {
            return Err(Stopped {
                what: format!("the scan {}", self.folder.display()),
            }
            .into());
        }
        Ok(())
    }
}

/// Asks a point's run to stop cleanly (it finishes its step and stores everything).
fn terminate(child: &Child) {
    #[cfg(unix)]
    // SAFETY: kill(2) on the pid of a child not yet waited for.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    #[cfg(not(unix))]
    let _ = child;
}
