//! U(1) gauge theory end to end: `lft heatbath` and `lft hmc` of a `kind = "u1"` config write
//! link angles (root attribute `field = "u1"`, element shape (2, L0, L1)), and `lft measure`
//! gives the exact plaquette, ⟨Q²⟩, χ_t and Wilson loops within 4σ (JSON keys as documented);
//! a stopped heat-bath run resumes to the bytes of an uninterrupted one; bad configs and files
//! are named errors that write nothing.

mod common;
use common::*;
use lft_action::U1Exact;

const U1: &str = r#"seed = 4

[lattice]
shape = [4, 4]

[action]
kind = "u1"
beta = 2.0

[heatbath]
sweeps = 6000
overrelaxation = 1
thermalization = 100
chains = 2
start = "hot"

[output]
path = "out/u1.h5"
flush_seconds = 0.0
"#;

fn hmc_text() -> String {
    U1.replace(
        "[heatbath]\nsweeps = 6000\noverrelaxation = 1",
        "[hmc]\ntrajectories = 6000\nsteps = 10\nlength = 1.0\nlength_jitter = 0.2",
    )
}

fn run_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let o = lft(dir, args);
    assert!(o.status.success(), "lft {args:?}: {}", stderr(&o));
    stdout(&o)
}

fn within(what: &str, x: &serde_json::Value, exact: f64) {
    let (v, e) = (x["value"].as_f64().unwrap(), x["error"].as_f64().unwrap());
    assert!(e > 0.0, "{what}: error {e}");
    assert!(
        (v - exact).abs() < 4.0 * e,
        "{what}: {v} ± {e}, exact {exact}"
    );
}

