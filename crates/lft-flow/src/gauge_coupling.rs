//! The gauge-equivariant coupling layer of 2D U(1) (Kanwar et al., arXiv:2003.06413): the
//! active plaquettes are mapped by a circle transform H conditioned on the frozen ones, and
//! each active link absorbs the change of its plaquette.
//!
//! With the masks of [`crate::gauge_mask`] (active link l in plaquette P_x with sign s),
//! θ = net(features of the frozen plaquettes) per site, and P the plaquettes of the input:
//!   θ′_l = wrap(θ_l + s (H(P_x; θ_x) − P_x)) for active l,   θ′ = θ elsewhere,
//! so that the active plaquette becomes H(P_x) and nothing the conditioner reads changes. The
//! Jacobian is triangular with ∂θ′_l/∂θ_l = H′(P_x):
//!   log|det ∂θ′/∂θ| = Σ_{active x} log H′(P_x; θ_x).
//! The inverse reads the active plaquettes P′_x of θ′, finds P_x = H⁻¹(P′_x) and sets
//! θ_l = wrap(θ′_l − s (P′_x − P_x)). Plaquettes are gauge invariant, so the layer commutes
//! with every gauge transformation and its log det is gauge invariant.
//!
//! The conditioner's input, channel-major `[C, V]`: F cos P, F sin P with F the frozen mask,
//! and with `loops`, the cosines and sines of the 2 × 1 loops R⁰_x = P_x + P_{x+0̂} and
//! R¹_x = P_x + P_{x+1̂}, kept where both plaquettes are frozen (the loops no active link
//! touches).
//!
//! Backward (g = ∂L/∂θ′, γ = ∂L/∂ log det): ∂L/∂θ = g plus the plaquettes' transpose of
//! ∂L/∂P, where ∂L/∂P_x = ∂_P[s g_l H + γ log H′] − s g_l on active plaquettes and the
//! conditioner's input gradient through the features on frozen ones. Backward through the
//! inverse likewise, with H⁻¹'s gradients from the transform (inverse function theorem).

use crate::bijection::{Bijection, Cotangent, LayerCache, Workspace};
use crate::conv::KernelShifts;
use crate::gauge_mask::GaugeMask;
use crate::gauge_plaquettes::PlaquetteMap;
use crate::net::ConvNet;
use crate::transform::ElementwiseTransform;
use lft_lattice::Lattice;
use lft_lattice::gauge::wrap_link;
use std::sync::Arc;

/// A gauge-equivariant coupling with circle transform `T`.
#[derive(Debug, Clone)]
pub struct GaugeCoupling<T> {
    mask: GaugeMask,
    plaquettes: PlaquetteMap,
    net: ConvNet,
    shifts: Arc<KernelShifts>,
    transform: T,
    loops: bool,
}

/// Input channels of the conditioner: 2, or 6 with the 2 × 1 loops.
pub fn feature_channels(loops: bool) -> usize {
    if loops { 6 } else { 2 }
}

impl<T: ElementwiseTransform> GaugeCoupling<T> {
    /// The layer of `mask` on `lattice`; the net maps [`feature_channels`] to the transform's
    /// parameters.
    pub fn new(
        lattice: &Lattice,
        mask: GaugeMask,
        net: ConvNet,
        shifts: Arc<KernelShifts>,
        transform: T,
        loops: bool,
    ) -> Self {
        assert_eq!(net.out_channels(), transform.params_per_site());
        Self {
            mask,
            plaquettes: PlaquetteMap::new(lattice),
            net,
            shifts,
            transform,
            loops,
        }
    }

    pub fn mask(&self) -> &GaugeMask {
        &self.mask
    }

    fn volume(&self) -> usize {
        self.mask.frozen.len()
    }

    /// P_x = θ_0(x) + θ_1(x + 0̂) − θ_0(x + 1̂) − θ_1(x), not wrapped.
    fn plaquettes(&self, links: &[f64]) -> Vec<f64> {
        self.plaquettes.plaquettes(links)
    }

    /// x + μ̂.
    fn fwd(&self, mu: usize, x: usize) -> usize {
        self.plaquettes.fwd(mu, x)
    }

    /// The loops' mask: 1 where P_x and P_{x+μ̂} are both frozen.
    fn loop_mask(&self, mu: usize, x: usize) -> f64 {
        self.mask.frozen[x] * self.mask.frozen[self.fwd(mu, x)]
    }

    /// The conditioner's input from the plaquettes, into `out` `[C, V]`.
    fn features(&self, p: &[f64], out: &mut Vec<f64>) {
        let v = self.volume();
        out.clear();
        out.resize(feature_channels(self.loops) * v, 0.0);
        for x in 0..v {
            let (s, c) = p[x].sin_cos();
            out[x] = self.mask.frozen[x] * c;
            out[v + x] = self.mask.frozen[x] * s;
        }
        if !self.loops {
            return;
        }
        for mu in 0..2 {
            for x in 0..v {
                let m = self.loop_mask(mu, x);
                let (s, c) = (p[x] + p[self.fwd(mu, x)]).sin_cos();
                out[(2 + 2 * mu) * v + x] = m * c;
                out[(3 + 2 * mu) * v + x] = m * s;
            }
        }
    }

