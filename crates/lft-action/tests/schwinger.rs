//! The Schwinger-model actions: forces of the exact, the pseudofermion and the joint (θ, ϕ)
//! action against finite differences, the free limit of the determinant, gauge invariance,
//! bad input.

use faer::linalg::solvers::Solve;
use lft_action::{
    Action, JointAction, PseudofermionAction, PseudofermionCg, Schwinger, SchwingerExact,
    SchwingerJoint, SchwingerPseudofermion, U1Wilson,
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

/// The joint (θ, u, w) target: its gradient in every component against finite differences,
/// its parts, and S_J − S_W = ½ Re(z†M_ee⁻¹z) with M_ee dense.
#[test]
fn the_joint_action_and_force() {
    let m = model(&[4, 6], 1.3, 0.4);
    let cg = PseudofermionCg {
        action: CgParams {
            tolerance: 1e-13,
            max_iterations: 10_000,
        },
        force: CgParams {
            tolerance: 1e-13,
            max_iterations: 10_000,
        },
    };
    let joint = SchwingerJoint::new(m.clone(), cg);
    assert_eq!(joint.state_len(), 2 * 24 + 24);
    assert_eq!(joint.field_len(), 48);
    let mut x = random_angles(48, 7);
    let mut rng = stream_rng(8, 0);
    let mut z = vec![0.0; 24];
    lft_lattice::gaussian_fill(&mut rng, &mut z);
    x.extend(&z);
    check_gradient(&joint, &x, 1e-6);
    // Against the dense even block.
    let dirac = m.dirac(&x[..48]);
    let dense = dirac.dense_normal_even();
    let rhs = faer::Mat::<lft_fermion::Complex64>::from_fn(12, 1, |i, _| {
        lft_fermion::Complex64::new(z[i], z[12 + i])
    });
    let solved = dense.llt(faer::Side::Lower).unwrap().solve(&rhs);
    let quadratic: f64 = (0..12)
        .map(|i| (rhs[(i, 0)].conj() * solved[(i, 0)]).re)
        .sum();
    let s_w = m.wilson().action(&x[..48]);
    assert!(
        (joint.action(&x) - (s_w + 0.5 * quadratic)).abs() < 1e-10 * quadratic.abs().max(1.0),
        "{} vs {}",
        joint.action(&x),
        s_w + 0.5 * quadratic
    );
    // Canonicalisation wraps the links only.
    let mut y = x.clone();
    y[0] += 2.0 * PI;
    y[50] += 2.0 * PI;
    assert!(joint.canonicalize(&mut y));
    assert!((y[0] - x[0]).abs() < 1e-12);
    assert!((y[50] - x[50] - 2.0 * PI).abs() < 1e-12);
    let (solves, _) = joint.cg_counts();
    assert!(solves > 0);
    assert!(joint.take_error().is_none());
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
