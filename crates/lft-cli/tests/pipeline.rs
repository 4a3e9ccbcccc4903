//! The pipeline seen from the command line: one writer per output, `save_every`, and the
//! error that names the config key a stored file differs in.

mod common;
use common::*;
use lft_io::EnsembleReader;
use std::time::{Duration, Instant};

/// A second `lft run` on the output another one is writing is refused at once, naming the
/// process that holds it; the first finishes with every trajectory it was asked for.
#[cfg(unix)]
#[test]
fn a_second_writer_is_refused_and_the_first_loses_nothing() {
    let text = SMALL
        .replace("shape = [4, 4]", "shape = [32, 32]")
        .replace("trajectories = 300", "trajectories = 6000");
    let dir = scratch(&text);
    let lock = dir.path().join("out/ens.h5.lock");
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_lft"))
        .args(["run", "config.toml"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !lock.exists() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let second = lft(dir.path(), &["run", "config.toml"]);
    let running = first.try_wait().unwrap().is_none();
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        running,
        "the first run finished before the second started; make it longer"
    );
    assert!(
        !second.status.success(),
        "the second writer must be refused"
    );
    let e = stderr(&second);
    assert!(
        e.contains("is being written by another process")
            && e.contains(&format!("pid {}", first_pid(&first, &e))),
        "{e}"
    );
    let r = EnsembleReader::open(&dir.path().join("out/ens.h5")).unwrap();
    assert_eq!(r.chain_len(0).unwrap(), 6000);
    assert_eq!(r.chain_len(1).unwrap(), 6000);
    assert!(!lock.exists(), "the lock is removed when the run ends");
}

/// The pid named in the refusal (checked to be a number; the first process is gone now).
fn first_pid(_first: &std::process::Output, e: &str) -> u32 {
    let at = e.find("pid ").expect("the refusal names a pid") + 4;
    e[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// hmc.save_every = 5 stores trajectories 5, 10, …: the rows of an every-trajectory run at
/// those indices; an interrupted thinned run resumes to the same bytes.
#[test]
fn save_every_stores_one_trajectory_in_k() {
    let every = scratch(SMALL);
    assert!(lft(every.path(), &["run", "config.toml"]).status.success());
    let thinned = SMALL.replace("chains = 2", "chains = 2\nsave_every = 5");
    let dir = scratch(&thinned);
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("trajectories (this run)  600"),
        "{}",
        stdout(&o)
    );
    let (a, b) = (
        EnsembleReader::open(&every.path().join("out/ens.h5")).unwrap(),
        EnsembleReader::open(&dir.path().join("out/ens.h5")).unwrap(),
    );
    for c in 0..2 {
        assert_eq!(b.chain_len(c).unwrap(), 60);
        assert_eq!(b.chain_meta(c).unwrap().save_every, 5);
        for i in [0, 1, 30, 59] {
            assert_eq!(b.read_row(c, i).unwrap(), a.read_row(c, 5 * i + 4).unwrap());
        }
    }
    let info = stdout(&lft(dir.path(), &["info", "out/ens.h5"]));
    assert!(info.contains("one step in 5 stored"), "{info}");
    let reference = std::fs::read(dir.path().join("out/ens.h5")).unwrap();
    let again = scratch(&thinned);
    let o = lft(
        again.path(),
        &["run", "config.toml", "--abort-after", "200"],
    );
    assert!(!o.status.success());
    assert!(lft(again.path(), &["run", "config.toml"]).status.success());
    assert!(std::fs::read(again.path().join("out/ens.h5")).unwrap() == reference);
    // The stride is part of the ensemble: continuing with another one is refused.
    let o = lft(
        dir.path(),
        &["run", "config.toml", "--set", "hmc.save_every=2"],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("(hmc.save_every = 5 there, 2 in this config)"),
        "{e}"
    );
}

/// A stored ensemble of other physics is refused with the key that differs.
#[test]
fn a_different_config_is_refused_by_key() {
    let dir = scratch(SMALL);
    assert!(lft(dir.path(), &["run", "config.toml"]).status.success());
    let o = lft(
        dir.path(),
        &["run", "config.toml", "--set", "action.lambda=2.0"],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("out/ens.h5 was made with a different config (action.lambda = 1.0 there, 2.0 in this config)"),
        "{e}"
    );
    let o = lft(
        dir.path(),
        &["run", "config.toml", "--set", "hmc.save_every=0"],
    );
    assert!(stderr(&o).contains("hmc.save_every"), "{}", stderr(&o));
}

/// Every writer takes the file's lock: with it held (here by the test itself), `lft run` on
/// the ensemble, `lft train` on the checkpoint and `lft measure --store` are refused at once,
/// naming the holder, and touch nothing.
#[test]
fn every_writer_respects_the_lock() {
    let dir = scratch(SMALL);
    assert!(lft(dir.path(), &["run", "config.toml"]).status.success());
    let ens = dir.path().join("out/ens.h5");
    let before = std::fs::read(&ens).unwrap();
    let pid = format!("pid {}", std::process::id());
    let held = lft_io::FileLock::acquire(&ens).unwrap();
    for args in [
        &["run", "config.toml", "--set", "hmc.trajectories=400"][..],
        &["measure", "out/ens.h5", "--store"][..],
    ] {
        let o = lft(dir.path(), args);
        assert!(!o.status.success(), "{args:?} ran despite the lock");
        let e = stderr(&o);
        assert!(
            e.contains("is being written by another process") && e.contains(&pid),
            "{e}"
        );
    }
    drop(held);
    assert!(std::fs::read(&ens).unwrap() == before);

    let flow = r#"seed = 3
[lattice]
shape = [4, 4]
[action]
kind = "phi4"
m2 = 1.0
lambda = 0.0
[flow]
layers = 2
hidden = [4]
[train]
steps = 5
checkpoint = "out/flow.h5"
[output]
path = "out/unused.h5"
"#;
    let dir = scratch(flow);
    let ckpt = dir.path().join("out/flow.h5");
    let held = lft_io::FileLock::acquire(&ckpt).unwrap();
    let o = lft(dir.path(), &["train", "config.toml"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains(&pid), "{}", stderr(&o));
    assert!(!ckpt.exists(), "a refused trainer writes nothing");
    drop(held);
    assert!(lft(dir.path(), &["train", "config.toml"]).status.success());
    assert!(ckpt.exists());
}
