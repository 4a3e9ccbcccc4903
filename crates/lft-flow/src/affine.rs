//! Affine (RealNVP) coupling with a checkerboard mask.
//!
//! With A the mask of the active sites and s, t = net((1 − A) ⊙ x) (two output channels):
//!   y = (1 − A) ⊙ x + A ⊙ (x ⊙ e^s + t),   log|det ∂y/∂x| = Σ_x A s,
//!   x = (1 − A) ⊙ y + A ⊙ (y − t) ⊙ e^{−s}   (s, t depend only on the frozen sites).
//! Backward, with g = ∂L/∂y and γ = ∂L/∂(log det):
//!   ∂L/∂s = A (g x e^s + γ),  ∂L/∂t = A g,
//!   ∂L/∂x = A g e^s + (1 − A)(g + ∂L/∂(net input)).

use crate::conditioner::{ChannelMirror, Conditioner};
use crate::conv::KernelShifts;
use crate::net::{ConvNet, NetCache};

/// Upstream gradients of one layer's outputs: g = ∂L/∂y and γ = ∂L/∂(log det).
#[derive(Debug, Clone, Copy)]
pub struct Cotangent<'a> {
    pub dy: &'a [f64],
    pub dlogdet: f64,
}

/// One coupling layer; its parameters are those of its net.
///
/// Z₂-equivariant variant: with f the frozen field, s̄(f) = ½(s(f) + s(−f)) and
/// t̄(f) = ½(t(f) − t(−f)) replace s and t, so that y(−x) = −y(x) and the log det is even.
#[derive(Debug, Clone)]
pub struct AffineCoupling {
    active: Vec<f64>,
    conditioner: Conditioner,
}

/// What a forward pass keeps for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct CouplingCache {
    pub(crate) input: Vec<f64>,
    exp_s: Vec<f64>,
    pub(crate) net: NetCache,
    /// The evaluation at −f (equivariant layers only).
    pub(crate) net_mirror: NetCache,
    /// The symmetrised conditioner output (affine: (s, t) `[2, V]`; spline: the raw
    /// parameters `[3K − 1, V]`).
    pub(crate) st: Vec<f64>,
}

impl AffineCoupling {
    /// `active` is 1 on transformed sites; the net must map 1 channel to 2 (s and t).
    pub fn new(active: Vec<f64>, net: ConvNet) -> Self {
        Self::with_symmetry(active, net, false)
    }

    /// As [`AffineCoupling::new`], Z₂-equivariant if `equivariant`.
    pub fn with_symmetry(active: Vec<f64>, net: ConvNet, equivariant: bool) -> Self {
        assert_eq!(net.out_channels(), 2, "an affine coupling needs s and t");
        // s is even under φ → −φ, t odd.
        let mirror = equivariant.then(|| ChannelMirror {
            perm: vec![0, 1],
            sign: vec![1.0, -1.0],
        });
        Self {
            active,
            conditioner: Conditioner::new(net, mirror),
        }
    }

    pub fn net(&self) -> &ConvNet {
        &self.conditioner.net
    }

    pub fn n_params(&self) -> usize {
        self.conditioner.net.n_params()
    }

    /// y = f(x) for one configuration; returns log|det ∂y/∂x| and fills `cache`.
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
        let (s, t) = cache.st.split_at(v);
        cache.input.clear();
        cache.input.extend_from_slice(x);
        cache.exp_s.resize(v, 0.0);
        let mut logdet = 0.0;
        for i in 0..v {
            let a = self.active[i];
            let e = (a * s[i]).exp();
            cache.exp_s[i] = e;
            y[i] = x[i] * e + a * t[i];
            logdet += a * s[i];
        }
        logdet
    }

    /// x = f⁻¹(y) for one configuration; returns log|det ∂y/∂x| at that x (the forward one).
    pub fn inverse(&self, shifts: &KernelShifts, params: &[f64], y: &[f64], x: &mut [f64]) -> f64 {
        self.inverse_cached(shifts, params, y, x, &mut CouplingCache::default())
    }

    /// x = f⁻¹(y), keeping what [`AffineCoupling::inverse_backward`] needs; returns the forward
    /// log det at x.
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
        let (s, t) = cache.st.split_at(v);
        cache.exp_s.resize(v, 0.0);
        let mut logdet = 0.0;
        for i in 0..v {
            let a = self.active[i];
            let e = (-a * s[i]).exp();
            cache.exp_s[i] = e; // e^{−s} on active sites
            x[i] = (y[i] - a * t[i]) * e;
            logdet += a * s[i];
        }
        cache.input.clear();
        cache.input.extend_from_slice(x); // the output x of the inverse
        logdet
    }

    /// Backward through one inverse pass x = f⁻¹(y) with ℓ = log det: g = ∂L/∂x, γ = ∂L/∂ℓ.
    /// With x_a = (y_a − t) e^{−s}: ∂L/∂y_a = g e^{−s}, ∂L/∂s = −g x_a + γ, ∂L/∂t = −g e^{−s};
    /// the frozen sites also receive the conditioner's input gradient. Writes ∂L/∂y into `dy`.
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
        let mut g_net = vec![0.0; 2 * v];
        for i in 0..v {
            let a = self.active[i];
            g_net[i] = a * (-g[i] * cache.input[i] + gamma);
            g_net[v + i] = -a * g[i] * cache.exp_s[i];
        }
        let d_frozen = self
            .conditioner
            .backward(shifts, params, cache, &g_net, dparams);
        for i in 0..v {
            let a = self.active[i];
            dy[i] = g[i] * cache.exp_s[i] + (1.0 - a) * d_frozen[i];
        }
    }

    /// Backward through one forward pass: g = ∂L/∂y, γ = ∂L/∂(log det). Adds ∂L/∂params to
    /// `dparams` and writes ∂L/∂x into `dx`.
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
        let mut g_net = vec![0.0; 2 * v];
        for i in 0..v {
            let a = self.active[i];
            g_net[i] = a * (g[i] * cache.input[i] * cache.exp_s[i] + gamma);
            g_net[v + i] = a * g[i];
        }
        let d_frozen = self
            .conditioner
            .backward(shifts, params, cache, &g_net, dparams);
        for i in 0..v {
            let a = self.active[i];
            dx[i] = g[i] * cache.exp_s[i] + (1.0 - a) * d_frozen[i];
        }
    }
}
