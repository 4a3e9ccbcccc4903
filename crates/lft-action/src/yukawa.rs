//! The 2D Yukawa model: φ⁴ coupled to N_f = 2 staggered fermions through D(φ) = K + m + gφ.
//!
//!   S_eff(φ) = S_φ⁴(φ) − log det(D Dᵀ) = S_φ⁴(φ) − 2 log|det D(φ)|
//!
//! The fermion determinant enters exactly ([`YukawaExact`]: dense LU, force −2g (D⁻¹)_xx) or
//! through a pseudofermion ϕ with S_pf = ϕ†(D Dᵀ)⁻¹ϕ ([`YukawaPseudofermion`]: CG, force
//! −2g Re(X̄_x (DᵀX)_x) with X = (D Dᵀ)⁻¹ϕ).

use crate::pseudofermion_action::{PfCell, PseudofermionAction};
use crate::{Action, ActionError, Phi4, Phi4Params};
use lft_fermion::{CgParams, DenseLu, Dirac, FermionError, Pseudofermion, Staggered, TimeBoundary};
use lft_lattice::{Lattice, Pcg64};

/// Couplings of the Yukawa model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YukawaParams {
    pub phi4: Phi4Params,
    /// Yukawa coupling g.
    pub g: f64,
    /// Bare fermion mass m.
    pub mass: f64,
}

/// The model's pieces shared by both fermion treatments.
#[derive(Debug, Clone)]
pub struct Yukawa {
    phi4: Phi4,
    staggered: Staggered,
    params: YukawaParams,
}

impl Yukawa {
    /// Massless staggered fermions keep the Z₂ symmetry φ → −φ: with ε_x = (−1)^{Σ x_μ} the
    /// hopping term anticommutes with ε, so ε D(φ) ε = −D(−φ) at m = 0 and
    /// det D(−φ) = (−1)^V det D(φ), whose square is the same. A bare mass breaks it.
    pub fn is_z2_symmetric(&self) -> bool {
        self.params.mass == 0.0
    }

    /// The model on a 2D lattice with even extents (antiperiodic fermions in time).
    pub fn new(lattice: Lattice, params: YukawaParams) -> Result<Self, ActionError> {
        if lattice.dim() != 2 {
            return Err(ActionError {
                name: "lattice.shape",
                value: lattice.dim() as f64,
                reason: "the Yukawa model is two-dimensional",
            });
        }
        for (name, value) in [("g", params.g), ("mass", params.mass)] {
            if !value.is_finite() {
                return Err(ActionError {
                    name,
                    value,
                    reason: "must be a finite number",
                });
            }
        }
        let staggered =
            Staggered::new(&lattice, TimeBoundary::Antiperiodic).map_err(|e| match e {
                FermionError::OddExtent { extent, .. } => ActionError {
                    name: "lattice.shape",
                    value: extent as f64,
                    reason: "staggered fermions need even extents",
                },
                _ => unreachable!("Staggered::new only refuses odd extents"),
            })?;
        Ok(Self {
            phi4: Phi4::new(lattice, params.phi4)?,
            staggered,
            params,
        })
    }

    pub fn params(&self) -> YukawaParams {
        self.params
    }

    pub fn phi4(&self) -> &Phi4 {
        &self.phi4
    }

    pub fn staggered(&self) -> &Staggered {
        &self.staggered
    }

    /// D(φ).
    pub fn dirac<'a>(&'a self, phi: &'a [f64]) -> Dirac<'a> {
        Dirac::new(&self.staggered, self.params.mass, self.params.g, phi)
    }

    /// (log|det D(φ)|, sign det D(φ)) by dense LU.
    pub fn log_det(&self, phi: &[f64]) -> (f64, f64) {
        let lu = DenseLu::of(&self.dirac(phi));
        (lu.log_abs_det(), lu.sign())
    }
}

/// S_eff with the determinant computed exactly by dense LU: for lattices where an O(V³)
/// factorisation per force is affordable (L ≲ 16).
#[derive(Debug, Clone)]
pub struct YukawaExact {
    model: Yukawa,
}

impl YukawaExact {
    pub fn new(model: Yukawa) -> Self {
        Self { model }
    }

    pub fn model(&self) -> &Yukawa {
        &self.model
    }
}

impl Action for YukawaExact {
    fn lattice(&self) -> &Lattice {
        self.model.phi4.lattice()
    }

    fn is_z2_symmetric(&self) -> bool {
        self.model.is_z2_symmetric()
    }

    /// S_φ⁴ − 2 log|det D|; +∞ where det D = 0.
    fn action(&self, phi: &[f64]) -> f64 {
        let (log_det, _) = self.model.log_det(phi);
        self.model.phi4.action(phi) - 2.0 * log_det
    }

