//! The Schwinger model: 2D U(1) gauge theory with N_f = 2 staggered fermions
//! (docs/PHYSICS.md, "Schwinger model"), on link angles θ (`[2V]`, link (μ, x) at μV + x):
//!
//!   S(θ) = −β Σ_P cos θ_P − log det D(θ),   det D = det(m² − K_eo K_oe) > 0.
//!
//! The determinant enters exactly ([`SchwingerExact`]: Cholesky of the even-site block at
//! every action and force) or through an even-site pseudofermion with
//! S_pf = ϕ†(m² − K_eo K_oe)⁻¹ϕ ([`SchwingerPseudofermion`]: CG).

use crate::pseudofermion_action::{PfCell, PseudofermionAction};
use crate::{Action, ActionError, PseudofermionCg, U1Wilson};
use lft_fermion::{EvenBlockInverse, FermionError, GaugeDirac, GaugePseudofermion, GaugeStaggered};
use lft_lattice::{Lattice, Pcg64};

/// The model's pieces shared by both fermion treatments: the Wilson action, the staggered
/// geometry and the bare mass.
#[derive(Debug, Clone)]
pub struct Schwinger {
    wilson: U1Wilson,
    geometry: GaugeStaggered,
    mass: f64,
}

impl Schwinger {
    /// The model at gauge coupling β > 0 and bare mass m ≥ 0 on a 2D lattice with even
    /// extents (antiperiodic fermions in time). det D depends on m² only, so a negative mass
    /// is refused rather than silently equal to |m|.
    pub fn new(lattice: Lattice, beta: f64, mass: f64) -> Result<Self, ActionError> {
        if lattice.dim() != 2 {
            return Err(ActionError {
                name: "lattice.shape",
                value: lattice.dim() as f64,
                reason: "the Schwinger model is two-dimensional",
            });
        }
        if !(mass.is_finite() && mass >= 0.0) {
            return Err(ActionError {
                name: "mass",
                value: mass,
                reason: "must be a finite number ≥ 0 (det D depends on m² only)",
            });
        }
        let geometry = GaugeStaggered::new(&lattice).map_err(|e| match e {
            FermionError::OddExtent { extent, .. } => ActionError {
                name: "lattice.shape",
                value: extent as f64,
                reason: "staggered fermions need even extents",
            },
            _ => unreachable!("GaugeStaggered::new only refuses odd extents"),
        })?;
        Ok(Self {
            wilson: U1Wilson::new(lattice, beta)?,
            geometry,
            mass,
        })
    }

    pub fn wilson(&self) -> &U1Wilson {
        &self.wilson
    }

    pub fn geometry(&self) -> &GaugeStaggered {
        &self.geometry
    }

    pub fn beta(&self) -> f64 {
        self.wilson.beta()
    }

    pub fn mass(&self) -> f64 {
        self.mass
    }

    /// D(θ).
    pub fn dirac(&self, theta: &[f64]) -> GaugeDirac<'_> {
        self.geometry.dirac(self.mass, theta)
    }

    /// log det D(θ) by Cholesky of the even-site block; `None` where it is singular.
    pub fn log_det(&self, theta: &[f64]) -> Option<f64> {
        EvenBlockInverse::of(&self.dirac(theta))
            .ok()
            .map(|inv| inv.log_det())
    }
}

/// The methods every Schwinger action takes from the gauge field it lives on.
macro_rules! link_field {
    () => {
        fn lattice(&self) -> &Lattice {
            self.model.wilson().lattice()
        }

        fn state_len(&self) -> usize {
            self.model.wilson().state_len()
        }

        fn field_len(&self) -> usize {
            self.model.wilson().field_len()
        }

        fn log_z_offset(&self) -> f64 {
            self.model.wilson().log_z_offset()
        }

        fn topological_charge(&self, theta: &[f64]) -> Option<f64> {
            self.model.wilson().topological_charge(theta)
        }

        fn canonicalize(&self, theta: &mut [f64]) -> bool {
            self.model.wilson().canonicalize(theta)
        }

        fn hot_start(&self, rng: &mut Pcg64, theta: &mut [f64]) {
            self.model.wilson().hot_start(rng, theta)
        }
    };
}
pub(crate) use link_field;

/// S = S_W − log det D with the determinant from a dense Cholesky of the even-site block at
/// every call: O((V/2)³), for lattices up to L ≈ 32.
#[derive(Debug, Clone)]
pub struct SchwingerExact {
    model: Schwinger,
}

impl SchwingerExact {
    pub fn new(model: Schwinger) -> Self {
        Self { model }
    }

    pub fn model(&self) -> &Schwinger {
        &self.model
    }
}

