//! The staggered operator against its closed forms and algebraic identities.

use lft_fermion::free::{free_condensate, free_log_det, free_momenta_sin2};
use lft_fermion::{Complex64, DenseLu, Dirac, FermionError, Staggered, TimeBoundary, apply_batch};
mod common;

use common::{random, random_complex, staggered, staggered_with};
use lft_lattice::Lattice;

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * b.abs().max(1.0),
        "{what}: {a} vs {b} (diff {:.3e})",
        (a - b).abs()
    );
}

#[test]
fn free_log_det_and_condensate_match_the_closed_forms() {
    for l in [4, 8, 16] {
        let st = staggered_with(&[l, l], TimeBoundary::Antiperiodic);
        let phi = vec![0.0; l * l];
        for mass in [0.0, 0.1, 0.5, 2.0] {
            let lu = DenseLu::of(&Dirac::new(&st, mass, 1.0, &phi));
            let exact = free_log_det(st.lattice(), mass);
            assert_close(
                lu.log_abs_det(),
                exact,
                1e-10,
                &format!("log det L={l} m={mass}"),
            );
            assert_eq!(lu.sign(), 1.0, "free det is a product of |m ± i s|²");
            let diag = lu.inverse_diagonal().unwrap();
            let condensate = diag.iter().sum::<f64>() / (l * l) as f64;
            let exact = free_condensate(st.lattice(), mass);
            assert!(
                (condensate - exact).abs() < 1e-10,
                "condensate L={l} m={mass}: {condensate} vs {exact}"
            );
        }
    }
    // The number PHYSICS.md quotes: L = 16, m = 0.
    let lattice = Lattice::new(&[16, 16]).unwrap();
    assert!((free_log_det(&lattice, 0.0) - (-27.479147917952)).abs() < 1e-10);
}

#[test]
fn free_operator_on_a_rectangle_and_in_three_dimensions() {
    for shape in [&[6usize, 4][..], &[4, 8], &[4, 4, 4]] {
        let st = staggered(shape);
        let phi = vec![0.0; st.volume()];
        let lu = DenseLu::of(&Dirac::new(&st, 0.3, 1.0, &phi));
        assert_close(
            lu.log_abs_det(),
            free_log_det(st.lattice(), 0.3),
            1e-10,
            &format!("log det {shape:?}"),
        );
    }
}

#[test]
fn free_eigenvalues_are_m_plus_minus_i_s() {
    for l in [4, 8] {
        let st = staggered_with(&[l, l], TimeBoundary::Antiperiodic);
        let phi = vec![0.0; l * l];
        let mass = 0.3;
        let eig = Dirac::new(&st, mass, 1.0, &phi)
            .dense()
            .eigenvalues()
            .unwrap();
        for z in &eig {
            assert!((z.re - mass).abs() < 1e-10, "Re λ = {} ≠ m", z.re);
        }
        let mut im: Vec<f64> = eig.iter().map(|z| z.im.abs()).collect();
        let mut s: Vec<f64> = free_momenta_sin2(st.lattice())
            .iter()
            .map(|s2| s2.sqrt())
            .collect();
        im.sort_by(f64::total_cmp);
        s.sort_by(f64::total_cmp);
        for (a, b) in im.iter().zip(&s) {
            assert!((a - b).abs() < 1e-10, "|Im λ| {a} vs s(p) {b}");
        }
        // D is real: eigenvalues come in conjugate pairs, Σ Im λ = 0.
        assert!(eig.iter().map(|z| z.im).sum::<f64>().abs() < 1e-9);
    }
}

