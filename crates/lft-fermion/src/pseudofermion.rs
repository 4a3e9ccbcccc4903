//! Pseudofermions for det(D Dᵀ): one complex field ϕ with
//!
//!   S_pf = ϕ† (D Dᵀ)⁻¹ ϕ,        ∫ dϕ dϕ* e^{−S_pf} ∝ det(D Dᵀ) = (det D)².
//!
//! Heat bath: ϕ = D ξ with ξ of density π^{−V} e^{−ξ†ξ} (real and imaginary parts N(0, ½)); then
//! S_pf = ξ†ξ exactly. Force, with X = (D Dᵀ)⁻¹ ϕ from one CG solve and Y = Dᵀ X:
//!
//!   ∂S_pf/∂φ_x = −2g Re(X̄_x Y_x).

use crate::{
    CgParams, CgScratch, CgStats, Dirac, FermionError, STAGNATION_FLOOR, ShiftedDdt, re_dot,
    solve_from_zero,
};
use lft_lattice::{Pcg64, gaussian_fill};
use num_complex::Complex64;

/// A pseudofermion field with the buffers its action and force need.
#[derive(Debug, Clone)]
pub struct Pseudofermion {
    field: Vec<Complex64>,
    /// The last solution X = (D Dᵀ)⁻¹ ϕ.
    solution: Vec<Complex64>,
    y: Vec<Complex64>,
    scratch: CgScratch<Complex64>,
    gauss: Vec<f64>,
}

impl Pseudofermion {
    /// ϕ = 0 on a lattice of `volume` sites.
    pub fn new(volume: usize) -> Self {
        Self {
            field: vec![Complex64::default(); volume],
            solution: vec![Complex64::default(); volume],
            y: vec![Complex64::default(); volume],
            scratch: CgScratch::new(volume),
            gauss: vec![0.0; 2 * volume],
        }
    }

    /// The field ϕ.
    pub fn field(&self) -> &[Complex64] {
        &self.field
    }

    /// Sets ϕ (for tests and restarts).
    pub fn set_field(&mut self, field: &[Complex64]) {
        self.field.copy_from_slice(field);
    }

    /// Heat bath: draws ξ and sets ϕ = D ξ. Returns ξ†ξ, which is S_pf of the new ϕ.
    pub fn heat_bath(&mut self, dirac: &Dirac, rng: &mut Pcg64) -> f64 {
        gaussian_fill(rng, &mut self.gauss);
        let scale = std::f64::consts::FRAC_1_SQRT_2;
        // ξ lives in `y` until D ξ has been formed.
        for (xi, pair) in self.y.iter_mut().zip(self.gauss.chunks_exact(2)) {
            *xi = Complex64::new(pair[0] * scale, pair[1] * scale);
        }
        dirac.apply(&self.y, &mut self.field);
        self.y.iter().map(|z| z.norm_sqr()).sum()
    }

    /// X = (D Dᵀ)⁻¹ ϕ by CG from a zero start ([`solve_from_zero`]).
    fn solve(
        &mut self,
        dirac: &Dirac,
        params: CgParams,
        floor: f64,
    ) -> Result<CgStats, FermionError> {
        let op = ShiftedDdt { dirac, shift: 0.0 };
        solve_from_zero(
            &op,
            &self.field,
            &mut self.solution,
            params,
            floor,
            &mut self.scratch,
        )
    }

    /// S_pf = Re(ϕ† X) with X = (D Dᵀ)⁻¹ ϕ (a solve stagnated at ≤ [`STAGNATION_FLOOR`]
    /// counts as done).
    pub fn action(
        &mut self,
        dirac: &Dirac,
        params: CgParams,
    ) -> Result<(f64, CgStats), FermionError> {
        let stats = self.solve(dirac, params, STAGNATION_FLOOR)?;
        Ok((re_dot(&self.field, &self.solution), stats))
    }

    /// Adds ∂S_pf/∂φ_x = −2g Re(X̄_x Y_x) to `grad` (`[V]`), Y = Dᵀ X (from a solve that
    /// may have stagnated at any residual: a less accurate force only costs acceptance).
    pub fn add_force(
        &mut self,
        dirac: &Dirac,
        params: CgParams,
        grad: &mut [f64],
    ) -> Result<CgStats, FermionError> {
        let stats = self.solve(dirac, params, f64::INFINITY)?;
        dirac.apply_transpose(&self.solution, &mut self.y);
        let g2 = -2.0 * dirac.g();
        for ((f, x), y) in grad.iter_mut().zip(&self.solution).zip(&self.y) {
            *f += g2 * (x.re * y.re + x.im * y.im);
        }
        Ok(stats)
    }
}
