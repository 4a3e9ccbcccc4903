//! Rational-quadratic spline coupling with a checkerboard mask: every active site is mapped by
//! its own spline, whose 3K − 1 parameters the conditioner computes from the frozen sites.
//!
//!   y = (1 − A) ⊙ x + A ⊙ spline(x; net((1 − A) ⊙ x)),   log|det| = Σ_{x active} log spline′.
//!
//! Backward: the spline gives ∂L/∂x and ∂L/∂raw per active site; the raw gradients go back
//! through the net, whose input gradient reaches the frozen sites.
//!
//! Z₂-equivariant variant: with f the frozen field and M the mirror of the raw parameters
//! (the spline x ↦ −s(−x)), raw̄(f) = ½(raw(f) + M raw(−f)). Then raw̄(−f) = M raw̄(f), so
//! y(−x) = −y(x) and the log det is even.

use crate::affine::{Cotangent, CouplingCache};
use crate::conditioner::{ChannelMirror, Conditioner};
use crate::conv::KernelShifts;
use crate::net::ConvNet;
use crate::spline::RqSpline;

/// One spline coupling layer; its parameters are those of its net.
#[derive(Debug, Clone)]
pub struct SplineCoupling {
    active: Vec<f64>,
    conditioner: Conditioner,
    spline: RqSpline,
}

impl SplineCoupling {
    /// The net must map 1 channel to `spline.params_per_site()`.
    pub fn new(active: Vec<f64>, net: ConvNet, spline: RqSpline) -> Self {
        Self::with_symmetry(active, net, spline, false)
    }

    /// As [`SplineCoupling::new`], Z₂-equivariant if `equivariant`.
    pub fn with_symmetry(
        active: Vec<f64>,
        net: ConvNet,
        spline: RqSpline,
        equivariant: bool,
    ) -> Self {
        assert_eq!(
            net.out_channels(),
            spline.params_per_site(),
            "net output must be the spline parameters"
        );
        let p = spline.params_per_site();
        let mirror = equivariant.then(|| ChannelMirror {
            perm: (0..p).map(|c| spline.mirror_param(c)).collect(),
            sign: vec![1.0; p],
        });
        Self {
            active,
            conditioner: Conditioner::new(net, mirror),
            spline,
        }
    }

    pub fn n_params(&self) -> usize {
        self.conditioner.net.n_params()
    }

    /// The raw spline parameters of site i from the channel-major net output.
    fn raw_at(&self, out: &[f64], v: usize, i: usize, buf: &mut Vec<f64>) {
        buf.clear();
        buf.extend((0..self.spline.params_per_site()).map(|c| out[c * v + i]));
    }

    /// The part both backward passes share: ∂L/∂raw `g_net` goes back through the net, and on
    /// the frozen sites (which pass through unchanged) the input gradient is g plus the net's.
    #[allow(clippy::too_many_arguments)]
    fn conditioner_backward(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        cache: &CouplingCache,
        g_net: &[f64],
        g: &[f64],
        dparams: &mut [f64],
        d_in: &mut [f64],
    ) {
        let d_frozen = self
            .conditioner
            .backward(shifts, params, cache, g_net, dparams);
        for i in 0..g.len() {
            if self.active[i] == 0.0 {
                d_in[i] = g[i] + d_frozen[i];
            }
        }
    }

    pub fn forward(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        x: &[f64],
        y: &mut [f64],
        cache: &mut CouplingCache,
    ) -> f64 {
        let v = x.len();
        self.conditioner
            .forward(shifts, params, &self.active, x, cache);
        cache.input.clear();
        cache.input.extend_from_slice(x);
        let mut raw = Vec::new();
        let mut logdet = 0.0;
        for i in 0..v {
            if self.active[i] == 0.0 {
                y[i] = x[i];
                continue;
            }
            self.raw_at(&cache.st, v, i, &mut raw);
            let (yi, li) = self.spline.forward(x[i], &raw);
            y[i] = yi;
            logdet += li;
        }
        logdet
    }

