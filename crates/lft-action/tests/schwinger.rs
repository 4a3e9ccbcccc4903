//! The Schwinger-model actions: forces of the exact and the pseudofermion action against
//! finite differences, the free limit of the determinant, gauge invariance, bad input.

use lft_action::{
    Action, PseudofermionAction, PseudofermionCg, Schwinger, SchwingerExact,
    SchwingerPseudofermion, U1Wilson,
};
use lft_fermion::CgParams;
use lft_fermion::free::free_log_det;
use lft_lattice::gauge::gauge_transform;
use lft_lattice::{Lattice, stream_rng, uniform};
use std::f64::consts::PI;

fn model(shape: &[usize], beta: f64, mass: f64) -> Schwinger {
    Schwinger::new(Lattice::new(shape).unwrap(), beta, mass).unwrap()
}

fn random_angles(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = stream_rng(seed, 0);
    (0..n)
        .map(|_| PI * (2.0 * uniform(&mut rng) - 1.0))
        .collect()
}

fn check_gradient(action: &dyn Action, theta: &[f64], tol: f64) {
    let mut grad = vec![0.0; theta.len()];
    action.gradient(theta, &mut grad);
    let h = 1e-5;
    for l in 0..theta.len() {
        let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
        up[l] += h;
        down[l] -= h;
        let fd = (action.action(&up) - action.action(&down)) / (2.0 * h);
        assert!(
            (fd - grad[l]).abs() < tol * fd.abs().max(1.0),
            "link {l}: {} vs {fd}",
            grad[l]
        );
    }
}

#[test]
fn the_exact_action_and_force() {
    let m = model(&[4, 6], 1.7, 0.2);
    let action = SchwingerExact::new(m.clone());
    let theta = random_angles(action.state_len(), 1);
    check_gradient(&action, &theta, 1e-7);
    // S = S_W − log det D, and at θ = 0 log det D is the free one.
    let wilson = U1Wilson::new(Lattice::new(&[4, 6]).unwrap(), 1.7).unwrap();
    let zero = vec![0.0; action.state_len()];
    let free = free_log_det(action.lattice(), 0.2);
    assert!((action.action(&zero) - (wilson.action(&zero) - free)).abs() < 1e-10);
    assert_eq!(action.state_len(), 48);
    assert_eq!(action.field_len(), 48);
}

#[test]
fn the_pseudofermion_action_and_force_at_fixed_pseudofermion() {
    let tight = CgParams {
        tolerance: 1e-13,
        max_iterations: 10_000,
    };
    let cg = PseudofermionCg {
        force: tight,
        action: tight,
    };
    let action = SchwingerPseudofermion::new(model(&[6, 4], 2.0, 0.3), cg).unwrap();
    let theta = random_angles(action.state_len(), 2);
    let s = action.refresh(&theta, &mut stream_rng(3, 0)).unwrap();
    assert!((action.action(&theta) - s).abs() < 1e-10 * s.abs());
    check_gradient(&action, &theta, 1e-6);
    assert!(action.take_error().is_none());
    let (solves, iterations) = action.cg_counts();
    // The heat bath, one action, one force and two actions per link.
    assert_eq!(solves, 3 + 2 * action.state_len() as u64);
    assert!(iterations > solves);
    // A fresh copy has its own pseudofermion (zero) and counters.
    let other = action.fresh();
    assert_eq!(other.cg_counts(), (0, 0));
    assert!(other.pseudofermion().iter().all(|z| z.norm() == 0.0));
}

#[test]
fn the_actions_are_gauge_invariant() {
    let m = model(&[4, 4], 1.0, 0.1);
    let exact = SchwingerExact::new(m.clone());
    let lattice = exact.lattice().clone();
    let theta = random_angles(exact.state_len(), 4);
    let alpha = random_angles(16, 5);
    let mut moved = theta.clone();
    gauge_transform(&lattice, &mut moved, &alpha);
    let (a, b) = (exact.action(&theta), exact.action(&moved));
    assert!((a - b).abs() < 1e-12 * a.abs().max(1.0), "{a} vs {b}");
}

#[test]
fn bad_input_is_named() {
    let err = |shape: &[usize], beta: f64, mass: f64| {
        Schwinger::new(Lattice::new(shape).unwrap(), beta, mass)
            .unwrap_err()
            .to_string()
    };
    let e = err(&[5, 4], 2.0, 0.1);
    assert!(e.contains("lattice.shape") && e.contains("even"), "{e}");
    let e = err(&[4, 4, 4], 2.0, 0.1);
    assert!(e.contains("two-dimensional"), "{e}");
    let e = err(&[4, 4], 2.0, -0.1);
    assert!(e.contains("`mass`"), "{e}");
    let e = err(&[4, 4], 0.0, 0.1);
    assert!(e.contains("`beta`"), "{e}");
    let e = SchwingerPseudofermion::new(model(&[4, 4], 2.0, 0.0), PseudofermionCg::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`mass`") && e.contains("m > 0"), "{e}");
}
