//! `lft submit` on a real Slurm: `.ci/run` starts a one-node cluster on localhost
//! (`scripts/slurm-local.sh`) and sets `LFT_REQUIRE_SLURM=1`, which turns the skip below into
//! a failure. By hand: `eval "$(scripts/slurm-local.sh start)"` (as root, with Debian's
//! slurm-wlm), then `LFT_REQUIRE_SLURM=1 cargo test -p lft-cli --test slurm`.
//!
//! A 3-task array writes exactly the files that `lft run --set task=i` writes; a task stopped
//! by `scancel --signal=TERM` exits with 75, and `lft submit --resume` submits it alone and it
//! finishes into the bytes of an uninterrupted task; with `requeue = true` a stopped task
//! queues itself again and finishes alike; a flow config trains in one job and samples in the
//! array after it.
#![cfg(unix)]

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether a Slurm cluster answers; panics if `LFT_REQUIRE_SLURM=1` and none does.
fn slurm_available() -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        if std::env::var("LFT_REQUIRE_SLURM").as_deref() == Ok("1") {
            panic!("LFT_REQUIRE_SLURM=1 but no Slurm cluster answers `sinfo`");
        }
        eprintln!("skipped: no Slurm cluster (start one with scripts/slurm-local.sh)");
    }
    up
}

/// The job id `lft submit` printed for the array (its last line names it).
fn submit(dir: &Path, args: &[&str]) -> (Option<String>, String) {
    let o = lft(dir, &[&["submit", "config.toml"], args].concat());
    assert!(o.status.success(), "lft submit: {}", stderr(&o));
    let out = stdout(&o);
    let train = job_id(&out, "training job ");
    let array = job_id(&out, "job array ").expect("a job id");
    (train, array)
}

/// The job id on the line of `lft submit`'s output that starts with `prefix`.
fn job_id(out: &str, prefix: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split(':').next())
        .map(str::to_string)
}

/// Waits (at most 120 s) until a task has written its first rounds (5 MB) to `file`.
fn wait_until_written(file: &Path) {
    let t0 = Instant::now();
    while std::fs::metadata(file).map_or(0, |m| m.len()) < 5_000_000 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{} never grew",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until Slurm no longer lists `job` (at most 180 s), then returns
/// (JobState, ExitCode) of each of its tasks from `scontrol show job`.
fn wait_for(job: &str) -> Vec<(String, String)> {
    let t0 = Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-j", job])
            .output()
            .unwrap();
        if q.stdout.is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "job {job} still queued"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let show = Command::new("scontrol")
        .args(["show", "job", job])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    let field = |line: &str, key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or("")
            .to_string()
    };
    let states: Vec<String> = text
        .lines()
        .filter(|l| l.contains("JobState="))
        .map(|l| field(l, "JobState="))
        .collect();
    let codes: Vec<String> = text
        .lines()
        .filter(|l| l.contains("ExitCode="))
        .map(|l| field(l, "ExitCode="))
        .collect();
    states.into_iter().zip(codes).collect()
}

const TASK: &str = r#"seed = 7

[lattice]
shape = [4, 4]

[action]
kind = "phi4"
m2 = -1.0
lambda = 1.0

[hmc]
trajectories = 300
thermalization = 50
steps = 5
length = 1.0
integrator = "omelyan"
chains = 1

[output]
path = "out/ens.h5"

[slurm]
time = "10"
cpus_per_task = 1
grace_seconds = 30
"#;

