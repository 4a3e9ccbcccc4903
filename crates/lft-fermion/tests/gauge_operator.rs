//! The staggered operator with U(1) links: free limit, gauge covariance, even/odd structure,
//! exact inverse, and the forces of the exact determinant and of the pseudofermion against
//! finite differences.

use faer::Mat;
use faer::linalg::solvers::DenseSolveCore;
use lft_fermion::free::{free_condensate, free_log_det};
use lft_fermion::{
    CgParams, CgScratch, Complex64, EvenBlockInverse, GaugeDirac, GaugePseudofermion,
    GaugeStaggered, HermitianOperator, apply_gauge_batch, solve_hermitian,
};
use lft_lattice::{Lattice, stream_rng, uniform};
use std::f64::consts::PI;
mod common;
use common::random_complex;

fn geometry(shape: &[usize]) -> GaugeStaggered {
    GaugeStaggered::new(&Lattice::new(shape).unwrap()).unwrap()
}

/// Uniform link angles in [−π, π).
fn hot_links(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = stream_rng(seed, 0);
    (0..n)
        .map(|_| PI * (2.0 * uniform(&mut rng) - 1.0))
        .collect()
}

fn max_diff(a: &Mat<Complex64>, b: &Mat<Complex64>) -> f64 {
    let mut worst: f64 = 0.0;
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            worst = worst.max((a[(i, j)] - b[(i, j)]).norm());
        }
    }
    worst
}

/// log det of a Hermitian positive definite matrix by Cholesky.
fn hpd_log_det(m: &Mat<Complex64>) -> f64 {
    let llt = m.llt(faer::Side::Lower).expect("positive definite");
    let l = llt.L();
    2.0 * (0..l.nrows()).map(|i| l[(i, i)].re.ln()).sum::<f64>()
}

#[test]
fn free_links_give_the_free_log_det_and_condensate() {
    for shape in [[4usize, 4], [8, 8], [6, 4], [16, 16]] {
        let g = geometry(&shape);
        let theta = vec![0.0; 2 * g.volume()];
        for mass in [0.05, 0.1, 0.5, 2.0] {
            let inv = EvenBlockInverse::of(&g.dirac(mass, &theta)).unwrap();
            let lattice = g.lattice();
            let exact = free_log_det(lattice, mass);
            assert!(
                (inv.log_det() - exact).abs() < 1e-10 * exact.abs().max(1.0),
                "log det {shape:?} m={mass}: {} vs {exact}",
                inv.log_det()
            );
            let v = g.volume() as f64;
            let sigma = free_condensate(lattice, mass);
            assert!(
                (inv.trace() / v - sigma).abs() < 1e-12,
                "Σ {shape:?} m={mass}"
            );
            let diag: f64 = inv.diagonal().iter().sum();
            assert!((diag / v - sigma).abs() < 1e-10, "Σ from the diagonal");
        }
    }
}

#[test]
fn the_operator_is_gauge_covariant_and_its_invariants_are_gauge_invariant() {
    let g = geometry(&[6, 4]);
    let lattice = g.lattice().clone();
    let v = g.volume();
    let theta = hot_links(2 * v, 1);
    let alpha = hot_links(v, 2);
    let mut moved = theta.clone();
    lft_lattice::gauge::gauge_transform(&lattice, &mut moved, &alpha);
    let m = 0.3;
    let d = g.dirac(m, &theta).dense();
    let d_moved = g.dirac(m, &moved).dense();
    // G D G† with G = diag(e^{iα(x)}).
    let rotated = Mat::<Complex64>::from_fn(v, v, |x, y| {
        Complex64::from_polar(1.0, alpha[x]) * d[(x, y)] * Complex64::from_polar(1.0, -alpha[y])
    });
    assert!(max_diff(&d_moved, &rotated) < 1e-13, "D(gθ) = G D(θ) G†");
    let a = EvenBlockInverse::of(&g.dirac(m, &theta)).unwrap();
    let b = EvenBlockInverse::of(&g.dirac(m, &moved)).unwrap();
    assert!(
        (a.log_det() - b.log_det()).abs() < 1e-12,
        "log det D invariant"
    );
    assert!((a.trace() - b.trace()).abs() < 1e-12, "tr D⁻¹ invariant");
}

