//! Pseudofermions of the Schwinger model on even sites (docs/PHYSICS.md):
//!
//!   S_pf = ϕ† M_ee⁻¹ ϕ,  M_ee = m² − K_eo K_oe,   ∫ dϕ dϕ* e^{−S_pf} ∝ det M_ee = det D,
//!
//! exactly the N_f = 2 determinant (one staggered field, two tastes). Heat bath: ϕ = (D χ)_e =
//! m χ_e + K_eo χ_o with χ of density π^{−V} e^{−χ†χ} on every site, whose covariance is
//! (D D†)_ee = M_ee. Force, with X = M_ee⁻¹ϕ from one CG solve and Z = (X on even sites,
//! K_oe X on odd sites): ∂S_pf/∂θ_μ(x) = 2 ε(x) Re(i K_{x,x+μ̂} Z̄_x Z_{x+μ̂})
//! ([`GaugeDirac::add_link_force`]).

use crate::{
    CgParams, CgScratch, CgStats, FermionError, GaugeDirac, STAGNATION_FLOOR, re_dot,
    solve_from_zero,
};
use lft_lattice::{Pcg64, gaussian_fill};
use num_complex::Complex64;

/// An even-site pseudofermion with the buffers its action and force need.
#[derive(Debug, Clone)]
pub struct GaugePseudofermion {
    field: Vec<Complex64>,
    /// The last solution X = M_ee⁻¹ϕ (even sites).
    solution: Vec<Complex64>,
    /// K_oe X (odd sites); χ_o during the heat bath.
    odd: Vec<Complex64>,
    scratch: CgScratch<Complex64>,
    gauss: Vec<f64>,
}

impl GaugePseudofermion {
    /// ϕ = 0 on a lattice of `volume` sites (V/2 even ones).
    pub fn new(volume: usize) -> Self {
        let half = volume / 2;
        Self {
            field: vec![Complex64::default(); half],
            solution: vec![Complex64::default(); half],
            odd: vec![Complex64::default(); half],
            scratch: CgScratch::new(half),
            gauss: vec![0.0; 2 * volume],
        }
    }

    /// The field ϕ (even sites).
    pub fn field(&self) -> &[Complex64] {
        &self.field
    }

    /// Sets ϕ (for tests and restarts).
    pub fn set_field(&mut self, field: &[Complex64]) {
        self.field.copy_from_slice(field);
    }

    /// Heat bath: draws χ on every site and sets ϕ = m χ_e + K_eo χ_o.
    pub fn heat_bath(&mut self, dirac: &GaugeDirac, rng: &mut Pcg64) {
        gaussian_fill(rng, &mut self.gauss);
        let scale = std::f64::consts::FRAC_1_SQRT_2;
        let half = self.field.len();
        let (even, odd) = self.gauss.split_at(2 * half);
        // χ_e goes to `solution`, χ_o to `odd`, until ϕ has been formed.
        for (dst, src) in [(&mut self.solution, even), (&mut self.odd, odd)] {
            for (z, pair) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *z = Complex64::new(pair[0] * scale, pair[1] * scale);
            }
        }
        dirac.hop_odd_to_even(&self.odd, &mut self.field);
        let m = dirac.mass();
        for (f, &c) in self.field.iter_mut().zip(&self.solution) {
            *f += c * m;
        }
    }

    /// X = M_ee⁻¹ϕ by CG from a zero start ([`solve_from_zero`]).
    fn solve(
        &mut self,
        dirac: &GaugeDirac,
        params: CgParams,
        floor: f64,
    ) -> Result<CgStats, FermionError> {
        solve_from_zero(
            dirac,
            &self.field,
            &mut self.solution,
            params,
            floor,
            &mut self.scratch,
        )
    }

    /// S_pf = Re(ϕ† X), X = M_ee⁻¹ϕ (a solve stagnated at ≤ [`STAGNATION_FLOOR`] counts as
    /// done).
    pub fn action(
        &mut self,
        dirac: &GaugeDirac,
        params: CgParams,
    ) -> Result<(f64, CgStats), FermionError> {
        let stats = self.solve(dirac, params, STAGNATION_FLOOR)?;
        Ok((re_dot(&self.field, &self.solution), stats))
    }

    /// Adds ∂S_pf/∂θ to `grad` (`[d·V]`), from a solve that may have stagnated at any
    /// residual (a less accurate force only costs acceptance).
    pub fn add_force(
        &mut self,
        dirac: &GaugeDirac,
        params: CgParams,
        grad: &mut [f64],
    ) -> Result<CgStats, FermionError> {
        let stats = self.solve(dirac, params, f64::INFINITY)?;
        add_solved_force(dirac, &self.solution, &mut self.odd, grad);
        Ok(stats)
    }
}

/// Adds ∂(ϕ†M_ee⁻¹ϕ)/∂θ at fixed ϕ to `grad` from the solution X = M_ee⁻¹ϕ (even sites), with
/// Z = (X, K_oe X) ([`GaugeDirac::add_link_force`]); `odd` is an odd-site scratch vector.
pub fn add_solved_force(
    dirac: &GaugeDirac,
    solution: &[Complex64],
    odd: &mut [Complex64],
    grad: &mut [f64],
) {
    dirac.hop_even_to_odd(solution, odd);
    let geometry = dirac.geometry();
    let z = |x: usize| match geometry.place(x) {
        (i, true) => solution[i],
        (i, false) => odd[i],
    };
    dirac.add_link_force(grad, |x, y| z(x).conj() * z(y));
}
