//! The Yukawa actions: forces against finite differences, the free limit, bad input.

use lft_action::{
    Action, Phi4, Phi4Params, PseudofermionAction, PseudofermionCg, Yukawa, YukawaExact,
    YukawaParams, YukawaPseudofermion,
};
use lft_fermion::CgParams;
use lft_fermion::free::free_log_det;
use lft_lattice::{Lattice, gaussian_fill, stream_rng};

const PHI4: Phi4Params = Phi4Params {
    m2: -4.0,
    lambda: 8.0,
};

fn model(shape: &[usize], g: f64, mass: f64) -> Yukawa {
    let params = YukawaParams {
        phi4: PHI4,
        g,
        mass,
    };
    Yukawa::new(Lattice::new(shape).unwrap(), params).unwrap()
}

fn random(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut v = vec![0.0; n];
    gaussian_fill(&mut stream_rng(seed, 0), &mut v);
    v.iter_mut().for_each(|x| *x *= scale);
    v
}

/// Central differences of `action` against `gradient` at every site.
fn check_gradient(action: &dyn Action, phi: &[f64], tol: f64) {
    let mut grad = vec![0.0; phi.len()];
    action.gradient(phi, &mut grad);
    let h = 1e-5;
    for x in 0..phi.len() {
        let mut p = phi.to_vec();
        p[x] += h;
        let up = action.action(&p);
        p[x] -= 2.0 * h;
        let down = action.action(&p);
        let fd = (up - down) / (2.0 * h);
        assert!(
            (fd - grad[x]).abs() < tol * grad[x].abs().max(1.0),
            "site {x}: gradient {} vs FD {fd}",
            grad[x]
        );
    }
}

#[test]
fn exact_determinant_gradient_equals_finite_differences() {
    for (g, mass, seed) in [(0.5, 0.0, 1), (1.0, 0.0, 2), (1.0, 0.3, 3)] {
        let action = YukawaExact::new(model(&[4, 6], g, mass));
        check_gradient(&action, &random(24, seed, 0.7), 1e-6);
    }
}

#[test]
fn pseudofermion_gradient_equals_finite_differences_at_fixed_pseudofermion() {
    let tight = CgParams {
        tolerance: 1e-14,
        max_iterations: 10_000,
    };
    let action = YukawaPseudofermion::new(
        model(&[4, 4], 1.0, 0.1),
        PseudofermionCg {
            force: tight,
            action: tight,
        },
    );
    let phi = random(16, 4, 0.7);
    let s = action.refresh(&phi, &mut stream_rng(5, 0)).unwrap();
    // Right after the heat bath S = S_φ⁴ + ξ†ξ, and the CG-computed action agrees.
    let s_phi4 = Phi4::new(Lattice::new(&[4, 4]).unwrap(), PHI4)
        .unwrap()
        .action(&phi);
    let s_pf = s - s_phi4;
    assert!((action.action(&phi) - s).abs() < 1e-9 * s_pf);
    check_gradient(&action, &phi, 1e-6);
    assert!(action.take_error().is_none());
}

#[test]
fn at_zero_coupling_the_determinant_is_the_free_one() {
    let lattice = Lattice::new(&[8, 8]).unwrap();
    let phi = random(64, 6, 1.0);
    let mass = 0.3;
    let action = YukawaExact::new(model(&[8, 8], 0.0, mass));
    let phi4 = Phi4::new(lattice.clone(), PHI4).unwrap();
    let fermion = action.action(&phi) - phi4.action(&phi);
    let exact = -2.0 * free_log_det(&lattice, mass);
    assert!(
        (fermion - exact).abs() < 1e-10 * exact.abs(),
        "{fermion} vs {exact}"
    );
}

#[test]
fn bad_lattices_and_couplings_are_refused() {
    let params = YukawaParams {
        phi4: PHI4,
        g: 1.0,
        mass: 0.0,
    };
    let odd = Yukawa::new(Lattice::new(&[4, 5]).unwrap(), params).unwrap_err();
    assert!(odd.to_string().contains("even extents"), "{odd}");
    let three_d = Yukawa::new(Lattice::new(&[4, 4, 4]).unwrap(), params).unwrap_err();
    assert!(three_d.to_string().contains("two-dimensional"), "{three_d}");
    let nan_g = Yukawa::new(
        Lattice::new(&[4, 4]).unwrap(),
        YukawaParams {
            g: f64::NAN,
            ..params
        },
    )
    .unwrap_err();
    assert!(nan_g.to_string().contains("`g`"), "{nan_g}");
}

#[test]
fn massless_fermions_keep_the_z2_symmetry_and_a_mass_breaks_it() {
    let phi = random(24, 5, 0.8);
    let minus: Vec<f64> = phi.iter().map(|x| -x).collect();
    let massless = YukawaExact::new(model(&[4, 6], 0.7, 0.0));
    assert!(massless.is_z2_symmetric());
    let (s, s_minus) = (massless.action(&phi), massless.action(&minus));
    assert!(
        (s - s_minus).abs() < 1e-10 * s.abs(),
        "{s} against {s_minus}"
    );
    let massive = YukawaExact::new(model(&[4, 6], 0.7, 0.3));
    assert!(!massive.is_z2_symmetric());
    assert!((massive.action(&phi) - massive.action(&minus)).abs() > 1e-3);
}
