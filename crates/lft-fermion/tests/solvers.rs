//! Conjugate gradient, the even-odd Schur determinant, forces and the pseudofermion heat bath.

use lft_fermion::{
    CgParams, CgScratch, Complex64, DenseLu, Dirac, FermionError, Pseudofermion, Staggered,
    accept_stagnated, schur_log_det, solve_ddt,
};
mod common;

use common::{random, random_complex, staggered};
use lft_lattice::stream_rng;

#[test]
fn schur_determinant_equals_the_full_determinant() {
    for (shape, mass, g, seed) in [
        (&[4usize, 4][..], 0.0, 1.0, 1),
        (&[6, 4], 0.2, 0.5, 2),
        (&[8, 8], 0.0, 1.0, 3),
        (&[4, 4, 4], 0.1, 0.8, 4),
    ] {
        let st = staggered(shape);
        let phi = random(st.volume(), seed);
        let d = Dirac::new(&st, mass, g, &phi);
        let lu = DenseLu::of(&d);
        let (log_det, sign) = schur_log_det(&d).unwrap();
        assert!(
            (log_det - lu.log_abs_det()).abs() < 1e-10 * lu.log_abs_det().abs().max(1.0),
            "{shape:?}: Schur {log_det} vs full {}",
            lu.log_abs_det()
        );
        assert_eq!(sign, lu.sign(), "{shape:?}: sign");
    }
}

#[test]
fn schur_refuses_a_zero_even_diagonal() {
    let st = staggered(&[4, 4]);
    let phi = vec![0.0; 16];
    let err = schur_log_det(&Dirac::new(&st, 0.0, 1.0, &phi)).unwrap_err();
    assert_eq!(err, FermionError::ZeroEvenDiagonal { site: 0 });
}

#[test]
fn cg_solutions_satisfy_the_residual_bound() {
    for (l, tol) in [(4usize, 1e-8), (8, 1e-10), (16, 1e-12)] {
        let st = staggered(&[l, l]);
        let v = st.volume();
        let phi = random(v, 10 + l as u64);
        let d = Dirac::new(&st, 0.0, 1.0, &phi);
        let b = random_complex(v, 20);
        let mut x = vec![Complex64::default(); v];
        let mut scratch = CgScratch::new(v);
        let params = CgParams {
            tolerance: tol,
            max_iterations: 10_000,
        };
        let stats = solve_ddt(&d, &b, &mut x, params, &mut scratch).unwrap();
        assert!(stats.iterations > 0);
        // Residual computed here, independently of the solver's bookkeeping.
        let mut ax = vec![Complex64::default(); v];
        let mut tmp = vec![Complex64::default(); v];
        d.apply_ddt(&x, &mut ax, &mut tmp);
        let r: f64 = b
            .iter()
            .zip(&ax)
            .map(|(b, a)| (b - a).norm_sqr())
            .sum::<f64>()
            .sqrt();
        let bn: f64 = b.iter().map(|b| b.norm_sqr()).sum::<f64>().sqrt();
        assert!(r / bn <= tol, "L={l}: |r|/|b| = {:.3e} > {tol:.0e}", r / bn);
        assert!((stats.residual - r / bn).abs() <= 1e-3 * r / bn + 1e-15);
        // A warm start at the solution takes no iterations.
        let again = solve_ddt(&d, &b, &mut x, params, &mut scratch).unwrap();
        assert_eq!(again.iterations, 0);
    }
}

#[test]
fn cg_reports_non_convergence_clearly() {
    let st = staggered(&[8, 8]);
    let phi = random(64, 30);
    let d = Dirac::new(&st, 0.0, 1.0, &phi);
    let b = random(64, 31);
    let mut x = vec![0.0; 64];
    let params = CgParams {
        tolerance: 1e-12,
        max_iterations: 3,
    };
    let err = solve_ddt(&d, &b, &mut x, params, &mut CgScratch::new(64)).unwrap_err();
    match &err {
        FermionError::CgNotConverged { iterations, .. } => assert_eq!(*iterations, 3),
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("did not converge"));
}

