//! `lft sample` with `method = "nemcmc"`: trajectories from the flow's prior need no training,
//! an interrupted run resumes to the bytes of an uninterrupted one, `--json` reports the
//! trajectories' ESS, a trained flow as the start works, and bad settings are named errors.

mod common;
use common::*;
use lft_io::EnsembleReader;

/// E2's couplings on 4×4, NE-MCMC from the free-field prior through 4 stages.
const PRIOR_START: &str = r#"seed = 9
[lattice]
shape = [4, 4]
[action]
kind = "phi4"
m2 = -4.0
lambda = 6.008
[flow]
layers = 2
hidden = [4]
prior = "free"
[train]
steps = 3
batch = 8
checkpoint = "out/flow.h5"
[sample]
method = "nemcmc"
configs = 10000
chains = 2
batch = 500
[snf]
start = "prior"
stages = 4
leapfrog_steps = 4
step_size = 0.15
[output]
path = "out/ens.h5"
"#;

#[test]
fn a_prior_start_needs_no_training_and_resumes_to_identical_bytes() {
    let reference = {
        let dir = scratch(PRIOR_START);
        let o = lft(dir.path(), &["run", "config.toml", "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            !dir.path().join("out/flow.h5").exists(),
            "a prior start trains nothing"
        );
        let summary: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(summary["method"], "nemcmc");
        let ess = summary["sampler"]["ess"].as_f64().unwrap();
        let acceptance = summary["acceptance_this_run"].as_f64().unwrap();
        assert!(ess > 0.0 && ess <= 1.0 && acceptance > 0.0, "{summary}");
        let r = EnsembleReader::open(&dir.path().join("out/ens.h5")).unwrap();
        assert_eq!(r.meta().sampler, lft_io::SamplerKind::NeMcmc);
        let work = r.read_f64_records(0, "work").unwrap();
        let proposed = r.read_f64_records(0, "proposal_work").unwrap();
        assert_eq!(work.len(), 10000);
        // The current work is always one of the works proposed so far.
        assert!(work.iter().all(|w| proposed.contains(w)));
        std::fs::read(dir.path().join("out/ens.h5")).unwrap()
    };
    let dir = scratch(PRIOR_START);
    let o = lft(
        dir.path(),
        &["run", "config.toml", "--abort-after", "12000"],
    );
    assert!(!o.status.success(), "the abort hook should kill the run");
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(dir.path().join("out/ens.h5")).unwrap() == reference,
        "resumed file differs from the uninterrupted run"
    );
}

#[test]
fn langevin_stages_run_as_a_stochastic_normalizing_flow() {
    let text = PRIOR_START
        .replace("configs = 10000", "configs = 400")
        .replace("batch = 500", "batch = 100")
        .replace(
            "step_size = 0.15",
            "step_size = 0.02\nstage_kind = \"langevin\"\nsteps_per_stage = 2",
        );
    let dir = scratch(&text);
    let o = lft(dir.path(), &["run", "config.toml", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = EnsembleReader::open(&dir.path().join("out/ens.h5")).unwrap();
    let work = r.read_f64_records(1, "proposal_work").unwrap();
    assert_eq!(work.len(), 400);
    assert!(work.iter().all(|w| w.is_finite()));
    let flow_start = text.replace("start = \"prior\"", "start = \"flow\"");
    let dir = scratch(&flow_start);
    let o = lft(dir.path(), &["sample", "config.toml"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("snf.stage_kind"), "{}", stderr(&o));
}

#[test]
fn a_trained_flow_starts_the_trajectories() {
    let text = PRIOR_START
        .replace("start = \"prior\"", "start = \"flow\"")
        .replace("configs = 10000", "configs = 1000");
    let dir = scratch(&text);
    let o = lft(dir.path(), &["sample", "config.toml"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("train.checkpoint out/flow.h5"),
        "{}",
        stderr(&o)
    );
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("out/flow.h5").exists());
    assert!(
        stdout(&o).contains("ESS of the trajectories"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_nemcmc_settings_are_named() {
    let cases = [
        (PRIOR_START.replace("[snf]", "[not_snf]"), "not_snf"),
        (
            PRIOR_START.replace("method = \"nemcmc\"", "method = \"imh\""),
            "an [snf] section sets the protocol of NE-MCMC",
        ),
        (
            PRIOR_START.replace("stages = 4", "stages = 0"),
            "snf.stages",
        ),
        (
            PRIOR_START.replace("step_size = 0.15", "step_size = -1.0"),
            "snf.step_size",
        ),
    ];
    for (text, needle) in cases {
        let dir = scratch(&text);
        let o = lft(dir.path(), &["sample", "config.toml"]);
        assert!(!o.status.success(), "{needle}: should fail");
        assert!(stderr(&o).contains(needle), "{needle}: {}", stderr(&o));
    }
    let missing = PRIOR_START.split("[snf]").next().unwrap().to_string()
        + "[output]\npath = \"out/ens.h5\"\n";
    let dir = scratch(&missing);
    let o = lft(dir.path(), &["sample", "config.toml"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("needs an [snf] section"),
        "{}",
        stderr(&o)
    );
    let dir = scratch(PRIOR_START);
    let o = lft(dir.path(), &["sample", "config.toml", "--device", "cuda"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("on the CPU"), "{}", stderr(&o));
}

/// SNF blocks: trained before sampling, checkpointed, and an interrupted training continues
/// to the bytes of an uninterrupted run (checkpoint and ensemble).
#[test]
fn snf_blocks_train_checkpoint_and_resume_to_identical_bytes() {
    let text = PRIOR_START
        .replace("configs = 10000", "configs = 500")
        .replace("batch = 500", "batch = 100")
        .replace(
            "step_size = 0.15",
            "step_size = 0.15\nblock_layers = 2\nblock_hidden = [4]\ntrain_steps = 12\ntrain_batch = 8\ncheckpoint_every = 4",
        );
    let run = |dir: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["run", "config.toml"];
        args.extend_from_slice(extra);
        lft(dir, &args)
    };
    let reference = scratch(&text);
    let o = run(reference.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("SNF blocks trained 12 steps"),
        "{}",
        stdout(&o)
    );
    let ckpt =
        lft_io::checkpoint::read_snf_checkpoint(&reference.path().join("out/ens.snf.h5")).unwrap();
    assert_eq!((ckpt.step, ckpt.history.len()), (12, 12));
    let dir = scratch(&text);
    let o = run(dir.path(), &["--abort-after", "5"]);
    assert!(
        !o.status.success(),
        "the abort hook should kill the training"
    );
    assert_eq!(
        lft_io::checkpoint::read_snf_checkpoint(&dir.path().join("out/ens.snf.h5"))
            .unwrap()
            .step,
        8
    );
    let o = run(dir.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for file in ["out/ens.snf.h5", "out/ens.h5"] {
        assert!(
            std::fs::read(dir.path().join(file)).unwrap()
                == std::fs::read(reference.path().join(file)).unwrap(),
            "{file} differs from the uninterrupted run's"
        );
    }
    // A changed protocol does not reuse the blocks.
    let other = text.replace("stages = 4", "stages = 3");
    std::fs::write(dir.path().join("config.toml"), other).unwrap();
    let o = run(dir.path(), &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("snf.stages"), "{}", stderr(&o));
}