    /// dp += the features' backward for ∂L/∂features `df` `[C, V]`.
    fn features_backward(&self, p: &[f64], df: &[f64], dp: &mut [f64]) {
        let v = self.volume();
        for x in 0..v {
            let (s, c) = p[x].sin_cos();
            dp[x] += self.mask.frozen[x] * (-s * df[x] + c * df[v + x]);
        }
        if !self.loops {
            return;
        }
        for mu in 0..2 {
            for x in 0..v {
                let m = self.loop_mask(mu, x);
                if m == 0.0 {
                    continue;
                }
                let (s, c) = (p[x] + p[self.fwd(mu, x)]).sin_cos();
                let d = m * (-s * df[(2 + 2 * mu) * v + x] + c * df[(3 + 2 * mu) * v + x]);
                dp[x] += d;
                dp[self.fwd(mu, x)] += d;
            }
        }
    }

    /// The conditioner on the frozen plaquettes of `p`: fills `cache.frozen` (features),
    /// `cache.net` and `cache.st`.
    fn condition(&self, params: &[f64], p: &[f64], cache: &mut LayerCache, ws: &mut Workspace) {
        let mut features = std::mem::take(&mut cache.frozen);
        self.features(p, &mut features);
        self.net.forward(
            &self.shifts,
            params,
            &features,
            &mut cache.net,
            &mut ws.conv,
        );
        cache.frozen = features;
        cache.st.clear();
        cache.st.extend_from_slice(&cache.net.output);
    }

    /// θ of site x from the channel-major conditioner output.
    fn theta_at(&self, st: &[f64], x: usize, theta: &mut Vec<f64>) {
        let v = self.volume();
        theta.clear();
        theta.extend((0..self.transform.params_per_site()).map(|c| st[c * v + x]));
    }

    /// Copies `from` into `to` and moves each active link by s (P′ − P), with (P′, log slope)
    /// = `map`(P, θ) of its plaquette P in `p` (H for the forward pass, H⁻¹ for the inverse,
    /// which is the same formula read backwards); returns Σ log slope.
    fn map_active(
        &self,
        st: &[f64],
        from: &[f64],
        to: &mut [f64],
        p: &[f64],
        map: impl Fn(f64, &[f64]) -> (f64, f64),
    ) -> f64 {
        to.copy_from_slice(from);
        let mut theta = Vec::with_capacity(self.transform.params_per_site());
        let mut logdet = 0.0;
        for a in &self.mask.active {
            self.theta_at(st, a.site, &mut theta);
            let (mapped, log_slope) = map(p[a.site], &theta);
            to[a.link] = wrap_link(from[a.link] + a.sign * (mapped - p[a.site]));
            logdet += log_slope;
        }
        logdet
    }

    /// The shared backward skeleton: `site(P_x, θ_x, s g_l, γ, dθ)` gives ∂L/∂(the active
    /// plaquette on the side of the upstream gradient) through H or H⁻¹; then the conditioner,
    /// the features and the plaquettes' transpose.
    #[allow(clippy::too_many_arguments)]
    fn backward_with(
        &self,
        params: &[f64],
        cache: &LayerCache,
        upstream: Cotangent<'_>,
        dparams: &mut [f64],
        d_in: &mut [f64],
        ws: &mut Workspace,
        site: impl Fn(f64, &[f64], f64, f64, &mut [f64]) -> f64,
    ) {
        let v = self.volume();
        let (g, gamma) = (upstream.dy, upstream.dlogdet);
        let p = self.plaquettes(&cache.input);
        let n = self.transform.params_per_site();
        let mut dp = vec![0.0; v];
        let mut g_net = vec![0.0; n * v];
        let (mut theta, mut dtheta) = (Vec::with_capacity(n), vec![0.0; n]);
        for a in &self.mask.active {
            self.theta_at(&cache.st, a.site, &mut theta);
            dtheta.fill(0.0);
            let gs = a.sign * g[a.link];
            dp[a.site] += site(p[a.site], &theta, gs, gamma, &mut dtheta) - gs;
            for (c, d) in dtheta.iter().enumerate() {
                g_net[c * v + a.site] = *d;
            }
        }
        let mut d_features = vec![0.0; cache.frozen.len()];
        self.net.backward(
            &self.shifts,
            params,
            &cache.net,
            &g_net,
            dparams,
            Some(&mut d_features),
            &mut ws.conv,
        );
        self.features_backward(&p, &d_features, &mut dp);
        d_in.copy_from_slice(g);
        self.plaquettes.add_transpose(&dp, d_in);
    }
}

impl<T: ElementwiseTransform> Bijection for GaugeCoupling<T> {
    fn n_params(&self) -> usize {
        self.net.n_params()
    }

    fn forward(
        &self,
        params: &[f64],
        x: &[f64],
        y: &mut [f64],
        cache: &mut LayerCache,
        ws: &mut Workspace,
    ) -> f64 {
        let p = self.plaquettes(x);
        self.condition(params, &p, cache, ws);
        cache.keep_input(x);
        self.map_active(&cache.st, x, y, &p, |p, th| self.transform.forward(p, th))
    }

    fn inverse(
        &self,
        params: &[f64],
        y: &[f64],
        x: &mut [f64],
        cache: &mut LayerCache,
        ws: &mut Workspace,
    ) -> f64 {
        let p = self.plaquettes(y);
        self.condition(params, &p, cache, ws);
        let logdet = self.map_active(&cache.st, y, x, &p, |p, th| self.transform.inverse(p, th));
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
        self.backward_with(
            params,
            cache,
            upstream,
            dparams,
            dx,
            ws,
            |p, th, g, gm, dth| self.transform.backward(p, th, g, gm, dth),
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
        self.backward_with(
            params,
            cache,
            upstream,
            dparams,
            dy,
            ws,
            |p, th, g, gm, dth| self.transform.inverse_backward(p, th, g, gm, dth),
        );
    }
}