/// A non-finite right-hand side or field is an error, not an endless loop (a NaN residual
/// once skipped the iteration and restarted it forever).
#[test]
fn cg_refuses_non_finite_input() {
    let st = staggered(&[4, 4]);
    let phi = random(16, 32);
    let mut b = random(16, 33);
    let mut x = vec![0.0; 16];
    let d = Dirac::new(&st, 0.0, 1.0, &phi);
    b[3] = f64::NAN;
    let err = solve_ddt(&d, &b, &mut x, CgParams::default(), &mut CgScratch::new(16));
    assert!(
        matches!(err, Err(FermionError::CgNotConverged { .. })),
        "{err:?}"
    );
    let mut bad = phi.clone();
    bad[5] = f64::INFINITY;
    let d = Dirac::new(&st, 0.0, 1.0, &bad);
    let b = random(16, 33);
    x.fill(0.0);
    let err = solve_ddt(&d, &b, &mut x, CgParams::default(), &mut CgScratch::new(16));
    assert!(
        matches!(err, Err(FermionError::CgNotConverged { .. })),
        "{err:?}"
    );
}

/// −2 log|det D(φ)| by dense LU.
fn minus_two_log_det(st: &Staggered, mass: f64, g: f64, phi: &[f64]) -> f64 {
    -2.0 * DenseLu::of(&Dirac::new(st, mass, g, phi)).log_abs_det()
}

#[test]
fn exact_determinant_force_equals_finite_differences() {
    let st = staggered(&[4, 6]);
    let v = st.volume();
    let (mass, g) = (0.1, 0.8);
    let phi = random(v, 40);
    // ∂(−2 log|det D|)/∂φ_x = −2g (D⁻¹)_xx.
    let diag = DenseLu::of(&Dirac::new(&st, mass, g, &phi))
        .inverse_diagonal()
        .unwrap();
    let h = 1e-5;
    for x in 0..v {
        let mut p = phi.clone();
        p[x] += h;
        let up = minus_two_log_det(&st, mass, g, &p);
        p[x] -= 2.0 * h;
        let down = minus_two_log_det(&st, mass, g, &p);
        let fd = (up - down) / (2.0 * h);
        let force = -2.0 * g * diag[x];
        assert!(
            (fd - force).abs() < 1e-6 * force.abs().max(1.0),
            "site {x}: force {force} vs FD {fd}"
        );
    }
}

#[test]
fn pseudofermion_force_equals_finite_differences() {
    let st = staggered(&[4, 4]);
    let v = st.volume();
    let (mass, g) = (0.2, 1.0);
    let phi = random(v, 50);
    let tight = CgParams {
        tolerance: 1e-14,
        max_iterations: 10_000,
    };
    let mut pf = Pseudofermion::new(v);
    pf.set_field(&random_complex(v, 51));
    let mut force = vec![0.0; v];
    pf.add_force(&Dirac::new(&st, mass, g, &phi), tight, &mut force)
        .unwrap();
    let mut s_at = |p: &[f64]| pf.action(&Dirac::new(&st, mass, g, p), tight).unwrap().0;
    let h = 1e-5;
    for x in 0..v {
        let mut p = phi.clone();
        p[x] += h;
        let up = s_at(&p);
        p[x] -= 2.0 * h;
        let down = s_at(&p);
        let fd = (up - down) / (2.0 * h);
        assert!(
            (fd - force[x]).abs() < 1e-6 * force[x].abs().max(1.0),
            "site {x}: force {} vs FD {fd}",
            force[x]
        );
    }
}

