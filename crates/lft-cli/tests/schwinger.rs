//! The Schwinger model end to end: `lft run` of a `kind = "schwinger"` config with the exact
//! determinant and with pseudofermions writes link angles with the fermion couplings
//! (`action = "schwinger"`, root attributes `mass`, `fermions`), `lft measure --json` gives the
//! gauge observables and `condensate`, `pion_correlator`, `pion_mass`, and the two fermion
//! treatments agree on them within 4σ; bad configs and files are named errors.

mod common;
use common::*;

const EXACT: &str = r#"seed = 40

[lattice]
shape = [4, 4]

[action]
kind = "schwinger"
beta = 2.0
mass = 0.3
fermions = "exact"

[hmc]
trajectories = 3000
thermalization = 100
steps = 10
length = 1.0
length_jitter = 0.2
chains = 2
start = "hot"

[output]
path = "out/sw.h5"
flush_seconds = 0.0
"#;

fn pseudofermion_text() -> String {
    EXACT.replace("fermions = \"exact\"", "fermions = \"pseudofermion\"")
}

fn run_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let o = lft(dir, args);
    assert!(o.status.success(), "lft {args:?}: {}", stderr(&o));
    stdout(&o)
}

fn value(x: &serde_json::Value) -> (f64, f64) {
    (x["value"].as_f64().unwrap(), x["error"].as_f64().unwrap())
}