    /// ∂S_φ⁴/∂φ_x − 2g (D⁻¹)_xx; NaN where D is singular (an HMC step there is rejected).
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        self.model.phi4.gradient(phi, grad);
        let g = self.model.params.g;
        match DenseLu::of(&self.model.dirac(phi)).inverse_diagonal() {
            Ok(diag) => grad
                .iter_mut()
                .zip(diag)
                .for_each(|(f, d)| *f -= 2.0 * g * d),
            Err(_) => grad.fill(f64::NAN),
        }
    }
}

/// CG tolerances of pseudofermion HMC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PseudofermionCg {
    /// For the molecular-dynamics force (any error here only lowers the acceptance).
    pub force: CgParams,
    /// For the action at the Metropolis step (its error biases the result, so keep it tight).
    pub action: CgParams,
}

impl Default for PseudofermionCg {
    fn default() -> Self {
        Self {
            force: CgParams {
                tolerance: 1e-8,
                max_iterations: 10_000,
            },
            action: CgParams {
                tolerance: 1e-12,
                max_iterations: 10_000,
            },
        }
    }
}

/// S_φ⁴ + ϕ†(D Dᵀ)⁻¹ϕ at a fixed pseudofermion ϕ, which [`refresh`](PseudofermionAction::refresh)
/// redraws from its heat bath. One per chain: it owns ϕ and the CG buffers.
///
/// Every solve starts from zero, so the force is a function of φ alone and the molecular
/// dynamics stays exactly reversible. A CG failure makes the action +∞ and the force NaN (the
/// trajectory is rejected) and is kept for [`take_error`](PseudofermionAction::take_error).
#[derive(Debug)]
pub struct YukawaPseudofermion {
    model: Yukawa,
    cg: PseudofermionCg,
    state: PfCell<Pseudofermion>,
}

impl YukawaPseudofermion {
    pub fn new(model: Yukawa, cg: PseudofermionCg) -> Self {
        let v = model.phi4.lattice().volume();
        Self {
            model,
            cg,
            state: PfCell::new(Pseudofermion::new(v)),
        }
    }

    pub fn model(&self) -> &Yukawa {
        &self.model
    }

    /// The CG settings.
    pub fn cg(&self) -> PseudofermionCg {
        self.cg
    }

    /// The current pseudofermion ϕ.
    pub fn pseudofermion(&self) -> Vec<lft_fermion::Complex64> {
        self.state.lock().pf.field().to_vec()
    }
}

impl PseudofermionAction for YukawaPseudofermion {
    fn fresh(&self) -> Self {
        Self::new(self.model.clone(), self.cg)
    }

    /// Heat bath ϕ = D(φ)ξ; the action is then S_φ⁴ + ξ†ξ exactly, with no solve.
    fn refresh(&self, phi: &[f64], rng: &mut Pcg64) -> Result<f64, FermionError> {
        let s_pf = self.state.lock().pf.heat_bath(&self.model.dirac(phi), rng);
        Ok(self.model.phi4.action(phi) + s_pf)
    }

    fn bosonic_action(&self, phi: &[f64]) -> f64 {
        self.model.phi4.action(phi)
    }

    fn take_error(&self) -> Option<FermionError> {
        self.state.take_error()
    }

    fn cg_counts(&self) -> (u64, u64) {
        self.state.cg_counts()
    }
}

impl Action for YukawaPseudofermion {
    fn lattice(&self) -> &Lattice {
        self.model.phi4.lattice()
    }

    fn is_z2_symmetric(&self) -> bool {
        self.model.is_z2_symmetric()
    }

    /// S_φ⁴ + ϕ†(D Dᵀ)⁻¹ϕ, CG at the tight (`action`) tolerance.
    fn action(&self, phi: &[f64]) -> f64 {
        let dirac = self.model.dirac(phi);
        self.state
            .action_with(|pf| pf.action(&dirac, self.cg.action))
            .map_or(f64::INFINITY, |s_pf| self.model.phi4.action(phi) + s_pf)
    }

    /// ∂S_φ⁴/∂φ_x − 2g Re(X̄_x (DᵀX)_x), CG at the `force` tolerance.
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        self.model.phi4.gradient(phi, grad);
        let dirac = self.model.dirac(phi);
        self.state
            .force_with(grad, |pf, grad| pf.add_force(&dirac, self.cg.force, grad));
    }

    /// ∂S_φ⁴/∂φ: the bosonic force, the fast time scale of multi-timescale HMC.
    fn fast_gradient(&self, phi: &[f64], grad: &mut [f64]) -> bool {
        self.model.phi4.gradient(phi, grad);
        true
    }
}
