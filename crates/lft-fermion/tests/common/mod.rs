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
