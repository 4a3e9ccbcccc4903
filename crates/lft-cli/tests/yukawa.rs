//! `lft run` / `lft measure` on the Yukawa model: exact-determinant and pseudofermion HMC from a
//! config, metadata in the file, fermionic observables, exact resume.

mod common;
use common::*;
use lft_io::EnsembleReader;

fn yukawa(fermions: &str, trajectories: usize) -> String {
    SMALL
        .replace(
            "kind = \"phi4\"\nm2 = -1.0\nlambda = 1.0",
            &format!(
                "kind = \"yukawa\"\nm2 = -4.0\nlambda = 8.0\ng = 1.0\nmass = 0.0\nfermions = \"{fermions}\""
            ),
        )
        .replace(
            "trajectories = 300",
            &format!("trajectories = {trajectories}"),
        )
        .replace("steps = 5\nlength = 1.0", "steps = 10\nlength = 0.5")
}

/// `lft measure --json` of `path`: (value, error) of each named observable.
fn measured(dir: &std::path::Path, names: &[&str], extra: &[&str]) -> Vec<(f64, f64)> {
    let mut args = vec!["measure", "out/ens.h5", "--json", "--skip", "100"];
    args.extend_from_slice(extra);
    let o = lft(dir, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    names
        .iter()
        .map(|n| {
            let obs = &json["observables"][n];
            assert!(obs.is_object(), "no `{n}` in {json}");
            (
                obs["value"].as_f64().unwrap(),
                obs["error"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn exact_and_pseudofermion_runs_agree() {
    let names = ["abs_mag", "mag2", "abs_condensate"];
    let mut results = Vec::new();
    for fermions in ["exact", "pseudofermion"] {
        let dir = scratch(&yukawa(fermions, 3000));
        let o = lft(dir.path(), &["run", "config.toml"]);
        assert!(o.status.success(), "{fermions}: {}", stderr(&o));
        let r = EnsembleReader::open(&dir.path().join("out/ens.h5")).unwrap();
        let meta = r.meta();
        assert_eq!(meta.action_kind, "yukawa");
        let f = meta.fermions().expect("fermion attributes");
        assert_eq!((f.g, f.mass, f.treatment.as_str()), (1.0, 0.0, fermions));
        let info = stdout(&lft(dir.path(), &["info", "out/ens.h5"]));
        assert!(
            info.contains(&format!("g = 1, mass = 0, {fermions}")),
            "{info}"
        );
        if fermions == "pseudofermion" {
            assert!(stdout(&o).contains("CG solves"), "{}", stdout(&o));
            assert!(meta.config_text.contains("cg_action_tolerance"));
        }
        // HMC never crosses det D = 0, so every sign is that of the cold start (+).
        let sign = measured(dir.path(), &["det_negative"], &[]);
        assert_eq!(sign[0].0, 0.0, "{fermions}");
        results.push(measured(dir.path(), &names, &[]));
    }
    for (k, name) in names.iter().enumerate() {
        let ((a, ea), (b, eb)) = (results[0][k], results[1][k]);
        let z = (a - b).abs() / (ea * ea + eb * eb).sqrt();
        assert!(
            z < 4.0,
            "{name}: exact {a} ± {ea}, pf {b} ± {eb} ({z:.1} σ)"
        );
    }
}

#[test]
fn stochastic_condensate_agrees_with_exact() {
    let dir = scratch(&yukawa("exact", 400));
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let exact = measured(dir.path(), &["abs_condensate"], &["--condensate", "exact"])[0];
    let noisy = measured(
        dir.path(),
        &["abs_condensate"],
        &["--condensate", "stochastic", "--noise", "64"],
    )[0];
    // Same configurations: the stochastic error includes the noise, and the two estimates
    // are strongly correlated, so 4 σ of the stochastic error alone is generous.
    assert!(
        (exact.0 - noisy.0).abs() < 4.0 * noisy.1,
        "exact {exact:?}, stochastic {noisy:?}"
    );
    assert!(noisy.1 > exact.1, "noise must add variance");
    let off = lft(
        dir.path(),
        &["measure", "out/ens.h5", "--json", "--condensate", "off"],
    );
    assert!(!stdout(&off).contains("condensate"));
}

#[test]
fn pseudofermion_run_resumes_to_identical_bytes() {
    let text = yukawa("pseudofermion", 300);
    let reference = {
        let dir = scratch(&text);
        let o = lft(dir.path(), &["run", "config.toml"]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(dir.path().join("out/ens.h5")).unwrap()
    };
    let dir = scratch(&text);
    let o = lft(dir.path(), &["run", "config.toml", "--abort-after", "150"]);
    assert!(!o.status.success(), "the abort hook should kill the run");
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(dir.path().join("out/ens.h5")).unwrap() == reference,
        "resumed pseudofermion run differs from the uninterrupted one"
    );
}

#[test]
fn bad_yukawa_configs_name_their_key() {
    let text = yukawa("exact", 10);
    let cases: &[(&str, &[&str], &str)] = &[
        (&text, &["--set", "lattice.shape=[5, 4]"], "lattice.shape"),
        (&text, &["--set", "action.g=inf"], "action.g"),
        (&text, &["--set", "action.fermions=wilson"], "wilson"),
    ];
    for (text, args, needle) in cases {
        let dir = scratch(text);
        let mut full = vec!["run", "config.toml"];
        full.extend_from_slice(args);
        let o = lft(dir.path(), &full);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(
            !dir.path().join("out").exists(),
            "no output for a bad config"
        );
    }
}

/// A flow trains on S_eff and samples by independence Metropolis from the same config; the
/// ensemble records the Yukawa couplings and measures like any other.
#[test]
fn yukawa_flow_trains_and_samples() {
    let text = yukawa("exact", 10).replace(
        "[hmc]\ntrajectories = 10\nthermalization = 50\nsteps = 10\nlength = 0.5\nintegrator = \"omelyan\"\nchains = 2\n",
        "[flow]\nlayers = 4\nhidden = [4]\n\n[train]\nsteps = 30\ncheckpoint = \"out/flow.h5\"\n\n[sample]\nconfigs = 300\nbatch = 100\n",
    );
    assert!(text.contains("[flow]"), "{text}");
    let dir = scratch(&text);
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = EnsembleReader::open(&dir.path().join("out/ens.h5")).unwrap();
    assert_eq!(r.meta().sampler, lft_io::SamplerKind::FlowImh);
    assert_eq!(r.meta().fermions().unwrap().treatment, "exact");
    let m = measured(dir.path(), &["det_negative", "abs_condensate"], &[]);
    assert!((0.0..=1.0).contains(&m[0].0) && m[1].0 > 0.0, "{m:?}");
}

/// The flow config with pseudofermions: trained on the stochastic pseudofermion force, sampled
/// by pseudo-marginal independence Metropolis; the estimator's settings are stored, its
/// variance reported, and bad settings name their key.
#[test]
fn pseudofermion_flow_trains_and_samples_pseudo_marginally() {
    let text = yukawa("pseudofermion", 10).replace(
        "[hmc]\ntrajectories = 10\nthermalization = 50\nsteps = 10\nlength = 0.5\nintegrator = \"omelyan\"\nchains = 2\n",
        "[flow]\nlayers = 4\nhidden = [4]\n\n[train]\nsteps = 30\ncheckpoint = \"out/flow.h5\"\n\n[sample]\nconfigs = 300\nbatch = 100\n",
    );
    assert!(text.contains("[flow]"), "{text}");
    let dir = scratch(&text);
    let o = lft(dir.path(), &["train", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lft(dir.path(), &["sample", "config.toml", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let var = json["pf_log_estimate_variance"]
        .as_f64()
        .expect("variance reported");
    assert!(var > 0.0 && var.is_finite(), "{json}");
    let factor = json["pf_acceptance_factor"].as_f64().unwrap();
    assert!(factor > 0.0 && factor < 1.0, "{json}");
    assert!(json["pf_cg_iterations_per_estimate"].as_f64().unwrap() > 0.0);
    let r = EnsembleReader::open(&dir.path().join("out/ens.h5")).unwrap();
    assert_eq!(r.meta().sampler, lft_io::SamplerKind::FlowImh);
    assert_eq!(r.meta().fermions().unwrap().treatment, "pseudofermion");
    for key in [
        "pf_estimator = \"twisted-ladder\"",
        "pf_draws = 2",
        "pf_twist_max = 3.0",
        "pf_reference = \"mean-diagonal\"",
    ] {
        assert!(
            r.meta().config_text.contains(key),
            "{key}: {}",
            r.meta().config_text
        );
    }
    // Another estimator samples with the same trained flow (a new output).
    let o = lft(
        dir.path(),
        &[
            "sample",
            "config.toml",
            "--set",
            "action.pf_draws=4",
            "--set",
            "output.path=\"out/b.h5\"",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "action.pf_draws=0"], "action.pf_draws"),
        (
            &["--set", "action.pf_twist_ratio=1.0"],
            "action.pf_twist_ratio",
        ),
        (&["--set", "sample.method=\"flow_hmc\""], "sample.method"),
        // Too small a top twist for the flow's proposals: refused before sampling.
        (
            &[
                "--set",
                "action.pf_twist_max=0.001",
                "--set",
                "output.path=\"out/c.h5\"",
            ],
            "action.pf_twist_max",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["sample", "config.toml"];
        full.extend_from_slice(args);
        let o = lft(dir.path(), &full);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    assert!(
        !dir.path().join("out/c.h5").exists(),
        "nothing written for a refused estimator"
    );
    // A top twist too small for the proposals: their ladders are extended (and it says so).
    let o = lft(
        dir.path(),
        &[
            "sample",
            "config.toml",
            "--set",
            "action.pf_twist_max=0.5",
            "--set",
            "output.path=\"out/d.h5\"",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("pf_twist_max"), "{}", stderr(&o));
    // Joint sampling with the same flow: a conditional pseudofermion flow is trained first,
    // its settings are stored, and the variance it leaves is reported.
    let joint = [
        "sample",
        "config.toml",
        "--json",
        "--set",
        "action.pf_estimator=\"flow\"",
        "--set",
        "action.pf_flow_steps=40",
        "--set",
        "output.path=\"out/j.h5\"",
    ];
    let o = lft(dir.path(), &joint);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let trained = &json["pf_flow_training"];
    assert_eq!(trained["steps"], 40, "{json}");
    assert!(
        trained["log_det_variance_end"].as_f64().unwrap()
            < trained["log_det_variance_start"].as_f64().unwrap(),
        "{json}"
    );
    let joint_var = json["pf_log_estimate_variance"].as_f64().unwrap();
    assert!(joint_var.is_finite() && joint_var > 0.0, "{json}");
    let r = EnsembleReader::open(&dir.path().join("out/j.h5")).unwrap();
    for key in [
        "pf_estimator = \"flow\"",
        "pf_draws = 1",
        "pf_flow_steps = 40",
        "pf_flow_blocks = 2",
    ] {
        assert!(
            r.meta().config_text.contains(key),
            "{key}: {}",
            r.meta().config_text
        );
    }
    for (args, needle) in [
        (
            ["action.pf_flow_batch=0", "action.pf_estimator=\"flow\""],
            "action.pf_flow_batch",
        ),
        (
            [
                "action.pf_flow_learning_rate=-1.0",
                "action.pf_estimator=\"flow\"",
            ],
            "action.pf_flow_learning_rate",
        ),
        (
            [
                "action.pf_flow_steps=10",
                "action.pf_estimator=\"twisted-ladder\"",
            ],
            "action.pf_estimator",
        ),
    ] {
        let o = lft(
            dir.path(),
            &[
                "sample",
                "config.toml",
                "--set",
                args[0],
                "--set",
                args[1],
                "--set",
                "output.path=\"out/e.h5\"",
            ],
        );
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    // The estimator's keys belong to pseudofermion flows only.
    let exact = scratch(&yukawa("exact", 10));
    let o = lft(
        exact.path(),
        &["run", "config.toml", "--set", "action.pf_draws=4"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("action.pf_estimator"), "{}", stderr(&o));
}

/// Flow-HMC on the joint target (`pf_estimator = "flow"`, `method = "flow_hmc"`): samples with
/// both acceptances reported, and killed half-way it resumes to the bytes of an uninterrupted
/// run (the chain's state is φ and its generator: every step starts with a heat bath).
#[test]
fn joint_flow_hmc_samples_and_resumes_exactly() {
    let text = yukawa("pseudofermion", 10).replace(
        "[hmc]\ntrajectories = 10\nthermalization = 50\nsteps = 10\nlength = 0.5\nintegrator = \"omelyan\"\nchains = 2\n",
        "[flow]\nlayers = 4\nhidden = [4]\n\n[train]\nsteps = 30\ncheckpoint = \"out/flow.h5\"\n\n[sample]\nconfigs = 5000\nchains = 1\nmethod = \"flow_hmc\"\n",
    )
    .replace("fermions = \"pseudofermion\"", "fermions = \"pseudofermion\"\npf_estimator = \"flow\"\npf_flow_steps = 30");
    let one = scratch(&text);
    let o = lft(one.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("flow acceptance"), "{}", stdout(&o));
    assert!(stdout(&o).contains("conditional pf flow"), "{}", stdout(&o));
    let r = EnsembleReader::open(&one.path().join("out/ens.h5")).unwrap();
    assert_eq!(r.meta().sampler, lft_io::SamplerKind::FlowHmc);
    let reference = std::fs::read(one.path().join("out/ens.h5")).unwrap();
    let two = scratch(&text);
    assert!(lft(two.path(), &["train", "config.toml"]).status.success());
    let o = lft(
        two.path(),
        &["sample", "config.toml", "--abort-after", "4500"],
    );
    assert!(!o.status.success(), "the hook should kill the run");
    let o = lft(two.path(), &["sample", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(two.path().join("out/ens.h5")).unwrap() == reference);
}
