//! Coupling layers on lane batches: [`LaneBijection`] for every [`MaskedCoupling`] (affine and
//! spline, plain or Z₂-equivariant), with the formulas of [`crate::coupling`] and
//! [`crate::conditioner`] applied to [`LANES`] configurations at once.

use crate::coupling::MaskedCoupling;
use crate::lane_bijection::{LaneBijection, LaneLayerCache};
use crate::lane_conv::LaneConvScratch;
use crate::transform::ElementwiseTransform;
use lft_lattice::{LANES, Lanes};

impl<T: ElementwiseTransform> MaskedCoupling<T> {
    /// `cache.st` = ō(f) of the frozen sites f = (1 − A) ⊙ x, lane by lane.
    fn condition_lanes(
        &self,
        params: &[f64],
        x: &[Lanes],
        cache: &mut LaneLayerCache,
        ws: &mut LaneConvScratch,
    ) {
        let c = &self.conditioner;
        cache.frozen.clear();
        cache.frozen.extend(
            x.iter()
                .zip(&self.active)
                .map(|(v, a)| v.map(|v| v * (1.0 - a))),
        );
        c.net
            .forward_lanes(&c.shifts, params, &cache.frozen, &mut cache.net, ws);
        cache.st.clear();
        cache.st.extend_from_slice(&cache.net.output);
        let Some(m) = &c.mirror else { return };
        cache.frozen.iter_mut().for_each(|f| *f = f.map(|f| -f));
        c.net
            .forward_lanes(&c.shifts, params, &cache.frozen, &mut cache.net_mirror, ws);
        let v = x.len();
        for (ch, (&pc, &sc)) in m.perm.iter().zip(&m.sign).enumerate() {
            let mirrored = &cache.net_mirror.output[pc * v..(pc + 1) * v];
            for (o, r) in cache.st[ch * v..(ch + 1) * v].iter_mut().zip(mirrored) {
                for l in 0..LANES {
                    o[l] = 0.5 * (o[l] + sc * r[l]);
                }
            }
        }
    }

    /// Backward through the conditioner from g_net = ∂L/∂ō: adds ∂L/∂params, returns ∂L/∂f.
    fn condition_backward_lanes(
        &self,
        params: &[f64],
        cache: &LaneLayerCache,
        g_net: &[Lanes],
        dparams: &mut [f64],
        ws: &mut LaneConvScratch,
    ) -> Vec<Lanes> {
        let c = &self.conditioner;
        let v = cache.input.len();
        let mut d_frozen = vec![[0.0; LANES]; v];
        let Some(m) = &c.mirror else {
            c.net.backward_lanes(
                &c.shifts,
                params,
                &cache.net,
                g_net,
                dparams,
                &mut d_frozen,
                ws,
            );
            return d_frozen;
        };
        let half: Vec<Lanes> = g_net.iter().map(|g| g.map(|g| 0.5 * g)).collect();
        let mut mirrored = vec![[0.0; LANES]; half.len()];
        for (ch, (&pc, &sc)) in m.perm.iter().zip(&m.sign).enumerate() {
            for (o, h) in mirrored[pc * v..(pc + 1) * v]
                .iter_mut()
                .zip(&half[ch * v..(ch + 1) * v])
            {
                *o = h.map(|h| sc * h);
            }
        }
        c.net.backward_lanes(
            &c.shifts,
            params,
            &cache.net,
            &half,
            dparams,
            &mut d_frozen,
            ws,
        );
        let mut d_negated = vec![[0.0; LANES]; v];
        let mirror_cache = &cache.net_mirror;
        c.net.backward_lanes(
            &c.shifts,
            params,
            mirror_cache,
            &mirrored,
            dparams,
            &mut d_negated,
            ws,
        );
        for (d, n) in d_frozen.iter_mut().zip(&d_negated) {
            for l in 0..LANES {
                d[l] -= n[l];
            }
        }
        d_frozen
    }

    /// The shared backward skeleton of [`crate::coupling`] on lanes: per active site and lane,
    /// `site` gives ∂L/∂(its input) and ∂L/∂θ; ∂L/∂θ goes back through the conditioner, and
    /// on the frozen sites the input gradient is g plus the conditioner's.
    #[allow(clippy::too_many_arguments)]
    fn backward_sites_lanes(
        &self,
        params: &[f64],
        cache: &LaneLayerCache,
        (g, gamma): (&[Lanes], &Lanes),
        dparams: &mut [f64],
        d_in: &mut [Lanes],
        ws: &mut LaneConvScratch,
        site: impl Fn(f64, &[f64], f64, f64, &mut [f64]) -> f64,
    ) {
        let v = g.len();
        let p = self.transform.params_per_site();
        let mut g_net = vec![[0.0; LANES]; p * v];
        let (mut theta, mut dtheta) = (vec![0.0; p], vec![0.0; p]);
        for &i in &self.active_sites {
            for l in 0..LANES {
                for (c, t) in theta.iter_mut().enumerate() {
                    *t = cache.st[c * v + i][l];
                }
                dtheta.fill(0.0);
                d_in[i][l] = site(cache.input[i][l], &theta, g[i][l], gamma[l], &mut dtheta);
                for (c, d) in dtheta.iter().enumerate() {
                    g_net[c * v + i][l] = *d;
                }
            }
        }
        let d_frozen = self.condition_backward_lanes(params, cache, &g_net, dparams, ws);
        for &i in &self.frozen_sites {
            for l in 0..LANES {
                d_in[i][l] = g[i][l] + d_frozen[i][l];
            }
        }
    }
}

impl<T: ElementwiseTransform> LaneBijection for MaskedCoupling<T> {
    fn forward_lanes(
        &self,
        params: &[f64],
        x: &[Lanes],
        y: &mut [Lanes],
        cache: &mut LaneLayerCache,
        ws: &mut LaneConvScratch,
    ) -> Lanes {
        self.condition_lanes(params, x, cache, ws);
        cache.input.clear();
        cache.input.extend_from_slice(x);
        let v = x.len();
        let p = self.transform.params_per_site();
        let mut theta = vec![0.0; p];
        let mut logdet = [0.0; LANES];
        for &i in &self.active_sites {
            for l in 0..LANES {
                for (c, t) in theta.iter_mut().enumerate() {
                    *t = cache.st[c * v + i][l];
                }
                let (value, log_slope) = self.transform.forward(x[i][l], &theta);
                y[i][l] = value;
                logdet[l] += log_slope;
            }
        }
        for &i in &self.frozen_sites {
            y[i] = x[i];
        }
        logdet
    }

    fn backward_lanes(
        &self,
        params: &[f64],
        cache: &LaneLayerCache,
        dy: &[Lanes],
        dlogdet: &Lanes,
        dparams: &mut [f64],
        dx: &mut [Lanes],
        ws: &mut LaneConvScratch,
    ) {
        let up = (dy, dlogdet);
        self.backward_sites_lanes(params, cache, up, dparams, dx, ws, |x, th, g, gm, dth| {
            self.transform.backward(x, th, g, gm, dth)
        });
    }

    fn inverse_backward_lanes(
        &self,
        params: &[f64],
        cache: &LaneLayerCache,
        dx: &[Lanes],
        dlogdet: &Lanes,
        dparams: &mut [f64],
        dy: &mut [Lanes],
        ws: &mut LaneConvScratch,
    ) {
        let up = (dx, dlogdet);
        self.backward_sites_lanes(params, cache, up, dparams, dy, ws, |x, th, g, gm, dth| {
            self.transform.inverse_backward(x, th, g, gm, dth)
        });
    }
}
