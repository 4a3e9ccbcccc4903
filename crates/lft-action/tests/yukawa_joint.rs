//! The joint Yukawa target S_J(φ, u, w) = S_φ⁴(φ) + ½(uᵀA⁻¹u + wᵀA⁻¹w): its gradient against
//! finite differences in all 3V components, its pseudofermion part against the heat bath's
//! exact value, and the fused prior gradient against its definition.

use lft_action::{
    Action, JointAction, Phi4, Phi4Params, PseudofermionCg, Yukawa, YukawaJoint, YukawaParams,
};
use lft_fermion::{CgParams, Complex64};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};

const PHI4: Phi4Params = Phi4Params {
    m2: -4.0,
    lambda: 8.0,
};

const TIGHT: CgParams = CgParams {
    tolerance: 1e-14,
    max_iterations: 10_000,
};

fn joint(shape: &[usize], g: f64, mass: f64) -> YukawaJoint {
    let params = YukawaParams {
        phi4: PHI4,
        g,
        mass,
    };
    let model = Yukawa::new(Lattice::new(shape).unwrap(), params).unwrap();
    YukawaJoint::new(
        model,
        PseudofermionCg {
            force: TIGHT,
            action: TIGHT,
        },
    )
}

fn random(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut v = vec![0.0; n];
    gaussian_fill(&mut stream_rng(seed, 0), &mut v);
    v.iter_mut().for_each(|x| *x *= scale);
    v
}

#[test]
fn the_joint_gradient_equals_finite_differences_in_every_component() {
    for (shape, g, mass, seed) in [([4, 6], 1.0, 0.1, 1), ([4, 4], 0.5, 0.0, 2)] {
        let action = joint(&shape, g, mass);
        let v = shape[0] * shape[1];
        assert_eq!(action.state_len(), 3 * v);
        let x = random(3 * v, seed, 0.7);
        let mut grad = vec![0.0; 3 * v];
        action.gradient(&x, &mut grad);
        let h = 1e-5;
        for k in 0..3 * v {
            let mut p = x.clone();
            p[k] += h;
            let up = action.action(&p);
            p[k] -= 2.0 * h;
            let down = action.action(&p);
            let fd = (up - down) / (2.0 * h);
            assert!(
                (fd - grad[k]).abs() < 1e-6 * grad[k].abs().max(1.0),
                "component {k} (g = {g}): gradient {} vs FD {fd}",
                grad[k]
            );
        }
        assert!(action.take_error().is_none());
    }
}

