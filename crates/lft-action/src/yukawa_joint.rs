//! The Yukawa model on the joint state x = (φ, u, w) of the scalar field and one pseudofermion
//! ϕ = (u + i w)/√2, all of it real, [3V] = [φ | u | w]:
//!
//!   S_J(x) = S_φ⁴(φ) + ϕ†(D Dᵀ)⁻¹ϕ = S_φ⁴(φ) + ½ (uᵀ A⁻¹ u + wᵀ A⁻¹ w),   A = D(φ) D(φ)ᵀ,
//!
//! so that ∫ du dw e^{−S_J} = (2π)^V det A e^{−S_φ⁴}: the φ-marginal of e^{−S_J} is the Yukawa
//! model, and Z_J = (2π)^V Z (in the complex variables d²ϕ = ½ du dw, the familiar π^V).
//! A standard normal on (u, w) is the standard complex normal on ϕ, so annealing from a
//! standard-normal prior on the pseudofermion components anneals ϕ from CN(0, 1) to its
//! conditional law CN(0, A) at β = 1.
//!
//! With X = A⁻¹(u + i w) (one CG solve on a complex right-hand side) and Y = Dᵀ X:
//!
//!   S_pf = ½ Re((u + i w)† X),   ∂S_J/∂u = Re X,   ∂S_J/∂w = Im X,
//!   ∂S_J/∂φ_x = ∂S_φ⁴/∂φ_x − g Re(X̄_x Y_x).
//!
//! Every solve starts from zero and owns its buffers, so S_J and its gradient are functions
//! of x alone (HMC on them stays reversible) and particles may call them in parallel. A CG
//! failure makes S_J = +∞ and the gradient NaN (an HMC move is rejected, an annealing
//! particle gets zero weight) and is kept for [`YukawaJoint::take_error`].
//!
//! A solve that stagnates at the floating-point floor ε·κ(A) above the tolerance (a
//! near-singular D, as standard-normal prior draws of φ give now and then: about 1 in 800 on
//! 4×4 with g = 0.5) is accepted and counted in [`YukawaJoint::stagnated_solves`]: for the
//! action if its residual is at most [`YukawaJoint::stagnation_floor`] (1e-8 unless set), for
//! the gradient always. That keeps S_J and its gradient deterministic functions of x, so HMC
//! and annealing stay exact for them: a less accurate force only costs acceptance, and the
//! action differs from the exact S_J, by a relative ≲ κ(A)·residual, only on those fields,
//! whose weight e^{−S_pf} is negligible (S_pf ≳ 10⁴ where it happened).

use crate::action::free_field_mass_term;
use crate::joint_action::{DEFAULT_STAGNATION_FLOOR, JointSolves};
use crate::{Action, JointAction, PseudofermionCg, Yukawa};
use lft_fermion::{CgParams, CgScratch, Complex64, FermionError, re_dot, solve_ddt};
use lft_lattice::{Hop, Lattice};

/// S_J on the joint state (φ, u, w) of [the module](self); state length 3V.
#[derive(Debug)]
pub struct YukawaJoint {
    model: Yukawa,
    cg: PseudofermionCg,
    stagnation_floor: f64,
    solves: JointSolves,
}

/// The right-hand side u + i w and the solution X = A⁻¹(u + i w) of one solve.
struct Solve {
    rhs: Vec<Complex64>,
    solution: Vec<Complex64>,
}

impl YukawaJoint {
    /// The joint target of `model`; S_J solves at `cg.action`, the gradient at `cg.force`.
    pub fn new(model: Yukawa, cg: PseudofermionCg) -> Self {
        Self {
            model,
            cg,
            stagnation_floor: DEFAULT_STAGNATION_FLOOR,
            solves: JointSolves::default(),
        }
    }

    /// Accept action solves that stagnate above their tolerance at a relative residual
    /// ≤ `floor` (0 accepts none; stagnated gradient solves are always used).
    ///
    /// # Panics
    /// If `floor` is negative or not finite.
    pub fn with_stagnation_floor(mut self, floor: f64) -> Self {
        assert!(
            floor.is_finite() && floor >= 0.0,
            "the stagnation floor must be finite and ≥ 0, not {floor}"
        );
        self.stagnation_floor = floor;
        self
    }

    pub fn model(&self) -> &Yukawa {
        &self.model
    }

    fn volume(&self) -> usize {
        self.model.phi4().lattice().volume()
    }

