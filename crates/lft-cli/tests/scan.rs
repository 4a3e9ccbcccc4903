//! `lft scan` and `lft measure DIR`: the grid of runs, resume after a signal to the bytes of
//! an uninterrupted scan, finished points not rerun, every sampler kind, reweighting of
//! free-field ensembles against exact results, and bad input.

mod common;
use common::*;
use lft_action::FreeField;
use lft_lattice::Lattice;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let o = lft(dir, args);
    assert!(o.status.success(), "lft {args:?}: {}", stderr(&o));
    stdout(&o)
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run_ok(dir, args)).unwrap()
}

/// The free field m² = 1 on 8×8 by HMC.
const FREE: &str = r#"seed = 11
[lattice]
shape = [8, 8]
[action]
kind = "phi4"
m2 = 1.0
lambda = 0.0
[hmc]
trajectories = 6000
thermalization = 100
steps = 6
length = 1.2
integrator = "omelyan"
chains = 2
[output]
path = "out/free.h5"
flush_seconds = 0.0
"#;

#[test]
fn a_grid_runs_every_point_into_its_named_file_and_a_rerun_skips_them() {
    let dir = scratch(SMALL);
    let out = run_ok(
        dir.path(),
        &[
            "scan",
            "config.toml",
            "--vary",
            "action.m2=-1.0,-0.5",
            "--vary",
            "lattice.shape=[4,4],[6,6]",
            "--jobs",
            "2",
        ],
    );
    let folder = dir.path().join("out/ens");
    let names = [
        "action.m2=-1.0,lattice.shape=4x4",
        "action.m2=-1.0,lattice.shape=6x6",
        "action.m2=-0.5,lattice.shape=4x4",
        "action.m2=-0.5,lattice.shape=6x6",
    ];
    for name in names {
        assert!(out.contains(&format!("{name}: done")), "{out}");
        let info = run_ok(dir.path(), &["info", &format!("out/ens/{name}.h5")]);
        let shape = if name.ends_with("4x4") {
            "[4, 4]"
        } else {
            "[6, 6]"
        };
        assert!(info.contains(shape), "{name}: {info}");
    }
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("scan.json")).unwrap()).unwrap();
    assert_eq!(
        record["vary"],
        serde_json::json!(["action.m2", "lattice.shape"])
    );
    let points = record["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    assert!(points.iter().all(|p| p["state"] == "done"));
    // A rerun touches no finished point.
    let stamp = |n: &str| {
        std::fs::metadata(folder.join(format!("{n}.h5")))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before: Vec<_> = names.iter().map(|n| stamp(n)).collect();
    let again = run_ok(
        dir.path(),
        &[
            "scan",
            "config.toml",
            "--vary",
            "action.m2=-1.0,-0.5",
            "--vary",
            "lattice.shape=[4,4],[6,6]",
        ],
    );
    assert_eq!(again.matches("done before, skipped").count(), 4, "{again}");
    assert!(!again.contains("running"), "{again}");
    let after: Vec<_> = names.iter().map(|n| stamp(n)).collect();
    assert_eq!(before, after);
    // The config edited to run longer: every point is extended, not skipped.
    let longer = SMALL.replace("trajectories = 300", "trajectories = 400");
    std::fs::write(dir.path().join("config.toml"), longer).unwrap();
    let extended = run_ok(
        dir.path(),
        &[
            "scan",
            "config.toml",
            "--vary",
            "action.m2=-1.0,-0.5",
            "--vary",
            "lattice.shape=[4,4],[6,6]",
        ],
    );
    assert_eq!(extended.matches(": done in").count(), 4, "{extended}");
    for name in names {
        let reader = lft_io::EnsembleReader::open(&folder.join(format!("{name}.h5"))).unwrap();
        assert_eq!(reader.chain_len(0).unwrap(), 400, "{name}");
    }
    // The table has every point.
    let table = run_ok(dir.path(), &["measure", "out/ens", "--csv"]);
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(table.starts_with("action.m2,lattice.shape,configs,abs_mag"));
    // Curves per volume, their figures, and the crossing search between the two volumes.
    let o = lft(
        dir.path(),
        &[
            "measure",
            "out/ens",
            "--crossing",
            "binder",
            "--plot",
            "figures",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("reweighted ([4, 4])") && text.contains("reweighted ([6, 6])"),
        "{text}"
    );
    for name in ["scan_binder.svg", "scan_chi2.svg", "scan_abs_mag.svg"] {
        let svg = std::fs::read_to_string(dir.path().join("figures").join(name)).unwrap();
        assert!(svg.contains("<svg") && svg.contains("action.m2"), "{name}");
    }
    // One ensemble file has no crossing to find.
    let o = lft(
        dir.path(),
        &[
            "measure",
            "out/ens/action.m2=-1.0,lattice.shape=4x4.h5",
            "--crossing",
            "binder",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("lft scan"), "{}", stderr(&o));
}

/// SIGTERM to the scan stops every running point cleanly (exit 75); the same command
/// finishes the scan into the bytes of an uninterrupted one.
#[cfg(unix)]
#[test]
fn a_scan_stopped_by_sigterm_resumes_to_the_files_of_an_uninterrupted_one() {
    let text = SMALL
        .replace("shape = [4, 4]", "shape = [16, 16]")
        .replace("trajectories = 300", "trajectories = 12000");
    let args = [
        "scan",
        "config.toml",
        "--vary",
        "action.m2=-1.0,-0.8,-0.6",
        "--jobs",
        "2",
    ];
    let names = ["action.m2=-1.0", "action.m2=-0.8", "action.m2=-0.6"];
    let reference = scratch(&text);
    run_ok(reference.path(), &args);
    let dir = scratch(&text);
    let child = Command::new(env!("CARGO_BIN_EXE_lft"))
        .args(args)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first = dir.path().join(format!("out/ens/{}.h5", names[0]));
    let t0 = Instant::now();
    while std::fs::metadata(&first).map_or(0, |m| m.len()) < 1 << 20
        && t0.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let text_out = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(75),
        "{text_out}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text_out.contains("stopped (resumable)"), "{text_out}");
    let record = std::fs::read_to_string(dir.path().join("out/ens/scan.json")).unwrap();
    assert!(record.contains("\"stopped\""), "{record}");
    let resumed = run_ok(dir.path(), &args);
    assert!(resumed.contains("3 of 3 point(s) done"), "{resumed}");
    for name in names {
        let path = |d: &Path| d.join(format!("out/ens/{name}.h5"));
        assert!(
            std::fs::read(path(dir.path())).unwrap()
                == std::fs::read(path(reference.path())).unwrap(),
            "{name} differs from the uninterrupted scan's"
        );
    }
}

/// Annealing and flow configs scan too; each flow point trains its own checkpoint.
#[test]
fn annealing_and_flow_configs_scan_with_files_per_point() {
    let dir = scratch(SMALL_SMC);
    run_ok(
        dir.path(),
        &["scan", "config.toml", "--vary", "action.m2=1.0,2.0"],
    );
    for m2 in ["1.0", "2.0"] {
        assert!(
            dir.path()
                .join(format!("out/anneal/action.m2={m2}.h5"))
                .exists()
        );
    }
    let m = json(dir.path(), &["measure", "out/anneal", "--json"]);
    assert_eq!(m["points"].as_array().unwrap().len(), 2);
    let dir = scratch(SMALL_FLOW);
    run_ok(
        dir.path(),
        &["scan", "config.toml", "--vary", "action.lambda=0.5,1.0"],
    );
    for l in ["0.5", "1.0"] {
        let stem = format!("out/ens/action.lambda={l}");
        assert!(dir.path().join(format!("{stem}.h5")).exists());
        assert!(dir.path().join(format!("{stem}.train.h5")).exists());
    }
    assert!(!dir.path().join("out/flow.h5").exists());
}

/// Single-histogram reweighting of one free-field ensemble from m² = 1.0 to 1.1, and MBAR
/// over three (m² = 0.9, 1.0, 1.1): χ₂ and log Z differences against the exact free field,
/// within 4 of the errors the reweighting computes.
#[test]
fn free_field_reweighting_reproduces_exact_chi2_and_free_energies() {
    let dir = scratch(FREE);
    run_ok(
        dir.path(),
        &["scan", "config.toml", "--vary", "action.m2=0.9,1.0,1.1"],
    );
    let lattice = Lattice::new(&[8, 8]).unwrap();
    let exact = |m2: f64| FreeField::new(lattice.clone(), m2).unwrap();
    let single = json(
        dir.path(),
        &[
            "measure",
            "out/free/action.m2=1.0.h5",
            "--reweight",
            "action.m2=1.1",
            "--json",
        ],
    );
    let chi2 = &single["observables"]["chi2"][0];
    let (v, e) = (
        chi2["value"].as_f64().unwrap(),
        chi2["error"].as_f64().unwrap(),
    );
    let want = exact(1.1).chi2();
    assert!(
        (v - want).abs() < 4.0 * e && e < 0.05 * want,
        "χ₂(1.1) = {v} ± {e}, exact {want}"
    );
    let z = &single["log_z"][0];
    let (v, e) = (z["value"].as_f64().unwrap(), z["error"].as_f64().unwrap());
    let want = exact(1.1).log_z() - exact(1.0).log_z();
    assert!(
        (v - want).abs() < 4.0 * e,
        "Δlog Z = {v} ± {e}, exact {want}"
    );

    // Far from the ensemble the weights degenerate, and lft says so.
    let far = lft(
        dir.path(),
        &[
            "measure",
            "out/free/action.m2=1.0.h5",
            "--reweight",
            "action.m2=3.0",
        ],
    );
    assert!(far.status.success(), "{}", stderr(&far));
    assert!(
        stderr(&far).contains("too little overlap"),
        "{}",
        stderr(&far)
    );

    let scan = json(
        dir.path(),
        &["measure", "out/free", "--json", "--grid", "5"],
    );
    let family = &scan["reweighting"]["families"][0];
    assert_eq!(scan["reweighting"]["key"], "action.m2");
    let couplings: Vec<f64> = family["coupling"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_f64().unwrap())
        .collect();
    assert_eq!(couplings.len(), 5);
    for (i, &m2) in couplings.iter().enumerate() {
        let z = (
            family["log_z"]["value"][i].as_f64().unwrap(),
            family["log_z"]["error"][i].as_f64().unwrap(),
        );
        let want = exact(m2).log_z() - exact(0.9).log_z();
        if i == 0 {
            assert_eq!(z.0, 0.0);
        } else {
            assert!(
                (z.0 - want).abs() < 4.0 * z.1,
                "m² = {m2}: Δlog Z {z:?}, exact {want}"
            );
        }
        let c = (
            family["observables"]["chi2"]["value"][i].as_f64().unwrap(),
            family["observables"]["chi2"]["error"][i].as_f64().unwrap(),
        );
        let want = exact(m2).chi2();
        assert!(
            (c.0 - want).abs() < 4.0 * c.1,
            "m² = {m2}: χ₂ {c:?}, exact {want}"
        );
    }
    assert!(family["low_overlap"].as_array().unwrap().is_empty());
}

#[test]
fn bad_specs_keys_and_mixed_scans_are_named_errors_that_lose_nothing() {
    let dir = scratch(SMALL);
    for (vary, expected) in [
        ("action.m2=", "empty SPEC"),
        ("action.m2=1:2", "START:STOP:COUNT"),
        ("action.m3=1,2", "m3"),
        ("flow.layers=1,2", "no [flow] section"),
        ("output.path=a.h5,b.h5", "set by the scan itself"),
        ("task=1,2", "set by the scan itself"),
    ] {
        let o = lft(dir.path(), &["scan", "config.toml", "--vary", vary]);
        assert!(!o.status.success(), "{vary}");
        assert!(stderr(&o).contains(expected), "{vary}: {}", stderr(&o));
        assert!(
            !dir.path().join("out/ens").exists(),
            "{vary} wrote something"
        );
    }
    run_ok(
        dir.path(),
        &["scan", "config.toml", "--vary", "action.m2=-1.0,-0.9"],
    );
    let file = dir.path().join("out/ens/action.m2=-1.0.h5");
    let bytes = std::fs::read(&file).unwrap();
    // Another scan into the same folder is refused.
    let o = lft(
        dir.path(),
        &[
            "scan",
            "config.toml",
            "--vary",
            "action.m2=-1.0",
            "--set",
            "action.lambda=2.0",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("action.lambda=2.0"), "{}", stderr(&o));
    let o = lft(
        dir.path(),
        &["scan", "config.toml", "--vary", "action.lambda=1.0,2.0"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("varying"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    // A point whose ensemble has other physics than the rest: measure names the key.
    run_ok(
        dir.path(),
        &[
            "run",
            "config.toml",
            "--set",
            "action.m2=-0.9",
            "--set",
            "action.lambda=1.5",
            "--set",
            "output.path=\"elsewhere.h5\"",
        ],
    );
    std::fs::copy(
        dir.path().join("elsewhere.h5"),
        dir.path().join("out/ens/action.m2=-0.9.h5"),
    )
    .unwrap();
    let o = lft(dir.path(), &["measure", "out/ens"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("`action.lambda`"), "{}", stderr(&o));
    // Reweighting along a coupling that is not linear is refused by name.
    let o = lft(
        dir.path(),
        &[
            "measure",
            "out/ens/action.m2=-1.0.h5",
            "--reweight",
            "hmc.steps=3",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("enter the action linearly"),
        "{}",
        stderr(&o)
    );
}

/// A heat-bath scan of 2D U(1) in β: the MBAR curves of the plaquette, χ_t and log Z between
/// the points against the exact finite-volume results (U1Exact; lft's S = β Σ(1 − cos θ_P), so
/// log Z = log Z_Haar − β V).
#[test]
fn a_u1_scan_reweights_in_beta_to_the_exact_plaquette_and_free_energy() {
    let text = r#"seed = 4
[lattice]
shape = [6, 6]
[action]
kind = "u1"
beta = 1.0
[heatbath]
sweeps = 6000
overrelaxation = 1
thermalization = 200
chains = 2
[output]
path = "out/u1.h5"
flush_seconds = 0.0
"#;
    let dir = scratch(text);
    run_ok(
        dir.path(),
        &["scan", "config.toml", "--vary", "action.beta=1.0,1.5,2.0"],
    );
    let scan = json(dir.path(), &["measure", "out/u1", "--json", "--grid", "5"]);
    assert_eq!(scan["reweighting"]["key"], "action.beta");
    let family = &scan["reweighting"]["families"][0];
    let exact = |beta: f64| lft_action::U1Exact::new(beta, 36).unwrap();
    let log_z = |beta: f64| exact(beta).log_z() - 36.0 * beta;
    for i in 0..5 {
        let beta = family["coupling"][i].as_f64().unwrap();
        for (name, want) in [
            ("plaquette", exact(beta).plaquette()),
            ("chi_t", exact(beta).chi_t()),
        ] {
            let v = family["observables"][name]["value"][i].as_f64().unwrap();
            let e = family["observables"][name]["error"][i].as_f64().unwrap();
            assert!(
                (v - want).abs() < 4.0 * e,
                "β = {beta}: {name} {v} ± {e}, exact {want}"
            );
        }
        if i > 0 {
            let v = family["log_z"]["value"][i].as_f64().unwrap();
            let e = family["log_z"]["error"][i].as_f64().unwrap();
            let want = log_z(beta) - log_z(1.0);
            assert!(
                (v - want).abs() < 4.0 * e,
                "β = {beta}: Δlog Z {v} ± {e}, exact {want}"
            );
        }
    }
}