#[test]
fn heat_bath_and_hmc_ensembles_measure_the_exact_values() {
    let exact = U1Exact::new(2.0, 16).unwrap();
    for (text, command) in [(U1.to_string(), "heatbath"), (hmc_text(), "hmc")] {
        let dir = scratch(&text);
        run_ok(dir.path(), &[command, "config.toml"]);
        let r = lft_io::EnsembleReader::open(&dir.path().join("out/u1.h5")).unwrap();
        assert_eq!(r.meta().field(), "u1");
        assert_eq!(r.meta().config_shape(), vec![2, 4, 4]);
        assert_eq!(r.configs_array(0).unwrap().shape(), &[6000, 2, 4, 4]);
        drop(r);
        let info = run_ok(dir.path(), &["info", "out/u1.h5"]);
        assert!(info.contains("beta = 2"), "{info}");
        let json = run_ok(dir.path(), &["measure", "--json", "out/u1.h5"]);
        let m: serde_json::Value = serde_json::from_str(&json).unwrap();
        let what = |k: &str| format!("{command} {k}");
        let o = &m["observables"];
        within(&what("plaquette"), &o["plaquette"], exact.plaquette());
        within(&what("q2"), &o["q2"], exact.q2());
        within(&what("chi_t"), &o["chi_t"], exact.chi_t());
        within(&what("topological_charge"), &o["topological_charge"], 0.0);
        let loops = m["wilson_loops"].as_array().unwrap();
        assert_eq!(loops.len(), 4, "R, T ≤ L/2");
        for w in loops {
            let area = w["r"].as_u64().unwrap() * w["t"].as_u64().unwrap();
            within(&what("wilson_loop"), w, exact.wilson_loop(area as usize));
        }
        // Creutz ratios from the exact loops (W(0) = 1; on 4 × 4 the finite volume bends the
        // area law).
        let w = |area: u64| exact.wilson_loop(area as usize);
        let ratios = m["creutz_ratios"].as_array().unwrap();
        assert!(!ratios.is_empty());
        for c in ratios {
            let (r, t) = (c["r"].as_u64().unwrap(), c["t"].as_u64().unwrap());
            let chi = -(w(r * t) * w((r - 1) * (t - 1)) / (w(r * (t - 1)) * w((r - 1) * t))).ln();
            within(&what("creutz_ratio"), c, chi);
        }
        let histogram = m["charge_histogram"].as_array().unwrap();
        let total: f64 = histogram
            .iter()
            .map(|c| c["fraction"].as_f64().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!(m["polyakov_correlator"].as_array().unwrap().len() == 3);
        assert!(
            m["charge_changes"].as_f64().unwrap() > 0.05,
            "Q moves at β = 2"
        );
        // The table and the figures.
        let table = run_ok(dir.path(), &["measure", "out/u1.h5", "--plot", "plots"]);
        assert!(
            table.contains("<Q^2>") && table.contains("Creutz"),
            "{table}"
        );
        for f in ["charge_history.svg", "charge_histogram.svg"] {
            assert!(dir.path().join("plots").join(f).exists(), "{f}");
        }
    }
}

/// `lft anneal` of a U(1) config: SMC from the Haar measure (the default prior of
/// kind = "u1"), and CRAFT with gauge-equivariant transports, give the exact log Z and the
/// exact weighted plaquette and ⟨Q²⟩.
#[test]
fn smc_and_craft_from_the_haar_measure_give_the_exact_log_z() {
    let heatbath = "[heatbath]\nsweeps = 6000\noverrelaxation = 1\nthermalization = 100\nchains = 2\nstart = \"hot\"";
    let smc = "[anneal]\nmethod = \"smc\"\nparticles = 256\ntemperatures = 10\ntrajectories = 2\n\
               leapfrog_steps = 5\nstep_size = 0.2\nrepeats = 12";
    let craft = "[anneal]\nmethod = \"craft\"\nparticles = 256\ntemperatures = 6\ntrajectories = 1\n\
                 leapfrog_steps = 5\nstep_size = 0.2\nrepeats = 32\niterations = 100\n\
                 flow_layers = 4\nflow_hidden = [8]";
    for (method, section) in [("smc", smc), ("craft", craft)] {
        let dir = scratch(&U1.replace(heatbath, section));
        run_ok(dir.path(), &["anneal", "config.toml"]);
        let json = run_ok(dir.path(), &["measure", "--json", "out/u1.h5"]);
        let m: serde_json::Value = serde_json::from_str(&json).unwrap();
        let exact = U1Exact::new(2.0, 16).unwrap();
        let z = &m["sampler"]["log_z"];
        let (mean, error) = (z["mean"].as_f64().unwrap(), z["error"].as_f64().unwrap());
        assert!(error > 0.0 && 3.0 * error < 0.5, "{method}: {z}");
        assert!(
            (mean - exact.log_z()).abs() < 3.0 * error,
            "{method}: log Z {mean} ± {error}, exact {}",
            exact.log_z()
        );
        assert_eq!(m["weighted"].as_bool(), Some(true));
        assert!(m.get("charge_changes").is_none(), "particles are no chain");
        let o = &m["observables"];
        within(
            &format!("{method} plaquette"),
            &o["plaquette"],
            exact.plaquette(),
        );
        within(&format!("{method} q2"), &o["q2"], exact.q2());
        let info = run_ok(dir.path(), &["info", "out/u1.h5"]);
        assert!(
            info.contains("uniform") || info.contains("beta = 2"),
            "{info}"
        );
    }
}

#[test]
fn a_stopped_heat_bath_run_resumes_to_identical_bytes() {
    let text = U1.replace("shape = [4, 4]", "shape = [8, 8]");
    let straight = {
        let dir = scratch(&text);
        run_ok(dir.path(), &["run", "config.toml"]);
        std::fs::read(dir.path().join("out/u1.h5")).unwrap()
    };
    let dir = scratch(&text);
    // Rounds of 4096 records per chain on 8 × 8 (docs/FORMAT.md): abort after the first.
    let o = lft(
        dir.path(),
        &["heatbath", "config.toml", "--abort-after", "9000"],
    );
    assert!(!o.status.success(), "the abort hook ends the run");
    let r = lft_io::EnsembleReader::open(&dir.path().join("out/u1.h5")).unwrap();
    let stored = r.chain_len(0).unwrap() + r.chain_len(1).unwrap();
    assert!((1..12000).contains(&stored), "{stored} stored when aborted");
    drop(r);
    run_ok(dir.path(), &["run", "config.toml"]);
    assert!(
        std::fs::read(dir.path().join("out/u1.h5")).unwrap() == straight,
        "the continued file differs from the uninterrupted one"
    );
}

#[test]
fn bad_gauge_configs_and_files_are_named_errors() {
    let heatbath = "[heatbath]\nsweeps = 6000\noverrelaxation = 1\nthermalization = 100\nchains = 2\nstart = \"hot\"";
    for (method, prior, key) in [
        ("smc", "\nprior = \"normal\"", "anneal.prior"),
        ("craft", "\nflow_kernel = 4", "anneal.flow_kernel"),
        (
            "pimh\"\npimh_passes = \"craft",
            "\nflow_layers = 0",
            "anneal.flow_layers",
        ),
    ] {
        let anneal = format!(
            "[anneal]\nmethod = \"{method}\"\nparticles = 16\ntemperatures = 2\ntrajectories = 1\n\
             leapfrog_steps = 2\nstep_size = 0.2\nrepeats = 2{prior}"
        );
        let dir = scratch(&U1.replace(heatbath, &anneal));
        let o = lft(dir.path(), &["anneal", "config.toml"]);
        assert_eq!(o.status.code(), Some(1), "{method}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "{method}: {}", stderr(&o));
        assert!(!stderr(&o).contains("parse"), "{method}: {}", stderr(&o));
        assert!(!dir.path().join("out").exists());
    }
    // Uniform angles are no prior of a scalar field.
    let dir =
        scratch(&SMALL_SMC.replace("method = \"smc\"", "method = \"smc\"\nprior = \"uniform\""));
    let o = lft(dir.path(), &["anneal", "config.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("anneal.prior"), "{}", stderr(&o));
    let cases: [(&str, &str, &str); 8] = [
        ("beta = 2.0", "beta = 0.0", "action.beta"),
        ("beta = 2.0", "beta = -1.5", "action.beta"),
        ("beta = 2.0", "beta = nan", "action.beta"),
        ("beta = 2.0", "", "action.beta"),
        ("beta = 2.0", "beta = 2.0\nm2 = -1.0", "action.m2"),
        (
            "beta = 2.0",
            "beta = 2.0\nfermions = \"exact\"",
            "action.fermions",
        ),
        (
            "kind = \"u1\"\nbeta = 2.0",
            "kind = \"phi4\"\nm2 = 1.0\nlambda = 0.5",
            "heatbath",
        ),
        (
            "kind = \"u1\"\nbeta = 2.0",
            "kind = \"phi4\"\nbeta = 2.0\nm2 = 1.0\nlambda = 0.5",
            "action.beta",
        ),
    ];
    for (from, to, key) in cases {
        let dir = scratch(&U1.replace(from, to));
        let o = lft(dir.path(), &["run", "config.toml"]);
        assert_eq!(o.status.code(), Some(1), "{to}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "{to}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(!dir.path().join("out").exists(), "{to}: nothing written");
    }
    // The heat bath runs on the CPU only.
    let dir = scratch(U1);
    let o = lft(
        dir.path(),
        &["heatbath", "config.toml", "--device", "emulator"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("CPU"), "{}", stderr(&o));
    assert!(!dir.path().join("out").exists());

    // A U(1) file in a φ⁴ analysis, mixed with a φ⁴ file, or damaged.
    let dir = scratch(&U1.replace("sweeps = 6000", "sweeps = 50"));
    run_ok(dir.path(), &["run", "config.toml"]);
    let o = lft(dir.path(), &["measure", "out/u1.h5", "--fit-range", "1:3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--fit-range"), "{}", stderr(&o));
    std::fs::write(dir.path().join("phi4.toml"), SMALL).unwrap();
    run_ok(dir.path(), &["run", "phi4.toml"]);
    let o = lft(dir.path(), &["measure", "out/u1.h5", "out/ens.h5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("action"), "{}", stderr(&o));
    let o = lft(dir.path(), &["measure", "out/ens.h5", "out/u1.h5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("u1"), "{}", stderr(&o));
    // A configuration whose angles are not finite has no integer charge.
    let path = dir.path().join("out/u1.h5");
    let r = lft_io::EnsembleReader::open(&path).unwrap();
    let (meta, chain) = (r.meta().clone(), r.chain_meta(0).unwrap());
    let mut block = r.read_block(0, 0, 3).unwrap();
    drop(r);
    block.configs[7] = f64::NAN;
    let damaged = dir.path().join("damaged.h5");
    let meta = lft_io::EnsembleMeta {
        n_chains: 1,
        ..meta
    };
    let mut w = lft_io::EnsembleWriter::create(&damaged, &meta, &[chain]).unwrap();
    w.append_block(&block).unwrap();
    drop(w);
    let o = lft(dir.path(), &["measure", "damaged.h5"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not an integer"), "{}", stderr(&o));
    assert!(stderr(&o).contains("damaged.h5"), "{}", stderr(&o));
}

fn flow_text() -> String {
    U1.replace(
        "[heatbath]\nsweeps = 6000\noverrelaxation = 1\nthermalization = 100\nchains = 2\nstart = \"hot\"",
        "[flow]\nlayers = 8\nhidden = [8]\n\n[train]\nsteps = 300\nbatch = 64\nlr = 3e-3\n\
         schedule = \"cosine\"\ncheckpoint = \"out/u1.flow.h5\"\ncheckpoint_every = 100\n\n\
         [sample]\nconfigs = 20000\nchains = 2\nbatch = 256",
    )
}

/// `lft run` of a U(1) flow config: trains the gauge-equivariant flow, samples independence
/// Metropolis chains of link fields, and `lft measure` gives the exact plaquette and ⟨Q²⟩;
/// the summary reports the proposals' quality and the proposals' P(Q) against the exact one.
#[test]
fn a_gauge_flow_trains_samples_and_measures_the_exact_values() {
    let exact = U1Exact::new(2.0, 16).unwrap();
    let dir = scratch(&flow_text());
    let out = run_ok(dir.path(), &["run", "config.toml"]);
    assert!(out.contains("P(Q)") && out.contains("reweighted"), "{out}");
    let r = lft_io::EnsembleReader::open(&dir.path().join("out/u1.h5")).unwrap();
    assert_eq!(r.meta().field(), "u1");
    assert_eq!(r.configs_array(0).unwrap().shape(), &[20000, 2, 4, 4]);
    drop(r);
    let json = run_ok(dir.path(), &["measure", "--json", "out/u1.h5"]);
    let m: serde_json::Value = serde_json::from_str(&json).unwrap();
    let o = &m["observables"];
    within("flow IMH plaquette", &o["plaquette"], exact.plaquette());
    within("flow IMH q2", &o["q2"], exact.q2());
    let acceptance = m["sampler"]["acceptance"].as_f64().unwrap();
    assert!(acceptance > 0.2, "a trained flow: acceptance {acceptance}");
    // The trained flow's importance-sampling log Z (lft train of a finished checkpoint only
    // evaluates) is the exact one, that of the normalised Haar measure.
    let json = run_ok(dir.path(), &["train", "config.toml", "--json"]);
    let t: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (log_z, error) = (
        t["quality"]["log_z"].as_f64().unwrap(),
        t["quality"]["log_z_error"].as_f64().unwrap(),
    );
    assert!(
        error > 0.0 && (log_z - exact.log_z()).abs() < 4.0 * error,
        "log Z {log_z} ± {error}, exact {}",
        exact.log_z()
    );
    // The flow runs on the CPU only; the emulated device refuses it by name.
    let o = lft(
        dir.path(),
        &["train", "config.toml", "--device", "emulator"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("gauge"), "{}", stderr(&o));
}
