//! `lft anneal` end to end: SMC passes of the free field give the exact log Z through
//! `lft measure`; a killed CRAFT training and interrupted SMC and PIMH outputs resume to the
//! bytes of uninterrupted runs; bad settings are named errors; another config's output is
//! refused.

mod common;
use common::*;

const FREE: &str = r#"seed = 3

[lattice]
shape = [4, 4]

[action]
kind = "phi4"
m2 = 1.0
lambda = 0.0

[anneal]
method = "smc"
particles = 512
temperatures = 10
ess_threshold = 0.5
trajectories = 2
leapfrog_steps = 5
step_size = 0.2
repeats = 12

[output]
path = "out/anneal.h5"
flush_seconds = 0.0
"#;

fn run_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let o = lft(dir, args);
    assert!(o.status.success(), "lft {args:?}: {}", stderr(&o));
    stdout(&o)
}

/// `lft measure --json` of the FREE output, its 12 passes' log Z checked against the exact
/// free-field value (PHYSICS.md) within 3 standard errors.
fn measured_free_log_z(dir: &std::path::Path) -> serde_json::Value {
    let json = run_ok(dir, &["measure", "--json", "out/anneal.h5"]);
    let m: serde_json::Value = serde_json::from_str(&json).unwrap();
    let z = &m["sampler"]["log_z"];
    let (mean, error) = (z["mean"].as_f64().unwrap(), z["error"].as_f64().unwrap());
    assert_eq!(z["passes"].as_u64(), Some(12));
    assert!(error > 0.0 && error < 0.1, "{z}");
    assert!(
        (mean + 2.858132).abs() < 3.0 * error,
        "log Z {mean} ± {error}"
    );
    m
}

#[test]
fn smc_passes_give_the_exact_free_field_log_z() {
    let dir = scratch(FREE);
    let out = run_ok(dir.path(), &["anneal", "config.toml"]);
    assert!(out.contains("log Z"), "{out}");
    let m = measured_free_log_z(dir.path());
    assert_eq!(m["weighted"].as_bool(), Some(true));
    assert_eq!(m["n_configs"].as_u64(), Some(12 * 512));
    let info = run_ok(dir.path(), &["info", "out/anneal.h5"]);
    assert!(
        info.contains("annealing     smc, linear schedule of 10 temperatures"),
        "{info}"
    );
    assert!(info.contains("log Z of each pass"), "{info}");
    // `lft run` does the same, and a finished output is left alone.
    let before = std::fs::read(dir.path().join("out/anneal.h5")).unwrap();
    run_ok(dir.path(), &["run", "config.toml"]);
    assert!(std::fs::read(dir.path().join("out/anneal.h5")).unwrap() == before);
}

/// The bytes of `files` after running each of `args` in a fresh directory. A run with
/// `--abort-after` must die, leaving an ensemble (if any) with whole records only.
/// `lft anneal --device emulator`: the particles of every pass live on the device (the GPU
/// code path, its kernels run on the host) from the prior to β = 1, and the passes give the
/// exact free-field log Z through `lft measure`; run again, the output is complete.
#[test]
fn device_smc_passes_give_the_exact_free_field_log_z() {
    if !emulator_or_skip() {
        return;
    }
    let dir = scratch(FREE);
    let device = ["anneal", "config.toml", "--device", "emulator"];
    let out = run_ok(dir.path(), &device);
    assert!(out.contains("log Z"), "{out}");
    let m = measured_free_log_z(dir.path());
    assert_eq!(m["n_configs"].as_u64(), Some(12 * 512));
    let before = std::fs::read(dir.path().join("out/anneal.h5")).unwrap();
    run_ok(dir.path(), &device);
    assert!(
        std::fs::read(dir.path().join("out/anneal.h5")).unwrap() == before,
        "a complete output is left as it was"
    );
    // PIMH over device passes (one after another on the device): its chains are stored, and
    // the same passes give the same chains on the device again.
    let pimh = FREE
        .replace("method = \"smc\"", "method = \"pimh\"")
        .replace("particles = 512", "particles = 16")
        .replace("temperatures = 10", "temperatures = 3")
        .replace("repeats = 12", "pimh_steps = 40\npimh_chains = 2");
    let files = ["out/anneal.h5"];
    let first = bytes_after(&pimh, &[&device], &files);
    let second = bytes_after(&pimh, &[&device], &files);
    assert!(first[0] == second[0], "device PIMH runs differ");
    let dir = scratch(&pimh);
    run_ok(dir.path(), &device);
    let r = lft_io::EnsembleReader::open(&dir.path().join("out/anneal.h5")).unwrap();
    assert_eq!((r.chain_len(0).unwrap(), r.chain_len(1).unwrap()), (40, 40));
}