impl Action for SchwingerExact {
    link_field!();

    /// S_W − log det D; +∞ where D is singular (m = 0 with an exact zero mode).
    fn action(&self, theta: &[f64]) -> f64 {
        match self.model.log_det(theta) {
            Some(log_det) => self.model.wilson.action(theta) - log_det,
            None => f64::INFINITY,
        }
    }

    /// ∂S_W/∂θ + ∂(−log det D)/∂θ; NaN where D is singular (an HMC step there is rejected).
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        self.model.wilson.gradient(theta, grad);
        let dirac = self.model.dirac(theta);
        match EvenBlockInverse::of(&dirac) {
            Ok(inv) => inv.add_force(&dirac, grad),
            Err(_) => grad.fill(f64::NAN),
        }
    }
}

/// S_W + ϕ†(m² − K_eo K_oe)⁻¹ϕ at a fixed even-site pseudofermion ϕ, which
/// [`refresh`](PseudofermionAction::refresh) redraws from its heat bath. One per chain.
///
/// Every solve starts from zero (exactly reversible molecular dynamics). A CG failure makes
/// the action +∞ and the force NaN (the trajectory is rejected) and is kept for
/// [`take_error`](PseudofermionAction::take_error). For m > 0 the operator is bounded below
/// by m², so CG converges; the model refuses pseudofermions at m = 0.
#[derive(Debug)]
pub struct SchwingerPseudofermion {
    model: Schwinger,
    cg: PseudofermionCg,
    state: PfCell<GaugePseudofermion>,
}

impl SchwingerPseudofermion {
    /// Pseudofermions need m > 0 (at m = 0 the even-site operator can be singular and CG
    /// would fail on it).
    pub fn new(model: Schwinger, cg: PseudofermionCg) -> Result<Self, ActionError> {
        if model.mass <= 0.0 {
            return Err(ActionError {
                name: "mass",
                value: model.mass,
                reason: "pseudofermions need m > 0: at m = 0 the even-site operator \
                         m² − K_eo K_oe can be singular and CG has nothing to converge to \
                         (use fermions = \"exact\")",
            });
        }
        let v = model.geometry.volume();
        Ok(Self {
            model,
            cg,
            state: PfCell::new(GaugePseudofermion::new(v)),
        })
    }

    pub fn model(&self) -> &Schwinger {
        &self.model
    }

    /// The current pseudofermion ϕ (even sites).
    pub fn pseudofermion(&self) -> Vec<lft_fermion::Complex64> {
        self.state.lock().pf.field().to_vec()
    }
}

impl PseudofermionAction for SchwingerPseudofermion {
    fn fresh(&self) -> Self {
        Self::new(self.model.clone(), self.cg).expect("checked when self was built")
    }

    /// ϕ = (D χ)_e; the action there needs one solve (at the `action` tolerance).
    fn refresh(&self, theta: &[f64], rng: &mut Pcg64) -> Result<f64, FermionError> {
        let dirac = self.model.dirac(theta);
        self.state.lock().pf.heat_bath(&dirac, rng);
        let s_pf = self
            .state
            .action_with(|pf| pf.action(&dirac, self.cg.action))?;
        Ok(self.model.wilson.action(theta) + s_pf)
    }

    fn bosonic_action(&self, theta: &[f64]) -> f64 {
        self.model.wilson.action(theta)
    }

    fn take_error(&self) -> Option<FermionError> {
        self.state.take_error()
    }

    fn cg_counts(&self) -> (u64, u64) {
        self.state.cg_counts()
    }
}

impl Action for SchwingerPseudofermion {
    link_field!();

    /// S_W + ϕ†M_ee⁻¹ϕ, CG at the tight (`action`) tolerance.
    fn action(&self, theta: &[f64]) -> f64 {
        let dirac = self.model.dirac(theta);
        self.state
            .action_with(|pf| pf.action(&dirac, self.cg.action))
            .map_or(f64::INFINITY, |s_pf| self.model.wilson.action(theta) + s_pf)
    }

    /// ∂S_W/∂θ + ∂S_pf/∂θ, CG at the `force` tolerance.
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        self.model.wilson.gradient(theta, grad);
        let dirac = self.model.dirac(theta);
        self.state
            .force_with(grad, |pf, grad| pf.add_force(&dirac, self.cg.force, grad));
    }

    /// ∂S_W/∂θ: the gauge force, the fast time scale of multi-timescale HMC.
    fn fast_gradient(&self, theta: &[f64], grad: &mut [f64]) -> bool {
        self.model.wilson.gradient(theta, grad);
        true
    }
}