#[test]
fn hopping_term_is_antisymmetric_and_transpose_is_epsilon_d_epsilon() {
    let st = staggered_with(&[6, 4], TimeBoundary::Antiperiodic);
    let v = st.volume();
    let zero = vec![0.0; v];
    let k = Dirac::new(&st, 0.0, 1.0, &zero).dense();
    for x in 0..v {
        for y in 0..v {
            assert_eq!(k[(x, y)], -k[(y, x)], "K + Kᵀ ≠ 0 at ({x}, {y})");
            let eps = st.epsilon()[x] * st.epsilon()[y];
            if k[(x, y)] != 0.0 {
                assert_eq!(eps, -1.0, "K connects sites of equal parity");
            }
        }
    }
    let phi = random(v, 1);
    let d = Dirac::new(&st, 0.4, 0.7, &phi);
    let dense = d.dense();
    let eps = st.epsilon();
    for x in 0..v {
        for y in 0..v {
            let conjugated = eps[x] * dense[(x, y)] * eps[y];
            assert!(
                (dense[(y, x)] - conjugated).abs() < 1e-15,
                "Dᵀ ≠ εDε at ({x}, {y})"
            );
        }
    }
}

#[test]
fn matrix_free_products_equal_the_dense_ones() {
    let st = staggered_with(&[4, 6], TimeBoundary::Antiperiodic);
    let v = st.volume();
    let phi = random(v, 2);
    let d = Dirac::new(&st, 0.1, 1.3, &phi);
    let dense = d.dense();
    let x = random_complex(v, 3);
    let mut dx = vec![Complex64::default(); v];
    let mut dtx = vec![Complex64::default(); v];
    let mut ddtx = vec![Complex64::default(); v];
    let mut tmp = vec![Complex64::default(); v];
    d.apply(&x, &mut dx);
    d.apply_transpose(&x, &mut dtx);
    d.apply_ddt(&x, &mut ddtx, &mut tmp);
    for i in 0..v {
        let mut a = Complex64::default();
        let mut at = Complex64::default();
        let mut aat = Complex64::default();
        for j in 0..v {
            a += x[j] * dense[(i, j)];
            at += x[j] * dense[(j, i)];
            let ddt_ij: f64 = (0..v).map(|k| dense[(i, k)] * dense[(j, k)]).sum();
            aat += x[j] * ddt_ij;
        }
        assert!((a - dx[i]).norm() < 1e-13, "D x at {i}");
        assert!((at - dtx[i]).norm() < 1e-13, "Dᵀ x at {i}");
        assert!((aat - ddtx[i]).norm() < 1e-12, "D Dᵀ x at {i}");
    }
    // Real vectors take the same path.
    let xr = random(v, 4);
    let mut dxr = vec![0.0; v];
    d.apply(&xr, &mut dxr);
    for i in 0..v {
        let a: f64 = (0..v).map(|j| dense[(i, j)] * xr[j]).sum();
        assert!((a - dxr[i]).abs() < 1e-13);
    }
}

#[test]
fn large_lattices_apply_in_parallel_with_the_same_result() {
    // 128 × 128 is above PARALLEL_SITES: compare with the hop table summed site by site, and
    // check ⟨u, D v⟩ = ⟨Dᵀ u, v⟩.
    let st = staggered_with(&[128, 128], TimeBoundary::Antiperiodic);
    let v = st.volume();
    assert!(v >= lft_fermion::PARALLEL_SITES);
    let phi = random(v, 5);
    let d = Dirac::new(&st, 0.2, 0.9, &phi);
    let x = random(v, 6);
    let u = random(v, 7);
    let mut dx = vec![0.0; v];
    d.apply(&x, &mut dx);
    for site in (0..v).step_by(97) {
        let (nb, c) = st.hops_of(site);
        let hop: f64 = nb.iter().zip(c).map(|(&y, &c)| c * x[y as usize]).sum();
        let expect = d.diagonal(site) * x[site] + hop;
        assert!((dx[site] - expect).abs() < 1e-14);
    }
    let mut dtu = vec![0.0; v];
    d.apply_transpose(&u, &mut dtu);
    let lhs: f64 = u.iter().zip(&dx).map(|(a, b)| a * b).sum();
    let rhs: f64 = dtu.iter().zip(&x).map(|(a, b)| a * b).sum();
    assert!((lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0));
}