#[test]
fn the_hops_are_anti_hermitian_and_the_normal_blocks_have_equal_determinants() {
    let g = geometry(&[4, 6]);
    let v = g.volume();
    let theta = hot_links(2 * v, 3);
    let m = 0.2;
    let dirac = g.dirac(m, &theta);
    let d = dirac.dense();
    let mut k = d.clone();
    for x in 0..v {
        k[(x, x)] -= Complex64::new(m, 0.0);
    }
    let k_adj = k.adjoint().to_owned();
    let minus_k = Mat::<Complex64>::from_fn(v, v, |i, j| -k[(i, j)]);
    assert!(max_diff(&k_adj, &minus_k) < 1e-15, "K† = −K");
    // D†D = D D† = m² − K², block diagonal on the parities.
    let dtd = d.adjoint() * &d;
    let ddt = &d * d.adjoint();
    assert!(max_diff(&dtd, &ddt) < 1e-13, "D is normal");
    let even: Vec<usize> = g.even_sites().iter().map(|&x| x as usize).collect();
    let odd: Vec<usize> = g.odd_sites().iter().map(|&x| x as usize).collect();
    let block = |rows: &[usize], cols: &[usize]| {
        Mat::<Complex64>::from_fn(rows.len(), cols.len(), |i, j| dtd[(rows[i], cols[j])])
    };
    let off = block(&even, &odd);
    assert!(
        max_diff(&off, &Mat::zeros(off.nrows(), off.ncols())) < 1e-13,
        "D†D connects no even site with an odd one"
    );
    let ee = block(&even, &even);
    let oo = block(&odd, &odd);
    assert!(max_diff(&ee, &dirac.dense_normal_even()) < 1e-13);
    let (log_ee, log_oo) = (hpd_log_det(&ee), hpd_log_det(&oo));
    assert!((log_ee - log_oo).abs() < 1e-11, "{log_ee} vs {log_oo}");
    // log det D†D = 2 log det D, and det D = det M_ee.
    let log_full = hpd_log_det(&dtd);
    let exact = EvenBlockInverse::of(&dirac).unwrap().log_det();
    assert!((log_full - 2.0 * exact).abs() < 1e-10);
}

#[test]
fn matrix_free_products_equal_the_dense_ones() {
    let g = geometry(&[4, 4]);
    let v = g.volume();
    let theta = hot_links(2 * v, 4);
    let dirac = g.dirac(0.4, &theta);
    let d = dirac.dense();
    let x = random_complex(v, 5);
    let mut out = vec![Complex64::default(); v];
    let dense_times = |m: &Mat<Complex64>, x: &[Complex64]| -> Vec<Complex64> {
        (0..m.nrows())
            .map(|i| (0..m.ncols()).map(|j| m[(i, j)] * x[j]).sum())
            .collect()
    };
    let close = |a: &[Complex64], b: &[Complex64]| {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).norm())
            .fold(0.0, f64::max)
            < 1e-13
    };
    dirac.apply(&x, &mut out);
    assert!(close(&out, &dense_times(&d, &x)), "D v");
    dirac.apply_dagger(&x, &mut out);
    assert!(
        close(&out, &dense_times(&d.adjoint().to_owned(), &x)),
        "D† v"
    );
    let mut tmp_full = vec![Complex64::default(); v];
    dirac.apply_normal(&x, &mut out, &mut tmp_full);
    assert!(close(&out, &dense_times(&(d.adjoint() * &d), &x)), "D†D v");
    let half = v / 2;
    let xe = random_complex(half, 6);
    let (mut oe, mut tmp) = (
        vec![Complex64::default(); half],
        vec![Complex64::default(); half],
    );
    dirac.apply_normal_even(&xe, &mut oe, &mut tmp);
    assert!(
        close(&oe, &dense_times(&dirac.dense_normal_even(), &xe)),
        "M_ee v"
    );
    assert_eq!(HermitianOperator::<Complex64>::dim(&dirac), half);
    // A batch of three configurations is applied one by one.
    let thetas: Vec<f64> = (0..3).flat_map(|s| hot_links(2 * v, 40 + s)).collect();
    let vs = random_complex(3 * v, 41);
    let mut batch = vec![Complex64::default(); 3 * v];
    apply_gauge_batch(&g, 0.4, &thetas, &vs, &mut batch);
    for i in 0..3 {
        g.dirac(0.4, &thetas[i * 2 * v..(i + 1) * 2 * v])
            .apply(&vs[i * v..(i + 1) * v], &mut out);
        assert_eq!(&batch[i * v..(i + 1) * v], &out[..], "configuration {i}");
    }
}

#[test]
fn the_exact_inverse_matches_a_dense_lu() {
    let g = geometry(&[4, 6]);
    let v = g.volume();
    let theta = hot_links(2 * v, 7);
    for m in [0.1, 0.7] {
        let dirac = g.dirac(m, &theta);
        let full = dirac.dense().partial_piv_lu().inverse();
        let inv = EvenBlockInverse::of(&dirac).unwrap();
        for &y in g.even_sites() {
            for x in 0..v {
                let e = inv.inverse_from_even(x, y as usize) - full[(x, y as usize)];
                assert!(e.norm() < 1e-12, "D⁻¹({x}, {y}) at m = {m}");
            }
        }
        for (x, d) in inv.diagonal().iter().enumerate() {
            assert!((d - full[(x, x)].re).abs() < 1e-11, "(D⁻¹)_xx at {x}");
            assert!(full[(x, x)].im.abs() < 1e-12);
        }
        let trace: f64 = (0..v).map(|x| full[(x, x)].re).sum();
        assert!((inv.trace() - trace).abs() < 1e-11);
    }
}