    pub fn inverse(&self, shifts: &KernelShifts, params: &[f64], y: &[f64], x: &mut [f64]) -> f64 {
        self.inverse_cached(shifts, params, y, x, &mut CouplingCache::default())
    }

    pub fn backward(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        cache: &CouplingCache,
        upstream: Cotangent<'_>,
        dparams: &mut [f64],
        dx: &mut [f64],
    ) {
        let (g, gamma) = (upstream.dy, upstream.dlogdet);
        let v = g.len();
        let p = self.spline.params_per_site();
        let mut g_net = vec![0.0; p * v];
        let (mut raw, mut graw) = (Vec::new(), vec![0.0; p]);
        for i in 0..v {
            if self.active[i] == 0.0 {
                continue;
            }
            self.raw_at(&cache.st, v, i, &mut raw);
            graw.fill(0.0);
            dx[i] = self
                .spline
                .backward(cache.input[i], &raw, g[i], gamma, &mut graw);
            for c in 0..p {
                g_net[c * v + i] = graw[c];
            }
        }
        self.conditioner_backward(shifts, params, cache, &g_net, g, dparams, dx);
    }

    /// x = f⁻¹(y), keeping what [`SplineCoupling::inverse_backward`] needs; returns the
    /// forward log det at x.
    pub fn inverse_cached(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        y: &[f64],
        x: &mut [f64],
        cache: &mut CouplingCache,
    ) -> f64 {
        let v = y.len();
        self.conditioner
            .forward(shifts, params, &self.active, y, cache);
        let mut raw = Vec::new();
        let mut logdet = 0.0;
        for i in 0..v {
            if self.active[i] == 0.0 {
                x[i] = y[i];
                continue;
            }
            self.raw_at(&cache.st, v, i, &mut raw);
            let (xi, li) = self.spline.inverse(y[i], &raw);
            x[i] = xi;
            logdet += li;
        }
        cache.input.clear();
        cache.input.extend_from_slice(x);
        logdet
    }

    /// Backward through one inverse pass, g = ∂L/∂x, γ = ∂L/∂ℓ with ℓ = log y′(x). By the
    /// implicit function theorem ∂x/∂y = 1/y′ and ∂x/∂raw = −y_raw/y′, so
    /// ∂L/∂y = (g + γℓ_x)/y′ and ∂L/∂raw = γℓ_raw − (g + γℓ_x) y_raw/y′: the forward backward
    /// with ∂L/∂y = −(g + γℓ_x)/y′ and ∂L/∂ℓ = γ.
    pub fn inverse_backward(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        cache: &CouplingCache,
        upstream: Cotangent<'_>,
        dparams: &mut [f64],
        dy: &mut [f64],
    ) {
        let (g, gamma) = (upstream.dy, upstream.dlogdet);
        let v = g.len();
        let p = self.spline.params_per_site();
        let mut g_net = vec![0.0; p * v];
        let (mut raw, mut graw, mut scratch) = (Vec::new(), vec![0.0; p], vec![0.0; p]);
        for i in 0..v {
            if self.active[i] == 0.0 {
                continue;
            }
            self.raw_at(&cache.st, v, i, &mut raw);
            let x = cache.input[i];
            let (_, l) = self.spline.forward(x, &raw);
            let slope = l.exp();
            let l_x = self.spline.backward(x, &raw, 0.0, 1.0, &mut scratch);
            let total = g[i] + gamma * l_x;
            dy[i] = total / slope;
            graw.fill(0.0);
            self.spline
                .backward(x, &raw, -total / slope, gamma, &mut graw);
            for c in 0..p {
                g_net[c * v + i] = graw[c];
            }
        }
        self.conditioner_backward(shifts, params, cache, &g_net, g, dparams, dy);
    }
}
