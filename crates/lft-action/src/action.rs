//! The `Action` trait shared by every theory, and parameter errors.

use crate::LaneAction;
use lft_lattice::Lattice;
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

    /// S(φ).
    fn action(&self, phi: &[f64]) -> f64;

    /// `grad[x] = ∂S/∂φ_x`.
    fn gradient(&self, phi: &[f64], grad: &mut [f64]);

    /// S(φ) for every configuration of a batch `[n, V]`, in parallel over configurations.
    fn action_batch(&self, phis: &[f64], out: &mut [f64]) {
        let v = self.lattice().volume();
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

    /// The same action on lane-interleaved batches of [`lft_lattice::LANES`] configurations,
    /// where the action implements it (bit-identical lane by lane); `None` by default.
    fn lanes(&self) -> Option<&dyn LaneAction> {
        None
    }

    /// ∂S/∂φ for every configuration of a batch `[n, V]`, in parallel over configurations.
    fn gradient_batch(&self, phis: &[f64], grads: &mut [f64]) {
        let v = self.lattice().volume();
        assert_eq!(phis.len(), grads.len(), "batch shape mismatch");
        grads
            .par_chunks_exact_mut(v)
            .zip(phis.par_chunks_exact(v))
            .for_each(|(g, phi)| self.gradient(phi, g));
    }
}
