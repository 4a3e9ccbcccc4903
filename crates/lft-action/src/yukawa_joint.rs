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
//! failure makes S_J = +∞ and the gradient NaN (the move is rejected, an annealing increment
//! is a named error) and is kept for [`YukawaJoint::take_error`].

use crate::action::free_field_mass_term;
use crate::{Action, PseudofermionCg, Yukawa};
use lft_fermion::{CgParams, CgScratch, CgStats, Complex64, FermionError, re_dot, solve_ddt};
use lft_lattice::{Hop, Lattice};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// S_J on the joint state (φ, u, w) of [the module](self); state length 3V.
#[derive(Debug)]
pub struct YukawaJoint {
    model: Yukawa,
    cg: PseudofermionCg,
    solves: AtomicU64,
    iterations: AtomicU64,
    error: Mutex<Option<FermionError>>,
}

impl YukawaJoint {
    /// The joint target of `model`; S_J solves at `cg.action`, the gradient at `cg.force`.
    pub fn new(model: Yukawa, cg: PseudofermionCg) -> Self {
        Self {
            model,
            cg,
            solves: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            error: Mutex::new(None),
        }
    }

    pub fn model(&self) -> &Yukawa {
        &self.model
    }

    /// V log 2π: log Z_J − log Z, what the pseudofermion adds to the log partition function.
    pub fn log_z_offset(&self) -> f64 {
        self.volume() as f64 * (2.0 * std::f64::consts::PI).ln()
    }

    /// (solves, total CG iterations) so far.
    pub fn cg_counts(&self) -> (u64, u64) {
        (
            self.solves.load(Ordering::Relaxed),
            self.iterations.load(Ordering::Relaxed),
        )
    }

    /// The first CG failure since the last call, if any.
    pub fn take_error(&self) -> Option<FermionError> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).take()
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

    /// X = A(φ)⁻¹(u + i w) from a zero start, counted; a failure is kept.
    fn solve(&self, x: &[f64], params: CgParams) -> Result<Vec<Complex64>, FermionError> {
        let (phi, u, w) = self.split(x);
        let v = phi.len();
        let rhs: Vec<Complex64> = u
            .iter()
            .zip(w)
            .map(|(&a, &b)| Complex64::new(a, b))
            .collect();
        let mut solution = vec![Complex64::default(); v];
        let mut scratch = CgScratch::new(v);
        let result = solve_ddt(
            &self.model.dirac(phi),
            &rhs,
            &mut solution,
            params,
            &mut scratch,
        );
        self.record(&result);
        result.map(|_| solution)
    }

    fn record(&self, result: &Result<CgStats, FermionError>) {
        self.solves.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(stats) => {
                self.iterations
                    .fetch_add(stats.iterations as u64, Ordering::Relaxed);
            }
            Err(e) => {
                let mut error = self.error.lock().unwrap_or_else(|e| e.into_inner());
                error.get_or_insert_with(|| e.clone());
            }
        }
    }

    /// S_pf = ½ Re((u + i w)† X) at the action tolerance (+∞ where CG fails).
    pub fn pseudofermion_action(&self, x: &[f64]) -> f64 {
        let (_, u, w) = self.split(x);
        match self.solve(x, self.cg.action) {
            Ok(solution) => {
                let rhs: Vec<Complex64> = u
                    .iter()
                    .zip(w)
                    .map(|(&a, &b)| Complex64::new(a, b))
                    .collect();
                0.5 * re_dot(&rhs, &solution)
            }
            Err(_) => f64::INFINITY,
        }
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
        let Ok(solution) = self.solve(x, self.cg.force) else {
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
