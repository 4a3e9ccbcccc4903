//! `lft submit` without a cluster: the batch scripts it writes (resources, one stream and one
//! file per task, the train-then-sample split), the signal relay of the script run by bash as
//! Slurm would (the warning signal stops lft cleanly with status 75, and the task continues
//! to the bytes of an uninterrupted run), task streams, and bad input.
#![cfg(unix)]

mod common;
use common::*;
use lft_io::EnsembleReader;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn dry_run(dir: &Path, extra: &[&str]) -> String {
    let args = [&["submit", "config.toml", "--dry-run"], extra].concat();
    let o = lft(dir, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

const SLURM: &str = r#"
[slurm]
partition = "debug"
time = "0:10:00"
cpus_per_task = 3
mem = "2G"
account = "lattice"
signal = "USR1"
grace_seconds = 30
max_running = 2
extra = ["--constraint=avx512"]
modules = ["gcc/12"]
env = { OMP_NUM_THREADS = "1" }
"#;

#[test]
fn the_array_script_carries_the_resources_and_one_task_per_index() {
    let dir = scratch(&format!("{SMALL}{SLURM}"));
    let script = dry_run(
        dir.path(),
        &["--tasks", "5", "--set", "hmc.trajectories=40"],
    );
    for line in [
        "#SBATCH --array=0-4%2",
        "#SBATCH --time=0:10:00",
        "#SBATCH --cpus-per-task=3",
        "#SBATCH --partition=debug",
        "#SBATCH --mem=2G",
        "#SBATCH --account=lattice",
        "#SBATCH --signal=B:USR1@30",
        "#SBATCH --constraint=avx512",
        "module load 'gcc/12'",
        "export OMP_NUM_THREADS='1'",
        "export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-3}\"",
        "trap 'kill -TERM \"$pid\" 2>/dev/null' USR1 TERM INT",
    ] {
        assert!(script.contains(line), "missing `{line}` in\n{script}");
    }
    let folder = dir.path().canonicalize().unwrap().join("out/ens");
    assert!(script.contains(&format!("--output={}/task-%4a.log", folder.display())));
    assert!(
        script.contains("hmc '")
            && script
                .contains("--set 'hmc.trajectories=40' --set \"task=${SLURM_ARRAY_TASK_ID}\" &"),
        "{script}"
    );
    assert!(script.contains("#SBATCH --no-requeue") && !script.contains("scontrol requeue"));
    let requeue = dry_run(dir.path(), &["--tasks", "5", "--set", "slurm.requeue=true"]);
    assert!(requeue.contains("#SBATCH --requeue\n"), "{requeue}");
    assert!(
        requeue.contains("scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\""),
        "{requeue}"
    );
    // Without [slurm]: the defaults, and a warning.
    let dir = scratch(SMALL);
    let o = lft(
        dir.path(),
        &["submit", "config.toml", "--tasks", "2", "--dry-run"],
    );
    assert!(o.status.success());
    assert!(stderr(&o).contains("no [slurm] section"), "{}", stderr(&o));
    assert!(stdout(&o).contains("#SBATCH --time=1:00:00"));
    assert!(stdout(&o).contains("#SBATCH --signal=B:USR2@120"));
}

#[test]
fn flow_and_craft_configs_train_once_before_the_array() {
    let flow = r#"seed = 5
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
steps = 20
checkpoint = "out/flow.h5"
[sample]
configs = 64
[output]
path = "out/ens.h5"
"#;
    let dir = scratch(flow);
    let out = dry_run(dir.path(), &["--tasks", "3"]);
    let (train, array) = out.split_once("# array.sbatch").expect("two scripts");
    assert!(
        train.contains("' train '") && !train.contains("SLURM_ARRAY_TASK_ID"),
        "{train}"
    );
    assert!(!train.contains("--array"));
    assert!(
        array.contains("' sample '") && array.contains("--array=0-2"),
        "{array}"
    );
    // CRAFT: `lft train` trains the flows once; every task then only reads them.
    let craft = r#"seed = 3
[lattice]
shape = [4, 4]
[action]
kind = "phi4"
m2 = 1.0
lambda = 0.0
[anneal]
method = "craft"
particles = 16
temperatures = 3
trajectories = 1
leapfrog_steps = 3
step_size = 0.2
repeats = 2
iterations = 4
[output]
path = "out/anneal.h5"
"#;
    let dir = scratch(craft);
    let out = dry_run(dir.path(), &["--tasks", "2"]);
    let (train, array) = out.split_once("# array.sbatch").expect("two scripts");
    assert!(train.contains("' train '"), "{train}");
    assert!(
        array.contains("' anneal '") && array.contains("--array=0-1"),
        "{array}"
    );
    let o = lft(dir.path(), &["train", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ckpt =
        lft_io::checkpoint::read_craft_checkpoint(&dir.path().join("out/anneal.craft.h5")).unwrap();
    assert_eq!(ckpt.step, 4);
    for task in ["task=0", "task=1"] {
        let o = lft(dir.path(), &["anneal", "config.toml", "--set", task]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    for f in ["out/anneal/task-0000.h5", "out/anneal/task-0001.h5"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    // A flow config without [sample] has nothing for an array to do.
    let dir = scratch(&flow.replace("[sample]\nconfigs = 64\n", ""));
    let o = lft(
        dir.path(),
        &["submit", "config.toml", "--tasks", "3", "--dry-run"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no [sample] section"), "{}", stderr(&o));
}

#[test]
fn bad_submissions_are_named_errors() {
    let cases: [(&str, &[&str], &str); 6] = [
        (SMALL, &["--tasks", "0"], "--tasks"),
        (SMALL, &["--tasks", "2", "--set", "task=1"], "task"),
        (
            SMALL,
            &["--tasks", "2", "--set", "slurm.time=\"1h\""],
            "slurm.time",
        ),
        (
            SMALL,
            &[
                "--tasks",
                "2",
                "--set",
                "slurm.time=\"2\"",
                "--set",
                "slurm.grace_seconds=200",
            ],
            "slurm.grace_seconds",
        ),
        (
            SMALL,
            &["--tasks", "2", "--set", "slurm.signal=\"HUP\""],
            "slurm.signal",
        ),
        (
            SMALL,
            &["--tasks", "2", "--set", "slurm.partitions=\"x\""],
            "partitions",
        ),
    ];
    for (text, extra, culprit) in cases {
        let dir = scratch(text);
        let args = [&["submit", "config.toml", "--dry-run"], extra].concat();
        let o = lft(dir.path(), &args);
        assert!(!o.status.success(), "{extra:?} was accepted");
        assert!(stderr(&o).contains(culprit), "{extra:?}: {}", stderr(&o));
    }
    // No sbatch on PATH: a clear error, and nothing written.
    let dir = scratch(SMALL);
    let o = Command::new(env!("CARGO_BIN_EXE_lft"))
        .args(["submit", "config.toml", "--tasks", "2"])
        .current_dir(dir.path())
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("sbatch is not on PATH"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("out").exists());
}

/// A task file of another config in the task folder is refused before anything is submitted.
#[test]
fn a_task_folder_of_another_config_is_refused() {
    let dir = scratch(SMALL);
    let o = lft(dir.path(), &["run", "config.toml", "--set", "task=1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("out/ens/task-0001.h5").exists());
    // The same config: fine (the task continues its own file).
    dry_run(dir.path(), &["--tasks", "3"]);
    let o = lft(
        dir.path(),
        &[
            "submit",
            "config.toml",
            "--tasks",
            "3",
            "--dry-run",
            "--set",
            "action.lambda=2.0",
        ],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("task-0001.h5") && err.contains("action.lambda"),
        "{err}"
    );
}

/// Task i of a run of C chains owns chains i·C … i·C + C − 1 of the whole: with one chain per
/// task, task 1 holds chain 1 of a two-chain run, in `out/ens/task-0001.h5`.
#[test]
fn a_task_draws_the_streams_of_its_chains() {
    let both = scratch(SMALL);
    assert!(lft(both.path(), &["run", "config.toml"]).status.success());
    let task = scratch(&SMALL.replace("chains = 2", "chains = 1"));
    let o = lft(task.path(), &["run", "config.toml", "--set", "task=1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let whole = EnsembleReader::open(&both.path().join("out/ens.h5")).unwrap();
    let one = EnsembleReader::open(&task.path().join("out/ens/task-0001.h5")).unwrap();
    assert_eq!(one.meta().n_chains, 1);
    let n = whole.chain_len(1).unwrap();
    assert_eq!(one.chain_len(0).unwrap(), n);
    assert_eq!(
        one.read_configs(0, 0, n).unwrap(),
        whole.read_configs(1, 0, n).unwrap()
    );
    assert_ne!(
        one.read_configs(0, 0, n).unwrap(),
        whole.read_configs(0, 0, n).unwrap()
    );
}

/// The array script run by bash as Slurm runs it (SLURM_ARRAY_TASK_ID set): Slurm's warning
/// signal to the script reaches lft as SIGTERM, lft stops with 75 and the script exits with
/// it; the script run again finishes the task's file into the bytes of an uninterrupted task.
#[test]
fn the_script_relays_the_warning_signal_and_the_task_continues_exactly() {
    let text = SMALL
        .replace("shape = [4, 4]", "shape = [16, 16]")
        .replace("trajectories = 300", "trajectories = 12000");
    let reference = {
        let dir = scratch(&text);
        let o = lft(dir.path(), &["run", "config.toml", "--set", "task=1"]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(dir.path().join("out/ens/task-0001.h5")).unwrap()
    };
    let dir = scratch(&text);
    let script = dry_run(dir.path(), &["--tasks", "2"]);
    let path = dir.path().join("array.sbatch");
    std::fs::write(&path, script).unwrap();
    let file = dir.path().join("out/ens/task-0001.h5");
    let bash = |dir: &Path| {
        Command::new("bash")
            .arg("array.sbatch")
            .current_dir(dir)
            .env("SLURM_ARRAY_TASK_ID", "1")
            .env("RUST_LOG", "warn")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let child = bash(dir.path());
    let t0 = Instant::now();
    while std::fs::metadata(&file).map_or(0, |m| m.len()) < 5_000_000
        && t0.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let sent = Command::new("kill")
        .args(["-USR2", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("stopped by a signal"), "{err}");
    let stored = EnsembleReader::open(&file).unwrap().chain_len(0).unwrap();
    assert!(stored < 12000, "{stored} stored");
    let out = bash(dir.path()).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(&file).unwrap() == reference,
        "the continued task differs from an uninterrupted one"
    );
    assert!(!dir.path().join("out/ens/task-0000.h5").exists());
}
