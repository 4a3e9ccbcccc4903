//! Loading, overrides, defaults and validation of run configs: every bad input names its key.

use lft_action::PseudofermionCg;
use lft_config::{Config, ConfigError, Fermions, FermionsName, Model, Reuse};
use lft_sample::Start;
use std::path::{Path, PathBuf};

const GOOD: &str = r#"
seed = 3
[lattice]
shape = [8, 8]
[action]
kind = "phi4"
m2 = -4.0
lambda = 8.0
[hmc]
trajectories = 100
[output]
path = "x.h5"
"#;

const YUKAWA: &str = r#"
seed = 3
[lattice]
shape = [8, 8]
[action]
kind = "yukawa"
m2 = -4.0
lambda = 8.0
g = 1.0
mass = 0.0
[hmc]
trajectories = 100
[output]
path = "x.h5"
"#;

#[test]
fn yukawa_defaults_are_written_out() {
    let c = load(YUKAWA, &[]).unwrap();
    assert_eq!(c.file().action.fermions, Some(FermionsName::Exact));
    let Model::Yukawa { params, fermions } = *c.model() else {
        panic!("not yukawa")
    };
    assert_eq!((params.g, params.mass, params.phi4.m2), (1.0, 0.0, -4.0));
    assert_eq!(fermions, Fermions::Exact);
    assert_eq!(load(&c.to_toml(), &[]).unwrap(), c);

    let pf = load(
        YUKAWA,
        &[
            "action.fermions=pseudofermion",
            "action.cg_force_tolerance=1e-7",
        ],
    )
    .unwrap();
    let Model::Yukawa {
        fermions: Fermions::Pseudofermion(cg),
        ..
    } = *pf.model()
    else {
        panic!("not pseudofermion")
    };
    assert_eq!(cg.force.tolerance, 1e-7);
    assert_eq!(
        cg.action.tolerance,
        PseudofermionCg::default().action.tolerance
    );
    let text = pf.to_toml();
    assert!(text.contains("cg_action_tolerance"), "{text}");
    assert_eq!(load(&text, &[]).unwrap(), pf);
}

