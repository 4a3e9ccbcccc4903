//! The seam every layer of a flow implements: an invertible map y = f(x) of one configuration
//! with its log-Jacobian, and the backward passes of both directions for an upstream gradient.
//!
//! For a layer with parameters θ and ℓ(x) = log|det ∂y/∂x|:
//! - `forward`: y = f(x), returns ℓ(x);
//! - `inverse`: x = f⁻¹(y), returns ℓ(x) (the forward log det at the x it finds);
//! - `backward`: with g = ∂L/∂y and γ = ∂L/∂ℓ, writes ∂L/∂x and adds ∂L/∂θ;
//! - `inverse_backward`: through x = f⁻¹(y), with g = ∂L/∂x and γ = ∂L/∂ℓ, writes ∂L/∂y and
//!   adds ∂L/∂θ.
//!
//! A layer's cache after `forward` from x equals, up to rounding of x, its cache after
//! `inverse` from y = f(x), so `inverse_backward` may run on the caches of a forward pass
//! (tests/gradients.rs checks this for every layer).
//!
//! Parameters live outside the layer (the caller's flat vector), and so does every buffer a
//! pass needs ([`LayerCache`]): a layer is immutable and can be shared between threads.

use crate::conv::ConvScratch;
use crate::lane_conv::LaneConvScratch;
use crate::lane_net32::LaneNet32Cache;
use crate::net::NetCache;
use std::fmt;

/// Upstream gradients of one layer's outputs: g = ∂L/∂(output) and γ = ∂L/∂(log det).
#[derive(Debug, Clone, Copy)]
pub struct Cotangent<'a> {
    pub dy: &'a [f64],
    pub dlogdet: f64,
}

/// What a pass of one layer keeps for its backward pass, and the buffers it reuses. Owned by
/// the caller: one per layer and per thread, allocated once and reused for every configuration.
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    /// The configuration on the x side of the layer (the forward input, the inverse output).
    pub(crate) input: Vec<f64>,
    /// The conditioner's input (the frozen sites), reused between passes.
    pub(crate) frozen: Vec<f64>,
    pub(crate) net: NetCache,
    /// The evaluation at −f (equivariant conditioners only).
    pub(crate) net_mirror: NetCache,
    /// The intermediate values of float32 nets (in lane 0 of a lane batch), at f and at −f.
    pub(crate) net32: LaneNet32Cache,
    pub(crate) net32_mirror: LaneNet32Cache,
    /// The (symmetrised) conditioner output `[channels, V]`: per active site, the parameters
    /// of its elementwise transform.
    pub(crate) st: Vec<f64>,
}

impl LayerCache {
    /// Keeps `x` as the configuration on the x side.
    pub(crate) fn keep_input(&mut self, x: &[f64]) {
        self.input.clear();
        self.input.extend_from_slice(x);
    }
}

/// Temporaries of a pass that hold nothing between calls, shared by every layer of a stack
/// (one per thread), in the manner of faer's scratch: the per-layer state is the
/// [`LayerCache`], this is only working memory.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub(crate) conv: ConvScratch,
    /// The layouts of float32 nets' passes.
    pub(crate) lanes: LaneConvScratch,
    /// The ODE solver of continuous flows, and the checkpoints of an inverse solve in the
    /// solver's order.
    pub(crate) ode: crate::cnf_ode::OdeScratch,
    pub(crate) ode_path: Vec<f64>,
}

/// One invertible layer (see the module documentation for the contract).
pub trait Bijection: Send + Sync + fmt::Debug {
    /// Number of parameters θ the layer reads from its slice of the flat vector.
    fn n_params(&self) -> usize;

    /// The same layer on lane batches of [`lft_lattice::LANES`] configurations, where it
    /// implements them; `None` by default.
    fn lanes(&self) -> Option<&dyn crate::LaneBijection> {
        None
    }

    /// The floating-point type the layer's networks compute in (float64 for layers without).
    fn precision(&self) -> crate::Precision {
        crate::Precision::F64
    }

    /// The same map solved with `factor` × the integration steps, for layers whose log det is
    /// accumulated by an ODE solver (continuous flows); `None` (the default) for layers that
    /// are exact.
    fn refined(&self, factor: usize) -> Option<std::sync::Arc<dyn Bijection>> {
        let _ = factor;
        None
    }

    /// The vector field of a continuous flow (what flow matching trains); `None` (the default)
    /// for every other layer.
    fn vector_field(&self) -> Option<&crate::KernelField> {
        None
    }

    /// y = f(x); returns log|det ∂y/∂x| and keeps in `cache` what [`Bijection::backward`]
    /// needs.
    fn forward(
        &self,
        params: &[f64],
        x: &[f64],
        y: &mut [f64],
        cache: &mut LayerCache,
        ws: &mut Workspace,
    ) -> f64;

    /// x = f⁻¹(y); returns the forward log det at that x and keeps in `cache` what
    /// [`Bijection::inverse_backward`] needs.
    fn inverse(
        &self,
        params: &[f64],
        y: &[f64],
        x: &mut [f64],
        cache: &mut LayerCache,
        ws: &mut Workspace,
    ) -> f64;

    /// Backward through the last `forward` kept in `cache`: writes ∂L/∂x into `dx` and adds
    /// ∂L/∂θ to `dparams`.
    fn backward(
        &self,
        params: &[f64],
        cache: &LayerCache,
        upstream: Cotangent<'_>,
        dparams: &mut [f64],
        dx: &mut [f64],
        ws: &mut Workspace,
    );

    /// Backward through the last `inverse` kept in `cache`: writes ∂L/∂y into `dy` and adds
    /// ∂L/∂θ to `dparams`.
    fn inverse_backward(
        &self,
        params: &[f64],
        cache: &LayerCache,
        upstream: Cotangent<'_>,
        dparams: &mut [f64],
        dy: &mut [f64],
        ws: &mut Workspace,
    );
}
