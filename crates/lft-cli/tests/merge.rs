//! `lft merge`: the task files of a job array become one ensemble, byte for byte the file of
//! one run with all their chains, measured as the task files are; files that do not belong
//! together, unfinished tasks and gaps are refused, and nothing is overwritten.

mod common;
use common::*;

fn one_chain() -> String {
    SMALL.replace("chains = 2", "chains = 1")
}

fn run_task(dir: &std::path::Path, task: u64, extra: &[&str]) {
    let t = format!("task={task}");
    let args = [&["run", "config.toml", "--set", t.as_str()], extra].concat();
    let o = lft(dir, &args);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn merged_tasks_are_the_file_of_one_run_with_all_their_chains() {
    let dir = scratch(&one_chain());
    for task in 0..3 {
        run_task(dir.path(), task, &[]);
    }
    let o = lft(dir.path(), &["merge", "merged.h5", "out/ens"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("3 task file(s), 3 chain(s)"),
        "{}",
        stdout(&o)
    );
    // One run of three chains into a file of the same name.
    let single = scratch(&one_chain());
    let o = lft(
        single.path(),
        &[
            "run",
            "config.toml",
            "--set",
            "hmc.chains=3",
            "--set",
            "output.path=\"merged.h5\"",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(dir.path().join("merged.h5")).unwrap()
            == std::fs::read(single.path().join("merged.h5")).unwrap(),
        "the merged file differs from the three-chain run's"
    );
    // Measured alike: the merged file and the task files as replicas.
    let merged = lft(dir.path(), &["measure", "--json", "merged.h5"]);
    let tasks = lft(
        dir.path(),
        &[
            "measure",
            "--json",
            "out/ens/task-0000.h5",
            "out/ens/task-0001.h5",
            "out/ens/task-0002.h5",
        ],
    );
    assert!(merged.status.success() && tasks.status.success());
    let a: serde_json::Value = serde_json::from_str(&stdout(&merged)).unwrap();
    let b: serde_json::Value = serde_json::from_str(&stdout(&tasks)).unwrap();
    assert_eq!(a["n_chains"], 3);
    assert_eq!(a["observables"], b["observables"]);
    // The merged file carries checksums of its own.
    assert_verifies(dir.path(), "merged.h5");

    // A damaged task is refused by name; --no-verify merges the rest, with a warning.
    damage(
        &dir.path().join("out/ens/task-0001.h5"),
        0,
        "configs",
        7,
        3,
        0x20,
    );
    let o = lft(dir.path(), &["merge", "salvaged.h5", "out/ens"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("task-0001.h5") && err.contains("`configs`"),
        "{err}"
    );
    assert!(!dir.path().join("salvaged.h5").exists());
    let o = lft(
        dir.path(),
        &["merge", "salvaged.h5", "out/ens", "--no-verify"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("skipping damaged rows: chain 0, dataset `configs`"));
    let v = assert_verifies(dir.path(), "salvaged.h5");
    assert_eq!(v["configurations"], 2 * 300);
}

#[test]
fn files_that_do_not_merge_are_refused() {
    let dir = scratch(&one_chain());
    for task in 0..2 {
        run_task(dir.path(), task, &[]);
    }
    run_task(dir.path(), 3, &[]);
    let before = std::fs::read(dir.path().join("out/ens/task-0000.h5")).unwrap();
    let refused = |args: &[&str], culprit: &str| {
        let o = lft(dir.path(), args);
        assert!(!o.status.success(), "{args:?} was accepted");
        assert!(stderr(&o).contains(culprit), "{args:?}: {}", stderr(&o));
    };
    // A gap (task 2 is missing).
    refused(&["merge", "m.h5", "out/ens"], "tasks 0, 1, 3");
    // Another config: the file and the key are named.
    run_task(
        dir.path(),
        2,
        &[
            "--set",
            "action.lambda=2.0",
            "--set",
            "output.path=\"other/ens.h5\"",
        ],
    );
    refused(
        &[
            "merge",
            "m.h5",
            "out/ens/task-0000.h5",
            "out/ens/task-0001.h5",
            "other/ens/task-0002.h5",
        ],
        "action.lambda",
    );
    // An unfinished task: a run of task 2 killed after its first flush.
    let o = lft(
        dir.path(),
        &[
            "run",
            "config.toml",
            "--set",
            "task=2",
            "--set",
            "output.path=\"cut/ens.h5\"",
            "--abort-after",
            "1",
        ],
    );
    assert!(!o.status.success(), "the hook kills the run");
    refused(
        &[
            "merge",
            "m.h5",
            "out/ens/task-0000.h5",
            "out/ens/task-0001.h5",
            "cut/ens/task-0002.h5",
        ],
        "task 2 is unfinished",
    );
    // A file that is no task, and an output that exists.
    let o = lft(
        dir.path(),
        &["run", "config.toml", "--set", "output.path=\"plain.h5\""],
    );
    assert!(o.status.success());
    refused(
        &["merge", "m.h5", "plain.h5"],
        "not the file of a job-array task",
    );
    refused(
        &["merge", "plain.h5", "out/ens/task-0000.h5"],
        "never overwrites",
    );
    assert!(!dir.path().join("m.h5").exists(), "nothing written");
    assert!(std::fs::read(dir.path().join("out/ens/task-0000.h5")).unwrap() == before);
}

const SMC: &str = r#"seed = 3

[lattice]
shape = [4, 4]

[action]
kind = "phi4"
m2 = 1.0
lambda = 0.0

[anneal]
method = "smc"
particles = 64
temperatures = 5
trajectories = 1
leapfrog_steps = 3
step_size = 0.2
repeats = 2

[output]
path = "out/anneal.h5"
"#;

/// Annealing tasks of two passes each merge into the file of one run of six passes, their
/// per-pass records (`/anneal`) included, so log Z comes out the same.
#[test]
fn merged_annealing_tasks_are_the_file_of_one_run_with_all_their_passes() {
    let dir = scratch(SMC);
    for task in 0..3 {
        let t = format!("task={task}");
        let o = lft(dir.path(), &["anneal", "config.toml", "--set", &t]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = lft(dir.path(), &["merge", "merged.h5", "out/anneal"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let single = scratch(SMC);
    let o = lft(
        single.path(),
        &[
            "anneal",
            "config.toml",
            "--set",
            "anneal.repeats=6",
            "--set",
            "output.path=\"merged.h5\"",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(dir.path().join("merged.h5")).unwrap()
            == std::fs::read(single.path().join("merged.h5")).unwrap(),
        "the merged file differs from the six-pass run's"
    );
    let o = lft(dir.path(), &["measure", "merged.h5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("mean of 6 passes' log Z"),
        "{}",
        stdout(&o)
    );
}