fn bytes_after(text: &str, args: &[&[&str]], files: &[&str]) -> Vec<Vec<u8>> {
    let dir = scratch(text);
    for a in args {
        let o = lft(dir.path(), a);
        if !a.contains(&"--abort-after") {
            assert!(o.status.success(), "lft {a:?}: {}", stderr(&o));
            continue;
        }
        assert!(!o.status.success(), "the abort hook should kill the run");
        let path = dir.path().join("out/anneal.h5");
        if path.exists() {
            let r = lft_io::EnsembleReader::open(&path).unwrap();
            let stored: usize = (0..r.meta().n_chains)
                .map(|c| r.chain_len(c).unwrap())
                .sum();
            eprintln!("{a:?}: {stored} records stored when killed");
            assert!(
                stored > 0,
                "{a:?}: the abort should come after a stored round"
            );
        }
    }
    files
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect()
}

#[test]
fn killed_craft_training_resumes_to_the_same_bytes() {
    let text = FREE
        .replace("method = \"smc\"", "method = \"craft\"")
        .replace("particles = 512", "particles = 32")
        .replace("temperatures = 10", "temperatures = 3")
        .replace(
            "repeats = 12",
            "repeats = 2\niterations = 6\ncheckpoint_every = 2",
        )
        .replace("[output]", "[output]\n# craft");
    let files = ["out/anneal.craft.h5", "out/anneal.h5"];
    let straight = bytes_after(&text, &[&["anneal", "config.toml"]], &files);
    let resumed = bytes_after(
        &text,
        &[
            &["anneal", "config.toml", "--abort-after", "2"],
            &["anneal", "config.toml"],
        ],
        &files,
    );
    assert!(straight[0] == resumed[0], "checkpoints differ");
    assert!(straight[1] == resumed[1], "ensembles differ");
    let ckpt =
        lft_io::checkpoint::read_craft_checkpoint(&tempdir_with(&text).join("out/anneal.craft.h5"));
    assert!(ckpt.is_err(), "no checkpoint before a run");
    // The ensemble belongs to flows of 6 iterations: more are refused before any training,
    // and with a new output path they continue the checkpoint.
    let dir = scratch(&text);
    run_ok(dir.path(), &["anneal", "config.toml"]);
    let more = ["anneal", "config.toml", "--set", "anneal.iterations=8"];
    let o = lft(dir.path(), &more);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("anneal.iterations"), "{}", stderr(&o));
    let ckpt_path = dir.path().join("out/anneal.craft.h5");
    let ckpt = lft_io::checkpoint::read_craft_checkpoint(&ckpt_path).unwrap();
    assert_eq!(ckpt.step, 6);
    let elsewhere = [&more[..], &["--set", "output.path=\"out/more.h5\""]].concat();
    let elsewhere = [
        elsewhere,
        vec!["--set", "anneal.checkpoint=\"out/anneal.craft.h5\""],
    ]
    .concat();
    run_ok(dir.path(), &elsewhere);
    let ckpt = lft_io::checkpoint::read_craft_checkpoint(&ckpt_path).unwrap();
    assert_eq!(ckpt.step, 8);
    assert_eq!(ckpt.history.len(), 8);
}

fn tempdir_with(text: &str) -> std::path::PathBuf {
    let dir = scratch(text);
    dir.keep()
}

#[test]
fn interrupted_smc_and_pimh_outputs_resume_to_the_same_bytes() {
    // Rounds of 4096 records per chain on 4x4 (docs/FORMAT.md): aborts after the first.
    let smc = FREE
        .replace("particles = 512", "particles = 5000")
        .replace("temperatures = 10", "temperatures = 3")
        .replace("repeats = 12", "repeats = 2");
    let files = ["out/anneal.h5"];
    let straight = bytes_after(&smc, &[&["anneal", "config.toml"]], &files);
    let resumed = bytes_after(
        &smc,
        &[
            &["anneal", "config.toml", "--abort-after", "9000"],
            &["anneal", "config.toml"],
        ],
        &files,
    );
    assert!(straight[0] == resumed[0], "SMC ensembles differ");

    let pimh = FREE
        .replace("method = \"smc\"", "method = \"pimh\"")
        .replace("particles = 512", "particles = 8")
        .replace("temperatures = 10", "temperatures = 3")
        .replace("repeats = 12", "pimh_steps = 4500\npimh_chains = 2");
    let straight = bytes_after(&pimh, &[&["anneal", "config.toml"]], &files);
    let resumed = bytes_after(
        &pimh,
        &[
            &["anneal", "config.toml", "--abort-after", "8500"],
            &["anneal", "config.toml"],
        ],
        &files,
    );
    assert!(straight[0] == resumed[0], "PIMH ensembles differ");
}

