//! The fermionic observables against closed forms and exact symmetries.

use lft_fermion::CgParams;
use lft_fermion::free::free_condensate;
use lft_lattice::{Lattice, gaussian_fill, stream_rng};
use lft_measure::{CondensateMethod, FermionMeasurer};

const CG: CgParams = CgParams {
    tolerance: 1e-10,
    max_iterations: 10_000,
};

fn stochastic(noise_vectors: usize) -> CondensateMethod {
    CondensateMethod::Stochastic {
        noise_vectors,
        cg: CG,
    }
}

#[test]
fn exact_free_condensate_matches_closed_form() {
    for (shape, mass) in [([4, 4], 0.1), ([8, 8], 0.5), ([8, 6], 2.0), ([16, 16], 0.3)] {
        let lat = Lattice::new(&shape).unwrap();
        let mut m = FermionMeasurer::new(&lat, mass, 1.0, CondensateMethod::Exact).unwrap();
        let phi = vec![0.0; lat.volume()];
        let o = m.measure(&phi, &mut stream_rng(0, 0)).unwrap();
        let expected = free_condensate(&lat, mass);
        assert!(
            (o.condensate - expected).abs() < 1e-10,
            "{shape:?} m = {mass}"
        );
        assert_eq!(o.det_sign, Some(1.0));
    }
}

/// One-vector estimates are independent draws; their mean agrees with the closed form within
/// 4 standard errors computed from their spread.
#[test]
fn stochastic_free_condensate_is_unbiased() {
    let lat = Lattice::new(&[16, 16]).unwrap();
    let mass = 0.2;
    let mut m = FermionMeasurer::new(&lat, mass, 1.0, stochastic(1)).unwrap();
    let phi = vec![0.0; lat.volume()];
    let n = 400;
    let draws: Vec<f64> = (0..n)
        .map(|k| m.measure(&phi, &mut stream_rng(5, k)).unwrap().condensate)
        .collect();
    let mean = draws.iter().sum::<f64>() / n as f64;
    let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let err = (var / n as f64).sqrt();
    let expected = free_condensate(&lat, mass);
    assert!(err > 0.0);
    assert!(
        (mean - expected).abs() < 4.0 * err,
        "{mean} ± {err} vs {expected}"
    );
}

/// At m = 0, D(−φ) = −D(φ)ᵀ: tr D⁻¹ changes sign and (for even V) det D does not.
#[test]
fn massless_condensate_is_odd_under_phi_flip() {
    let lat = Lattice::new(&[6, 4]).unwrap();
    let mut phi = vec![0.0; lat.volume()];
    gaussian_fill(&mut stream_rng(3, 0), &mut phi);
    let minus: Vec<f64> = phi.iter().map(|x| -x).collect();
    let mut exact = FermionMeasurer::new(&lat, 0.0, 0.7, CondensateMethod::Exact).unwrap();
    let a = exact.measure(&phi, &mut stream_rng(0, 0)).unwrap();
    let b = exact.measure(&minus, &mut stream_rng(0, 0)).unwrap();
    assert!(a.condensate.abs() > 1e-3, "a trivial test point");
    assert!((a.condensate + b.condensate).abs() < 1e-12);
    assert_eq!(a.det_sign, b.det_sign);
    // The same noise gives exactly opposite stochastic estimates.
    let mut noisy = FermionMeasurer::new(&lat, 0.0, 0.7, stochastic(4)).unwrap();
    let c = noisy.measure(&phi, &mut stream_rng(9, 1)).unwrap();
    let d = noisy.measure(&minus, &mut stream_rng(9, 1)).unwrap();
    assert!((c.condensate + d.condensate).abs() < 1e-8);
    assert_eq!(c.det_sign, None);
}