/// A pseudofermion config with a flow estimates the determinant: the estimator's defaults are
/// written out, its action is the estimated one, its keys may change when sampling with a
/// trained flow, and bad settings name their key.
#[test]
fn pseudofermion_flows_estimate_the_determinant() {
    let flow = "[flow]\nlayers = 2\n[train]\nsteps = 10\ncheckpoint = \"c.h5\"\n";
    let text = format!("{YUKAWA}{flow}");
    assert!(load(&text, &[]).unwrap().pf_estimator().is_none());
    let pf = load(&text, &["action.fermions=pseudofermion"]).unwrap();
    let est = *pf.pf_estimator().expect("an estimator");
    assert_eq!(est, lft_config::PfEstimator::default());
    let twists = est.twists();
    assert_eq!((twists[0], *twists.last().unwrap()), (0.01, 3.0));
    assert!(
        twists
            .windows(2)
            .all(|w| w[1] > w[0] && w[1] / w[0] <= 1.15 + 1e-12)
    );
    let stored = pf.to_toml();
    for key in [
        "pf_estimator",
        "pf_draws",
        "pf_twist_min",
        "pf_twist_max",
        "pf_twist_ratio",
        "pf_reference",
    ] {
        assert!(stored.contains(key), "{key}: {stored}");
    }
    assert_eq!(load(&stored, &[]).unwrap(), pf);
    let phi = vec![0.1; 64];
    assert!(pf.field_action().unwrap().action(&phi).is_finite());
    assert!(pf.estimated_action().is_some());
    // Training estimates its (reported) loss on a shorter ladder, one draw per rung.
    let cheap = est.for_training();
    assert_eq!((cheap.twists().len(), cheap.draws), (16, 1));
    assert!(pf.training_action().unwrap().action(&phi).is_finite());
    // The estimator may change for sampling and training, not for an ensemble.
    let other = load(&stored, &["action.pf_draws=8"]).unwrap();
    assert_eq!(other.check_reuse(&pf, Reuse::Sampling), Ok(()));
    assert_eq!(other.check_reuse(&pf, Reuse::Training), Ok(()));
    let e = other.check_reuse(&pf, Reuse::Ensemble).unwrap_err();
    assert_eq!(e.key, "action.pf_draws");
    for (key, needle) in [
        ("action.pf_draws=0", "action.pf_draws"),
        ("action.pf_twist_min=-1.0", "action.pf_twist_min"),
        ("action.pf_twist_max=0.001", "action.pf_twist_max"),
        ("action.pf_twist_ratio=1.0", "action.pf_twist_ratio"),
        ("action.pf_twist_ratio=1.0000001", "action.pf_twist_ratio"),
        ("action.pf_reference=\"wilson\"", "wilson"),
        ("sample.method=\"flow_hmc\"", "sample.method"),
    ] {
        let text = format!("{text}[sample]\nconfigs = 10\n");
        let e = load(&text, &["action.fermions=pseudofermion", key])
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{key}: `{e}` lacks `{needle}`");
    }
    // The keys belong to pseudofermion flows only.
    let e = load(&text, &["action.pf_draws=4"]).unwrap_err().to_string();
    assert!(e.contains("action.pf_estimator"), "{e}");
    let e = load(
        YUKAWA,
        &["action.fermions=pseudofermion", "action.pf_draws=4"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("action.pf_estimator"), "{e}");
}

/// `pf_estimator = "flow"`: the conditional flow's defaults are written out, the ladder's
/// estimated action is withheld (the flow must be trained first), the joint action takes the
/// trained flow, and bad settings name their key.
#[test]
fn the_flow_estimator_resolves_into_a_joint_flow() {
    let flow = "[flow]\nlayers = 2\n[train]\nsteps = 10\ncheckpoint = \"c.h5\"\n";
    let text = format!("{YUKAWA}{flow}");
    let pf = load(
        &text,
        &[
            "action.fermions=pseudofermion",
            "action.pf_estimator=\"flow\"",
        ],
    )
    .unwrap();
    let est = *pf.pf_estimator().unwrap();
    assert_eq!(est.draws, 1);
    assert_eq!(est.joint, Some(lft_config::JointFlow::default()));
    assert_eq!(pf.joint_flow(), est.joint);
    let stored = pf.to_toml();
    for key in [
        "pf_flow_blocks = 2",
        "pf_flow_steps = 300",
        "pf_flow_batch = 16",
        "pf_flow_learning_rate",
        "pf_draws = 1",
    ] {
        assert!(stored.contains(key), "{key}: {stored}");
    }
    assert_eq!(load(&stored, &[]).unwrap(), pf);
    assert!(pf.estimated_action().is_none());
    // The φ-flow trains on the ladder's cheap estimator.
    let phi = vec![0.1; 64];
    assert!(pf.training_action().unwrap().action(&phi).is_finite());
    let joint = pf.joint_action(est.joint.unwrap().untrained(2)).unwrap();
    assert!(lft_action::Action::action(&joint, &phi).is_finite());
    assert!(joint.ladder().is_none());
    // Training solves no tighter than 1e-8.
    let training = est
        .joint
        .unwrap()
        .training(pf.pseudofermion_cg().unwrap().action, 3);
    assert_eq!(training.cg.tolerance, 1e-8);
    for (key, needle) in [
        ("action.pf_flow_steps=0", "action.pf_flow_steps"),
        ("action.pf_flow_batch=0", "action.pf_flow_batch"),
        (
            "action.pf_flow_learning_rate=0.0",
            "action.pf_flow_learning_rate",
        ),
        ("action.pf_draws=0", "action.pf_draws"),
    ] {
        let e = load(
            &text,
            &[
                "action.fermions=pseudofermion",
                "action.pf_estimator=\"flow\"",
                key,
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(needle), "{key}: `{e}` lacks `{needle}`");
    }
    // Flow-HMC runs on the joint target with the flow estimator (and stays refused with the
    // ladder, above).
    let with_sample = format!("{text}[sample]\nconfigs = 10\nmethod = \"flow_hmc\"\n");
    assert!(
        load(
            &with_sample,
            &[
                "action.fermions=pseudofermion",
                "action.pf_estimator=\"flow\""
            ],
        )
        .is_ok()
    );
    // pf_flow_* keys need the flow estimator.
    let e = load(
        &text,
        &["action.fermions=pseudofermion", "action.pf_flow_steps=5"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("action.pf_estimator"), "{e}");
}

fn load(text: &str, overrides: &[&str]) -> Result<Config, ConfigError> {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Config::from_text(text, Path::new("test.toml"), &o)
}

/// Each (config, overrides) is refused with an error that contains its needle.
fn assert_refused(cases: &[(&str, &[&str], &str)]) {
    for (text, overrides, needle) in cases {
        let e = load(text, overrides).unwrap_err().to_string();
        assert!(e.contains(needle), "{overrides:?}: `{e}` lacks `{needle}`");
    }
}

#[test]
fn defaults_and_round_trip() {
    let c = load(GOOD, &[]).unwrap();
    assert_eq!(c.hmc().unwrap().params.n_steps, 10);
    assert_eq!(c.hmc().unwrap().start, Start::Cold);
    let again = load(&c.to_toml(), &[]).unwrap();
    assert_eq!(c, again);
    let k = *c.couplings().unwrap();
    assert!((k.hopping.to_aks(2).m2 + 4.0).abs() < 1e-12);
}

#[test]
fn overrides_set_any_key() {
    let c = load(
        GOOD,
        &[
            "hmc.steps=20",
            "lattice.shape=[4, 6]",
            "output.path=out/y.h5",
        ],
    )
    .unwrap();
    assert_eq!(c.hmc().unwrap().params.n_steps, 20);
    assert_eq!(c.lattice().shape(), &[4, 6]);
    assert_eq!(c.output().path, PathBuf::from("out/y.h5"));
    let e = load(GOOD, &["hmc.steps"]).unwrap_err();
    assert!(e.to_string().contains("hmc.steps"), "{e}");
}

#[test]
fn hopping_form_is_accepted() {
    let text = GOOD.replace(
        "m2 = -4.0\nlambda = 8.0",
        "kappa = 0.2\nlambda_tilde = 0.02",
    );
    let c = load(&text, &[]).unwrap();
    let k = *c.couplings().unwrap();
    assert!((k.aks.lambda - 0.5).abs() < 1e-12);
}

/// Every bad input names its key.
#[test]
fn bad_inputs_name_their_key() {
    let cases: &[(&str, &[&str], &str)] = &[
        (GOOD, &["hmc.stepz=3"], "stepz"),
        (GOOD, &["lattice.shape=[8, 1]"], "lattice.shape"),
        (GOOD, &["action.lambda=-1.0"], "action.lambda"),
        (GOOD, &["action.lambda=0.0"], "action.m2"),
        (GOOD, &["hmc.steps=0"], "hmc.steps"),
        (GOOD, &["hmc.steps=\"ten\""], "steps"),
        (GOOD, &["hmc.chains=0"], "hmc.chains"),
        (GOOD, &["action.kappa=0.1"], "action"),
        (GOOD, &["hmc.length=-1"], "hmc.length"),
        (&GOOD.replace("seed = 3\n", ""), &[], "seed"),
        (
            &GOOD.replace("trajectories = 100\n", ""),
            &[],
            "trajectories",
        ),
        (
            &GOOD.replace("kind = \"phi4\"", "kind = \"yukawa\""),
            &[],
            "action.g",
        ),
        (GOOD, &["action.kind=\"fermion\""], "fermion"),
        (GOOD, &["action.g=1.0"], "action.g"),
        (GOOD, &["action.fermions=\"exact\""], "action.fermions"),
        (YUKAWA, &["action.mass=\"none\""], "mass"),
        (YUKAWA, &["action.g=nan"], "action.g"),
        (YUKAWA, &["lattice.shape=[7, 8]"], "lattice.shape"),
        (YUKAWA, &["lattice.shape=[4, 4, 4]"], "lattice.shape"),
        (YUKAWA, &["action.fermions=\"wilson\""], "wilson"),
        (
            YUKAWA,
            &["action.cg_force_tolerance=1e-6"],
            "action.cg_force_tolerance",
        ),
        (
            YUKAWA,
            &[
                "action.fermions=\"pseudofermion\"",
                "action.cg_action_tolerance=0.0",
            ],
            "action.cg_action_tolerance",
        ),
        (
            YUKAWA,
            &[
                "action.fermions=\"pseudofermion\"",
                "action.cg_max_iterations=0",
            ],
            "action.cg_max_iterations",
        ),
    ];
    assert_refused(cases);
}

/// Each section resolves into the library types it configures, with the values it names.
#[test]
fn sections_resolve_into_library_types() {
    use lft_flow::{Activation, CouplingSpec, PriorSpec, Schedule};
    use lft_sample::Integrator;
    let flow = r#"
[flow]
layers = 4
coupling = "spline"
bins = 6
tail_bound = 4.0
hidden = [4]
final_activation = "none"
prior = "free"
prior_m2 = 0.5
[train]
steps = 10
schedule = "step"
step_every = 5
step_factor = 0.25
checkpoint = "c.h5"
[sample]
configs = 20
method = "flow_hmc"
hmc_steps = 4
hmc_length = 0.5
[output]
path = "x.h5"
flush_seconds = 0.5
"#;
    let text = GOOD.replace("[output]\npath = \"x.h5\"\n", flow);
    let c = load(
        &text,
        &["hmc.integrator=omelyan", "hmc.tune_step_size=true"],
    )
    .unwrap();
    let hmc = c.hmc().unwrap();
    assert_eq!(hmc.params.integrator, Integrator::Omelyan);
    assert_eq!((hmc.params.step_size, hmc.params.n_steps), (0.1, 10));
    assert_eq!(hmc.tune, Some(0.8), "the default target acceptance");
    let plan = c.flow().unwrap();
    assert_eq!(
        plan.spec.coupling,
        CouplingSpec::Spline {
            bins: 6,
            tail_bound: 4.0
        }
    );
    assert_eq!(plan.spec.prior, PriorSpec::FreeField { m2: 0.5 });
    assert_eq!(plan.spec.activation, Activation::LeakyRelu(0.01));
    assert_eq!(plan.spec.final_activation, Activation::Identity);
    assert_eq!(
        plan.train.options.schedule,
        Schedule::Step {
            every: 5,
            factor: 0.25
        }
    );
    assert_eq!(plan.train.checkpoint, PathBuf::from("c.h5"));
    let s = c.sample().unwrap();
    assert_eq!(s.hmc.integrator, Integrator::Omelyan, "flow-HMC's default");
    assert_eq!((s.hmc.step_size, s.hmc.n_steps), (0.125, 4));
    assert_eq!(
        c.output().flush_every,
        std::time::Duration::from_millis(500)
    );
    let run = c.run_plan(3, 20, 2);
    assert_eq!(
        (run.chains, run.steps, run.save_every, run.first_chain),
        (3, 20, 2, 0)
    );
    assert_eq!(
        lft_records::SamplerKind::from(s.method),
        lft_records::SamplerKind::FlowHmc
    );
}

/// A pseudofermion model has no field action, and says which key to change; it anneals on
/// the joint (φ, ϕ) target, state 3V, with the config's CG settings.
#[test]
fn pseudofermions_have_no_field_action() {
    let c = load(YUKAWA, &["action.fermions=pseudofermion"]).unwrap();
    let e = c.field_action().err().expect("no S(φ) for pseudofermions");
    assert!(e.to_string().contains("action.fermions"), "{e}");
    let target = c.anneal_target().unwrap();
    assert_eq!(target.action().state_len(), 3 * 64);
    assert!(target.joint().is_some());
    let exact = load(YUKAWA, &[]).unwrap();
    let phi = vec![0.1; 64];
    assert!(exact.field_action().unwrap().action(&phi).is_finite());
    let target = exact.anneal_target().unwrap();
    assert!(target.joint().is_none() && target.action().state_len() == 64);
    assert_eq!(target.action().log_z_offset(), 0.0);
}

const FLOW: &str = r#"
seed = 3
[lattice]
shape = [8, 8]
[action]
kind = "phi4"
m2 = -4.0
lambda = 8.0
[flow]
layers = 2
[train]
steps = 10
checkpoint = "c.h5"
[output]
path = "x.h5"
"#;

#[test]
fn flow_defaults_follow_the_action_and_are_written_out() {
    // φ⁴ is Z₂-symmetric: equivariant by default; a massive Yukawa model is not.
    let c = load(FLOW, &[]).unwrap();
    assert!(c.flow().unwrap().spec.equivariant);
    assert_eq!(c.file().flow.as_ref().unwrap().equivariant, Some(true));
    assert_eq!(load(&c.to_toml(), &[]).unwrap(), c);
    let plain = load(FLOW, &["flow.equivariant=false"]).unwrap();
    assert!(!plain.flow().unwrap().spec.equivariant);
    let massive = FLOW.replace("lambda = 8.0\n", "lambda = 8.0\ng = 0.5\nmass = 0.2\n");
    let massive = load(&massive.replace("\"phi4\"", "\"yukawa\""), &[]).unwrap();
    assert!(!massive.flow().unwrap().spec.equivariant);

    // A free-field prior without a mass gets the fitted one, written out.
    let free = load(FLOW, &["flow.prior=\"free\""]).unwrap();
    let m2 = free.file().flow.as_ref().unwrap().prior_m2.unwrap();
    assert!(m2 > 0.0);
    assert_eq!(
        free.flow().unwrap().spec.prior,
        lft_flow::PriorSpec::FreeField { m2 }
    );
    assert!(free.to_toml().contains("prior_m2"), "{}", free.to_toml());
    assert_eq!(load(&free.to_toml(), &[]).unwrap(), free);

    // The Z₂ mixture needs its shift, and each prior's key is refused with another prior.
    let mixture = load(FLOW, &["flow.prior=\"z2_mixture\"", "flow.prior_shift=1.5"]).unwrap();
    assert_eq!(
        mixture.flow().unwrap().spec.prior,
        lft_flow::PriorSpec::Z2Mixture { shift: 1.5 }
    );
    assert_eq!(load(&mixture.to_toml(), &[]).unwrap(), mixture);
    for (set, key) in [
        (vec!["flow.prior=\"z2_mixture\""], "flow.prior_shift"),
        (
            vec!["flow.prior=\"z2_mixture\"", "flow.prior_shift=0"],
            "flow.prior_shift",
        ),
        (vec!["flow.prior_shift=1.5"], "flow.prior_shift"),
        (
            vec![
                "flow.prior=\"z2_mixture\"",
                "flow.prior_shift=1",
                "flow.prior_m2=1",
            ],
            "flow.prior_m2",
        ),
    ] {
        let e = load(FLOW, &set).unwrap_err().to_string();
        assert!(e.contains(key), "{set:?}: {e}");
    }

    // Precision: f64 unless asked, written out only when f32; f32 is for affine couplings.
    assert_eq!(c.flow().unwrap().spec.precision, lft_flow::Precision::F64);
    assert!(!c.to_toml().contains("precision"));
    let single = load(FLOW, &["flow.precision=\"f32\""]).unwrap();
    assert_eq!(
        single.flow().unwrap().spec.precision,
        lft_flow::Precision::F32
    );
    assert!(single.to_toml().contains("precision = \"f32\""));
    assert_eq!(load(&single.to_toml(), &[]).unwrap(), single);
    for (overrides, needle) in [
        (&["flow.precision=\"f16\""][..], "f16"),
        (
            &["flow.precision=\"f32\"", "flow.coupling=\"spline\""][..],
            "flow.precision",
        ),
    ] {
        let e = load(FLOW, overrides).unwrap_err().to_string();
        assert!(e.contains(needle), "{overrides:?}: `{e}` lacks `{needle}`");
    }
}

/// A `[flow]` of a U(1) config resolves into gauge-equivariant couplings: uniform prior, no
/// final activation, NCP with 2 components by default (all written out); every key of the
/// other field kind, and a lattice the masks do not fit, is refused by name.
#[test]
fn gauge_flows_resolve_with_their_defaults_and_refuse_scalar_keys() {
    use lft_flow::{Activation, CircleSpec, CouplingSpec, MaskOrder, PriorSpec};
    let u1 = FLOW.replace(
        "kind = \"phi4\"\nm2 = -4.0\nlambda = 8.0",
        "kind = \"u1\"\nbeta = 2.0",
    );
    let c = load(&u1, &[]).unwrap();
    let spec = &c.flow().unwrap().spec;
    assert_eq!(spec.prior, PriorSpec::Uniform);
    assert_eq!(spec.final_activation, Activation::Identity);
    assert!(!spec.equivariant);
    assert_eq!(
        spec.coupling,
        CouplingSpec::Gauge {
            transform: CircleSpec::Ncp { components: 2 },
            loops: false,
            masks: MaskOrder::Descending,
            plaquette_basis: None,
        }
    );
    let text = c.to_toml();
    for key in [
        "transform = \"ncp\"",
        "components = 2",
        "prior = \"uniform\"",
    ] {
        assert!(text.contains(key), "{key} written out: {text}");
    }
    assert_eq!(load(&text, &[]).unwrap(), c);
    let smooth = load(
        &u1,
        &[
            "flow.transform=\"smooth_mixture\"",
            "flow.loops=true",
            "flow.masks=\"ascending\"",
        ],
    )
    .unwrap();
    assert_eq!(
        smooth.flow().unwrap().spec.coupling,
        CouplingSpec::Gauge {
            transform: CircleSpec::SmoothMixture { components: 4 },
            loops: true,
            masks: MaskOrder::Ascending,
            plaquette_basis: None,
        }
    );
    // The plaquette-basis layer needs no stripes: with no couplings any extents do.
    let basis = load(
        &u1,
        &[
            "flow.plaquette_basis=true",
            "flow.layers=0",
            "lattice.shape=[6, 10]",
        ],
    )
    .unwrap();
    assert_eq!(
        basis.flow().unwrap().spec.coupling,
        CouplingSpec::Gauge {
            transform: CircleSpec::Ncp { components: 2 },
            loops: false,
            masks: MaskOrder::Descending,
            plaquette_basis: Some(64),
        }
    );
    for key in ["plaquette_basis = true", "basis_bins = 64"] {
        assert!(basis.to_toml().contains(key), "{key} written out");
    }
    assert_eq!(load(&basis.to_toml(), &[]).unwrap(), basis);
    let spline = load(&u1, &["flow.transform=\"circular_spline\"", "flow.bins=6"]).unwrap();
    assert_eq!(
        spline.flow().unwrap().spec.coupling,
        CouplingSpec::Gauge {
            transform: CircleSpec::Spline { bins: 6 },
            loops: false,
            masks: MaskOrder::Descending,
            plaquette_basis: None,
        }
    );
    let refused: &[(&str, &[&str], &str)] = &[
        (&u1, &["flow.coupling=\"affine\""], "flow.coupling"),
        (&u1, &["flow.spectral=true"], "flow.spectral"),
        (&u1, &["flow.equivariant=true"], "flow.equivariant"),
        (&u1, &["flow.precision=\"f32\""], "flow.precision"),
        (&u1, &["flow.prior=\"normal\""], "flow.prior"),
        (&u1, &["flow.components=0"], "flow.components"),
        (
            &u1,
            &["flow.transform=\"circular_spline\"", "flow.components=3"],
            "flow.components",
        ),
        (&u1, &["lattice.shape=[6, 8]"], "lattice.shape"),
        (
            &u1,
            &["flow.plaquette_basis=true", "lattice.shape=[6, 8]"],
            "lattice.shape",
        ),
        (FLOW, &["flow.plaquette_basis=true"], "flow.plaquette_basis"),
        (&u1, &["flow.basis_bins=16"], "flow.basis_bins"),
        (
            &u1,
            &["flow.plaquette_basis=true", "flow.basis_bins=1"],
            "flow.basis_bins",
        ),
        (FLOW, &["flow.transform=\"ncp\""], "flow.transform"),
        (FLOW, &["flow.loops=true"], "flow.loops"),
        (FLOW, &["flow.masks=\"ascending\""], "flow.masks"),
        (&u1, &["flow.masks=\"upward\""], "upward"),
        (FLOW, &["flow.components=2"], "flow.components"),
        (FLOW, &["flow.prior=\"uniform\""], "flow.prior"),
    ];
    assert_refused(refused);
}

#[test]
fn every_shipped_config_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 20, "only {n} configs in {}", dir.display());
}

/// `hmc.tune_fa_mass` needs Fourier acceleration and a thermalisation to tune in.
#[test]
fn fa_mass_tuning_is_checked() {
    let c = load(
        GOOD,
        &["hmc.fourier_acceleration=true", "hmc.tune_fa_mass=true"],
    )
    .unwrap();
    assert!(c.hmc().unwrap().tune_fa_mass);
    assert!(c.to_toml().contains("tune_fa_mass = true"));
    assert!(!load(GOOD, &[]).unwrap().to_toml().contains("tune_fa_mass"));
    let err = load(GOOD, &["hmc.tune_fa_mass=true"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hmc.tune_fa_mass") && err.contains("fourier_acceleration"),
        "{err}"
    );
    let err = load(
        GOOD,
        &[
            "hmc.fourier_acceleration=true",
            "hmc.tune_fa_mass=true",
            "hmc.thermalization=4",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("hmc.tune_fa_mass") && err.contains("thermalization"),
        "{err}"
    );
}

/// `hmc.fourier_acceleration` resolves to a mass (4/L by default, written out); the mass without
/// the switch, a mass ≤ 0, link angles and pseudofermion chains are refused by name.
#[test]
fn fourier_acceleration_resolves_and_refuses_by_name() {
    let c = load(GOOD, &["hmc.fourier_acceleration=true"]).unwrap();
    assert_eq!(c.hmc().unwrap().fa_mass, Some(0.5));
    assert!(c.to_toml().contains("fa_mass = 0.5"));
    assert_eq!(load(&c.to_toml(), &[]).unwrap(), c);
    let set = load(GOOD, &["hmc.fourier_acceleration=true", "hmc.fa_mass=0.3"]).unwrap();
    assert_eq!(set.hmc().unwrap().fa_mass, Some(0.3));
    assert_eq!(load(GOOD, &[]).unwrap().hmc().unwrap().fa_mass, None);
    let u1 = GOOD.replace(
        "kind = \"phi4\"\nm2 = -4.0\nlambda = 8.0",
        "kind = \"u1\"\nbeta = 2.0",
    );
    let refused: &[(&str, &[&str], &str)] = &[
        (GOOD, &["hmc.fa_mass=0.3"], "hmc.fa_mass"),
        (
            GOOD,
            &["hmc.fourier_acceleration=true", "hmc.fa_mass=0.0"],
            "hmc.fa_mass",
        ),
        (
            &u1,
            &["hmc.fourier_acceleration=true"],
            "hmc.fourier_acceleration",
        ),
        (
            YUKAWA,
            &[
                "hmc.fourier_acceleration=true",
                "action.fermions=pseudofermion",
            ],
            "hmc.fourier_acceleration",
        ),
    ];
    assert_refused(refused);
    // The Yukawa model with the exact determinant is a scalar field: accelerated.
    assert!(load(YUKAWA, &["hmc.fourier_acceleration=true"]).is_ok());
}

/// `[pretrain]` resolves into its own plan (flow matching by default along the straight path,
/// cosine schedule), is free when sampling, and each bad use names its key.
#[test]
fn pretraining_resolves_and_refuses_by_name() {
    let cnf = r#"
seed = 3
[lattice]
shape = [8, 8]
[action]
kind = "phi4"
m2 = -4.0
lambda = 8.0
[flow]
kind = "continuous"
kernel = 0
[train]
steps = 10
checkpoint = "f.h5"
[pretrain]
objective = "flow_matching"
ensemble = "hmc.h5"
steps = 300
batch = 128
lr = 2e-3
[output]
path = "x.h5"
"#;
    let c = load(cnf, &[]).unwrap();
    let p = c.flow().unwrap().pretrain.clone().unwrap();
    assert_eq!(p.data, PathBuf::from("hmc.h5"));
    assert_eq!(
        (p.options.steps, p.options.batch, p.options.lr),
        (300, 128, 2e-3)
    );
    assert_eq!(p.options.schedule, lft_flow::Schedule::Cosine);
    assert_eq!(
        p.flow_matching,
        Some(lft_flow::ProbabilityPath { sigma: 0.0 })
    );
    assert!(c.flow().unwrap().train.data.is_none());
    let again = load(&c.to_toml(), &[]).unwrap();
    assert_eq!(again, c);
    let gaussian = load(
        cnf,
        &[
            "pretrain.probability_path=\"gaussian\"",
            "pretrain.path_sigma=0.1",
        ],
    )
    .unwrap();
    assert_eq!(
        gaussian
            .flow()
            .unwrap()
            .pretrain
            .as_ref()
            .unwrap()
            .flow_matching,
        Some(lft_flow::ProbabilityPath { sigma: 0.1 })
    );
    let fkl = load(cnf, &["pretrain.objective=\"forward_kl\""]).unwrap();
    assert!(
        fkl.flow()
            .unwrap()
            .pretrain
            .as_ref()
            .unwrap()
            .flow_matching
            .is_none()
    );
    // How the flow was trained does not matter to a sampler of it; to training it further it
    // does.
    let other = load(cnf, &["pretrain.steps=500"]).unwrap();
    assert!(c.check_reuse(&other, Reuse::Sampling).is_ok());
    assert!(c.check_reuse(&other, Reuse::Training).is_err());
    let cases: &[(&str, &[&str], &str)] = &[
        (
            cnf,
            &["pretrain.objective=\"reverse_kl\""],
            "pretrain.objective",
        ),
        (cnf, &["pretrain.steps=0"], "pretrain.steps"),
        (cnf, &["pretrain.lr=-1.0"], "pretrain.lr"),
        (cnf, &["pretrain.batch=1"], "pretrain.batch"),
        (cnf, &["pretrain.grad_clip=0.0"], "pretrain.grad_clip"),
        (cnf, &["pretrain.path_sigma=0.1"], "pretrain.path_sigma"),
        (
            cnf,
            &[
                "pretrain.objective=\"forward_kl\"",
                "pretrain.path_sigma=0.1",
            ],
            "pretrain.path_sigma",
        ),
        (cnf, &["pretrain.epochs=3"], "epochs"),
        (
            &cnf.replace("kind = \"continuous\"\nkernel = 0\n", "layers = 2\n"),
            &[],
            "pretrain.objective",
        ),
        (
            cnf,
            &[
                "train.objective=\"forward_kl\"",
                "train.ensemble=\"hmc.h5\"",
            ],
            "pretrain",
        ),
        (
            &format!(
                "{GOOD}\n[pretrain]\nobjective = \"forward_kl\"\nensemble = \"a.h5\"\nsteps = 3\n"
            ),
            &[],
            "pretrain",
        ),
    ];
    assert_refused(cases);
}
