//! The Schwinger model on the joint state x = (θ, u, w) of the links and one even-site
//! pseudofermion ϕ = (u + i w)/√2, all of it real, [2V + V/2 + V/2] = [θ | u | w]:
//!
//!   S_J(x) = S_W(θ) + ϕ†M_ee⁻¹ϕ = S_W(θ) + ½ Re((u + i w)† M_ee⁻¹ (u + i w)),
//!
//! so that ∫ du dw e^{−S_J} = (2π)^{V/2} det M_ee e^{−S_W} = (2π)^{V/2} det D e^{−S_W}: the
//! θ-marginal is the Schwinger model, and log Z_J = log Z + (V/2) log 2π. Annealing from the
//! uniform prior on the links with a standard normal on (u, w) anneals ϕ from CN(0, 1) to its
//! conditional law CN(0, M_ee) at β = 1 (docs/PHYSICS.md, the Yukawa model's
//! [`crate::YukawaJoint`] on even sites).
//!
//! With X = M_ee⁻¹(u + i w) (one CG solve) and X_ϕ = X/√2:
//!
//!   ∂S_J/∂u = Re X,  ∂S_J/∂w = Im X,  ∂S_J/∂θ = ∂S_W/∂θ + (the pseudofermion force at X_ϕ).
//!
//! Solves start from zero and own their buffers (HMC stays reversible, particles run in
//! parallel); a CG failure makes S_J = +∞ and the gradient NaN and is kept for
//! [`JointAction::take_error`]. Action solves that stagnate at a relative residual ≤ 1e-8 are
//! accepted and counted, as for the Yukawa target.

use crate::joint_action::{DEFAULT_STAGNATION_FLOOR, JointSolves};
use crate::{Action, JointAction, PseudofermionCg, Schwinger};
use lft_fermion::{
    CgParams, CgScratch, Complex64, FermionError, GaugeDirac, add_solved_force, re_dot,
    solve_hermitian,
};
use lft_lattice::{Lattice, Pcg64, gaussian_fill};

/// S_J on the joint state (θ, u, w) of [the module](self); state length 3V.
#[derive(Debug)]
pub struct SchwingerJoint {
    model: Schwinger,
    cg: PseudofermionCg,
    solves: JointSolves,
}

/// The right-hand side u + i w and the solution X = M_ee⁻¹(u + i w) of one solve.
struct Solve {
    rhs: Vec<Complex64>,
    solution: Vec<Complex64>,
}

impl SchwingerJoint {
    /// The joint target of `model`; S_J solves at `cg.action`, the gradient at `cg.force`.
    pub fn new(model: Schwinger, cg: PseudofermionCg) -> Self {
        Self {
            model,
            cg,
            solves: JointSolves::default(),
        }
    }

    pub fn model(&self) -> &Schwinger {
        &self.model
    }

    /// The parts (θ, u, w) of a joint state.
    fn split<'x>(&self, x: &'x [f64]) -> (&'x [f64], &'x [f64], &'x [f64]) {
        let links = self.model.wilson().state_len();
        let half = self.model.geometry().half_volume();
        assert_eq!(
            x.len(),
            links + 2 * half,
            "a joint state is [θ | u | w], d·V + V long"
        );
        (&x[..links], &x[links..links + half], &x[links + half..])
    }

    /// X = M_ee(θ)⁻¹(u + i w) from a zero start, counted; `dirac` is D(θ).
    fn solve(
        &self,
        dirac: &GaugeDirac,
        x: &[f64],
        params: CgParams,
        floor: f64,
    ) -> Result<Solve, FermionError> {
        let (_, u, w) = self.split(x);
        let rhs: Vec<Complex64> = u
            .iter()
            .zip(w)
            .map(|(&a, &b)| Complex64::new(a, b))
            .collect();
        let mut solution = vec![Complex64::default(); rhs.len()];
        let raw = solve_hermitian(
            dirac,
            &rhs,
            &mut solution,
            params,
            &mut CgScratch::new(rhs.len()),
        );
        self.solves
            .record(raw, floor)
            .map(|_| Solve { rhs, solution })
    }
}