#[test]
fn batch_application_equals_one_by_one() {
    let st = staggered_with(&[4, 4], TimeBoundary::Antiperiodic);
    let v = st.volume();
    let n = 5;
    let phis = random(n * v, 8);
    let xs = random_complex(n * v, 9);
    let mut out = vec![Complex64::default(); n * v];
    apply_batch(&st, 0.3, 0.5, &phis, &xs, &mut out);
    for i in 0..n {
        let mut one = vec![Complex64::default(); v];
        Dirac::new(&st, 0.3, 0.5, &phis[i * v..(i + 1) * v])
            .apply(&xs[i * v..(i + 1) * v], &mut one);
        assert_eq!(one, out[i * v..(i + 1) * v]);
    }
}

#[test]
fn periodic_time_and_zero_mass_make_the_operator_singular() {
    let st = staggered_with(&[4, 4], TimeBoundary::Periodic);
    let phi = vec![0.0; 16];
    let eig = Dirac::new(&st, 0.0, 1.0, &phi)
        .dense()
        .eigenvalues()
        .unwrap();
    let smallest = eig.iter().map(|z| z.norm()).fold(f64::INFINITY, f64::min);
    assert!(smallest < 1e-12, "smallest |λ| = {smallest}");
    // Antiperiodic time lifts the zero modes: |λ| ≥ min_p s(p) = sin(π/4) on 4 × 4.
    let st = staggered_with(&[4, 4], TimeBoundary::Antiperiodic);
    let eig = Dirac::new(&st, 0.0, 1.0, &phi)
        .dense()
        .eigenvalues()
        .unwrap();
    let smallest = eig.iter().map(|z| z.norm()).fold(f64::INFINITY, f64::min);
    assert!((smallest - (std::f64::consts::PI / 4.0).sin()).abs() < 1e-10);
}

#[test]
fn inverse_times_operator_is_the_identity() {
    let st = staggered_with(&[6, 6], TimeBoundary::Antiperiodic);
    let v = st.volume();
    let phi = random(v, 10);
    let d = Dirac::new(&st, 0.0, 1.0, &phi);
    let dense = d.dense();
    let inv = DenseLu::of(&d).inverse().unwrap();
    for i in 0..v {
        for j in 0..v {
            let p: f64 = (0..v).map(|k| dense[(i, k)] * inv[(k, j)]).sum();
            let id = if i == j { 1.0 } else { 0.0 };
            assert!((p - id).abs() < 1e-10, "(D D⁻¹)_{i}{j} = {p}");
        }
    }
}

#[test]
fn determinant_sign_follows_the_product_of_eigenvalues() {
    // On 4 × 4 the product of the 16 eigenvalues is det D itself.
    let st = staggered_with(&[4, 4], TimeBoundary::Antiperiodic);
    let mut negative = 0;
    for seed in 0..20 {
        let phi: Vec<f64> = random(16, 100 + seed).iter().map(|p| 1.5 * p).collect();
        let d = Dirac::new(&st, 0.0, 1.0, &phi);
        let lu = DenseLu::of(&d);
        let eig = d.dense().eigenvalues().unwrap();
        let det = eig.iter().fold(Complex64::new(1.0, 0.0), |p, z| p * z);
        assert!(det.im.abs() < 1e-8 * det.norm(), "det D is real");
        assert_eq!(lu.sign(), det.re.signum(), "sign of det D (seed {seed})");
        assert!((lu.log_abs_det() - det.norm().ln()).abs() < 1e-9);
        negative += (lu.sign() < 0.0) as usize;
    }
    assert!(
        negative > 0,
        "no negative determinant among 20 rough fields: the sign test is idle"
    );
}

#[test]
fn odd_extents_are_refused() {
    let lattice = Lattice::new(&[4, 5]).unwrap();
    assert_eq!(
        Staggered::new(&lattice, TimeBoundary::Antiperiodic).unwrap_err(),
        FermionError::OddExtent { axis: 1, extent: 5 }
    );
}
