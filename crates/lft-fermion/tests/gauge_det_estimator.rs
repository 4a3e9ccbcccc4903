//! The unbiased estimator of det D(θ) of the Schwinger model: the bound its finite variance
//! rests on, unbiasedness against the exact determinant (Cholesky), and its refusals.

use lft_fermion::{
    CgParams, EvenBlockInverse, FermionError, GAUGE_HOP_BOUND, GaugeDetEstimator, GaugeStaggered,
};
use lft_lattice::{Lattice, stream_rng, uniform};
use std::f64::consts::PI;
mod common;
use common::assert_unbiased;

fn geometry(shape: &[usize]) -> GaugeStaggered {
    GaugeStaggered::new(&Lattice::new(shape).unwrap()).unwrap()
}

/// Link angles uniform in [−a, a).
fn links(n: usize, amplitude: f64, seed: u64) -> Vec<f64> {
    let mut rng = stream_rng(seed, 0);
    (0..n)
        .map(|_| amplitude * (2.0 * uniform(&mut rng) - 1.0))
        .collect()
}

fn cg() -> CgParams {
    CgParams {
        tolerance: 1e-12,
        max_iterations: 10_000,
    }
}

/// The finite-variance argument: the hopping part −K_eo K_oe of M_ee has norm ≤ 4 on any link
/// field (its largest eigenvalue, from a dense Hermitian eigensolver, on hot and cold fields).
#[test]
fn the_hopping_part_of_the_even_block_is_bounded_by_four() {
    let g = geometry(&[6, 6]);
    let mut worst: f64 = 0.0;
    for (seed, amplitude) in [(1, PI), (2, PI), (3, 1.0), (4, 0.3), (5, 0.0)] {
        let theta = links(2 * g.volume(), amplitude, seed);
        let mass = 0.0;
        let m = g.dirac(mass, &theta).dense_normal_even();
        let eigen = m.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        let top = *eigen.last().unwrap();
        assert!(
            eigen[0] > -1e-12,
            "the even block is positive: {}",
            eigen[0]
        );
        assert!(top <= GAUGE_HOP_BOUND + 1e-12, "largest eigenvalue {top}");
        worst = worst.max(top);
    }
    // The free field reaches 2 (s(p)² ≤ 2); a hot field goes beyond, so the bound is not
    // the free one.
    assert!(worst > 2.0, "no field above the free bound: {worst}");
}

/// E[d̂et] = det D: the mean of d̂et/det over independent estimates is 1 within 4 standard
/// errors, on a hot field and on a smooth one at two masses.
#[test]
fn the_estimate_is_unbiased() {
    let g = geometry(&[4, 4]);
    for (seed, amplitude, mass) in [(11, PI, 0.3), (12, 0.8, 0.1), (13, 0.8, 0.5)] {
        let theta = links(2 * g.volume(), amplitude, seed);
        let dirac = g.dirac(mass, &theta);
        let exact = EvenBlockInverse::of(&dirac).unwrap().log_det();
        let twists = GaugeDetEstimator::ladder_twists(mass, 0.05, 2.0, 1.1);
        let estimator = GaugeDetEstimator::new(twists, 2, cg(), mass).unwrap();
        let n = 1000;
        let ratios: Vec<f64> = (0..n)
            .map(|k| {
                let mut rng = stream_rng(seed, 100 + k);
                (estimator.estimate(&dirac, &mut rng).unwrap().log_det - exact).exp()
            })
            .collect();
        // An estimator that ignored the field would be off by far more than its spread.
        assert_unbiased(&ratios, 0.05, &format!("seed {seed}, m = {mass}"));
    }
}

/// On the free field the last rung's reference is the operator itself shifted, so with one
/// twist the estimate's log has a small spread around the exact log det.
#[test]
fn the_free_reference_has_the_closed_form_log_det() {
    let g = geometry(&[8, 4]);
    let theta = vec![0.0; 2 * g.volume()];
    let mass = 0.4;
    let estimator = GaugeDetEstimator::new(vec![2.0], 1, cg(), mass).unwrap();
    let dirac = g.dirac(mass, &theta);
    let est = estimator.estimate(&dirac, &mut stream_rng(3, 0)).unwrap();
    let shifted = g.dirac((mass * mass + 4.0f64).sqrt(), &theta);
    let exact = EvenBlockInverse::of(&shifted).unwrap().log_det();
    assert!(
        (est.log_det_reference - exact).abs() < 1e-10 * exact.abs(),
        "{} vs {exact}",
        est.log_det_reference
    );
    // Two rungs: det(M)/det(M + 4) and det(M + 4)/det C = 1 exactly (C = M + 4 here).
    assert_eq!(est.rungs.len(), 2);
    assert!(est.rungs[1].abs() < 1e-9, "{}", est.rungs[1]);
}

#[test]
fn a_ladder_without_finite_variance_is_refused() {
    let refused = GaugeDetEstimator::new(vec![0.5, 1.9], 1, cg(), 0.1);
    assert!(
        matches!(
            refused,
            Err(FermionError::BadParameter {
                name: "pf_twist_max",
                ..
            })
        ),
        "{refused:?}"
    );
    // The smallest top twist for the mass is enough, and nothing below it.
    let top = GaugeDetEstimator::smallest_top_twist(0.1);
    let ladder = GaugeDetEstimator::ladder_twists(0.1, 0.05, top, 1.5);
    assert_eq!(ladder[0], 0.05);
    assert_eq!(*ladder.last().unwrap(), top);
    assert!(ladder.windows(2).all(|w| w[0] < w[1]), "{ladder:?}");
    assert!(GaugeDetEstimator::new(vec![0.5, top], 1, cg(), 0.1).is_ok());
    assert!(GaugeDetEstimator::new(vec![0.5, top - 1e-6], 1, cg(), 0.1).is_err());
    assert!(GaugeDetEstimator::new(vec![1.0, 0.5, 2.0], 1, cg(), 0.1).is_err());
    assert!(GaugeDetEstimator::new(vec![2.0], 0, cg(), 0.1).is_err());
}
