//! Closed forms for the free staggered operator (φ = 0, antiperiodic time):
//! eigenvalues m ± i s(p) with s(p)² = Σ_μ sin² p_μ, p_0 = 2π(n_0 + ½)/L_0, p_μ = 2π n_μ/L_μ,
//!
//!   log det D = ½ Σ_p log(m² + s(p)²),     (1/V) tr D⁻¹ = (1/V) Σ_p m / (m² + s(p)²).

use lft_lattice::Lattice;
use std::f64::consts::PI;

/// s(p)² = Σ_μ sin² p_μ for every momentum of the antiperiodic-in-time lattice (V of them).
pub fn free_momenta_sin2(lattice: &Lattice) -> Vec<f64> {
    let shape = lattice.shape();
    let mut coords = vec![0usize; shape.len()];
    (0..lattice.volume())
        .map(|k| {
            lattice.coords_into(k, &mut coords);
            coords
                .iter()
                .zip(shape)
                .enumerate()
                .map(|(mu, (&n, &l))| {
                    let shift = if mu == 0 { 0.5 } else { 0.0 };
                    (2.0 * PI * (n as f64 + shift) / l as f64).sin().powi(2)
                })
                .sum()
        })
        .collect()
}

/// log det D of the free operator: ½ Σ_p log(m² + s(p)²).
pub fn free_log_det(lattice: &Lattice, mass: f64) -> f64 {
    free_momenta_sin2(lattice)
        .iter()
        .map(|s2| 0.5 * (mass * mass + s2).ln())
        .sum()
}

/// The free condensate (1/V) tr D⁻¹ = (1/V) Σ_p m / (m² + s(p)²).
pub fn free_condensate(lattice: &Lattice, mass: f64) -> f64 {
    let s2 = free_momenta_sin2(lattice);
    s2.iter().map(|s2| mass / (mass * mass + s2)).sum::<f64>() / s2.len() as f64
}
