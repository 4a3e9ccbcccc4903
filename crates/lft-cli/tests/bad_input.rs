//! Bad input: each case fails with exit code ≠ 0, names the key or file at fault, and leaves
//! every existing file as it was.

mod common;
use common::*;

/// (description, config text, extra args, text the error must contain)
fn config_cases() -> Vec<(&'static str, String, Vec<&'static str>, &'static str)> {
    vec![
        (
            "unknown key",
            SMALL.replace("steps = 5", "stepz = 5"),
            vec![],
            "stepz",
        ),
        (
            "unknown key by --set",
            SMALL.to_string(),
            vec!["--set", "hmc.foo=1"],
            "foo",
        ),
        (
            "missing key",
            SMALL.replace("seed = 7\n", ""),
            vec![],
            "seed",
        ),
        (
            "missing section key",
            SMALL.replace("trajectories = 300\n", ""),
            vec![],
            "trajectories",
        ),
        (
            "wrong type",
            SMALL.replace("steps = 5", "steps = \"five\""),
            vec![],
            "steps",
        ),
        (
            "shape entry < 2",
            SMALL.replace("shape = [4, 4]", "shape = [4, 1]"),
            vec![],
            "lattice.shape",
        ),
        (
            "5 dimensions",
            SMALL.replace("shape = [4, 4]", "shape = [2, 2, 2, 2, 2]"),
            vec![],
            "lattice.shape",
        ),
        (
            "negative lambda",
            SMALL.replace("lambda = 1.0", "lambda = -1.0"),
            vec![],
            "action.lambda",
        ),
        (
            "lambda 0 with m2 <= 0",
            SMALL.replace("lambda = 1.0", "lambda = 0.0"),
            vec![],
            "action.m2",
        ),
        (
            "steps = 0",
            SMALL.replace("steps = 5", "steps = 0"),
            vec![],
            "hmc.steps",
        ),
        (
            "chains = 0",
            SMALL.to_string(),
            vec!["--set", "hmc.chains=0"],
            "hmc.chains",
        ),
        (
            "mixed parametrisations",
            SMALL.replace("lambda = 1.0", "lambda = 1.0\nkappa = 0.1"),
            vec![],
            "action",
        ),
        (
            "bad --set syntax",
            SMALL.to_string(),
            vec!["--set", "hmc.steps"],
            "hmc.steps",
        ),
        (
            "unknown action",
            SMALL.replace("\"phi4\"", "\"phi6\""),
            vec![],
            "phi6",
        ),
    ]
}

#[test]
fn bad_configs_are_refused_by_key() {
    for (what, text, extra, needle) in config_cases() {
        let dir = scratch(&text);
        let mut args = vec!["run", "config.toml"];
        args.extend(extra);
        let o = lft(dir.path(), &args);
        assert!(!o.status.success(), "{what}: should fail");
        assert_eq!(o.status.code(), Some(1), "{what}");
        let err = stderr(&o);
        assert!(
            err.contains(needle),
            "{what}: `{err}` does not name `{needle}`"
        );
        assert!(
            !dir.path().join("out").exists(),
            "{what}: nothing should be written"
        );
    }
}

#[test]
fn unreadable_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let o = lft(dir.path(), &["run", "nowhere.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nowhere.toml"), "{}", stderr(&o));
}

/// An existing output that is not an lft ensemble, or one made with another config, is
/// neither overwritten nor appended to.
#[test]
fn existing_outputs_are_never_clobbered() {
    let dir = scratch(SMALL);
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let out = dir.path().join("out/ens.h5");
    std::fs::write(&out, b"precious data").unwrap();
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("ens.h5") && stderr(&o).contains("refusing to overwrite"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious data");

    std::fs::remove_file(&out).unwrap();
    assert!(lft(dir.path(), &["run", "config.toml"]).status.success());
    let before = std::fs::read(&out).unwrap();
    let o = lft(
        dir.path(),
        &["run", "config.toml", "--set", "action.m2=-2.0"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("different config"), "{}", stderr(&o));
    let o = lft(
        dir.path(),
        &["run", "config.toml", "--set", "hmc.trajectories=100"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("hmc.trajectories"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn measure_and_info_name_foreign_or_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.h5"), b"junk").unwrap();
    for cmd in ["measure", "info"] {
        for file in ["junk.h5", "absent.h5"] {
            let o = lft(dir.path(), &[cmd, file]);
            assert_eq!(o.status.code(), Some(1), "{cmd} {file}");
            assert!(stderr(&o).contains(file), "{cmd} {file}: {}", stderr(&o));
        }
    }
    assert_eq!(std::fs::read(dir.path().join("junk.h5")).unwrap(), b"junk");
}

#[test]
fn replicas_with_different_physics_are_refused() {
    let a = scratch(SMALL);
    assert!(lft(a.path(), &["run", "config.toml"]).status.success());
    let o = lft(
        a.path(),
        &[
            "run",
            "config.toml",
            "--set",
            "action.lambda=2.0",
            "--set",
            "output.path=out/b.h5",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lft(a.path(), &["measure", "out/ens.h5", "out/b.h5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("lambda") && stderr(&o).contains("b.h5"),
        "{}",
        stderr(&o)
    );
}

/// `--device cuda` (or `[run] device`) where this build or machine has no usable GPU, or for
/// a command that does not run on one yet, is a named error with exit code 1 before any work,
/// never a panic; an unknown device is a usage error naming it. Nothing is written.
#[test]
fn a_device_that_is_not_there_is_a_named_error() {
    for (text, commands) in [
        (SMALL, &["hmc", "run"][..]),
        (SMALL_SMC, &["anneal", "run"][..]),
        (SMALL_FLOW, &["train", "run", "sample"][..]),
    ] {
        let dir = scratch(text);
        for &command in commands {
            for device in ["cuda", "cuda:1"] {
                let out = lft(dir.path(), &[command, "config.toml", "--device", device]);
                let err = stderr(&out);
                assert_eq!(out.status.code(), Some(1), "{command} {device}: {err}");
                assert!(err.contains("--device cuda:"), "{command} {device}: {err}");
                assert!(!err.contains("panicked"), "{command} {device}: {err}");
            }
            // The config's [run] device, named as such; the flag overrides it.
            let set = ["--set", "run.device=\"cuda:2\""];
            let out = lft(dir.path(), &[&[command, "config.toml"][..], &set].concat());
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{command} run.device: {err}");
            assert!(err.contains("run.device = \"cuda:2\""), "{command}: {err}");
        }
        assert!(!dir.path().join("out").exists(), "nothing is written");
    }
    let dir = scratch(SMALL);
    let out = lft(dir.path(), &["hmc", "config.toml", "--device", "gpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("gpu"), "{}", stderr(&out));
    let set = ["hmc", "config.toml", "--set", "run.device=\"gpu\""];
    let out = lft(dir.path(), &set);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("run.device"), "{}", stderr(&out));
    // --device cpu overrides a config's CUDA device: the run goes ahead on the CPU.
    let set = [
        "--set",
        "run.device=\"cuda\"",
        "--set",
        "hmc.trajectories=20",
    ];
    let out = lft(
        dir.path(),
        &[&["hmc", "config.toml", "--device", "cpu"][..], &set].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}