#[test]
fn the_pseudofermion_part_is_the_heat_bath_norm() {
    // ϕ = D ξ gives ϕ†(D Dᵀ)⁻¹ϕ = ξ†ξ; in the joint variables u + i w = √2 ϕ.
    let action = joint(&[6, 6], 1.0, 0.0);
    let v = 36;
    let phi = random(v, 3, 0.8);
    let parts = random(2 * v, 4, std::f64::consts::FRAC_1_SQRT_2);
    let xi: Vec<Complex64> = (0..v)
        .map(|i| Complex64::new(parts[i], parts[v + i]))
        .collect();
    let mut d_xi = vec![Complex64::default(); v];
    action.model().dirac(&phi).apply(&xi, &mut d_xi);
    let mut x = phi.clone();
    x.extend(d_xi.iter().map(|z| std::f64::consts::SQRT_2 * z.re));
    x.extend(d_xi.iter().map(|z| std::f64::consts::SQRT_2 * z.im));
    let norm: f64 = xi.iter().map(|z| z.norm_sqr()).sum();
    let s_pf = action.pseudofermion_action(&x);
    assert!((s_pf - norm).abs() < 1e-10 * norm, "{s_pf} vs {norm}");
    let s_phi4 = action.model().phi4().action(&phi);
    assert!((action.action(&x) - s_phi4 - norm).abs() < 1e-10 * norm);
    assert!((action.log_z_offset() - v as f64 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-12);
}

#[test]
fn the_free_prior_gradient_is_the_free_field_on_phi_and_the_identity_on_the_pseudofermion() {
    let action = joint(&[4, 4], 0.5, 0.0);
    let v = 16;
    let x = random(3 * v, 5, 0.6);
    let (a, b, m2) = (0.3, 0.7, 1.5);
    let mut fused = vec![0.0; 3 * v];
    action.free_scaled_gradient(&x, &mut fused, a, b, m2);
    let mut grad = vec![0.0; 3 * v];
    action.gradient(&x, &mut grad);
    let free = Phi4::new(
        Lattice::new(&[4, 4]).unwrap(),
        Phi4Params { m2, lambda: 0.0 },
    )
    .unwrap();
    let mut prior = vec![0.0; 3 * v];
    free.gradient(&x[..v], &mut prior[..v]);
    prior[v..].copy_from_slice(&x[v..]);
    for k in 0..3 * v {
        let want = a * grad[k] + b * prior[k];
        assert!((fused[k] - want).abs() < 1e-12 * want.abs().max(1.0), "{k}");
    }
}

#[test]
fn a_failed_solve_makes_the_action_infinite_and_is_kept() {
    let params = YukawaParams {
        phi4: PHI4,
        g: 1.0,
        mass: 0.0,
    };
    let model = Yukawa::new(Lattice::new(&[4, 4]).unwrap(), params).unwrap();
    let starved = CgParams {
        tolerance: 1e-14,
        max_iterations: 1,
    };
    let action = YukawaJoint::new(
        model,
        PseudofermionCg {
            force: starved,
            action: starved,
        },
    );
    let x = random(48, 6, 1.0);
    assert_eq!(action.action(&x), f64::INFINITY);
    let mut grad = vec![0.0; 48];
    action.gradient(&x, &mut grad);
    assert!(grad.iter().all(|g| g.is_nan()));
    assert!(action.take_error().is_some());
    assert!(action.take_error().is_none(), "taken once");
    assert_eq!(action.cg_counts().0, 2);
}

/// An action tolerance below the rounding floor stagnates; with the default floor the solve
/// is accepted and counted, and S_J agrees with a solve that converged at 1e-12. With the
/// floor at 0 it is refused (S_J = +∞) and the error is kept, while the gradient still takes
/// its stagnated solve.
#[test]
fn a_stagnated_solve_is_accepted_up_to_the_floor_and_counted() {
    let params = YukawaParams {
        phi4: PHI4,
        g: 1.0,
        mass: 0.0,
    };
    let model = Yukawa::new(Lattice::new(&[4, 4]).unwrap(), params).unwrap();
    let below_floor = CgParams {
        tolerance: 1e-20,
        max_iterations: 10_000,
    };
    let cg = PseudofermionCg {
        force: below_floor,
        action: below_floor,
    };
    let x = random(48, 7, 1.0);
    let reference = joint(&[4, 4], 1.0, 0.0).action(&x);
    let accepting = YukawaJoint::new(model.clone(), cg);
    assert_eq!(
        accepting.stagnation_floor(),
        lft_action::DEFAULT_STAGNATION_FLOOR
    );
    let s = accepting.action(&x);
    assert!(
        (s - reference).abs() < 1e-10 * reference.abs(),
        "{s} vs {reference}"
    );
    assert_eq!(accepting.stagnated_solves(), 1);
    assert!(accepting.take_error().is_none());
    let (solves, iterations) = accepting.cg_counts();
    assert!(solves == 1 && iterations < 1_000, "{iterations} iterations");

    let refusing = YukawaJoint::new(model, cg).with_stagnation_floor(0.0);
    assert_eq!(refusing.action(&x), f64::INFINITY);
    assert_eq!(refusing.stagnated_solves(), 0);
    assert!(matches!(
        refusing.take_error(),
        Some(lft_fermion::FermionError::CgStagnated { .. })
    ));
    // The gradient uses a stagnated solve whatever the floor.
    let mut grad = vec![0.0; 48];
    let mut want = vec![0.0; 48];
    refusing.gradient(&x, &mut grad);
    joint(&[4, 4], 1.0, 0.0).gradient(&x, &mut want);
    for (k, (g, w)) in grad.iter().zip(&want).enumerate() {
        assert!((g - w).abs() < 1e-9 * w.abs().max(1.0), "{k}: {g} vs {w}");
    }
    assert_eq!(refusing.stagnated_solves(), 1);
    assert!(refusing.take_error().is_none());
}
