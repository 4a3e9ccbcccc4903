//! Helpers shared by the lft-fermion tests (each test file uses a part of them).
#![allow(dead_code)]

use lft_fermion::{Complex64, Staggered, TimeBoundary};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};

/// The staggered hop table on a lattice of `shape` (antiperiodic unless told otherwise).
pub fn staggered_with(shape: &[usize], boundary: TimeBoundary) -> Staggered {
    Staggered::new(&Lattice::new(shape).unwrap(), boundary).unwrap()
}

pub fn staggered(shape: &[usize]) -> Staggered {
    staggered_with(shape, TimeBoundary::Antiperiodic)
}

/// n standard normal numbers from stream (seed, 0).
pub fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut v = vec![0.0; n];
    gaussian_fill(&mut stream_rng(seed, 0), &mut v);
    v
}

/// n complex numbers with standard normal real and imaginary parts.
pub fn random_complex(n: usize, seed: u64) -> Vec<Complex64> {
    let re = random(n, seed);
    let im = random(n, seed + 1000);
    re.iter()
        .zip(&im)
        .map(|(&a, &b)| Complex64::new(a, b))
        .collect()
}

/// Asserts that independent estimates d̂et/det (`ratios`) average to 1 within 4 standard
/// errors, and that the error is below `max_error` (so that a biased estimator would show).
pub fn assert_unbiased(ratios: &[f64], max_error: f64, what: &str) {
    let n = ratios.len() as f64;
    let mean = ratios.iter().sum::<f64>() / n;
    let var = ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let err = (var / n).sqrt();
    assert!(
        (mean - 1.0).abs() < 4.0 * err,
        "{what}: mean d̂et/det = {mean} ± {err}"
    );
    assert!(err < max_error, "{what}: too noisy to test: ± {err}");
}
