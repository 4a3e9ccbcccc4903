//! Volume transfer (`flow.init_from`): a flow trained on 8 × 8 samples and fine-tunes on
//! 16 × 16, a continuous flow's whole-lattice kernel moves by orbit, and a flow of another
//! shape is refused by name.

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

/// A continuous flow with a whole-lattice kernel (`flow.kernel = 0`) trained on 4 × 4
/// samples on 8 × 8: its kernel weights move by orbit (those of folded |δ_μ| ≤ 2 kept, the
/// rest zero), and the stored log q is that of the moved parameters.
#[test]
fn a_whole_lattice_continuous_flow_moves_by_orbit() {
    let cnf = |shape: &str| {
        format!(
            "seed = 5\n[lattice]\nshape = {shape}\n[action]\nkind = \"phi4\"\nm2 = -1.0\n\
             lambda = 1.0\n[flow]\nkind = \"continuous\"\nkernel = 0\nfrequencies = 2\n\
             time_modes = 1\nsteps = 4\n[train]\nsteps = 5\nbatch = 8\neval_samples = 64\n\
             checkpoint = \"out/flow.h5\"\n[sample]\nconfigs = 16\nmethod = \"reweight\"\n\
             batch = 16\n[output]\npath = \"out/ens.h5\"\n"
        )
    };
    let dir = scratch(&cnf("[4, 4]"));
    let o = lft(dir.path(), &["train", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let large = cnf("[8, 8]")
        .replace("\"out/flow.h5\"", "\"out/large.flow.h5\"")
        .replace("\"out/ens.h5\"", "\"out/large.h5\"")
        .replace("steps = 4\n", "steps = 4\ninit_from = \"out/flow.h5\"\n");
    std::fs::write(dir.path().join("large.toml"), large).unwrap();
    let o = lft(dir.path(), &["sample", "large.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let small = lft_io::checkpoint::read_checkpoint(&dir.path().join("out/flow.h5")).unwrap();
    let load = |name: &str| Config::load(&dir.path().join(name), &[]).unwrap();
    let (from, to) = (load("config.toml"), load("large.toml"));
    let field = |c: &Config| match c.flow().unwrap().spec.coupling {
        lft_flow::CouplingSpec::Continuous(cnf) => cnf.field(c.lattice()),
        other => panic!("{other:?}"),
    };
    let (source, target) = (field(&from), field(&to));
    assert_eq!((source.orbits(), target.orbits()), (6, 15));
    let moved = target.transfer_params(&source, &small.params).unwrap();
    let mut flow = Flow::new(to.lattice().clone(), &to.flow().unwrap().spec, 99).unwrap();
    flow.set_params(moved).unwrap();
    let r = lft_io::EnsembleReader::open(&dir.path().join("out/large.h5")).unwrap();
    let phis = r.read_configs(0, 0, r.chain_len(0).unwrap()).unwrap();
    let stored = r.column(0, "log_q").unwrap();
    // The stored log q comes from the forward solve, the fresh one from the inverse solve:
    // they agree to the integrator's round trip (4 RK4 steps), not to rounding.
    let fresh = flow.log_q(&phis);
    let worst = |q: &[f64]| {
        stored
            .iter()
            .zip(q)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    assert!(
        worst(&fresh) < 1e-4,
        "stored log q against the moved flow's: {}",
        worst(&fresh)
    );
    // The transfer matters: the same flow with its kernels at zero (the identity) is far off.
    let identity = Flow::new(to.lattice().clone(), &to.flow().unwrap().spec, 99).unwrap();
    assert!(worst(&identity.log_q(&phis)) > 1e-2);
}
