//! Exact results for the free field (λ = 0, m² > 0) in the AKS normalisation
//! S = Σ_x [ Σ_μ (φ_{x+μ̂} − φ_x)² + m² φ_x² ] = φᵀ (−Δ + m²) φ.
//!
//! With p̂² = Σ_μ 4 sin²(p_μ/2):
//! ⟨φ̃(p) φ̃(−p)⟩ = V / (2(p̂² + m²)), χ₂ = 1/(2m²), G(x) = (1/V) Σ_p e^{ipx} / (2(p̂² + m²)),
//! log Z = (V/2) log π − ½ Σ_p log(p̂² + m²), cosh m_p = 1 + m²/2.

use crate::ActionError;
use lft_lattice::{Complex64, Lattice, LatticeFft, p_hat_squared};

/// The free field of mass² `m2` on a lattice.
#[derive(Debug, Clone)]
pub struct FreeField {
    lattice: Lattice,
    m2: f64,
}

impl FreeField {
    /// A free field; m² must be finite and > 0.
    pub fn new(lattice: Lattice, m2: f64) -> Result<Self, ActionError> {
        if !(m2.is_finite() && m2 > 0.0) {
            return Err(ActionError {
                name: "m2",
                value: m2,
                reason: "free field needs m2 > 0",
            });
        }
        Ok(Self { lattice, m2 })
    }

    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    pub fn m2(&self) -> f64 {
        self.m2
    }

    /// ⟨|φ̃(p)|²⟩ / V = 1 / (2(p̂² + m²)) at momentum index `k`.
    pub fn momentum_propagator(&self, k: usize) -> f64 {
        0.5 / (p_hat_squared(&self.lattice, k) + self.m2)
    }

    /// χ₂ = Σ_x G(x) = 1/(2m²).
    pub fn chi2(&self) -> f64 {
        0.5 / self.m2
    }

    /// G(x) = (1/V) Σ_p e^{ipx} / (2(p̂² + m²)) for every site x (inverse FFT).
    pub fn propagator(&self) -> Vec<f64> {
        let v = self.lattice.volume();
        let mut g: Vec<Complex64> = (0..v)
            .map(|k| Complex64::new(self.momentum_propagator(k), 0.0))
            .collect();
        LatticeFft::new(&self.lattice).inverse(&mut g);
        g.iter().map(|z| z.re).collect()
    }

    /// ⟨φ_x²⟩ = G(0).
    pub fn phi2(&self) -> f64 {
        let v = self.lattice.volume();
        (0..v).map(|k| self.momentum_propagator(k)).sum::<f64>() / v as f64
    }

    /// C(t) = Σ_{x⃗} G(t, x⃗) for t = 0 … L0−1 (direction 0 is time).
    pub fn correlator(&self) -> Vec<f64> {
        let g = self.propagator();
        let l0 = self.lattice.shape()[0];
        let slice = self.lattice.volume() / l0;
        (0..l0)
            .map(|t| g[t * slice..(t + 1) * slice].iter().sum())
            .collect()
    }

    /// log Z = (V/2) log π − ½ Σ_p log(p̂² + m²), Z = ∫ Π_x dφ_x e^{−S}.
    pub fn log_z(&self) -> f64 {
        let v = self.lattice.volume();
        let logdet: f64 = (0..v)
            .map(|k| (p_hat_squared(&self.lattice, k) + self.m2).ln())
            .sum();
        0.5 * v as f64 * std::f64::consts::PI.ln() - 0.5 * logdet
    }

    /// ⟨S⟩ = V/2 (equipartition: S is a quadratic form in V variables).
    pub fn mean_action(&self) -> f64 {
        0.5 * self.lattice.volume() as f64
    }

    /// Pole mass: cosh m_p = 1 + m²/2.
    pub fn pole_mass(&self) -> f64 {
        (1.0 + 0.5 * self.m2).acosh()
    }
}
