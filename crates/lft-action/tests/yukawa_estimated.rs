//! The Yukawa action with an estimated determinant: e^{−action} is unbiased for e^{−S_eff}, the
//! stochastic force is unbiased for ∂S_eff/∂φ (both against the dense determinant, within 4
//! standard errors computed from the samples), and both are fixed functions of φ.

use lft_action::{
    Action, EstimatedAction, Phi4Params, Yukawa, YukawaEstimated, YukawaExact, YukawaParams,
};
use lft_fermion::{CgParams, DetEstimator, Reference};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};

fn model(g: f64) -> Yukawa {
    let params = YukawaParams {
        phi4: Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
        g,
        mass: 0.0,
    };
    Yukawa::new(Lattice::new(&[4, 4]).unwrap(), params).unwrap()
}

fn field(seed: u64) -> Vec<f64> {
    let mut phi = vec![0.0; 16];
    gaussian_fill(&mut stream_rng(seed, 0), &mut phi);
    phi.iter_mut().for_each(|p| *p *= 0.6);
    phi
}

fn estimated_with(g: f64, seed: u64, draws: usize) -> YukawaEstimated {
    let twists: Vec<f64> = (0..30).map(|k| 0.02 * 1.2f64.powi(k)).collect();
    let est = DetEstimator::new(twists, draws, CgParams::default())
        .unwrap()
        .with_reference(Reference::MeanDiagonal);
    YukawaEstimated::new(model(g), est, CgParams::default(), seed)
}

fn estimated(g: f64, seed: u64) -> YukawaEstimated {
    estimated_with(g, seed, 2)
}

fn mean_se(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

#[test]
fn the_action_is_a_fixed_function_of_the_field_and_the_seed() {
    let phi = field(1);
    let a = estimated(0.5, 7);
    let mut grad = (vec![0.0; 16], vec![0.0; 16]);
    a.gradient(&phi, &mut grad.0);
    a.gradient(&phi, &mut grad.1);
    assert_eq!(a.action(&phi), a.action(&phi));
    assert_eq!(grad.0, grad.1);
    assert_ne!(a.action(&phi), estimated(0.5, 8).action(&phi));
    let mut other = phi.clone();
    other[3] = f64::from_bits(other[3].to_bits() ^ 1);
    assert_ne!(
        a.action(&phi),
        a.action(&other),
        "one bit of φ changes the noise"
    );
    let c = a.counts();
    assert_eq!((c.estimates, c.forces, c.failures), (5, 2, 0));
    assert!(c.cg_iterations > 0);
}

/// E[e^{S_eff − action}] = 1 over run seeds, on two fields at g = 0.5 and 1.
#[test]
fn the_weight_is_unbiased() {
    for (g, seed) in [(0.5, 1), (1.0, 2)] {
        let phi = field(seed);
        let exact = YukawaExact::new(model(g)).action(&phi);
        let r: Vec<f64> = (0..300)
            .map(|s| (exact - estimated_with(g, 100 + s, 16).action(&phi)).exp())
            .collect();
        let (m, se) = mean_se(&r);
        assert!((m - 1.0).abs() < 4.0 * se, "g = {g}: {m} ± {se}");
        assert!(se < 0.15, "g = {g}: the check is too weak (se {se})");
    }
}

/// The mean of the stochastic force over run seeds is the exact force −2g (D⁻¹)_xx plus
/// ∂S_φ⁴/∂φ_x, site by site.
#[test]
fn the_force_is_unbiased() {
    for (g, seed) in [(0.5, 3), (1.0, 4)] {
        let phi = field(seed);
        let mut exact = vec![0.0; 16];
        YukawaExact::new(model(g)).gradient(&phi, &mut exact);
        let samples: Vec<Vec<f64>> = (0..400)
            .map(|s| {
                let mut f = vec![0.0; 16];
                estimated(g, 1000 + s).gradient(&phi, &mut f);
                f
            })
            .collect();
        let mut worst: f64 = 0.0;
        for x in 0..16 {
            let col: Vec<f64> = samples.iter().map(|f| f[x]).collect();
            let (m, se) = mean_se(&col);
            worst = worst.max((m - exact[x]).abs() / se);
            assert!(
                (m - exact[x]).abs() < 4.0 * se,
                "g = {g}, site {x}: {m} ± {se} vs exact {}",
                exact[x]
            );
        }
        eprintln!("g = {g}: the worst site is {worst:.2} standard errors off");
    }
}

#[test]
fn repeated_estimates_measure_the_spread() {
    let phi = field(5);
    let a = estimated(0.5, 9);
    let logs = a.repeated_log_det(&phi, 6).unwrap();
    assert_eq!(logs.len(), 6);
    let (_, se) = mean_se(&logs);
    assert!(se > 0.0 && se.is_finite(), "{logs:?}");
    // A field beyond the ladder's variance condition gets a longer ladder, and is counted.
    let mut wild = phi.clone();
    wild[2] = 40.0;
    let dirac = a.model().dirac(&wild);
    let twists = a.ladder().unwrap().twists_for(&dirac);
    assert!(twists.len() > a.ladder().unwrap().twists().len());
    let longer = DetEstimator::new(twists, 2, CgParams::default())
        .unwrap()
        .with_reference(Reference::MeanDiagonal);
    assert!(longer.check_variance(&dirac).is_ok());
    assert!(a.action(&wild).is_finite());
    assert_eq!(a.counts().extended, 1);
}
