//! Crash safety and resume: a run that dies part-way leaves a readable file of whole
//! configurations, and running the same command again finishes it into exactly the bytes an
//! uninterrupted run writes.

mod common;
use common::*;
use lft_io::EnsembleReader;
use std::time::{Duration, Instant};

fn uninterrupted(text: &str) -> Vec<u8> {
    let dir = scratch(text);
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::read(dir.path().join("out/ens.h5")).unwrap()
}

/// Rounds of 4096 rows per chain on 4x4 (docs/FORMAT.md): 10 000 trajectories make two
/// whole rounds and a tail, so an abort lands between rounds.
fn long(text: &str) -> String {
    text.replace("trajectories = 300", "trajectories = 10000")
}

#[test]
fn aborted_run_resumes_to_identical_bytes() {
    let reference = uninterrupted(&long(SMALL));
    let dir = scratch(&long(SMALL));
    let o = lft(
        dir.path(),
        &["run", "config.toml", "--abort-after", "12000"],
    );
    assert!(!o.status.success(), "the abort hook should kill the run");
    let path = dir.path().join("out/ens.h5");
    {
        let r = EnsembleReader::open(&path).unwrap();
        let lens: Vec<usize> = (0..2).map(|c| r.chain_len(c).unwrap()).collect();
        let total: usize = lens.iter().sum();
        assert!(
            (8192..20000).contains(&total),
            "stored {lens:?}: a round per chain"
        );
        for (c, &n) in lens.iter().enumerate() {
            assert_eq!(r.read_configs(c, 0, n).unwrap().len(), n * 16);
        }
    }
    // The aborted file verifies (rows of an interrupted round are not damage).
    assert_verifies(dir.path(), "out/ens.h5");
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(&path).unwrap() == reference,
        "resumed file differs from uninterrupted run"
    );
    assert_verifies(dir.path(), "out/ens.h5");
    // Running a finished config again changes nothing.
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&path).unwrap() == reference);
}

/// A real SIGKILL at an arbitrary moment (possibly inside an append).
#[cfg(unix)]
#[test]
fn killed_run_leaves_whole_configurations_and_resumes_to_identical_bytes() {
    let text = SMALL
        .replace("shape = [4, 4]", "shape = [16, 16]")
        .replace("trajectories = 300", "trajectories = 30000");
    let reference = uninterrupted(&text);
    let dir = scratch(&text);
    let path = dir.path().join("out/ens.h5");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lft"))
        .args(["run", "config.toml"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    // Rounds of 2048 rows (4 MiB) per chain on 16x16: past 12 MB, round 0 of both chains is
    // in the file, and the kill lands somewhere in a later round.
    while std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) < 12_000_000
        && t0.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the run finished before it could be killed; make it longer"
    );
    let r = EnsembleReader::open(&path).expect("a killed run leaves a readable file");
    let mut total = 0;
    for c in 0..2 {
        let n = r.chain_len(c).unwrap();
        total += n;
        let configs = r.read_configs(c, 0, n).unwrap();
        assert!(configs.iter().all(|x| x.is_finite()));
    }
    assert!(
        (4096..60000).contains(&total),
        "{total} trajectories stored: every complete round"
    );
    drop(r);
    // Killed inside an append, the file still verifies: a round without its checksum record
    // is not part of the chain.
    assert_verifies(dir.path(), "out/ens.h5");
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(&path).unwrap() == reference,
        "resumed file differs from uninterrupted run"
    );
    let resumed = assert_verifies(dir.path(), "out/ens.h5");
    assert_eq!(resumed["configurations"], 60000);
    assert_eq!(resumed["uncommitted"], 0);
}

/// Raising hmc.trajectories on a finished file extends the chains; the result is the file a
/// run with the larger number from the start writes.
#[test]
fn finished_run_extends_to_more_trajectories() {
    // 300 rows are a tail; 5000 cross a round boundary.
    let longer = SMALL.replace("trajectories = 300", "trajectories = 5000");
    let reference = uninterrupted(&longer);
    let dir = scratch(SMALL);
    assert!(lft(dir.path(), &["run", "config.toml"]).status.success());
    let o = lft(
        dir.path(),
        &["run", "config.toml", "--set", "hmc.trajectories=5000"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(dir.path().join("out/ens.h5")).unwrap() == reference);
}

/// Fourier-accelerated HMC resumes like plain HMC: its momenta come from the chain's generator,
/// and the mass matrix from the chain's stored μ (tuned, here, during thermalisation).
#[test]
fn aborted_fourier_accelerated_run_resumes_to_identical_bytes() {
    let text = long(SMALL).replace(
        "integrator = \"omelyan\"",
        "integrator = \"omelyan\"\nfourier_acceleration = true\nfa_mass = 0.7\ntune_fa_mass = true",
    );
    let reference = uninterrupted(&text);
    let plain = uninterrupted(&long(SMALL));
    assert!(reference != plain, "the mass matrix changes the chain");
    let dir = scratch(&text);
    let o = lft(
        dir.path(),
        &["run", "config.toml", "--abort-after", "12000"],
    );
    assert!(!o.status.success(), "the abort hook should kill the run");
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = dir.path().join("out/ens.h5");
    assert!(
        std::fs::read(&path).unwrap() == reference,
        "resumed file differs from uninterrupted run"
    );
    // Each chain stores its tuned μ, which `lft info` shows and which is not the start value.
    let r = lft_io::EnsembleReader::open(&path).unwrap();
    let lft_io::ChainSettings::Hmc {
        fa_mass: Some(mu), ..
    } = r.chain_meta(0).unwrap().settings
    else {
        panic!("no stored Fourier mass")
    };
    assert!(mu > 0.0 && mu != 0.7, "tuned μ {mu}");
    let o = lft(dir.path(), &["info", "out/ens.h5"]);
    assert!(stdout(&o).contains("Fourier mass"), "{}", stdout(&o));
}