/// Central difference of f along link l.
fn numerical_derivative(theta: &[f64], l: usize, f: &mut dyn FnMut(&[f64]) -> f64) -> f64 {
    let h = 1e-5;
    let mut t = theta.to_vec();
    t[l] += h;
    let up = f(&t);
    t[l] -= 2.0 * h;
    let down = f(&t);
    (up - down) / (2.0 * h)
}

#[test]
fn the_exact_determinant_force_matches_finite_differences() {
    let g = geometry(&[4, 6]);
    let v = g.volume();
    let theta = hot_links(2 * v, 8);
    let m = 0.15;
    let inv = EvenBlockInverse::of(&g.dirac(m, &theta)).unwrap();
    let mut force = vec![0.0; 2 * v];
    inv.add_force(&g.dirac(m, &theta), &mut force);
    let mut minus_log_det = |t: &[f64]| -EvenBlockInverse::of(&g.dirac(m, t)).unwrap().log_det();
    for l in 0..2 * v {
        let fd = numerical_derivative(&theta, l, &mut minus_log_det);
        assert!(
            (force[l] - fd).abs() < 1e-7 * fd.abs().max(1.0),
            "link {l}: {} vs {fd}",
            force[l]
        );
    }
}

#[test]
fn the_pseudofermion_force_matches_finite_differences_and_cg_solves() {
    let g = geometry(&[6, 4]);
    let v = g.volume();
    let theta = hot_links(2 * v, 9);
    let m = 0.25;
    let tight = CgParams {
        tolerance: 1e-13,
        max_iterations: 10_000,
    };
    let mut pf = GaugePseudofermion::new(v);
    pf.heat_bath(&g.dirac(m, &theta), &mut stream_rng(10, 0));
    let mut force = vec![0.0; 2 * v];
    pf.add_force(&g.dirac(m, &theta), tight, &mut force)
        .unwrap();
    let phi = pf.field().to_vec();
    // S_pf against the dense M_ee⁻¹.
    let a = g
        .dirac(m, &theta)
        .dense_normal_even()
        .llt(faer::Side::Lower)
        .unwrap()
        .inverse();
    let dense: f64 = (0..v / 2)
        .flat_map(|i| (0..v / 2).map(move |j| (i, j)))
        .map(|(i, j)| (phi[i].conj() * a[(i, j)] * phi[j]).re)
        .sum();
    let (s_pf, stats) = pf.action(&g.dirac(m, &theta), tight).unwrap();
    assert!((s_pf - dense).abs() < 1e-10 * dense, "{s_pf} vs {dense}");
    assert!(stats.residual < 1e-13);
    let mut action = |t: &[f64]| {
        let mut p = GaugePseudofermion::new(v);
        p.set_field(&phi);
        p.action(&g.dirac(m, t), tight).unwrap().0
    };
    for l in 0..2 * v {
        let fd = numerical_derivative(&theta, l, &mut action);
        assert!(
            (force[l] - fd).abs() < 1e-6 * fd.abs().max(1.0),
            "link {l}: {} vs {fd}",
            force[l]
        );
    }
    // The even-site CG on its own: M_ee x = b.
    let b = random_complex(v / 2, 11);
    let mut x = vec![Complex64::default(); v / 2];
    let dirac = g.dirac(m, &theta);
    solve_hermitian(&dirac, &b, &mut x, tight, &mut CgScratch::new(v / 2)).unwrap();
    let mut mx = vec![Complex64::default(); v / 2];
    let mut tmp = vec![Complex64::default(); v / 2];
    dirac.apply_normal_even(&x, &mut mx, &mut tmp);
    let r: f64 = mx
        .iter()
        .zip(&b)
        .map(|(a, b)| (a - b).norm_sqr())
        .sum::<f64>()
        .sqrt();
    let bn: f64 = b.iter().map(|b| b.norm_sqr()).sum::<f64>().sqrt();
    assert!(r <= 1e-12 * bn);
}

#[test]
fn the_heat_bath_draws_from_the_pseudofermion_density() {
    // ϕ ~ e^{−ϕ†M⁻¹ϕ} makes S_pf a sum of V/2 unit exponentials: mean V/2, variance V/2.
    let g = geometry(&[4, 4]);
    let v = g.volume();
    let theta = hot_links(2 * v, 12);
    let dirac: GaugeDirac = g.dirac(0.3, &theta);
    let params = CgParams {
        tolerance: 1e-12,
        max_iterations: 10_000,
    };
    let mut pf = GaugePseudofermion::new(v);
    let mut rng = stream_rng(13, 0);
    let n = 4000;
    let mut sum = 0.0;
    for _ in 0..n {
        pf.heat_bath(&dirac, &mut rng);
        sum += pf.action(&dirac, params).unwrap().0;
    }
    let mean = sum / n as f64;
    let expected = v as f64 / 2.0;
    let se = (expected / n as f64).sqrt();
    assert!(
        (mean - expected).abs() < 4.0 * se,
        "⟨S_pf⟩ = {mean}, expected {expected} ± {se}"
    );
}