#[test]
fn exact_and_pseudofermion_hmc_write_and_measure_the_same_theory() {
    let mut measured = Vec::new();
    for (text, treatment) in [
        (EXACT.to_string(), "exact"),
        (pseudofermion_text(), "pseudofermion"),
    ] {
        let dir = scratch(&text);
        let out = run_ok(dir.path(), &["run", "config.toml"]);
        assert!(out.contains("acceptance"), "{out}");
        assert_eq!(
            out.contains("CG solves"),
            treatment == "pseudofermion",
            "{out}"
        );
        let r = lft_io::EnsembleReader::open(&dir.path().join("out/sw.h5")).unwrap();
        let meta = r.meta();
        assert_eq!(meta.action_kind, "schwinger");
        assert_eq!(meta.field(), "u1");
        assert_eq!(meta.config_shape(), vec![2, 4, 4]);
        let f = meta
            .gauge_fermions()
            .expect("the fermion couplings are stored");
        assert_eq!((f.mass, f.treatment.as_str()), (0.3, treatment));
        drop(r);
        let info = run_ok(dir.path(), &["info", "out/sw.h5"]);
        assert!(
            info.contains("schwinger") && info.contains("mass = 0.3"),
            "{info}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&run_ok(dir.path(), &["measure", "out/sw.h5", "--json"])).unwrap();
        assert_eq!(json["action"], "schwinger");
        assert_eq!(json["fermion_method"], "exact");
        let pion = json["pion_correlator"].as_array().unwrap();
        assert_eq!(pion.len(), 4);
        // C(t) is positive, and symmetric about L0/2 on average (time reflection).
        let c: Vec<(f64, f64)> = pion.iter().map(value).collect();
        assert!(c.iter().all(|&(c, _)| c > 0.0), "{c:?}");
        let ((c1, e1), (c3, e3)) = (c[1], c[3]);
        assert!((c1 - c3).abs() < 4.0 * (e1 * e1 + e3 * e3).sqrt(), "{c:?}");
        assert!(json.get("pion_mass").is_some());
        assert!(json["disconnected_correlator"].is_array());
        let table = run_ok(dir.path(), &["measure", "out/sw.h5"]);
        assert!(
            table.contains("Schwinger model") && table.contains("condensate"),
            "{table}"
        );
        measured.push(json);
    }
    let ((a, ea), (b, eb)) = (
        value(&measured[0]["condensate"]),
        value(&measured[1]["condensate"]),
    );
    assert!(
        (a - b).abs() < 4.0 * (ea * ea + eb * eb).sqrt(),
        "condensate: {a} ± {ea} vs {b} ± {eb}"
    );
    for key in ["plaquette", "q2"] {
        let o = |m: &serde_json::Value| value(&m["observables"][key]);
        let ((a, ea), (b, eb)) = (o(&measured[0]), o(&measured[1]));
        assert!(
            (a - b).abs() < 4.0 * (ea * ea + eb * eb).sqrt(),
            "{key}: {a} ± {ea} vs {b} ± {eb}"
        );
    }
}

/// Pseudofermions with a `[flow]`: the flow trains on the stochastic pseudofermion force and
/// samples by pseudo-marginal independence Metropolis on the estimated determinant, agreeing
/// with exact-determinant HMC within 4σ; the estimator's settings are stored, its variance
/// reported, and the Schwinger model's own limits on them are named errors.
#[test]
fn pseudofermion_flow_samples_pseudo_marginally() {
    let hmc = "[hmc]\ntrajectories = 3000\nthermalization = 100\nsteps = 10\nlength = 1.0\nlength_jitter = 0.2\nchains = 2\nstart = \"hot\"\n";
    assert!(EXACT.contains(hmc));
    let flow = "[flow]\nplaquette_basis = true\nlayers = 4\ntransform = \"ncp\"\nhidden = [4]\n\n[train]\nsteps = 150\nbatch = 32\nlr = 3e-3\ncheckpoint = \"out/flow.h5\"\n\n[sample]\nconfigs = 6000\nbatch = 200\n";
    let text = pseudofermion_text().replace(hmc, flow);
    let dir = scratch(&text);
    let out = run_ok(dir.path(), &["run", "config.toml"]);
    assert!(out.contains("acceptance"), "{out}");
    let r = lft_io::EnsembleReader::open(&dir.path().join("out/sw.h5")).unwrap();
    assert_eq!(r.meta().sampler, lft_io::SamplerKind::FlowImh);
    assert_eq!(
        r.meta().gauge_fermions().unwrap().treatment,
        "pseudofermion"
    );
    for key in [
        "pf_estimator = \"twisted-ladder\"",
        "pf_draws = 1",
        "pf_twist_min = 0.05",
        "pf_twist_max = 2.0",
        "pf_twist_ratio = 1.15",
    ] {
        assert!(r.meta().config_text.contains(key), "{key}");
    }
    assert!(!r.meta().config_text.contains("pf_reference"));
    drop(r);
    let o = lft(
        dir.path(),
        &[
            "sample",
            "config.toml",
            "--json",
            "--set",
            "output.path=\"out/b.h5\"",
            "--set",
            "sample.configs=200",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let var = json["pf_log_estimate_variance"].as_f64().unwrap();
    assert!(var > 0.0 && var.is_finite(), "{json}");
    assert!(json["pf_cg_iterations_per_estimate"].as_f64().unwrap() > 0.0);

    // Joint (θ, ϕ) sampling with the same flow: the gauge-covariant conditional flow is
    // trained first, and what it leaves is reported.
    let o = lft(
        dir.path(),
        &[
            "sample",
            "config.toml",
            "--json",
            "--set",
            "action.pf_estimator=\"flow\"",
            "--set",
            "action.pf_flow_steps=100",
            "--set",
            "output.path=\"out/joint.h5\"",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let (start, end) = (
        json["pf_flow_training"]["log_det_variance_start"]
            .as_f64()
            .unwrap(),
        json["pf_flow_training"]["log_det_variance_end"]
            .as_f64()
            .unwrap(),
    );
    assert!(
        end < start,
        "training lowers Var(log d̂et | θ): {start} → {end}"
    );

    let exact = scratch(EXACT);
    run_ok(exact.path(), &["run", "config.toml"]);
    let hmc_json: serde_json::Value =
        serde_json::from_str(&run_ok(exact.path(), &["measure", "out/sw.h5", "--json"])).unwrap();
    for file in ["out/sw.h5", "out/joint.h5"] {
        let flow_json: serde_json::Value =
            serde_json::from_str(&run_ok(dir.path(), &["measure", file, "--json"])).unwrap();
        for key in ["condensate", "plaquette", "q2"] {
            let of = |j: &serde_json::Value| match key {
                "condensate" => value(&j[key]),
                _ => value(&j["observables"][key]),
            };
            let ((a, ea), (b, eb)) = (of(&flow_json), of(&hmc_json));
            assert!(
                (a - b).abs() < 4.0 * (ea * ea + eb * eb).sqrt(),
                "{file} {key}: {a} ± {ea} vs exact HMC {b} ± {eb}"
            );
        }
    }

    let cases: &[(&[&str], &str)] = &[
        (&["action.pf_twist_max=1.9"], "action.pf_twist_max"),
        (&["action.pf_reference=\"free\""], "action.pf_reference"),
        (&["sample.method=\"flow_hmc\""], "sample.method"),
        // Flow-HMC on the joint target is the Yukawa model's.
        (
            &["sample.method=\"flow_hmc\"", "action.pf_estimator=\"flow\""],
            "sample.method",
        ),
    ];
    for (sets, key) in cases {
        let mut args = vec!["sample", "config.toml"];
        for set in sets.iter() {
            args.extend(["--set", set]);
        }
        args.extend(["--set", "output.path=\"out/c.h5\""]);
        let o = lft(dir.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{sets:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "{sets:?}: {}", stderr(&o));
    }
    assert!(!dir.path().join("out/c.h5").exists());
}

/// `[anneal]` with pseudofermions runs SMC on the joint (θ, ϕ) target (CG only) and stores the
/// links; its log Z agrees with SMC on the exact determinant within 4σ.
#[test]
fn annealing_with_pseudofermions_gives_the_log_z_of_the_exact_target() {
    let hmc = "[hmc]\ntrajectories = 3000\nthermalization = 100\nsteps = 10\nlength = 1.0\nlength_jitter = 0.2\nchains = 2\nstart = \"hot\"\n";
    let smc = "[anneal]\nmethod = \"smc\"\nparticles = 64\ntemperatures = 12\ntrajectories = 2\nleapfrog_steps = 5\nstep_size = 0.2\nrepeats = 8\n";
    let mut log_z = Vec::new();
    for text in [EXACT.to_string(), pseudofermion_text()] {
        let dir = scratch(&text.replace(hmc, smc));
        let out = run_ok(dir.path(), &["run", "config.toml"]);
        let treatment = if text.contains("\"pseudofermion\"") {
            assert!(out.contains("joint (θ, ϕ) target"), "{out}");
            "pseudofermion"
        } else {
            "exact"
        };
        let r = lft_io::EnsembleReader::open(&dir.path().join("out/sw.h5")).unwrap();
        assert_eq!(
            r.meta().config_shape(),
            vec![2, 4, 4],
            "the links alone are stored"
        );
        assert_eq!(r.meta().gauge_fermions().unwrap().treatment, treatment);
        drop(r);
        let json: serde_json::Value =
            serde_json::from_str(&run_ok(dir.path(), &["measure", "--json", "out/sw.h5"])).unwrap();
        let z = &json["sampler"]["log_z"];
        log_z.push((z["mean"].as_f64().unwrap(), z["error"].as_f64().unwrap()));
    }
    let ((a, ea), (b, eb)) = (log_z[0], log_z[1]);
    assert!(ea > 0.0 && eb > 0.0 && ea < 0.3 && eb < 0.3, "{log_z:?}");
    assert!(
        (a - b).abs() < 4.0 * (ea * ea + eb * eb).sqrt(),
        "log Z: exact {a} ± {ea} vs joint {b} ± {eb}"
    );
}

#[test]
fn bad_schwinger_configs_and_files_are_named_errors() {
    let cases: [(&str, &str, &str); 8] = [
        // Multi-timescale splits off the pseudofermion force.
        (
            "chains = 2",
            "chains = 2\ninner_steps = 4",
            "hmc.inner_steps",
        ),
        ("mass = 0.3", "mass = -0.3", "action.mass"),
        ("mass = 0.3", "", "action.mass"),
        ("shape = [4, 4]", "shape = [5, 4]", "lattice.shape"),
        ("shape = [4, 4]", "shape = [4, 4, 4]", "lattice.shape"),
        ("beta = 2.0", "beta = 2.0\ng = 1.0", "action.g"),
        (
            "fermions = \"exact\"",
            "fermions = \"exact\"\ncg_max_iterations = 5",
            "action.cg_max_iterations",
        ),
        (
            "[hmc]\ntrajectories = 3000\nthermalization = 100\nsteps = 10\nlength = 1.0\nlength_jitter = 0.2",
            "[heatbath]\nsweeps = 10",
            "heatbath",
        ),
    ];
    let mut texts: Vec<(String, &str)> = cases
        .iter()
        .map(|(from, to, key)| (EXACT.replace(from, to), *key))
        .collect();
    // Pseudofermions at m = 0: CG on a possibly singular operator.
    texts.push((
        pseudofermion_text().replace("mass = 0.3", "mass = 0.0"),
        "action.mass",
    ));
    // Pure U(1) with a fermion mass.
    texts.push((
        EXACT.replace("kind = \"schwinger\"", "kind = \"u1\""),
        "action.mass",
    ));
    for (text, key) in texts {
        let dir = scratch(&text);
        let o = lft(dir.path(), &["run", "config.toml"]);
        assert_eq!(o.status.code(), Some(1), "{key}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "{key}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(!dir.path().join("out").exists(), "{key}: nothing written");
    }

    // A Schwinger file and a pure U(1) file are no replicas; pure U(1) has no condensate.
    let dir = scratch(&EXACT.replace("trajectories = 3000", "trajectories = 20"));
    run_ok(dir.path(), &["run", "config.toml"]);
    let u1 = EXACT
        .replace("kind = \"schwinger\"", "kind = \"u1\"")
        .replace("mass = 0.3\nfermions = \"exact\"\n", "")
        .replace("trajectories = 3000", "trajectories = 20")
        .replace("out/sw.h5", "out/u1.h5");
    std::fs::write(dir.path().join("u1.toml"), u1).unwrap();
    run_ok(dir.path(), &["run", "u1.toml"]);
    let o = lft(dir.path(), &["measure", "out/sw.h5", "out/u1.h5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("action"), "{}", stderr(&o));
    let o = lft(
        dir.path(),
        &["measure", "out/u1.h5", "--condensate", "exact"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--condensate"), "{}", stderr(&o));

    // A Schwinger file without its fermion couplings is not measured as pure U(1).
    let r = lft_io::EnsembleReader::open(&dir.path().join("out/sw.h5")).unwrap();
    let (meta, chain) = (r.meta().clone(), r.chain_meta(0).unwrap());
    drop(r);
    let stripped = lft_io::EnsembleMeta {
        n_chains: 1,
        couplings: lft_io::StoredCouplings::U1 {
            beta: 2.0,
            fermions: None,
        },
        ..meta
    };
    let path = dir.path().join("stripped.h5");
    // The writer reads its file back and refuses it already.
    let refused = lft_io::EnsembleWriter::create(&path, &stripped, &[chain]).err();
    assert!(refused.unwrap().to_string().contains("schwinger"));
    let o = lft(dir.path(), &["measure", "stripped.h5"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("stripped.h5") && e.contains("schwinger") && e.contains("mass"),
        "{e}"
    );
}