#[test]
fn an_array_writes_the_files_of_its_tasks() {
    if !slurm_available() {
        return;
    }
    let dir = scratch(TASK);
    let (_, job) = submit(dir.path(), &["--tasks", "3"]);
    let states = wait_for(&job);
    assert_eq!(states.len(), 3, "{states:?}");
    assert!(
        states.iter().all(|(s, c)| s == "COMPLETED" && c == "0:0"),
        "{states:?}"
    );
    let by_hand = scratch(TASK);
    for task in 0..3 {
        let o = lft(
            by_hand.path(),
            &["run", "config.toml", "--set", &format!("task={task}")],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let f = format!("out/ens/task-{task:04}.h5");
        assert!(
            std::fs::read(dir.path().join(&f)).unwrap()
                == std::fs::read(by_hand.path().join(&f)).unwrap(),
            "{f} differs from `lft run --set task={task}`"
        );
        assert!(
            dir.path()
                .join(format!("out/ens/task-{task:04}.log"))
                .exists()
        );
    }
    // The three tasks measured together, as replicas.
    let files: Vec<String> = (0..3).map(|t| format!("out/ens/task-{t:04}.h5")).collect();
    let args: Vec<&str> = ["measure", "--json"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let o = lft(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["n_chains"], 3);
    assert_eq!(json["n_configs"], 900);
    // Merged into one file, they measure exactly as the task files read directly.
    let o = lft(dir.path(), &["merge", "merged.h5", "out/ens"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lft(dir.path(), &["measure", "--json", "merged.h5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let merged: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(merged["observables"], json["observables"]);
}

/// `scancel --signal=TERM --batch` reaches the batch script of task 0, which stops lft: the
/// task ends FAILED with exit code 75 and a partial file, while task 1 completes.
/// `lft submit --resume` then submits task 0 alone, which finishes into the bytes of an
/// uninterrupted task; a second `--resume` finds nothing to do.
#[test]
fn a_signalled_task_stops_cleanly_and_resume_submits_it_alone() {
    if !slurm_available() {
        return;
    }
    let text = TASK
        .replace("shape = [4, 4]", "shape = [16, 16]")
        .replace("trajectories = 300", "trajectories = 20000");
    let by_hand = scratch(&text);
    for task in ["task=0", "task=1"] {
        let o = lft(by_hand.path(), &["run", "config.toml", "--set", task]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let reference =
        |t: u64| std::fs::read(by_hand.path().join(format!("out/ens/task-{t:04}.h5"))).unwrap();
    let dir = scratch(&text);
    let file = dir.path().join("out/ens/task-0000.h5");
    let (_, job) = submit(dir.path(), &["--tasks", "2"]);
    wait_until_written(&file);
    let sent = Command::new("scancel")
        .args(["--signal=TERM", "--batch", &format!("{job}_0")])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut states = wait_for(&job);
    states.sort();
    assert_eq!(
        states,
        vec![
            ("COMPLETED".to_string(), "0:0".to_string()),
            ("FAILED".to_string(), "75:0".to_string())
        ]
    );
    let stored = lft_io::EnsembleReader::open(&file)
        .unwrap()
        .chain_len(0)
        .unwrap();
    assert!(stored < 20000, "{stored} stored");
    // lft status: task 0 stopped part-way, task 1 done, and the command that resumes.
    let o = lft(dir.path(), &["status", "out/ens"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let status = stdout(&o);
    let row = |t: &str| {
        status
            .lines()
            .find(|l| l.split_whitespace().next() == Some(t))
            .unwrap_or_else(|| panic!("no row for task {t}: {status}"))
            .to_string()
    };
    assert!(
        row("0").contains("unfinished (stopped by a signal)")
            && row("0").contains(&format!("{stored} of 20000")),
        "{status}"
    );
    assert!(
        row("1").contains("done") && row("1").contains("20000"),
        "{status}"
    );
    assert!(status.contains("lft submit --resume out/ens"), "{status}");
    let o = lft(dir.path(), &["submit", "--resume", "out/ens"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("1 task(s) (0)"), "only task 0 again: {out}");
    let again = job_id(&out, "job array ").expect("a job id");
    let states = wait_for(&again);
    assert_eq!(states, vec![("COMPLETED".to_string(), "0:0".to_string())]);
    for t in 0..2 {
        assert!(
            std::fs::read(dir.path().join(format!("out/ens/task-{t:04}.h5"))).unwrap()
                == reference(t),
            "task {t} differs from an uninterrupted one"
        );
    }
    let o = lft(dir.path(), &["submit", "--resume", "out/ens"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("nothing to resume"), "{}", stdout(&o));
    let o = lft(dir.path(), &["status", "out/ens"]);
    let status = stdout(&o);
    assert_eq!(status.matches(" done ").count(), 2, "{status}");
    assert!(!status.contains("--resume"), "{status}");
    // The merged tasks are the merged uninterrupted ones.
    for d in [dir.path(), by_hand.path()] {
        let o = lft(d, &["merge", "merged.h5", "out/ens"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert!(
        std::fs::read(dir.path().join("merged.h5")).unwrap()
            == std::fs::read(by_hand.path().join("merged.h5")).unwrap(),
        "the merged file differs from the merged uninterrupted tasks"
    );
}

/// With `requeue = true`, a task stopped by the warning signal puts itself back in the queue
/// and, run again by Slurm, finishes into the bytes of an uninterrupted task.
#[test]
fn a_requeued_task_continues_by_itself() {
    if !slurm_available() {
        return;
    }
    let text = TASK
        .replace("shape = [4, 4]", "shape = [16, 16]")
        .replace("trajectories = 300", "trajectories = 20000")
        .replace("grace_seconds = 30", "grace_seconds = 30\nrequeue = true");
    let by_hand = scratch(&text);
    let o = lft(by_hand.path(), &["run", "config.toml", "--set", "task=0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = scratch(&text);
    let file = dir.path().join("out/ens/task-0000.h5");
    let (_, job) = submit(dir.path(), &["--tasks", "1"]);
    wait_until_written(&file);
    let sent = Command::new("scancel")
        .args(["--signal=USR2", "--batch", &job])
        .status()
        .unwrap();
    assert!(sent.success());
    // Slurm makes a requeued job eligible again two minutes later; the test waits two seconds.
    let t0 = Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-j", &job, "-o", "%r"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&q.stdout).contains("BeginTime") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the task was not requeued"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Not `now`: slurmd revokes the killed run's credential with a resolution of one second,
    // and a relaunch within that second is refused ("Job N already killed, do not launch
    // batch job") and ends the job FAILED 1:0, as it did once in CI.
    let now = Command::new("scontrol")
        .args(["update", &format!("JobId={job}"), "StartTime=now+2"])
        .status()
        .unwrap();
    assert!(now.success());
    let states = wait_for(&job);
    // On failure, the task's log says why (it holds both runs: Slurm appends).
    let log = std::fs::read_to_string(dir.path().join("out/ens/task-0000.log")).unwrap_or_default();
    assert_eq!(
        states,
        vec![("COMPLETED".to_string(), "0:0".to_string())],
        "the requeued task's log:\n{log}"
    );
    let show = Command::new("scontrol")
        .args(["show", "job", &job])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("Restarts=1"), "requeued once: {text}");
    assert!(
        std::fs::read(&file).unwrap()
            == std::fs::read(by_hand.path().join("out/ens/task-0000.h5")).unwrap(),
        "the requeued task differs from an uninterrupted one"
    );
}

const FLOW: &str = r#"seed = 5

[lattice]
shape = [4, 4]

[action]
kind = "phi4"
m2 = -1.0
lambda = 1.0

[flow]
layers = 2
hidden = [4]

[train]
steps = 40
batch = 16
checkpoint = "out/flow.h5"
checkpoint_every = 20

[sample]
configs = 256
chains = 1

[output]
path = "out/ens.h5"

[slurm]
time = "10"
cpus_per_task = 1
grace_seconds = 30
"#;

/// A flow config: one training job, then the array after it (`afterok`), each task sampling
/// with the trained flow into its own file, as `lft sample --set task=i` does.
#[test]
fn a_flow_config_trains_once_then_samples_in_the_array() {
    if !slurm_available() {
        return;
    }
    let dir = scratch(FLOW);
    let (train, job) = submit(dir.path(), &["--tasks", "2"]);
    let train = train.expect("a training job");
    let states = wait_for(&job);
    assert!(
        states.iter().all(|(s, c)| s == "COMPLETED" && c == "0:0"),
        "{states:?}"
    );
    assert_eq!(wait_for(&train), vec![("COMPLETED".into(), "0:0".into())]);
    let ckpt = lft_io::checkpoint::read_checkpoint(&dir.path().join("out/flow.h5")).unwrap();
    assert_eq!(ckpt.step, 40);
    let by_hand = scratch(FLOW);
    let o = lft(by_hand.path(), &["train", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for task in 0..2 {
        let o = lft(
            by_hand.path(),
            &["sample", "config.toml", "--set", &format!("task={task}")],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let f = format!("out/ens/task-{task:04}.h5");
        assert!(
            std::fs::read(dir.path().join(&f)).unwrap()
                == std::fs::read(by_hand.path().join(&f)).unwrap(),
            "{f} differs from `lft sample --set task={task}`"
        );
    }
}

/// `lft submit --vary` of a flow config: a training array with one task per point, then the
/// sampling array of points × tasks after it; `lft status` finds every task done and `lft
/// measure DIR` reads the replicas of every point.
#[test]
fn a_scan_trains_each_point_once_then_samples_its_replicas() {
    if !slurm_available() {
        return;
    }
    let dir = scratch(FLOW);
    let o = lft(
        dir.path(),
        &[
            "submit",
            "config.toml",
            "--vary",
            "action.lambda=0.5,1.0",
            "--tasks",
            "2",
        ],
    );
    assert!(o.status.success(), "lft submit --vary: {}", stderr(&o));
    let out = stdout(&o);
    let train = job_id(&out, "training array ").expect("a training array");
    let job = job_id(&out, "job array ").expect("a job array");
    let states = wait_for(&job);
    assert_eq!(states.len(), 4, "{states:?}");
    assert!(
        states.iter().all(|(s, c)| s == "COMPLETED" && c == "0:0"),
        "{states:?}"
    );
    assert_eq!(wait_for(&train).len(), 2);
    for lambda in ["0.5", "1.0"] {
        let stem = format!("out/ens/action.lambda={lambda}");
        let ckpt =
            lft_io::checkpoint::read_checkpoint(&dir.path().join(format!("{stem}.train.h5")))
                .unwrap();
        assert_eq!(ckpt.step, 40);
        for task in 0..2 {
            assert!(
                dir.path()
                    .join(format!("{stem}/task-{task:04}.h5"))
                    .exists()
            );
        }
    }
    let status = lft(dir.path(), &["status", "out/ens"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert_eq!(
        stdout(&status).matches(" done ").count(),
        4,
        "{}",
        stdout(&status)
    );
    let m = lft(dir.path(), &["measure", "out/ens", "--json"]);
    assert!(m.status.success(), "{}", stderr(&m));
    let v: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert!(
        points
            .iter()
            .all(|p| p["files"].as_array().unwrap().len() == 2)
    );
}
