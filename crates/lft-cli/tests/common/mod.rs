//! Helpers for running the `lft` binary in a scratch directory.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub const SMALL: &str = r#"seed = 7

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
chains = 2

[output]
path = "out/ens.h5"
flush_seconds = 0.0
"#;

/// A small SMC config: the free field on 4×4.
pub const SMALL_SMC: &str = r#"seed = 3

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
flush_seconds = 0.0
"#;

/// Whether the host emulator of the kernels can run here (a C++ compiler); where it cannot,
/// says so, or fails under `LFT_REQUIRE_EMULATOR=1` (CI).
pub fn emulator_or_skip() -> bool {
    if lft_cuda::emulate::available() {
        return true;
    }
    assert!(
        std::env::var("LFT_REQUIRE_EMULATOR").as_deref() != Ok("1"),
        "LFT_REQUIRE_EMULATOR=1 but no C++ compiler"
    );
    eprintln!("skipped: no C++ compiler to emulate the kernels with");
    false
}

/// Runs `lft ARGS` in `dir`.
pub fn lft(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lft"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("lft runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A scratch directory holding `config.toml` with `text`.
pub fn scratch(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), text).unwrap();
    dir
}

/// A small flow config (the tutorial recipe's architecture on 4×4).
pub const SMALL_FLOW: &str = r#"seed = 5
[lattice]
shape = [4, 4]
[action]
kind = "phi4"
m2 = -1.0
lambda = 1.0
[flow]
layers = 2
hidden = [4]
prior = "normal"
equivariant = false
[train]
steps = 3
batch = 8
checkpoint = "out/flow.h5"
[sample]
configs = 10
[output]
path = "out/ens.h5"
"#;

/// Asserts that `lft verify --json FILE` (run in `dir`) finds the file undamaged and carrying
/// checksums; returns its JSON entry.
pub fn assert_verifies(dir: &Path, file: &str) -> serde_json::Value {
    let o = lft(dir, &["verify", "--json", file]);
    let out = stdout(&o);
    assert!(o.status.success(), "lft verify {file}: {out}{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entry = v["files"][0].clone();
    assert_eq!(entry["status"], "ok", "{entry}");
    assert_eq!(entry["checksums"], true, "{entry}");
    entry
}

/// XORs byte `byte` of row `row` of a chain's dataset in the ensemble at `path` with `mask`.
pub fn damage(path: &Path, chain: usize, dataset: &str, row: usize, byte: usize, mask: u8) {
    let at = lft_io::ensemble::row_offset(path, chain, dataset, row).unwrap() as usize + byte;
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= mask;
    std::fs::write(path, bytes).unwrap();
}
