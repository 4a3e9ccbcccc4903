//! The masked coupling layer, generic over its elementwise transform h (affine or spline).
//!
//! With A the mask of the active sites and θ = net((1 − A) ⊙ x) (per site, the transform's
//! parameters, computed from the frozen sites only):
//!   y = (1 − A) ⊙ x + A ⊙ h(x; θ),   log|det ∂y/∂x| = Σ_{x active} log h′(x; θ_x),
//!   x = (1 − A) ⊙ y + A ⊙ h⁻¹(y; θ)  (θ depends only on the frozen sites, which y keeps).
//! Backward: h gives ∂L/∂x and ∂L/∂θ per active site; ∂L/∂θ goes back through the conditioner,
//! whose input gradient reaches the frozen sites (which also pass g through unchanged).
//!
//! Z₂-equivariant variant: with f the frozen field and M the transform's mirror of θ,
//! θ̄(f) = ½(θ(f) + M θ(−f)). Then θ̄(−f) = M θ̄(f), so y(−x) = −y(x) and the log det is even.

use crate::bijection::{Bijection, Cotangent, LayerCache, Workspace};
use crate::conditioner::Conditioner;
use crate::conv::KernelShifts;
use crate::net::ConvNet;
use crate::transform::ElementwiseTransform;
use std::sync::Arc;

/// A coupling layer: the active sites mapped by `T`, its parameters those of its net.
#[derive(Debug, Clone)]
pub struct MaskedCoupling<T> {
    pub(crate) active: Vec<f64>,
    /// Indices of the active sites, then of the frozen ones, in increasing order.
    pub(crate) active_sites: Vec<usize>,
    pub(crate) frozen_sites: Vec<usize>,
    pub(crate) conditioner: Conditioner,
    pub(crate) transform: T,
}

impl<T: ElementwiseTransform> MaskedCoupling<T> {
    /// `active` is 1 on transformed sites, 0 on frozen ones; the net must map 1 channel to
    /// `transform.params_per_site()`. Z₂-equivariant if `equivariant`.
    pub fn new(
        active: Vec<f64>,
        net: ConvNet,
        shifts: Arc<KernelShifts>,
        transform: T,
        equivariant: bool,
    ) -> Self {
        assert_eq!(
            net.out_channels(),
            transform.params_per_site(),
            "the net must output the transform's parameters"
        );
        let mirror = equivariant.then(|| transform.mirror());
        let (active_sites, frozen_sites) = (0..active.len()).partition(|&i| active[i] != 0.0);
        Self {
            active,
            active_sites,
            frozen_sites,
            conditioner: Conditioner::new(net, shifts, mirror),
            transform,
        }
    }

    pub fn net(&self) -> &ConvNet {
        &self.conditioner.net
    }

    pub fn transform(&self) -> &T {
        &self.transform
    }

    /// θ of site i from the channel-major conditioner output.
    fn theta_at(&self, st: &[f64], v: usize, i: usize, theta: &mut Vec<f64>) {
        theta.clear();
        theta.extend((0..self.transform.params_per_site()).map(|c| st[c * v + i]));
    }

    /// Maps every site of `from` into `to` (active sites by `map`, frozen ones unchanged) from
    /// the conditioner output in `cache`; returns Σ log h′.
    fn map_sites(
        &self,
        cache: &mut LayerCache,
        from: &[f64],
        to: &mut [f64],
        map: impl Fn(f64, &[f64]) -> (f64, f64),
    ) -> f64 {
        let v = from.len();
        let mut theta = Vec::with_capacity(self.transform.params_per_site());
        let mut logdet = 0.0;
        for &i in &self.active_sites {
            self.theta_at(&cache.st, v, i, &mut theta);
            let (value, log_slope) = map(from[i], &theta);
            to[i] = value;
            logdet += log_slope;
        }
        for &i in &self.frozen_sites {
            to[i] = from[i];
        }
        logdet
    }

    /// The shared backward skeleton: per active site `site` gives ∂L/∂(its input) and adds
    /// ∂L/∂θ; ∂L/∂θ then goes back through the conditioner, and on the frozen sites the input
    /// gradient is g plus the conditioner's.
    #[allow(clippy::too_many_arguments)]
    fn backward_sites(
        &self,
        params: &[f64],
        cache: &LayerCache,
        upstream: Cotangent<'_>,
        dparams: &mut [f64],
        d_in: &mut [f64],
        ws: &mut Workspace,
        site: impl Fn(f64, &[f64], f64, f64, &mut [f64]) -> f64,
    ) {
        let (g, gamma) = (upstream.dy, upstream.dlogdet);
        let v = g.len();
        let p = self.transform.params_per_site();
        let mut g_net = vec![0.0; p * v];
        let (mut theta, mut dtheta) = (Vec::with_capacity(p), vec![0.0; p]);
        for &i in &self.active_sites {
            self.theta_at(&cache.st, v, i, &mut theta);
            dtheta.fill(0.0);
            d_in[i] = site(cache.input[i], &theta, g[i], gamma, &mut dtheta);
            for c in 0..p {
                g_net[c * v + i] = dtheta[c];
            }
        }
        let d_frozen = self
            .conditioner
            .backward(params, cache, &g_net, dparams, ws);
        for &i in &self.frozen_sites {
            d_in[i] = g[i] + d_frozen[i];
        }
    }
}

impl<T: ElementwiseTransform> Bijection for MaskedCoupling<T> {
    fn n_params(&self) -> usize {
        self.conditioner.net.n_params()
    }

    fn lanes(&self) -> Option<&dyn crate::LaneBijection> {
        Some(self)
    }

    fn precision(&self) -> crate::Precision {
        self.conditioner.net.precision()
    }

    fn forward(
        &self,
        params: &[f64],
        x: &[f64],
        y: &mut [f64],
        cache: &mut LayerCache,
        ws: &mut Workspace,
    ) -> f64 {
        self.conditioner.forward(params, &self.active, x, cache, ws);
        cache.keep_input(x);
        self.map_sites(cache, x, y, |x, theta| self.transform.forward(x, theta))
    }

    fn inverse(
        &self,
        params: &[f64],
        y: &[f64],
        x: &mut [f64],
        cache: &mut LayerCache,
        ws: &mut Workspace,
    ) -> f64 {
        self.conditioner.forward(params, &self.active, y, cache, ws);
        let logdet = self.map_sites(cache, y, x, |y, theta| self.transform.inverse(y, theta));
        cache.keep_input(x);
        logdet
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
        self.backward_sites(
            params,
            cache,
            upstream,
            dparams,
            dx,
            ws,
            |x, th, g, gm, dth| self.transform.backward(x, th, g, gm, dth),
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
        self.backward_sites(
            params,
            cache,
            upstream,
            dparams,
            dy,
            ws,
            |x, th, g, gm, dth| self.transform.inverse_backward(x, th, g, gm, dth),
        );
    }
}
