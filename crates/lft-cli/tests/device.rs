//! The device paths of the commands, end to end, on the host emulator of the kernels
//! (`--device emulator`: the GPU code path with the kernels run on the CPU): a flow trained
//! there has the CPU's parameters to rounding, its checkpoint continues on the CPU, and
//! sampling with device proposals gives the CPU's chain.

mod common;
use common::*;

/// [`SMALL_FLOW`]: symmetrised, two steps at a larger learning rate, a short quality estimate.
fn flow_config() -> String {
    SMALL_FLOW
        .replace("equivariant = false", "equivariant = true")
        .replace("steps = 3", "steps = 2")
        .replace("batch = 8\n", "batch = 8\nlr = 1e-2\neval_samples = 64\n")
        .replace("configs = 10", "configs = 16\nbatch = 8")
}

fn emulator_or_skip() -> bool {
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

fn params(dir: &std::path::Path) -> (u64, Vec<f64>) {
    let c = lft_io::checkpoint::read_checkpoint(&dir.join("out/flow.h5")).unwrap();
    (c.step, c.params)
}

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() < 1e-10 * y.abs().max(1.0),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

#[test]
fn training_and_sampling_on_a_device_give_the_cpus_results() {
    if !emulator_or_skip() {
        return;
    }
    let (cpu, dev) = (scratch(&flow_config()), scratch(&flow_config()));
    let o = lft(cpu.path(), &["train", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lft(
        dev.path(),
        &["train", "config.toml", "--device", "emulator"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let ((s1, p1), (s2, p2)) = (params(cpu.path()), params(dev.path()));
    assert_eq!((s1, s2), (2, 2));
    assert_close("parameters after 2 steps", &p2, &p1);

    // The device's checkpoint continues on the CPU, and the CPU's on the device.
    let more = ["--set", "train.steps=3"];
    let o = lft(
        dev.path(),
        &[&["train", "config.toml", "--device", "cpu"][..], &more].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lft(
        cpu.path(),
        &[&["train", "config.toml", "--device", "emulator"][..], &more].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let ((s1, p1), (s2, p2)) = (params(cpu.path()), params(dev.path()));
    assert_eq!((s1, s2), (3, 3));
    assert_close("parameters after a step on the other device", &p2, &p1);

    // Sampling with device proposals: the CPU's chain (same draws, same decisions).
    let o = lft(cpu.path(), &["sample", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lft(
        dev.path(),
        &["sample", "config.toml", "--device", "emulator"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |dir: &std::path::Path| {
        let r = lft_io::EnsembleReader::open(&dir.join("out/ens.h5")).unwrap();
        let n = r.chain_len(0).unwrap();
        r.read_configs(0, 0, n).unwrap()
    };
    let (a, b) = (read(cpu.path()), read(dev.path()));
    assert_eq!(a.len(), 16 * 16);
    assert_close("the sampled chain", &b, &a);
}

/// Commands without a device path say so for the emulator too.
#[test]
fn hmc_does_not_run_on_a_device_yet() {
    let dir = scratch(SMALL);
    let o = lft(dir.path(), &["hmc", "config.toml", "--device", "emulator"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("does not run on a device yet"),
        "{}",
        stderr(&o)
    );
}