#[test]
fn bad_anneal_settings_are_named_errors() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "temperatures = 10",
            "schedule = \"list\"\nbetas = [0.5, 0.9]",
            "anneal.betas",
        ),
        (
            "temperatures = 10",
            "temperatures = 0",
            "anneal.temperatures",
        ),
        (
            "method = \"smc\"",
            "method = \"craft\"\nschedule = \"adaptive\"",
            "anneal.schedule",
        ),
        ("particles = 512", "partcles = 512", "partcles"),
        (
            "ess_threshold = 0.5",
            "ess_threshold = 1.5",
            "anneal.ess_threshold",
        ),
        ("step_size = 0.2", "step_sizes = [0.2]", "anneal.step_sizes"),
    ];
    for (from, to, culprit) in cases {
        let dir = scratch(&FREE.replace(from, to));
        let o = lft(dir.path(), &["anneal", "config.toml"]);
        assert!(!o.status.success(), "{to}");
        assert!(stderr(&o).contains(culprit), "{to}: {}", stderr(&o));
        assert!(!dir.path().join("out").exists(), "{to}: nothing written");
    }
    // Another config's output is refused, and left as it was.
    let dir = scratch(FREE);
    run_ok(dir.path(), &["anneal", "config.toml"]);
    let before = std::fs::read(dir.path().join("out/anneal.h5")).unwrap();
    let o = lft(
        dir.path(),
        &["anneal", "config.toml", "--set", "anneal.particles=64"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("anneal.particles"), "{}", stderr(&o));
    assert!(std::fs::read(dir.path().join("out/anneal.h5")).unwrap() == before);
}

/// `lft anneal` with `fermions = "pseudofermion"` runs SMC on the joint (φ, ϕ) target: it
/// stores φ only, reports its CG work, and its log Z (of φ: the V log 2π of the pseudofermion
/// taken off) agrees with SMC on the exact-determinant action of the same config within 4
/// combined standard errors, as do the weighted ⟨|M|⟩/V and ⟨φ²⟩.
#[test]
fn pseudofermion_annealing_agrees_with_the_exact_determinant() {
    let yukawa = FREE
        .replace(
            "kind = \"phi4\"\nm2 = 1.0\nlambda = 0.0",
            "kind = \"yukawa\"\nm2 = -4.0\nlambda = 8.0\ng = 0.5\nmass = 0.0\nfermions = \"pseudofermion\"",
        )
        .replace("temperatures = 10", "schedule = \"adaptive\"\ntarget_ess = 0.5")
        .replace("step_size = 0.2", "step_size = 0.1")
        .replace("leapfrog_steps = 5", "leapfrog_steps = 10")
        .replace("particles = 512", "particles = 256")
        .replace("repeats = 12", "repeats = 8");
    let dir = scratch(&yukawa);
    let out = run_ok(dir.path(), &["anneal", "config.toml"]);
    assert!(out.contains("joint (φ, ϕ) target"), "{out}");
    assert!(out.contains("iterations per solve"), "{out}");
    let measured = |dir: &std::path::Path| {
        let json = run_ok(dir, &["measure", "--json", "out/anneal.h5"]);
        let m: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(m["n_configs"].as_u64(), Some(8 * 256), "{m}");
        let z = &m["sampler"]["log_z"];
        let pair =
            |v: &serde_json::Value| (v["value"].as_f64().unwrap(), v["error"].as_f64().unwrap());
        (
            (z["mean"].as_f64().unwrap(), z["error"].as_f64().unwrap()),
            pair(&m["observables"]["abs_mag"]),
            pair(&m["observables"]["phi2"]),
        )
    };
    let joint = measured(dir.path());
    let r = lft_io::EnsembleReader::open(&dir.path().join("out/anneal.h5")).unwrap();
    assert_eq!(r.meta().fermions().unwrap().treatment, "pseudofermion");
    let exact_dir =
        scratch(&yukawa.replace("fermions = \"pseudofermion\"", "fermions = \"exact\""));
    run_ok(exact_dir.path(), &["anneal", "config.toml"]);
    let exact = measured(exact_dir.path());
    for (name, a, b) in [
        ("log Z", joint.0, exact.0),
        ("<|M|>/V", joint.1, exact.1),
        ("<phi^2>", joint.2, exact.2),
    ] {
        let combined = (a.1 * a.1 + b.1 * b.1).sqrt();
        eprintln!(
            "{name}: joint {:.4} ± {:.4}, exact {:.4} ± {:.4}",
            a.0, a.1, b.0, b.1
        );
        assert!(
            combined > 0.0 && (a.0 - b.0).abs() < 4.0 * combined,
            "{name}: joint {a:?} vs exact {b:?}"
        );
    }
}
