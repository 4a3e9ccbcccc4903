//! The `Action` trait shared by every theory, and parameter errors.

use crate::LaneAction;
use lft_lattice::{Hop, Lattice, Pcg64, gaussian_fill};
use rayon::prelude::*;
use thiserror::Error;

/// An action parameter outside its allowed range.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("action parameter `{name}` = {value}: {reason}")]
pub struct ActionError {
    pub name: &'static str,
    pub value: f64,
    pub reason: &'static str,
}

/// A Euclidean lattice action S(φ) over real scalar fields of one lattice.
///
/// Fields are `[V]` slices in lexicographic site order; a batch is `[n, V]` row-major.
pub trait Action: Send + Sync {
    /// The lattice the field lives on.
    fn lattice(&self) -> &Lattice;

    /// The number of real components of a state: V for a scalar field (the default); a target
    /// that carries auxiliary fields in its state (the joint Yukawa target with its
    /// pseudofermion, [`crate::YukawaJoint`]) has more, the scalar field first. Samplers that
    /// move whole states (HMC, annealing) size their buffers by it.
    fn state_len(&self) -> usize {
        self.lattice().volume()
    }

    /// The number of real components of the field an ensemble stores per configuration: V for
    /// a scalar field (the default; auxiliary components of a state are not stored), d·V for
    /// the links of a gauge field.
    fn field_len(&self) -> usize {
        self.lattice().volume()
    }

    /// log c, the difference between log ∫ e^{−S(x)} dx over the state (what annealing
    /// estimates) and the model's log Z. With auxiliary components a of a state x = (φ, a),
    /// integrating them out leaves c times the density on φ: ∫ e^{−S(φ, a)} da = c e^{−S(φ)}
    /// (V log 2π for the joint Yukawa target). For link angles, whose Z is that of the
    /// normalised Haar measure Π dθ/2π, it is d·V log 2π. 0 by default. Annealing subtracts it,
    /// so that its log Ẑ estimates the model's log Z either way.
    fn log_z_offset(&self) -> f64 {
        0.0
    }

    /// S(φ).
    fn action(&self, phi: &[f64]) -> f64;

    /// Brings a state to its canonical representative where the action is periodic in it
    /// (the angles of a link field into [−π, π)); HMC applies it to every accepted state, so
    /// that what a chain stores is exactly the state it continues from. Returns whether
    /// anything changed. The identity by default.
    fn canonicalize(&self, _state: &mut [f64]) -> bool {
        false
    }

    /// A random ("hot") start: independent standard normals by default; uniform angles for a
    /// link field.
    fn hot_start(&self, rng: &mut Pcg64, state: &mut [f64]) {
        gaussian_fill(rng, state);
    }

    /// `grad[x] = ∂S/∂φ_x`.
    fn gradient(&self, phi: &[f64], grad: &mut [f64]);

    /// The cheap part S_fast of S = S_fast + S_slow, for multi-timescale molecular dynamics
    /// (Sexton–Weingarten): writes ∂S_fast/∂φ into `grad` and returns true, where the action
    /// has such a split (the bosonic action of a pseudofermion target: the Wilson action of
    /// the Schwinger model, S_φ⁴ of the Yukawa model), false otherwise (the default).
    fn fast_gradient(&self, _phi: &[f64], _grad: &mut [f64]) -> bool {
        false
    }

    /// S(φ) for every configuration of a batch `[n, V]`, in parallel over configurations.
    fn action_batch(&self, phis: &[f64], out: &mut [f64]) {
        let v = self.state_len();
        assert_eq!(phis.len(), out.len() * v, "batch shape mismatch");
        out.par_iter_mut()
            .zip(phis.par_chunks_exact(v))
            .for_each(|(s, phi)| *s = self.action(phi));
    }

    /// `grad[x] = a ∂S/∂φ_x + b φ_x`: the gradient of a S + (b/2) Σ φ², the tempered action
    /// between a standard normal prior and e^{−S} (a = β, b = 1 − β). Actions may fuse it into
    /// one pass; the default computes the gradient, then combines.
    fn scaled_gradient(&self, phi: &[f64], grad: &mut [f64], a: f64, b: f64) {
        self.gradient(phi, grad);
        grad.iter_mut()
            .zip(phi)
            .for_each(|(g, x)| *g = a * *g + b * x);
    }

    /// `grad[x] = a ∂S/∂φ_x + b ∂S₀/∂φ_x` with S₀ = Σ_x [Σ_μ (φ_{x+μ̂} − φ_x)² + m₀² φ_x²] the
    /// free field of mass² m₀² = `free_m2`, whose gradient is
    /// ∂S₀/∂φ_x = 2(2d + m₀²) φ_x − 2 Σ_μ (φ_{x+μ̂} + φ_{x−μ̂}): the gradient of the tempered
    /// action between the free-field prior and e^{−S} (a = β, b = 1 − β). Actions may fuse it
    /// into one pass; the default computes both gradients, then combines.
    fn free_scaled_gradient(&self, phi: &[f64], grad: &mut [f64], a: f64, b: f64, free_m2: f64) {
        self.gradient(phi, grad);
        let lattice = self.lattice();
        let c = free_field_mass_term(lattice.dim(), free_m2);
        let mut free = vec![0.0; phi.len()];
        lattice.neighbour_map(phi, &mut free, 0, Hop::Both, |p, hops| c * p - 2.0 * hops);
        grad.iter_mut()
            .zip(&free)
            .for_each(|(g, f)| *g = a * *g + b * f);
    }

    /// Whether S(−φ) = S(φ) for every φ (the Z₂ symmetry of φ⁴ without an external field):
    /// then ⟨M⟩ = 0, and a proposal should give both signs of M in equal measure. False unless
    /// an action says so.
    fn is_z2_symmetric(&self) -> bool {
        false
    }

    /// The topological charge of a configuration, for the fields that have one (2D gauge
    /// fields: the geometric charge, an integer); `None` by default.
    fn topological_charge(&self, _state: &[f64]) -> Option<f64> {
        None
    }

    /// The same action on lane-interleaved batches of [`lft_lattice::LANES`] configurations,
    /// where the action implements it (bit-identical lane by lane); `None` by default.
    fn lanes(&self) -> Option<&dyn LaneAction> {
        None
    }

    /// `out = H(φ) v`, H = ∂²S/∂φ∂φ the Hessian (backpropagation through molecular dynamics
    /// needs it: the training of stochastic normalizing flows); returns `false`, leaving `out`
    /// alone, where the action does not implement it (the default).
    fn hessian_vector(&self, _phi: &[f64], _v: &[f64], _out: &mut [f64]) -> bool {
        false
    }

    /// ∂S/∂φ for every configuration of a batch `[n, V]`, in parallel over configurations.
    fn gradient_batch(&self, phis: &[f64], grads: &mut [f64]) {
        let v = self.state_len();
        assert_eq!(phis.len(), grads.len(), "batch shape mismatch");
        grads
            .par_chunks_exact_mut(v)
            .zip(phis.par_chunks_exact(v))
            .for_each(|(g, phi)| self.gradient(phi, g));
    }
}

/// 2(2d + m₀²), the coefficient of φ_x in the free-field gradient ∂S₀/∂φ_x of
/// [`Action::free_scaled_gradient`].
pub fn free_field_mass_term(dim: usize, free_m2: f64) -> f64 {
    2.0 * (2.0 * dim as f64 + free_m2)
}
