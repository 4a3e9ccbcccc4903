//! Momentum space: d-dimensional FFTs planned once per lattice, lattice momenta and p̂².
//!
//! Conventions: f̃(p) = Σ_x e^{−i p·x} f(x) (forward, unnormalised) and
//! f(x) = (1/V) Σ_p e^{+i p·x} f̃(p) (inverse, normalised), with p_μ = 2π n_μ / L_μ and the
//! momentum index n laid out like a site index.

use crate::Lattice;
use num_complex::Complex64;
use rustfft::{Fft, FftPlanner};
use std::f64::consts::PI;
use std::sync::Arc;

/// Lattice momentum p_μ = 2π n_μ / L_μ of the momentum index `k` (laid out like a site index).
pub fn lattice_momentum(lattice: &Lattice, k: usize) -> Vec<f64> {
    lattice
        .coords(k)
        .iter()
        .zip(lattice.shape())
        .map(|(&n, &l)| 2.0 * PI * n as f64 / l as f64)
        .collect()
}

/// p̂² = Σ_μ 4 sin²(p_μ / 2), the eigenvalue of −Δ (nearest-neighbour Laplacian) at momentum `k`.
pub fn p_hat_squared(lattice: &Lattice, k: usize) -> f64 {
    lattice_momentum(lattice, k)
        .iter()
        .map(|p| 4.0 * (p / 2.0).sin().powi(2))
        .sum()
}

/// FFT plans for every axis of one lattice (plan once, execute many).
pub struct LatticeFft {
    shape: Vec<usize>,
    strides: Vec<usize>,
    forward: Vec<Arc<dyn Fft<f64>>>,
    inverse: Vec<Arc<dyn Fft<f64>>>,
}

impl LatticeFft {
    /// Plans forward and inverse transforms along every axis of `lattice`.
    pub fn new(lattice: &Lattice) -> Self {
        let mut planner = FftPlanner::new();
        let shape = lattice.shape().to_vec();
        let d = shape.len();
        let mut strides = vec![1usize; d];
        for mu in (0..d - 1).rev() {
            strides[mu] = strides[mu + 1] * shape[mu + 1];
        }
        let forward = shape.iter().map(|&l| planner.plan_fft_forward(l)).collect();
        let inverse = shape.iter().map(|&l| planner.plan_fft_inverse(l)).collect();
        Self {
            shape,
            strides,
            forward,
            inverse,
        }
    }

    /// In place: f̃(p) = Σ_x e^{−i p·x} f(x).
    pub fn forward(&self, data: &mut [Complex64]) {
        self.apply(data, &self.forward);
    }

    /// In place: f(x) = (1/V) Σ_p e^{+i p·x} f̃(p).
    pub fn inverse(&self, data: &mut [Complex64]) {
        self.apply(data, &self.inverse);
        let inv_v = 1.0 / data.len() as f64;
        for z in data.iter_mut() {
            *z *= inv_v;
        }
    }

    /// Forward transform of a real field.
    pub fn forward_real(&self, field: &[f64]) -> Vec<Complex64> {
        let mut data: Vec<Complex64> = field.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        self.forward(&mut data);
        data
    }

    fn apply(&self, data: &mut [Complex64], plans: &[Arc<dyn Fft<f64>>]) {
        let volume: usize = self.shape.iter().product();
        assert_eq!(
            data.len(),
            volume,
            "FFT input has the wrong length for this lattice"
        );
        let mut line = Vec::new();
        for (mu, plan) in plans.iter().enumerate() {
            let l = self.shape[mu];
            let stride = self.strides[mu];
            let mut scratch = vec![Complex64::default(); plan.get_inplace_scratch_len()];
            if stride == 1 {
                for row in data.chunks_exact_mut(l) {
                    plan.process_with_scratch(row, &mut scratch);
                }
                continue;
            }
            line.resize(l, Complex64::default());
            let block = l * stride;
            for outer in (0..volume).step_by(block) {
                for inner in 0..stride {
                    let base = outer + inner;
                    for (j, z) in line.iter_mut().enumerate() {
                        *z = data[base + j * stride];
                    }
                    plan.process_with_scratch(&mut line, &mut scratch);
                    for (j, z) in line.iter().enumerate() {
                        data[base + j * stride] = *z;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FFT equals the direct sum Σ_x e^{−ip·x} f(x), and inverse undoes it.
    #[test]
    fn matches_direct_sum_and_inverts() {
        for shape in [vec![6], vec![4, 6], vec![3, 4, 2], vec![2, 3, 2, 4]] {
            let lat = Lattice::new(&shape).unwrap();
            let v = lat.volume();
            let f: Vec<f64> = (0..v).map(|i| ((i * 7 + 3) % 11) as f64 - 5.0).collect();
            let ft = LatticeFft::new(&lat);
            let mut data = ft.forward_real(&f);
            for k in 0..v {
                let p = lattice_momentum(&lat, k);
                let mut direct = Complex64::default();
                for x in 0..v {
                    let phase: f64 = lat
                        .coords(x)
                        .iter()
                        .zip(&p)
                        .map(|(&c, &pm)| c as f64 * pm)
                        .sum();
                    direct += Complex64::from_polar(f[x], -phase);
                }
                assert!((direct - data[k]).norm() < 1e-10, "shape {shape:?} k {k}");
            }
            ft.inverse(&mut data);
            for x in 0..v {
                assert!((data[x].re - f[x]).abs() < 1e-12 && data[x].im.abs() < 1e-12);
            }
        }
    }

    #[test]
    fn p_hat_squared_of_zero_and_max_momentum() {
        let lat = Lattice::new(&[4, 4]).unwrap();
        assert_eq!(p_hat_squared(&lat, 0), 0.0);
        // n = (2, 2): p = (π, π), p̂² = 8.
        assert!((p_hat_squared(&lat, lat.index(&[2, 2])) - 8.0).abs() < 1e-12);
    }
}
