//! The diagnostics of a flow: the quality estimate of an exact flow, the sign-balance warning
//! of a flow that dropped a mode (and not of an equivariant one), and the round-trip check of a
//! deliberately ill-conditioned flow.

use lft_action::{Phi4, Phi4Params};
use lft_flow::diagnostics::{ROUND_TRIP_TOLERANCE, evaluate};
use lft_flow::{
    Activation, Adam, CouplingSpec, Flow, FlowSpec, PriorSpec, Proposal, Schedule, TrainOptions,
    train,
};
use lft_lattice::{Lattice, stream_rng};

mod common;
use common::flow_spec;

fn spec(layers: usize, hidden: Vec<usize>, equivariant: bool, prior: PriorSpec) -> FlowSpec {
    flow_spec(
        layers,
        hidden,
        CouplingSpec::Affine,
        equivariant,
        prior,
        false,
    )
}

fn phi4(lattice: &Lattice, m2: f64, lambda: f64) -> Phi4 {
    Phi4::new(lattice.clone(), Phi4Params { m2, lambda }).unwrap()
}

#[test]
fn an_exact_flow_has_ideal_quality_and_a_balanced_sign() {
    // The free-field prior with no layers is exactly e^{−S}/Z for φ⁴ at λ = 0.
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let action = phi4(&lattice, 0.5, 0.0);
    let flow = Flow::new(
        lattice.clone(),
        &spec(0, vec![], false, PriorSpec::FreeField { m2: 0.5 }),
        1,
    )
    .unwrap();
    let n = 20_000;
    let q = evaluate(&flow, &action, n, &mut stream_rng(3, 0));
    assert_eq!(q.samples, n);
    assert!(q.ess > 1.0 - 1e-9, "ESS {}", q.ess);
    assert!(q.loss_variance < 1e-18, "variance {}", q.loss_variance);
    assert!(q.acceptance > 1.0 - 1e-6, "acceptance {}", q.acceptance);
    assert_eq!(q.longest_rejection_run, 0);
    assert_eq!(q.non_finite, 0);
    // Binomial: ½ within 4 standard errors.
    let f = q.positive_fraction.expect("φ⁴ is Z₂-symmetric");
    assert!(
        (f - 0.5).abs() < 4.0 * (0.25 / n as f64).sqrt(),
        "M > 0 in {f}"
    );
    assert!(!q.round_trip.exceeds(1e-12), "{:?}", q.round_trip);
    assert!(q.warnings().is_empty());
}

/// A flow trained by the reverse KL for 300 steps on a deep broken phase of 6 × 6 (two wells
/// separated by a barrier of about 18 in S).
fn broken_phase_flow(equivariant: bool) -> (Flow, Phi4) {
    let lattice = Lattice::new(&[6, 6]).unwrap();
    let action = phi4(&lattice, -6.0, 2.0);
    let mut flow = Flow::new(
        lattice,
        &spec(4, vec![8], equivariant, PriorSpec::StandardNormal),
        11,
    )
    .unwrap();
    let options = TrainOptions {
        steps: 300,
        batch: 64,
        lr: 3e-3,
        schedule: Schedule::Constant,
        grad_clip: None,
        max_failures: 3,
        ..TrainOptions::default()
    };
    let mut adam = Adam::new(flow.n_params());
    train(
        &mut flow,
        &action,
        &options,
        options.steps,
        &mut adam,
        &mut stream_rng(12, 0),
        &mut |_| {},
    )
    .unwrap();
    (flow, action)
}

#[test]
fn the_sign_balance_warns_of_a_dropped_mode_and_not_for_an_equivariant_flow() {
    let (plain, action) = broken_phase_flow(false);
    let q = evaluate(&plain, &action, 8192, &mut stream_rng(13, 0));
    let f = q.positive_fraction.unwrap();
    assert!(
        (f - 0.5).abs() > 0.4,
        "the plain flow covers both modes: {f}"
    );
    let warnings = q.warnings();
    assert!(
        warnings.iter().any(|w| w.contains("dropped mode")),
        "{warnings:?}"
    );

    let (equivariant, action) = broken_phase_flow(true);
    let q = evaluate(&equivariant, &action, 8192, &mut stream_rng(13, 0));
    let f = q.positive_fraction.unwrap();
    assert!(
        (f - 0.5).abs() < 4.0 * (0.25 / 8192.0f64).sqrt(),
        "an equivariant flow is symmetric: {f}"
    );
    let warnings = q.warnings();
    assert!(
        !warnings.iter().any(|w| w.contains("dropped mode")),
        "{warnings:?}"
    );
}

/// One affine coupling whose conditioner is a single linear convolution, all weights zero and
/// the bias of the t channel 10¹²: y = x + 10¹² on the active sites, so x = y − 10¹² keeps
/// only about 10⁻⁴ of its digits.
fn ill_conditioned_flow(lattice: &Lattice) -> Flow {
    let mut spec = spec(1, vec![], false, PriorSpec::StandardNormal);
    spec.final_activation = Activation::Identity;
    let mut flow = Flow::new(lattice.clone(), &spec, 1).unwrap();
    let n = flow.n_params();
    let params = flow.params_mut();
    params.iter_mut().for_each(|p| *p = 0.0);
    // W [2, 1, 9], then b [2] = (s, t).
    params[n - 1] = 1e12;
    flow
}

#[test]
fn the_round_trip_check_fires_on_an_ill_conditioned_flow() {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let action = phi4(&lattice, -1.0, 1.0);
    let bad = ill_conditioned_flow(&lattice);
    let sample = bad.draw(4, &mut stream_rng(1, 0));
    let rt = bad.round_trip(&sample, 0).unwrap();
    assert!(rt.latent_error > 1e-6, "{rt:?}");
    assert!(rt.exceeds(ROUND_TRIP_TOLERANCE));
    let q = evaluate(&bad, &action, 2048, &mut stream_rng(2, 0));
    assert!(
        q.warnings()
            .iter()
            .any(|w| w.contains("numerically unstable")),
        "{q:?}"
    );
    // A trained-size healthy flow round-trips to rounding.
    let good = Flow::new(
        lattice.clone(),
        &spec(8, vec![8, 8], true, PriorSpec::StandardNormal),
        3,
    )
    .unwrap();
    let sample = good.draw(4, &mut stream_rng(1, 0));
    for i in 0..4 {
        let rt = good.round_trip(&sample, i).unwrap();
        assert!(!rt.exceeds(1e-12), "{rt:?}");
    }
}