impl JointAction for SchwingerJoint {
    fn joint_state(&self) -> &'static str {
        "(θ, ϕ)"
    }

    fn cg_counts(&self) -> (u64, u64) {
        self.solves.cg_counts()
    }

    fn stagnated_solves(&self) -> u64 {
        self.solves.stagnated()
    }

    fn stagnation_floor(&self) -> f64 {
        DEFAULT_STAGNATION_FLOOR
    }

    fn take_error(&self) -> Option<FermionError> {
        self.solves.take_error()
    }
}

impl Action for SchwingerJoint {
    fn lattice(&self) -> &Lattice {
        self.model.wilson().lattice()
    }

    /// d·V link angles, then the V/2 real and V/2 imaginary parts of √2 ϕ.
    fn state_len(&self) -> usize {
        self.model.wilson().state_len() + self.model.geometry().volume()
    }

    /// The links alone are stored.
    fn field_len(&self) -> usize {
        self.model.wilson().field_len()
    }

    /// The links' d·V log 2π (Haar measure) plus the pseudofermion's (V/2) log 2π.
    fn log_z_offset(&self) -> f64 {
        let half = self.model.geometry().half_volume() as f64;
        self.model.wilson().log_z_offset() + half * (2.0 * std::f64::consts::PI).ln()
    }

    fn topological_charge(&self, x: &[f64]) -> Option<f64> {
        let (theta, _, _) = self.split(x);
        self.model.wilson().topological_charge(theta)
    }

    /// The link angles into [−π, π); the pseudofermion is not periodic.
    fn canonicalize(&self, x: &mut [f64]) -> bool {
        let links = self.model.wilson().state_len();
        self.model.wilson().canonicalize(&mut x[..links])
    }

    /// Uniform links, a standard normal pseudofermion.
    fn hot_start(&self, rng: &mut Pcg64, x: &mut [f64]) {
        let links = self.model.wilson().state_len();
        let (theta, rest) = x.split_at_mut(links);
        self.model.wilson().hot_start(rng, theta);
        gaussian_fill(rng, rest);
    }

    /// S_W(θ) + ½ Re((u + i w)†X); +∞ where CG fails.
    fn action(&self, x: &[f64]) -> f64 {
        let (theta, _, _) = self.split(x);
        let dirac = self.model.dirac(theta);
        match self.solve(&dirac, x, self.cg.action, DEFAULT_STAGNATION_FLOOR) {
            Ok(Solve { rhs, solution }) => {
                self.model.wilson().action(theta) + 0.5 * re_dot(&rhs, &solution)
            }
            Err(_) => f64::INFINITY,
        }
    }

    /// (∂S_W/∂θ + pseudofermion force, Re X, Im X), CG at the force tolerance.
    fn gradient(&self, x: &[f64], grad: &mut [f64]) {
        let (theta, _, _) = self.split(x);
        assert_eq!(grad.len(), x.len(), "gradient does not fit the joint state");
        let dirac = self.model.dirac(theta);
        let Ok(Solve { solution, .. }) = self.solve(&dirac, x, self.cg.force, f64::INFINITY) else {
            grad.fill(f64::NAN);
            return;
        };
        let links = theta.len();
        let half = solution.len();
        let (g_theta, rest) = grad.split_at_mut(links);
        let (g_u, g_w) = rest.split_at_mut(half);
        self.model.wilson().gradient(theta, g_theta);
        // The force is quadratic in X_ϕ = M_ee⁻¹ϕ = X/√2.
        let x_phi: Vec<Complex64> = solution
            .iter()
            .map(|z| z * std::f64::consts::FRAC_1_SQRT_2)
            .collect();
        let mut odd = vec![Complex64::default(); half];
        add_solved_force(&dirac, &x_phi, &mut odd, g_theta);
        for ((s, gu), gw) in solution.iter().zip(g_u).zip(g_w) {
            *gu = s.re;
            *gw = s.im;
        }
    }
}