    /// The parts (φ, u, w) of a joint state.
    fn split<'x>(&self, x: &'x [f64]) -> (&'x [f64], &'x [f64], &'x [f64]) {
        let v = self.volume();
        assert_eq!(x.len(), 3 * v, "a joint state is [φ | u | w], 3V long");
        (&x[..v], &x[v..2 * v], &x[2 * v..])
    }

    /// X = A(φ)⁻¹(u + i w) from a zero start, counted, taken if it stagnated at a relative
    /// residual ≤ `floor`; a failure is kept.
    fn solve(&self, x: &[f64], params: CgParams, floor: f64) -> Result<Solve, FermionError> {
        let (phi, u, w) = self.split(x);
        let v = phi.len();
        let rhs: Vec<Complex64> = u
            .iter()
            .zip(w)
            .map(|(&a, &b)| Complex64::new(a, b))
            .collect();
        let mut solution = vec![Complex64::default(); v];
        let mut scratch = CgScratch::new(v);
        let raw = solve_ddt(
            &self.model.dirac(phi),
            &rhs,
            &mut solution,
            params,
            &mut scratch,
        );
        self.solves
            .record(raw, floor)
            .map(|_| Solve { rhs, solution })
    }

    /// S_pf = ½ Re((u + i w)† X) at the action tolerance (+∞ where CG fails).
    pub fn pseudofermion_action(&self, x: &[f64]) -> f64 {
        match self.solve(x, self.cg.action, self.stagnation_floor) {
            Ok(Solve { rhs, solution }) => 0.5 * re_dot(&rhs, &solution),
            Err(_) => f64::INFINITY,
        }
    }
}

impl JointAction for YukawaJoint {
    fn joint_state(&self) -> &'static str {
        "(φ, ϕ)"
    }

    fn cg_counts(&self) -> (u64, u64) {
        self.solves.cg_counts()
    }

    fn stagnated_solves(&self) -> u64 {
        self.solves.stagnated()
    }

    fn stagnation_floor(&self) -> f64 {
        self.stagnation_floor
    }

    fn take_error(&self) -> Option<FermionError> {
        self.solves.take_error()
    }
}

impl Action for YukawaJoint {
    fn lattice(&self) -> &Lattice {
        self.model.phi4().lattice()
    }

    /// 3V: the scalar field, then the real and imaginary parts of √2 ϕ.
    fn state_len(&self) -> usize {
        3 * self.volume()
    }

    /// V log 2π = log Z_J − log Z, what the pseudofermion adds to the log partition function.
    fn log_z_offset(&self) -> f64 {
        self.volume() as f64 * (2.0 * std::f64::consts::PI).ln()
    }

    /// S_φ⁴(φ) + ½ (uᵀA⁻¹u + wᵀA⁻¹w).
    fn action(&self, x: &[f64]) -> f64 {
        let (phi, _, _) = self.split(x);
        self.model.phi4().action(phi) + self.pseudofermion_action(x)
    }

    /// (∂S_φ⁴/∂φ − g Re(X̄ ⊙ DᵀX), Re X, Im X), CG at the force tolerance.
    fn gradient(&self, x: &[f64], grad: &mut [f64]) {
        let (phi, _, _) = self.split(x);
        let v = phi.len();
        assert_eq!(grad.len(), 3 * v, "gradient does not fit the joint state");
        let Ok(Solve { solution, .. }) = self.solve(x, self.cg.force, f64::INFINITY) else {
            grad.fill(f64::NAN);
            return;
        };
        let dirac = self.model.dirac(phi);
        let mut y = vec![Complex64::default(); v];
        dirac.apply_transpose(&solution, &mut y);
        let (g_phi, rest) = grad.split_at_mut(v);
        let (g_u, g_w) = rest.split_at_mut(v);
        self.model.phi4().gradient(phi, g_phi);
        let g = dirac.g();
        for (((f, s), y), (gu, gw)) in g_phi
            .iter_mut()
            .zip(&solution)
            .zip(&y)
            .zip(g_u.iter_mut().zip(g_w.iter_mut()))
        {
            *f -= g * (s.re * y.re + s.im * y.im);
            *gu = s.re;
            *gw = s.im;
        }
    }

    /// a ∂S_J/∂x + b ∂(−log r)/∂x for the prior r = (free field on φ) × (standard normal on
    /// u, w): ∂S₀/∂φ on the scalar part, x itself on the pseudofermion part.
    fn free_scaled_gradient(&self, x: &[f64], grad: &mut [f64], a: f64, b: f64, free_m2: f64) {
        self.gradient(x, grad);
        let v = self.volume();
        let lattice = self.lattice();
        let c = free_field_mass_term(lattice.dim(), free_m2);
        let mut free = vec![0.0; v];
        lattice.neighbour_map(&x[..v], &mut free, 0, Hop::Both, |p, hops| {
            c * p - 2.0 * hops
        });
        grad.iter_mut()
            .zip(free.iter().chain(&x[v..]))
            .for_each(|(g, f)| *g = a * *g + b * f);
    }
}
