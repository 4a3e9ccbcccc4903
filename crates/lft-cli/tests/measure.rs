//! `lft measure`: the JSON object has every documented key, values agree with exact results on
//! the free field, and h5py (when installed) reads the configurations as (N, L0, L1) float64.

mod common;
use common::*;

const FREE: &str = r#"seed = 11

[lattice]
shape = [8, 8]

[action]
kind = "phi4"
m2 = 0.5
lambda = 0.0

[hmc]
trajectories = 4000
thermalization = 100
steps = 10
length = 1.0
chains = 2

[output]
path = "out/ens.h5"
"#;

#[test]
fn json_has_every_key_and_free_field_values_agree_with_exact_results() {
    let dir = scratch(FREE);
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lft(dir.path(), &["measure", "--json", "out/ens.h5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    assert_eq!(j["n_configs"], 8000);
    for key in ["abs_mag", "chi2", "ising_energy", "phi2", "action_density"] {
        for field in ["value", "error", "tau_int", "tau_int_error"] {
            assert!(
                j["observables"][key][field].is_f64(),
                "observables.{key}.{field}"
            );
        }
    }
    assert!(j["sampler"]["acceptance"].as_f64().unwrap() > 0.5);

    // Exact free-field values (docs/PHYSICS.md) within 4 standard errors.
    let lat = lft_lattice::Lattice::new(&[8, 8]).unwrap();
    let ff = lft_action::FreeField::new(lat.clone(), 0.5).unwrap();
    let g = ff.propagator();
    let exact = [
        ("chi2", ff.chi2()),
        ("phi2", ff.phi2()),
        ("ising_energy", g[lat.index(&[1, 0])]),
        ("action_density", ff.mean_action() / 64.0),
    ];
    for (key, value) in exact {
        let o = &j["observables"][key];
        let (v, e) = (o["value"].as_f64().unwrap(), o["error"].as_f64().unwrap());
        assert!(
            (v - value).abs() < 4.0 * e,
            "{key}: {v} ± {e} vs exact {value}"
        );
    }

    let table = lft(dir.path(), &["measure", "out/ens.h5"]);
    assert!(table.status.success());
    assert!(stdout(&table).contains("chi_2"));
    let info = lft(dir.path(), &["info", "out/ens.h5"]);
    assert!(
        stdout(&info).contains("chain 1: 4000 configurations"),
        "{}",
        stdout(&info)
    );
}

/// Several files are combined as replicas: the count adds up.
#[test]
fn several_files_are_replicas() {
    let dir = scratch(SMALL);
    assert!(lft(dir.path(), &["run", "config.toml"]).status.success());
    let o = lft(
        dir.path(),
        &[
            "run",
            "config.toml",
            "--set",
            "seed=8",
            "--set",
            "output.path=out/b.h5",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lft(
        dir.path(),
        &[
            "measure",
            "--json",
            "--skip",
            "100",
            "out/ens.h5",
            "out/b.h5",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["n_chains"], 4);
    assert_eq!(j["n_configs"], 4 * 200);
}

#[test]
fn h5py_reads_configurations_as_documented() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import h5py"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "skipped: python3 with h5py is not installed (pip install h5py to run this check)"
        );
        return;
    }
    let dir = scratch(SMALL.replace("shape = [4, 4]", "shape = [4, 6]").as_str());
    assert!(lft(dir.path(), &["run", "config.toml"]).status.success());
    let script = r#"
import h5py
f = h5py.File("out/ens.h5", "r")
assert f.attrs["format"] == b"lft-ensemble", f.attrs["format"]
assert int(f.attrs["format_version"]) == 1
phi = f["chains/1/configs"][:]
assert phi.shape == (300, 4, 6) and phi.dtype == "float64", (phi.shape, phi.dtype)
assert f["chains/1/action"].shape == (300,)
assert f["chains/1/accepted"][:].max() == 1
assert "seed = 7" in f.attrs["config"].decode()
print("ok")
"#;
    let o = std::process::Command::new("python3")
        .args(["-c", script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `--plot` writes the four figures as non-empty SVG files.
#[test]
fn plot_writes_svg_figures() {
    let dir = scratch(SMALL);
    assert!(lft(dir.path(), &["run", "config.toml"]).status.success());
    let o = lft(dir.path(), &["measure", "out/ens.h5", "--plot", "figs"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in [
        "correlator",
        "effective_mass",
        "history_chi2",
        "history_abs_mag",
    ] {
        let text = std::fs::read_to_string(dir.path().join(format!("figs/{name}.svg"))).unwrap();
        assert!(
            text.len() > 1000 && text.trim_start().starts_with("<svg") && text.contains("</svg>"),
            "{name}.svg"
        );
    }
}

/// `--store` writes /measurements into the file and leaves the configurations as they were;
/// storing again replaces the group.
#[test]
fn store_writes_measurements_without_touching_configurations() {
    let dir = scratch(SMALL);
    assert!(lft(dir.path(), &["run", "config.toml"]).status.success());
    let path = dir.path().join("out/ens.h5");
    let read_all = || {
        let r = lft_io::EnsembleReader::open(&path).unwrap();
        (0..2)
            .map(|c| {
                (
                    r.read_configs(c, 0, 300).unwrap(),
                    r.read_action(c).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = read_all();
    for _ in 0..2 {
        let o = lft(dir.path(), &["measure", "out/ens.h5", "--store", "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let chi2 = lft_io::read_measurement(&path, "chi2").unwrap();
        assert_eq!(chi2.len(), 4);
        assert_eq!(chi2[0], j["observables"]["chi2"]["value"].as_f64().unwrap());
        assert_eq!(
            lft_io::read_measurement(&path, "correlator").unwrap().len(),
            3 * 4
        );
        assert_eq!(
            lft_io::read_measurement(&path, "propagator").unwrap().len(),
            16
        );
    }
    assert_eq!(read_all(), before);
    // The file is still a valid, complete ensemble: running the config again has nothing to
    // do, and the stored results survive its canonical rewrite.
    let stored = lft_io::read_measurement(&path, "correlator").unwrap();
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_all(), before);
    assert_eq!(
        lft_io::read_measurement(&path, "correlator").unwrap(),
        stored
    );
    let o = lft(
        dir.path(),
        &["measure", "out/ens.h5", "out/ens.h5", "--store"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--store"));
}
