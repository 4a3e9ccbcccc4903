//! The device paths of the commands, end to end, on the host emulator of the kernels
//! (`--device emulator`: the GPU code path with the kernels run on the CPU): a flow trained
//! there has the CPU's parameters to rounding, its checkpoint continues on the CPU, and
//! sampling with device proposals gives the CPU's chain.

mod common;
use common::*;

/// [`SMALL_FLOW`] in an external field h = 0.2: symmetrised, two steps at a larger learning
/// rate, a short quality estimate.
fn flow_config() -> String {
    SMALL_FLOW
        .replace("lambda = ", "h = 0.2\nlambda = ")
        .replace("equivariant = false", "equivariant = true")
        .replace("steps = 3", "steps = 2")
        .replace("batch = 8\n", "batch = 8\nlr = 1e-2\neval_samples = 64\n")
        .replace("configs = 10", "configs = 16\nbatch = 8")
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

/// (value, error) of observable `name` from `lft measure --json`.
fn observable(dir: &std::path::Path, name: &str) -> (f64, f64) {
    let o = lft(dir, &["measure", "--json", "out/ens.h5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let x = &m["observables"][name];
    (x["value"].as_f64().unwrap(), x["error"].as_f64().unwrap())
}

/// `lft hmc --device emulator` runs every chain on the device's kernels (the GPU code path):
/// its ensemble agrees with the CPU's `lft hmc` within 4σ. Its chains draw from the device's
/// counter-based streams, so the CPU refuses by name to continue its file, and the device
/// the CPU's; both files are left as they were.
#[test]
fn hmc_on_a_device_agrees_with_the_cpu() {
    if !emulator_or_skip() {
        return;
    }
    let text = SMALL.replace("trajectories = 300", "trajectories = 3000");
    let (cpu, dev) = (scratch(&text), scratch(&text));
    let o = lft(cpu.path(), &["hmc", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lft(dev.path(), &["hmc", "config.toml", "--device", "emulator"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("together on the host emulator"),
        "{}",
        stdout(&o)
    );
    for name in ["abs_mag", "chi2", "phi2"] {
        let ((a, da), (b, db)) = (observable(cpu.path(), name), observable(dev.path(), name));
        let sigma = (da * da + db * db).sqrt();
        assert!(
            (a - b).abs() < 4.0 * sigma,
            "{name}: CPU {a} ± {da}, device {b} ± {db}"
        );
    }
    let more = ["--set", "hmc.trajectories=3100"];
    for (dir, device, says) in [
        (dev.path(), "cpu", "made on a GPU"),
        (cpu.path(), "emulator", "made on the CPU"),
    ] {
        let file = dir.join("out/ens.h5");
        let before = std::fs::read(&file).unwrap();
        let o = lft(
            dir,
            &[&["hmc", "config.toml", "--device", device][..], &more].concat(),
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
        assert!(
            std::fs::read(&file).unwrap() == before,
            "the file is untouched"
        );
    }
}

/// What the device does not run is refused by name before anything is written: the Yukawa
/// model (HMC and annealing) and CRAFT's transports.
#[test]
fn what_the_device_does_not_run_is_a_named_error() {
    if !emulator_or_skip() {
        return;
    }
    let yukawa = SMALL.replace("kind = \"phi4\"", "kind = \"yukawa\"\ng = 0.5\nmass = 0.1");
    let craft = SMALL.replace(
        "[hmc]\ntrajectories = 300\nthermalization = 50\nsteps = 5\nlength = 1.0\nintegrator = \"omelyan\"\nchains = 2",
        "[anneal]\nmethod = \"craft\"\nparticles = 16\ntemperatures = 3\ntrajectories = 1\nleapfrog_steps = 2\nstep_size = 0.2\niterations = 5",
    );
    for (text, command, says) in [
        (yukawa.as_str(), "hmc", "HMC of φ⁴"),
        (craft.as_str(), "anneal", "CRAFT"),
    ] {
        let dir = scratch(text);
        let o = lft(
            dir.path(),
            &[command, "config.toml", "--device", "emulator"],
        );
        assert_eq!(o.status.code(), Some(1), "{command}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{command}: {}", stderr(&o));
        assert!(stderr(&o).contains("--device emulator"), "{}", stderr(&o));
        assert!(
            !dir.path().join("out").exists(),
            "{command}: nothing is written"
        );
    }
}
