//! Volume transfer (`flow.init_from`): a flow trained on 8 × 8 samples and fine-tunes on
//! 16 × 16, and a flow of another shape is refused by name.

mod common;
use common::*;
use lft_config::Config;
use lft_flow::Flow;

/// The 8 × 8 flow: `SMALL_FLOW`'s architecture (trained 20 steps of 16 with `TRAIN_SMALL`).
fn small() -> String {
    SMALL_FLOW.replace("shape = [4, 4]", "shape = [8, 8]")
}

const TRAIN_SMALL: [&str; 6] = [
    "--set",
    "train.steps=20",
    "--set",
    "train.batch=16",
    "--set",
    "train.eval_samples=256",
];

/// The 16 × 16 config: the same flow, starting from the 8 × 8 checkpoint, sampled by
/// reweighting.
fn large() -> String {
    SMALL_FLOW
        .replace("shape = [4, 4]", "shape = [16, 16]")
        .replace("\"out/flow.h5\"", "\"out/large.flow.h5\"")
        .replace("\"out/ens.h5\"", "\"out/large.h5\"")
        .replace("layers = 2", "layers = 2\ninit_from = \"out/flow.h5\"")
        .replace(
            "configs = 10",
            "configs = 64\nmethod = \"reweight\"\nbatch = 32",
        )
}

#[test]
fn a_flow_trained_on_8x8_samples_and_fine_tunes_on_16x16() {
    let dir = scratch(&small());
    let o = lft(
        dir.path(),
        &[&["train", "config.toml"][..], &TRAIN_SMALL].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(dir.path().join("large.toml"), large()).unwrap();

    // Sampling before any training at 16 × 16: the stored log q is that of a freshly built
    // 16 × 16 flow given the 8 × 8 parameters.
    let o = lft(dir.path(), &["sample", "large.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let small = lft_io::checkpoint::read_checkpoint(&dir.path().join("out/flow.h5")).unwrap();
    let config = Config::load(&dir.path().join("large.toml"), &[]).unwrap();
    let mut flow = Flow::new(config.lattice().clone(), &config.flow().unwrap().spec, 99).unwrap();
    flow.set_params(small.params).unwrap();
    let r = lft_io::EnsembleReader::open(&dir.path().join("out/large.h5")).unwrap();
    assert_eq!(r.meta().shape, vec![16, 16]);
    let n = r.chain_len(0).unwrap();
    let phis = r.read_configs(0, 0, n).unwrap();
    let stored = r.column(0, "log_q").unwrap();
    let fresh = flow.log_q(&phis);
    assert_eq!(fresh.len(), 64);
    for (a, b) in stored.iter().zip(&fresh) {
        assert!((a - b).abs() < 1e-10, "stored log q {a}, fresh flow {b}");
    }

    // Fine-tuning reports the quality before and after.
    let o = lft(
        dir.path(),
        &[
            "train",
            "large.toml",
            "--json",
            "--set",
            "train.steps=10",
            "--set",
            "train.eval_samples=256",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let transfer = &json["transfer"];
    assert_eq!(transfer["shape"], serde_json::json!([8, 8]));
    assert_eq!(transfer["steps"], 20);
    let ess = |q: &serde_json::Value| q["ess"].as_f64().unwrap();
    let (before, after) = (ess(&transfer["quality_before"]), ess(&json["quality"]));
    assert!(before > 0.0 && before <= 1.0 && after > 0.0 && after <= 1.0);
    let large = lft_io::checkpoint::read_checkpoint(&dir.path().join("out/large.flow.h5")).unwrap();
    assert_eq!(large.step, 10);
}

#[test]
fn a_flow_of_another_shape_or_dimension_is_refused_by_name() {
    let dir = scratch(&small());
    let o = lft(dir.path(), &["train", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(dir.path().join("large.toml"), large()).unwrap();
    let cases: &[(&str, &str)] = &[
        ("flow.layers=6", "flow.layers = 2 there, 6 in this config"),
        ("lattice.shape=[8,8,8]", "2-dimensional lattice [8, 8]"),
    ];
    for (set, needle) in cases {
        let o = lft(
            dir.path(),
            &[
                "train",
                "large.toml",
                "--set",
                set,
                "--set",
                "train.steps=1",
            ],
        );
        let err = stderr(&o);
        assert!(!o.status.success(), "{set}");
        assert!(
            err.contains("flow.init_from out/flow.h5") && err.contains(needle),
            "{set}: {err}"
        );
        assert!(!dir.path().join("out/large.flow.h5").exists(), "{set}");
    }
    let o = lft(
        dir.path(),
        &[
            "train",
            "large.toml",
            "--set",
            "flow.init_from=\"out/none.h5\"",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("flow.init_from out/none.h5"),
        "{}",
        stderr(&o)
    );
}
