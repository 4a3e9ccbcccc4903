//! Fourier acceleration: HMC with a mass matrix diagonal in momentum space (Duane, Kennedy,
//! Pendleton, Roweth's HMC with the kinetic term of Davies et al.'s Fourier acceleration).
//!
//! With the lattice FFT f̃(p) = Σ_x e^{−ip·x} f(x) and the circulant operator M of eigenvalues
//!   M_p = 2(p̂² + μ²),   p̂² = Σ_ν 4 sin²(p_ν/2),
//! the Hamiltonian is H(φ, π) = ½ πᵀM⁻¹π + S(φ): momenta are drawn as π = M^{1/2}ξ with ξ white
//! noise (so ⟨ππᵀ⟩ = M), the drift is φ ← φ + ε M⁻¹π, the kick is unchanged, and the kinetic
//! energy is ½ Σ_x π_x (M⁻¹π)_x. Each operator is one forward and one inverse FFT. The leapfrog
//! and Omelyan integrators stay symmetric and symplectic with any constant symmetric positive M,
//! so HMC stays exact.
//!
//! The normalisation follows lft's φ⁴ action, whose free part S = φᵀ(−Δ + m²)φ has the Hessian
//! 2(p̂² + m²) in momentum space (docs/PHYSICS.md): with μ = m every mode of the free field
//! oscillates at the same frequency ω_p = √(2(p̂² + m²)/M_p) = 1, so a trajectory of length π/2
//! (a quarter period) decorrelates all of them at once, where plain HMC (M = 1, ω_p =
//! √(2(p̂² + m²))) needs one ω_max/ω_min times longer for its slowest mode: Fourier acceleration
//! removes the critical slowing down of the Gaussian modes. For an interacting field μ ≈ 1/ξ of
//! the lightest mode is the rule (`hmc.fa_mass`, default 4/L).

use lft_lattice::{Lattice, Pcg64, gaussian_fill};
use lft_lattice::{LatticeFft, p_hat_squared};
use std::fmt;

/// The mass matrix M_p = 2(p̂² + μ²) of one lattice, with its FFT plans.
pub struct FourierMass {
    fft: LatticeFft,
    mu: f64,
    /// M_p per momentum index.
    mass: Vec<f64>,
}

impl fmt::Debug for FourierMass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FourierMass")
            .field("mu", &self.mu)
            .field("modes", &self.mass.len())
            .finish()
    }
}

impl FourierMass {
    /// The mass matrix of `lattice` with mass μ > 0 (`hmc.fa_mass`).
    pub fn new(lattice: &Lattice, mu: f64) -> Self {
        assert!(mu > 0.0 && mu.is_finite(), "fa_mass must be > 0, got {mu}");
        let mass = (0..lattice.volume())
            .map(|k| 2.0 * (p_hat_squared(lattice, k) + mu * mu))
            .collect();
        Self {
            fft: LatticeFft::new(lattice),
            mu,
            mass,
        }
    }

    /// μ.
    pub fn mu(&self) -> f64 {
        self.mu
    }

    /// M_p at momentum index k.
    pub fn eigenvalue(&self, k: usize) -> f64 {
        self.mass[k]
    }

    /// out = F⁻¹(f(M_p) · F field): the circulant operator with eigenvalues f(M_p).
    fn apply(&self, field: &[f64], out: &mut [f64], f: impl Fn(f64) -> f64) {
        let mut data = self.fft.forward_real(field);
        for (z, &m) in data.iter_mut().zip(&self.mass) {
            *z *= f(m);
        }
        self.fft.inverse(&mut data);
        for (o, z) in out.iter_mut().zip(&data) {
            *o = z.re;
        }
    }

    /// Fresh momenta π = M^{1/2} ξ, ξ white noise from `rng` (the same draws as plain HMC's).
    pub fn draw(&self, rng: &mut Pcg64, pi: &mut [f64]) {
        gaussian_fill(rng, pi);
        let xi = pi.to_vec();
        self.apply(&xi, pi, f64::sqrt);
    }

    /// The velocity M⁻¹π into `out`.
    pub fn velocity(&self, pi: &[f64], out: &mut [f64]) {
        self.apply(pi, out, |m| 1.0 / m);
    }

    /// ½ πᵀ M⁻¹ π.
    pub fn kinetic_energy(&self, pi: &[f64]) -> f64 {
        let data = self.fft.forward_real(pi);
        let v = pi.len() as f64;
        // Parseval with the unnormalised forward transform: Σ_x a_x b_x = (1/V) Σ_p ã_p b̃_p*.
        0.5 * data
            .iter()
            .zip(&self.mass)
            .map(|(z, m)| z.norm_sqr() / m)
            .sum::<f64>()
            / v
    }
}

/// μ of the free field whose susceptibility χ₂ = Σ_x G(x) = 1/(2μ²) is `chi2`: the tuning rule
/// of `hmc.tune_fa_mass`, kept within [1/(2L), 2] for the smallest extent L (a χ₂ that is not
/// a finite positive number gives the upper end).
pub fn fa_mass_for_chi2(chi2: f64, lattice: &Lattice) -> f64 {
    let l = lattice.shape().iter().copied().min().unwrap_or(1).max(1) as f64;
    let mu = (0.5 / chi2).sqrt();
    if mu.is_finite() {
        mu.clamp(0.5 / l, 2.0)
    } else {
        2.0
    }
}
