//! The continuous normalizing flow as one [`Bijection`]: y = φ(1) for dφ/dt = v(φ, t) from
//! φ(0) = x, with v the equivariant [`KernelField`], integrated by `steps` fixed RK4 steps
//! ([`crate::cnf_ode`]); log|det ∂y/∂x| = ∫₀¹ ∇·v dt, accumulated by the same solver. Inside a
//! [`crate::BijectionStack`] and a [`crate::Flow`] it is sampled, trained, checkpointed and
//! corrected by every sampler like the coupling layers.
//!
//! Exactness: the discrete map and its accumulated log-determinant agree with each other (and
//! the inverse, integrated backwards in time, with the forward map) only to the integrator's
//! accuracy, O(h⁴) per unit time. log q therefore carries that error; [`crate::diagnostics`]
//! measures it (log q at N against 4N steps). The layer cache holds the state at every step
//! boundary in time order (t = n/N), for a forward and an inverse pass alike; backward through
//! an inverse pass run on a forward pass's cache (the path gradient) differentiates the
//! inverse steps at the forward states, which differ from the inverse's own by the same
//! integrator error.

use crate::bijection::{Bijection, Cotangent, LayerCache, Workspace};
use crate::cnf_field::KernelField;
use crate::cnf_ode::{integrate, integrate_backward};

/// The integrated kernel field (module documentation).
#[derive(Debug, Clone)]
pub struct ContinuousFlow {
    field: KernelField,
    steps: usize,
}

impl ContinuousFlow {
    /// The flow of `field` integrated over t ∈ [0, 1] in `steps` ≥ 1 RK4 steps.
    pub fn new(field: KernelField, steps: usize) -> Self {
        assert!(steps >= 1, "at least one integration step");
        Self { field, steps }
    }

    pub fn field(&self) -> &KernelField {
        &self.field
    }

    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The same vector field integrated in `steps` steps (the integrator-error diagnostic).
    pub fn with_steps(&self, steps: usize) -> Self {
        Self::new(self.field.clone(), steps)
    }

    fn h(&self) -> f64 {
        1.0 / self.steps as f64
    }

    /// The checkpoints of an inverse pass, in the solver's order (t = 1, 1 − h, …, 0), from
    /// a cache in time order.
    fn reversed(&self, time_ordered: &[f64], out: &mut Vec<f64>) {
        let v = self.field.volume();
        out.clear();
        for block in time_ordered.chunks_exact(v).rev() {
            out.extend_from_slice(block);
        }
    }
}

impl Bijection for ContinuousFlow {
    fn n_params(&self) -> usize {
        self.field.n_params()
    }

    fn vector_field(&self) -> Option<&KernelField> {
        Some(&self.field)
    }

    fn refined(&self, factor: usize) -> Option<std::sync::Arc<dyn Bijection>> {
        Some(std::sync::Arc::new(self.with_steps(self.steps * factor)))
    }

    fn forward(
        &self,
        params: &[f64],
        x: &[f64],
        y: &mut [f64],
        cache: &mut LayerCache,
        ws: &mut Workspace,
    ) -> f64 {
        let v = self.field.volume();
        let n = self.steps;
        cache.st.resize((n + 1) * v, 0.0);
        cache.st[..v].copy_from_slice(x);
        let logdet = integrate(
            &self.field,
            params,
            0.0,
            self.h(),
            n,
            &mut cache.st,
            &mut ws.ode,
        );
        y.copy_from_slice(&cache.st[n * v..]);
        logdet
    }

    fn inverse(
        &self,
        params: &[f64],
        y: &[f64],
        x: &mut [f64],
        cache: &mut LayerCache,
        ws: &mut Workspace,
    ) -> f64 {
        let v = self.field.volume();
        let n = self.steps;
        let path = &mut ws.ode_path;
        path.resize((n + 1) * v, 0.0);
        path[..v].copy_from_slice(y);
        let backwards = integrate(&self.field, params, 1.0, -self.h(), n, path, &mut ws.ode);
        x.copy_from_slice(&path[n * v..]);
        self.reversed(path, &mut cache.st);
        -backwards
    }

    fn backward(
        &self,
        params: &[f64],
        cache: &LayerCache,
        upstream: Cotangent<'_>,
        dparams: &mut [f64],
        dx: &mut [f64],
        ws: &mut Workspace,
    ) {
        dx.copy_from_slice(upstream.dy);
        integrate_backward(
            &self.field,
            params,
            0.0,
            self.h(),
            self.steps,
            &cache.st,
            dx,
            upstream.dlogdet,
            dparams,
            &mut ws.ode,
        );
    }

    fn inverse_backward(
        &self,
        params: &[f64],
        cache: &LayerCache,
        upstream: Cotangent<'_>,
        dparams: &mut [f64],
        dy: &mut [f64],
        ws: &mut Workspace,
    ) {
        let mut path = std::mem::take(&mut ws.ode_path);
        self.reversed(&cache.st, &mut path);
        dy.copy_from_slice(upstream.dy);
        // The layer returns −ℓ of the backwards solve.
        integrate_backward(
            &self.field,
            params,
            1.0,
            -self.h(),
            self.steps,
            &path,
            dy,
            -upstream.dlogdet,
            dparams,
            &mut ws.ode,
        );
        ws.ode_path = path;
    }
}
