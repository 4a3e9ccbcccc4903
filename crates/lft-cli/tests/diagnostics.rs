//! The diagnostics of `lft train`, `lft sample` and `lft measure` (text and `--json`), and the
//! round-trip check that stops `lft sample` on an ill-conditioned flow, keeping every
//! configuration written before.

mod common;
use common::*;
use serde_json::Value;

const FLOW: &str = r#"seed = 5

[lattice]
shape = [4, 4]

[action]
kind = "phi4"
m2 = -1.0
lambda = 1.0

[flow]
layers = 4
hidden = [4]

[train]
steps = 30
batch = 16
lr = 3e-3
checkpoint = "out/flow.h5"
eval_samples = 4096

[sample]
configs = 512
batch = 64

[output]
path = "out/ens.h5"
"#;

fn json(o: &std::process::Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn train_sample_and_measure_report_the_diagnostics() {
    let dir = scratch(FLOW);
    let train = json(&lft(dir.path(), &["train", "config.toml", "--json"]));
    assert_eq!(train["steps"], 30);
    let q = &train["quality"];
    assert_eq!(q["samples"], 4096);
    let ess = q["ess"].as_f64().unwrap();
    let acceptance = q["acceptance"].as_f64().unwrap();
    assert!(ess > 0.0 && ess <= 1.0 && acceptance > 0.0 && acceptance <= 1.0);
    assert!(q["pareto_k"].as_f64().is_some());
    let f = q["positive_fraction"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&f));
    assert!(q["round_trip_latent_error"].as_f64().unwrap() < 1e-10);
    assert!(train["warnings"].is_array());

    let text = lft(dir.path(), &["train", "config.toml"]);
    assert!(text.status.success(), "{}", stderr(&text));
    for row in ["quality over 4096 fresh samples", "Pareto k-hat", "M > 0"] {
        assert!(stdout(&text).contains(row), "{row}: {}", stdout(&text));
    }

    let sample = json(&lft(dir.path(), &["sample", "config.toml", "--json"]));
    assert_eq!(sample["configs"], 512);
    assert!(sample["sampler"]["pareto_k"].as_f64().is_some());
    assert!(sample["sampler"]["ess"].as_f64().is_some());
    assert!(sample["positive_fraction"]["value"].as_f64().is_some());

    let measured = json(&lft(dir.path(), &["measure", "out/ens.h5", "--json"]));
    assert_eq!(measured["sampler"], sample["sampler"]);
    assert_eq!(measured["positive_fraction"], sample["positive_fraction"]);
    let table = lft(dir.path(), &["measure", "out/ens.h5"]);
    assert!(
        stdout(&table).contains("Pareto k-hat"),
        "{}",
        stdout(&table)
    );
    assert!(
        stdout(&table).contains("sign balance"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn sampling_stops_on_a_flow_whose_inverse_is_unstable() {
    let dir = scratch(FLOW);
    // Not equivariant: a symmetrised conditioner would cancel the t bias below.
    let set = [
        "--set",
        "flow.final_activation=\"none\"",
        "--set",
        "flow.equivariant=false",
    ];
    let o = lft(dir.path(), &[&["train", "config.toml"][..], &set].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    // Sample once with the trained flow, then make its first coupling add t = 10¹² to the
    // active sites (its conditioner zeroed but for the t bias): x = y − t keeps few digits.
    let o = lft(dir.path(), &[&["sample", "config.toml"][..], &set].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let configs = || {
        let reader = lft_io::EnsembleReader::open(&dir.path().join("out/ens.h5")).unwrap();
        let n = reader.chain_len(0).unwrap();
        reader.read_configs(0, 0, n).unwrap()
    };
    let before = configs();
    assert_eq!(before.len(), 512 * 16);
    let path = dir.path().join("out/flow.h5");
    let mut ckpt = lft_io::checkpoint::read_checkpoint(&path).unwrap();
    let per_layer = ckpt.params.len() / 4;
    ckpt.params[..per_layer].iter_mut().for_each(|p| *p = 0.0);
    ckpt.params[per_layer - 1] = 1e12;
    lft_io::checkpoint::write_checkpoint(&path, &ckpt).unwrap();
    let more = ["--set", "sample.configs=1024"];
    let o = lft(
        dir.path(),
        &[&["sample", "config.toml"][..], &set, &more].concat(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("numerically unstable") && stderr(&o).contains("stopped sampling"),
        "{}",
        stderr(&o)
    );
    // The chain written before is still there, every configuration of it.
    assert!(configs() == before, "the failed run lost configurations");
}

/// `--reference`: on 4 × 4 at E5's couplings with h = 0.1 (a quarter of the weight on M < 0),
/// a flow trained by reverse KL drops the minority mode and `lft train` reports the missing
/// mass with a mode-collapse warning; `lft sample` and `lft measure` compare the ensemble with
/// the reference in the same way, and an ensemble measured against itself misses nothing.
#[test]
fn reference_ensembles_detect_a_dropped_mode() {
    let config = r#"seed = 3

[lattice]
shape = [4, 4]

[action]
kind = "phi4"
m2 = -4.0
lambda = 5.113
h = 0.1

[flow]
layers = 8
hidden = [8]

[train]
steps = 400
batch = 64
lr = 3e-3
checkpoint = "out/flow.h5"
eval_samples = 16384

[sample]
configs = 2048
batch = 256

[output]
path = "out/ens.h5"
"#;
    let hmc = r#"seed = 4

[lattice]
shape = [4, 4]

[action]
kind = "phi4"
m2 = -4.0
lambda = 5.113
h = 0.1

[hmc]
trajectories = 40000
steps = 5
integrator = "omelyan"
chains = 2

[output]
path = "out/hmc.h5"
"#;
    let dir = scratch(config);
    std::fs::write(dir.path().join("hmc.toml"), hmc).unwrap();
    let o = lft(dir.path(), &["run", "hmc.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let reference = ["--reference", "out/hmc.h5"];
    let mut args = vec!["train", "config.toml", "--json"];
    args.extend_from_slice(&reference);
    let train = json(&lft(dir.path(), &args));
    let check = &train["mode_check"];
    assert_eq!(check["indicator"], "sign of M");
    assert_eq!(check["collapsed"], true, "{check}");
    let missing = check["missing_mass"].as_f64().unwrap();
    assert!(missing > 0.1, "{check}");
    let warned = train["warnings"].as_array().unwrap();
    assert!(
        warned
            .iter()
            .any(|w| w.as_str().unwrap().contains("mode collapse")),
        "{warned:?}"
    );
    let minority = &check["modes"][0];
    assert_eq!(minority["mode"], -1);
    let reference_weight = minority["reference"].as_f64().unwrap();
    assert!((0.15..0.4).contains(&reference_weight), "{minority}");

    let mut args = vec!["sample", "config.toml", "--json"];
    args.extend_from_slice(&reference);
    let sample = json(&lft(dir.path(), &args));
    assert_eq!(sample["mode_check"]["indicator"], "sign of M");
    assert!(sample["mode_check"]["missing_mass"].as_f64().is_some());

    let measured = json(&lft(
        dir.path(),
        &[
            "measure",
            "out/hmc.h5",
            "--json",
            "--reference",
            "out/hmc.h5",
        ],
    ));
    assert_eq!(measured["mode_check"]["missing_mass"].as_f64(), Some(0.0));
    assert_eq!(measured["mode_check"]["collapsed"], false);
    let table = lft(
        dir.path(),
        &["measure", "out/ens.h5", "--reference", "out/hmc.h5"],
    );
    assert!(table.status.success(), "{}", stderr(&table));
    assert!(
        stdout(&table).contains("missing mass"),
        "{}",
        stdout(&table)
    );
    // A file that is not an ensemble is refused, naming the option.
    let o = lft(
        dir.path(),
        &["measure", "out/ens.h5", "--reference", "config.toml"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--reference"), "{}", stderr(&o));
}