#[test]
fn pseudofermion_action_equals_the_dense_quadratic_form() {
    let st = staggered(&[4, 4]);
    let v = st.volume();
    let phi = random(v, 60);
    let d = Dirac::new(&st, 0.3, 0.7, &phi);
    let mut pf = Pseudofermion::new(v);
    let field = random_complex(v, 61);
    pf.set_field(&field);
    let (s, _) = pf
        .action(
            &d,
            CgParams {
                tolerance: 1e-13,
                max_iterations: 10_000,
            },
        )
        .unwrap();
    // ϕ†(D Dᵀ)⁻¹ϕ with (D Dᵀ)⁻¹ from a dense LU of the dense product.
    let dense = d.dense();
    let mut ddt = faer::Mat::<f64>::zeros(v, v);
    for i in 0..v {
        for j in 0..v {
            ddt[(i, j)] = (0..v).map(|k| dense[(i, k)] * dense[(j, k)]).sum();
        }
    }
    let inv = DenseLu::factor(ddt).inverse().unwrap();
    let mut exact = 0.0;
    for i in 0..v {
        for j in 0..v {
            exact += (field[i].conj() * field[j] * inv[(i, j)]).re;
        }
    }
    assert!((s - exact).abs() < 1e-10 * exact, "{s} vs {exact}");
}

#[test]
fn pseudofermion_action_after_a_heat_bath_averages_the_volume() {
    // S_pf = ξ†ξ with |ξ_x|² ~ Exp(1): mean V, variance V. Computed here by CG, not from ξ.
    let st = staggered(&[8, 8]);
    let v = st.volume();
    let phi = random(v, 70);
    let d = Dirac::new(&st, 0.0, 1.0, &phi);
    let mut rng = stream_rng(71, 0);
    let mut pf = Pseudofermion::new(v);
    let n = 2000;
    let params = CgParams {
        tolerance: 1e-12,
        max_iterations: 10_000,
    };
    let samples: Vec<f64> = (0..n)
        .map(|_| {
            let xi2 = pf.heat_bath(&d, &mut rng);
            let (s, _) = pf.action(&d, params).unwrap();
            assert!((s - xi2).abs() < 1e-8 * xi2, "S_pf {s} vs ξ†ξ {xi2}");
            s
        })
        .collect();
    let mean = samples.iter().sum::<f64>() / n as f64;
    let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let err = (var / n as f64).sqrt();
    assert!(
        (mean - v as f64).abs() < 4.0 * err,
        "⟨S_pf⟩ = {mean} ± {err}, expected {v}"
    );
    // The variance is V as well (sum of V unit exponentials), within its own rough error.
    assert!(
        (var / v as f64 - 1.0).abs() < 0.15,
        "var/V = {}",
        var / v as f64
    );
}

/// A tolerance below the floating-point floor ε·κ(D Dᵀ) cannot be met: CG reports the
/// stagnation after a restart or two instead of running on to `max_iterations`, and leaves
/// its last iterate, at the floor, in x; `accept_stagnated` takes it when the floor allows.
#[test]
fn cg_reports_stagnation_below_the_rounding_floor() {
    let st = staggered(&[8, 8]);
    let phi = random(64, 34);
    let d = Dirac::new(&st, 0.0, 1.0, &phi);
    let b = random(64, 35);
    let mut x = vec![0.0; 64];
    let params = CgParams {
        tolerance: 1e-20,
        max_iterations: 100_000,
    };
    let err = solve_ddt(&d, &b, &mut x, params, &mut CgScratch::new(64)).unwrap_err();
    let FermionError::CgStagnated {
        iterations,
        residual,
        ..
    } = err
    else {
        panic!("unexpected error {err:?}");
    };
    assert!(iterations < 2_000, "{iterations} iterations");
    // The iterate really is at the floor: its true residual is the one reported.
    let mut ax = vec![0.0; 64];
    let mut tmp = vec![0.0; 64];
    d.apply_ddt(&x, &mut ax, &mut tmp);
    let true_residual = (ax.iter().zip(&b).map(|(a, b)| (a - b).powi(2)).sum::<f64>()
        / b.iter().map(|b| b * b).sum::<f64>())
    .sqrt();
    assert!((true_residual - residual).abs() <= 1e-3 * residual);
    // On a generic field the floor ε·κ is far below the joint target's default floor 1e-8.
    assert!(residual < 1e-10, "floor {residual:e}");
    assert!(err.to_string().contains("stagnated"));
    let accepted = accept_stagnated(Err(err.clone()), 1e-10).unwrap();
    assert_eq!(
        (accepted.iterations, accepted.residual),
        (iterations, residual)
    );
    assert_eq!(accept_stagnated(Err(err.clone()), residual / 2.0), Err(err));
}
