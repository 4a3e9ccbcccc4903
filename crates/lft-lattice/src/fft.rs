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
///
/// A d-dimensional transform is d passes, each transforming the contiguous last axis and then
/// moving it to the front (a transpose of the array seen as `[V / L_last, L_last]`): after d
/// passes every axis is transformed and the layout is the site layout again. Every access is
/// contiguous, so no strided gathers.
#[derive(Clone)]
pub struct LatticeFft {
    shape: Vec<usize>,
    forward: Vec<Arc<dyn Fft<f64>>>,
    inverse: Vec<Arc<dyn Fft<f64>>>,
}

impl std::fmt::Debug for LatticeFft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatticeFft")
            .field("shape", &self.shape)
            .finish()
    }
}

/// Caller-owned working memory of [`LatticeFft::forward_with`] and
/// [`LatticeFft::inverse_with`]: the transpose buffer and rustfft's scratch. Holds nothing
/// between calls.
#[derive(Debug, Clone, Default)]
pub struct FftScratch {
    transposed: Vec<Complex64>,
    plan: Vec<Complex64>,
}

impl LatticeFft {
    /// Plans forward and inverse transforms along every axis of `lattice`.
    pub fn new(lattice: &Lattice) -> Self {
        let mut planner = FftPlanner::new();
        let shape = lattice.shape().to_vec();
        let forward = shape.iter().map(|&l| planner.plan_fft_forward(l)).collect();
        let inverse = shape.iter().map(|&l| planner.plan_fft_inverse(l)).collect();
        Self {
            shape,
            forward,
            inverse,
        }
    }

    /// In place: f̃(p) = Σ_x e^{−i p·x} f(x).
    pub fn forward(&self, data: &mut [Complex64]) {
        self.forward_with(data, &mut FftScratch::default());
    }

    /// In place: f(x) = (1/V) Σ_p e^{+i p·x} f̃(p).
    pub fn inverse(&self, data: &mut [Complex64]) {
        self.inverse_with(data, &mut FftScratch::default());
    }

    /// [`LatticeFft::forward`] with caller-owned scratch (no allocation once it has grown).
    pub fn forward_with(&self, data: &mut [Complex64], scratch: &mut FftScratch) {
        self.apply(data, &self.forward, scratch);
    }

    /// [`LatticeFft::inverse`] with caller-owned scratch.
    pub fn inverse_with(&self, data: &mut [Complex64], scratch: &mut FftScratch) {
        self.apply(data, &self.inverse, scratch);
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

    fn apply(&self, data: &mut [Complex64], plans: &[Arc<dyn Fft<f64>>], s: &mut FftScratch) {
        let volume: usize = self.shape.iter().product();
        assert_eq!(
            data.len(),
            volume,
            "FFT input has the wrong length for this lattice"
        );
        s.transposed.resize(volume, Complex64::default());
        // Pass j transforms axis d − 1 − j, which is then the last (contiguous) one.
        for plan in plans.iter().rev() {
            let l = plan.len();
            let scratch_len = plan.get_inplace_scratch_len();
            if s.plan.len() < scratch_len {
                s.plan.resize(scratch_len, Complex64::default());
            }
            plan.process_with_scratch(data, &mut s.plan[..scratch_len]);
            // [rows, l] -> [l, rows]: the transformed axis moves to the front.
            let rows = volume / l;
            if rows > 1 {
                for (r, row) in data.chunks_exact(l).enumerate() {
                    for (j, z) in row.iter().enumerate() {
                        s.transposed[j * rows + r] = *z;
                    }
                }
                data.copy_from_slice(&s.transposed);
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

    /// One scratch serves transforms of different lattices, forward and inverse, and gives the
    /// allocating transform's result.
    #[test]
    fn the_scratch_version_matches_and_is_reusable() {
        let mut scratch = FftScratch::default();
        for shape in [vec![8, 8], vec![3, 5], vec![4, 2, 6]] {
            let lat = Lattice::new(&shape).unwrap();
            let ft = LatticeFft::new(&lat);
            let f: Vec<Complex64> = (0..lat.volume())
                .map(|i| Complex64::new((i % 7) as f64 - 3.0, (i % 5) as f64))
                .collect();
            let mut a = f.clone();
            ft.forward(&mut a);
            let mut b = f.clone();
            ft.forward_with(&mut b, &mut scratch);
            assert_eq!(a, b, "shape {shape:?}");
            ft.inverse_with(&mut b, &mut scratch);
            for (x, y) in b.iter().zip(&f) {
                assert!((x - y).norm() < 1e-12, "shape {shape:?}");
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
