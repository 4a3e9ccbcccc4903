//! `lft sample`: flow independence-Metropolis chains into an ensemble that `lft measure`
//! reads; interrupted runs resume to identical bytes.

mod common;
use common::*;

const FREE_FLOW: &str = r#"seed = 3

[lattice]
shape = [4, 4]

[action]
kind = "phi4"
m2 = 1.0
lambda = 0.0

[flow]
layers = 4
hidden = [8]

[train]
steps = 150
batch = 64
lr = 1e-2
schedule = "cosine"
checkpoint = "out/flow.h5"
checkpoint_every = 150

[sample]
configs = 4000
chains = 2
batch = 128

[output]
path = "out/imh.h5"
flush_seconds = 0.0
"#;

#[test]
fn run_trains_samples_and_measure_reads_the_chains() {
    // The briefly trained flow's weights have a heavy tail (Pareto k̂ ≈ 0.6): in chains of a
    // few thousand the rare heavy proposals are missing, and with them the large-|M| tail and
    // its share of τ_int. 40 000 per chain make the Γ-method error honest.
    let dir = scratch(&FREE_FLOW.replace("configs = 4000", "configs = 40000"));
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("lft sample"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("tau_int of |M|") && stdout(&o).contains("tau_int of chi_2"),
        "{}",
        stdout(&o)
    );
    let o = lft(dir.path(), &["measure", "--json", "out/imh.h5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["n_configs"], 80000);
    let s = &j["sampler"];
    for key in ["acceptance", "ess"] {
        let x = s[key].as_f64().unwrap_or_else(|| panic!("sampler.{key}"));
        assert!(x > 0.0 && x <= 1.0, "{key} = {x}");
    }
    assert!(s["longest_rejection_run"].is_u64());
    assert!(s.get("mean_delta_h").is_none());
    // The chain is exact: χ₂ = 1/(2m²) within 4σ.
    let chi2 = &j["observables"]["chi2"];
    let (v, e) = (
        chi2["value"].as_f64().unwrap(),
        chi2["error"].as_f64().unwrap(),
    );
    assert!((v - 0.5).abs() < 4.0 * e, "chi2 {v} ± {e} vs 0.5");
    let info = lft(dir.path(), &["info", "out/imh.h5"]);
    assert!(
        stdout(&info).contains("flow proposals in batches of 128"),
        "{}",
        stdout(&info)
    );
}

/// `sample.method = "reweight"`: independent flow samples with importance weights. `lft
/// measure` weights them (weighted jackknife) and reproduces the exact free field; a chain of
/// the other sampler in the same file is refused.
#[test]
fn reweighted_samples_reproduce_the_free_field() {
    let dir = scratch(FREE_FLOW);
    assert!(lft(dir.path(), &["train", "config.toml"]).status.success());
    let rw = [
        "--set",
        "sample.method=reweight",
        "--set",
        "output.path=out/rw.h5",
    ];
    let o = lft(dir.path(), &[&["sample", "config.toml"][..], &rw].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("importance-weighted"), "{}", stdout(&o));
    let o = lft(dir.path(), &["measure", "--json", "out/rw.h5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["n_configs"], 8000);
    assert_eq!(j["weighted"], true);
    let ess = j["ess"].as_f64().unwrap();
    assert!(ess > 0.0 && ess <= 1.0, "ess {ess}");
    assert_eq!(j["sampler"]["acceptance"], 1.0);
    let exact =
        lft_action::FreeField::new(lft_lattice::Lattice::new(&[4, 4]).unwrap(), 1.0).unwrap();
    for (key, truth) in [("chi2", exact.chi2()), ("phi2", exact.phi2())] {
        let o = &j["observables"][key];
        let (v, e) = (o["value"].as_f64().unwrap(), o["error"].as_f64().unwrap());
        assert!(
            (v - truth).abs() < 4.0 * e,
            "{key} {v} ± {e} vs exact {truth}"
        );
    }
    // Finished: nothing to do. The IMH sampler into the reweighted file: refused.
    let o = lft(dir.path(), &[&["sample", "config.toml"][..], &rw].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lft(
        dir.path(),
        &["sample", "config.toml", "--set", "output.path=out/rw.h5"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("flow-reweight"), "{}", stderr(&o));
}

/// `sample.method = "flow_hmc"` with a barely trained flow (30 steps): the HMC part carries
/// the chain, which reproduces χ₂ = 1/(2m²) and ⟨φ²⟩ = G(0) within 4σ. Killed half-way, it
/// resumes to the bytes of an uninterrupted run.
#[test]
fn flow_hmc_chains_are_exact_and_resume_exactly() {
    let config = FREE_FLOW
        .replace("steps = 150", "steps = 30")
        .replace("configs = 4000", "configs = 3000\nmethod = \"flow_hmc\"")
        .replace("out/imh.h5", "out/fh.h5");
    let one = scratch(&config);
    let o = lft(one.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("flow acceptance"), "{}", stdout(&o));
    let o = lft(one.path(), &["measure", "--json", "out/fh.h5"]);
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["n_configs"], 6000);
    let acceptance = j["sampler"]["acceptance"].as_f64().unwrap();
    assert!(
        acceptance > 0.0 && acceptance < 1.0,
        "flow acceptance {acceptance}"
    );
    let exact =
        lft_action::FreeField::new(lft_lattice::Lattice::new(&[4, 4]).unwrap(), 1.0).unwrap();
    for (key, truth) in [("chi2", exact.chi2()), ("phi2", exact.phi2())] {
        let o = &j["observables"][key];
        let (v, e) = (o["value"].as_f64().unwrap(), o["error"].as_f64().unwrap());
        assert!(
            (v - truth).abs() < 4.0 * e,
            "{key} {v} ± {e} vs exact {truth}"
        );
    }
    let info = lft(one.path(), &["info", "out/fh.h5"]);
    assert!(
        stdout(&info).contains("flow proposal + 1 × omelyan"),
        "{}",
        stdout(&info)
    );
    let reference = std::fs::read(one.path().join("out/fh.h5")).unwrap();

    let two = scratch(&config);
    assert!(lft(two.path(), &["train", "config.toml"]).status.success());
    let o = lft(
        two.path(),
        &["sample", "config.toml", "--abort-after", "2500"],
    );
    assert!(!o.status.success(), "the hook should kill the run");
    let o = lft(two.path(), &["sample", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(two.path().join("out/fh.h5")).unwrap() == reference);
}

#[test]
fn interrupted_sampling_resumes_to_identical_bytes() {
    // Long enough for a whole round (4096 rows per chain on 4x4) to reach the file before
    // the abort, and the abort inside a batch of proposals.
    let small = FREE_FLOW
        .replace("configs = 4000", "configs = 6000")
        .replace("steps = 150", "steps = 30");
    let one = scratch(&small);
    assert!(lft(one.path(), &["train", "config.toml"]).status.success());
    let o = lft(one.path(), &["sample", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let reference = std::fs::read(one.path().join("out/imh.h5")).unwrap();

    let two = scratch(&small);
    assert!(lft(two.path(), &["train", "config.toml"]).status.success());
    let o = lft(
        two.path(),
        &["sample", "config.toml", "--abort-after", "9000"],
    );
    assert!(!o.status.success(), "the hook should kill the run");
    let r = lft_io::EnsembleReader::open(&two.path().join("out/imh.h5")).unwrap();
    let n: usize = (0..2).map(|c| r.chain_len(c).unwrap()).sum();
    assert!(
        (8192..12000).contains(&n),
        "stored {n}: one round per chain"
    );
    drop(r);
    let o = lft(two.path(), &["sample", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(two.path().join("out/imh.h5")).unwrap() == reference);
}

#[test]
fn sampling_needs_a_trained_flow() {
    let dir = scratch(FREE_FLOW);
    let o = lft(dir.path(), &["sample", "config.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("lft train"), "{}", stderr(&o));
    let o = lft(
        dir.path(),
        &["sample", "config.toml", "--set", "sample.batch=0"],
    );
    assert!(stderr(&o).contains("sample.batch"), "{}", stderr(&o));
    let o = lft(
        dir.path(),
        &[
            "sample",
            "config.toml",
            "--set",
            "sample.method=\"flow_hmc\"",
            "--set",
            "sample.hmc_length=-1",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("sample.hmc_length"), "{}", stderr(&o));
}
