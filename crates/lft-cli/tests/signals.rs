//! Signals end runs cleanly: SIGTERM (a cluster's time limit), SIGUSR2 (Slurm's warning
//! before it) or SIGINT during HMC production, CRAFT training and flow training make lft
//! store everything, exit with status 75, and leave files that the same command continues to
//! the bytes of an uninterrupted run.
#![cfg(unix)]

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// Status of a run stopped by a signal (src/signals.rs).
const EXIT_STOPPED: i32 = 75;

/// Starts `lft ARGS` in `dir`, waits until `ready()` (at most 60 s), sends `signal` with
/// kill(1), and returns the exit status and stderr.
fn signal_when(
    dir: &Path,
    args: &[&str],
    ready: impl Fn() -> bool,
    signal: &str,
) -> (ExitStatus, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_lft"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ready() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    // `signal` may name several, sent one after the other ("TERM TERM").
    for signal in signal.split_whitespace() {
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success(), "kill -{signal}");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn run_ok(dir: &Path, args: &[&str]) {
    let o = lft(dir, args);
    assert!(o.status.success(), "lft {args:?}: {}", stderr(&o));
}

/// HMC production on 16 × 16, stopped again and again, by SIGTERM, SIGUSR2, SIGINT and two
/// SIGTERMs, each once more has been written: every stop exits with 75 and leaves a readable
/// file of fewer configurations than asked for; two SIGINTs end lft at once (130, unless the
/// first stop was already through); the last run finishes the file into the bytes of an
/// uninterrupted run.
#[test]
fn stopped_hmc_run_resumes_to_identical_bytes() {
    let text = SMALL
        .replace("shape = [4, 4]", "shape = [16, 16]")
        .replace("trajectories = 300", "trajectories = 24000");
    let reference = {
        let dir = scratch(&text);
        run_ok(dir.path(), &["run", "config.toml"]);
        std::fs::read(dir.path().join("out/ens.h5")).unwrap()
    };
    let dir = scratch(&text);
    let path = dir.path().join("out/ens.h5");
    let mut before = 0;
    // TERM twice is one request (Slurm signals lft and its batch script alike).
    for signal in ["TERM", "USR2", "INT", "TERM TERM"] {
        // Rounds of 2048 rows (4 MiB) per chain: wait for one more round in the file.
        let (status, err) = signal_when(
            dir.path(),
            &["run", "config.toml"],
            || file_len(&path) > before + 5_000_000,
            signal,
        );
        assert_eq!(status.code(), Some(EXIT_STOPPED), "SIG{signal}: {err}");
        assert!(err.contains("stopped by a signal"), "{err}");
        assert!(err.contains("out/ens.h5"), "names the file: {err}");
        let r = lft_io::EnsembleReader::open(&path).expect("a readable file");
        let total: usize = (0..2).map(|c| r.chain_len(c).unwrap()).sum();
        assert!(
            (2048..48000).contains(&total),
            "SIG{signal}: {total} of 48000 stored"
        );
        drop(r);
        before = file_len(&path);
    }
    // A second Ctrl-C ends lft at once (130); the file is still whole and continues.
    let (status, _) = signal_when(
        dir.path(),
        &["run", "config.toml"],
        || file_len(&path) > before + 5_000_000,
        "INT INT",
    );
    assert!(
        matches!(status.code(), Some(130) | Some(EXIT_STOPPED)),
        "{status:?}"
    );
    run_ok(dir.path(), &["run", "config.toml"]);
    assert!(
        std::fs::read(&path).unwrap() == reference,
        "the continued file differs from the uninterrupted one"
    );
}

/// HMC with every chain on the device (the host emulator of the kernels, the GPU code path),
/// stopped by SIGTERM and by SIGUSR2 while it writes: each stop exits with 75 and leaves a
/// readable file; the last run finishes it into the bytes of an uninterrupted device run.
#[test]
fn stopped_device_hmc_run_resumes_to_identical_bytes() {
    if !emulator_or_skip() {
        return;
    }
    let text = SMALL
        .replace("shape = [4, 4]", "shape = [8, 8]")
        .replace("trajectories = 300", "trajectories = 30000");
    let device = ["run", "config.toml", "--device", "emulator"];
    let reference = {
        let dir = scratch(&text);
        run_ok(dir.path(), &device);
        std::fs::read(dir.path().join("out/ens.h5")).unwrap()
    };
    let dir = scratch(&text);
    let path = dir.path().join("out/ens.h5");
    let mut before = 0;
    for signal in ["TERM", "USR2"] {
        // 30 000 × 2 configurations of 512 bytes: stop after about 2 MB more.
        let (status, err) = signal_when(
            dir.path(),
            &device,
            || file_len(&path) > before + 2_000_000,
            signal,
        );
        assert_eq!(status.code(), Some(EXIT_STOPPED), "SIG{signal}: {err}");
        assert!(err.contains("stopped by a signal"), "{err}");
        let r = lft_io::EnsembleReader::open(&path).expect("a readable file");
        let total: usize = (0..2).map(|c| r.chain_len(c).unwrap()).sum();
        assert!(
            (1000..60000).contains(&total),
            "SIG{signal}: {total} of 60000 stored"
        );
        drop(r);
        before = file_len(&path);
    }
    run_ok(dir.path(), &device);
    assert!(
        std::fs::read(&path).unwrap() == reference,
        "the continued file differs from the uninterrupted one"
    );
}

const CRAFT: &str = r#"seed = 3

[lattice]
shape = [8, 8]

[action]
kind = "phi4"
m2 = 1.0
lambda = 0.0

[anneal]
method = "craft"
particles = 128
temperatures = 3
ess_threshold = 0.5
trajectories = 2
leapfrog_steps = 5
step_size = 0.2
repeats = 2
iterations = 300
checkpoint_every = 20

[output]
path = "out/anneal.h5"
flush_seconds = 0.0
"#;

/// CRAFT training stopped by SIGTERM after its first checkpoint saves the iterations done
/// (fewer than asked for) and exits with 75; the same command ends with the checkpoint and
/// the ensemble of an uninterrupted run.
#[test]
fn stopped_craft_training_resumes_to_identical_bytes() {
    let files = ["out/anneal.craft.h5", "out/anneal.h5"];
    let straight = scratch(CRAFT);
    run_ok(straight.path(), &["anneal", "config.toml"]);
    let dir = scratch(CRAFT);
    let ckpt = dir.path().join(files[0]);
    let (status, err) = signal_when(
        dir.path(),
        &["anneal", "config.toml"],
        || file_len(&ckpt) > 0,
        "TERM",
    );
    assert_eq!(status.code(), Some(EXIT_STOPPED), "{err}");
    assert!(err.contains("CRAFT training"), "{err}");
    // The lock file may exist; wait for nothing else: the process has ended.
    let stored = lft_io::checkpoint::read_craft_checkpoint(&ckpt).unwrap();
    assert!(
        (20..300).contains(&stored.step),
        "{} iterations checkpointed",
        stored.step
    );
    assert!(!dir.path().join(files[1]).exists(), "no ensemble yet");
    run_ok(dir.path(), &["anneal", "config.toml"]);
    for f in files {
        assert!(
            std::fs::read(dir.path().join(f)).unwrap()
                == std::fs::read(straight.path().join(f)).unwrap(),
            "{f} differs from the uninterrupted run's"
        );
    }
}

const FLOW: &str = r#"seed = 5

[lattice]
shape = [8, 8]

[action]
kind = "phi4"
m2 = -1.0
lambda = 1.0

[flow]
layers = 4
hidden = [8]

[train]
steps = 600
batch = 64
lr = 3e-3
checkpoint = "out/flow.h5"
checkpoint_every = 20

[output]
path = "out/ens.h5"
"#;

/// Flow training stops after the step in hand, checkpoints it, exits with 75, and continues
/// to the uninterrupted checkpoint's bytes.
#[test]
fn stopped_flow_training_resumes_to_identical_bytes() {
    let straight = scratch(FLOW);
    run_ok(straight.path(), &["train", "config.toml"]);
    let dir = scratch(FLOW);
    let ckpt = dir.path().join("out/flow.h5");
    let (status, err) = signal_when(
        dir.path(),
        &["train", "config.toml"],
        || file_len(&ckpt) > 0,
        "TERM",
    );
    assert_eq!(status.code(), Some(EXIT_STOPPED), "{err}");
    let stored = lft_io::checkpoint::read_checkpoint(&ckpt).unwrap();
    assert!(
        (20..600).contains(&stored.step),
        "stopped at step {}",
        stored.step
    );
    run_ok(dir.path(), &["train", "config.toml"]);
    assert!(
        std::fs::read(&ckpt).unwrap()
            == std::fs::read(straight.path().join("out/flow.h5")).unwrap(),
        "the continued checkpoint differs"
    );
}
