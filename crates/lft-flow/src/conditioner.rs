//! The conditioner of a coupling layer: a conv net evaluated on the frozen sites f = (1 − A) ⊙ x,
//! optionally symmetrised under φ → −φ.
//!
//! Z₂ symmetrisation with a channel mirror (π, σ), π an involution and σ_c = ±1:
//!   ō(f)[c] = ½ (o(f)[c] + σ_c o(−f)[π(c)]),
//! so that ō(−f)[c] = σ_c ō(f)[π(c)]. Affine couplings use π = id, σ = (+1, −1) (s even, t odd);
//! spline couplings use the mirror of the spline parameters, σ = +1.
//! Backward: ∂L/∂o(f) = ½ g and ∂L/∂o(−f)[π(c)] = ½ σ_c g[c]; the second net saw −f, so its
//! input gradient enters with a minus sign.

use crate::bijection::{LayerCache, Workspace};
use crate::conv::KernelShifts;
use crate::lane_net32::LaneNet32Cache;
use crate::net::{ConvNet, NetCache};
use crate::precision::Precision;
use std::sync::Arc;

/// How a conditioner's output channels transform under φ → −φ.
#[derive(Debug, Clone)]
pub struct ChannelMirror {
    /// π(c).
    pub perm: Vec<usize>,
    /// σ_c.
    pub sign: Vec<f64>,
}

/// A conv net on the frozen sites, symmetrised if it has a mirror.
#[derive(Debug, Clone)]
pub struct Conditioner {
    pub net: ConvNet,
    pub(crate) shifts: Arc<KernelShifts>,
    pub(crate) mirror: Option<ChannelMirror>,
}

impl Conditioner {
    pub fn new(net: ConvNet, shifts: Arc<KernelShifts>, mirror: Option<ChannelMirror>) -> Self {
        if let Some(m) = &mirror {
            assert!(m.perm.len() == net.out_channels() && m.sign.len() == net.out_channels());
        }
        Self {
            net,
            shifts,
            mirror,
        }
    }

    /// The kernel offsets the net's convolutions use.
    pub fn shifts(&self) -> &KernelShifts {
        &self.shifts
    }

    /// Fills `cache.st` `[channels, V]` with ō(f), f the frozen sites of `x` (`active` is 1 on
    /// transformed sites), keeping both net evaluations in `cache`.
    pub fn forward(
        &self,
        params: &[f64],
        active: &[f64],
        x: &[f64],
        cache: &mut LayerCache,
        ws: &mut Workspace,
    ) {
        cache.frozen.clear();
        cache
            .frozen
            .extend(x.iter().zip(active).map(|(v, a)| v * (1.0 - a)));
        let (net, net32) = (&mut cache.net, &mut cache.net32);
        self.net_forward(params, &cache.frozen, net, net32, ws);
        cache.st.clear();
        cache.st.extend_from_slice(&cache.net.output);
        let Some(m) = &self.mirror else { return };
        cache.frozen.iter_mut().for_each(|f| *f = -*f);
        let (net, net32) = (&mut cache.net_mirror, &mut cache.net32_mirror);
        self.net_forward(params, &cache.frozen, net, net32, ws);
        let v = x.len();
        for (c, (&pc, &sc)) in m.perm.iter().zip(&m.sign).enumerate() {
            let mirrored = &cache.net_mirror.output[pc * v..(pc + 1) * v];
            for (o, &r) in cache.st[c * v..(c + 1) * v].iter_mut().zip(mirrored) {
                *o = 0.5 * (*o + sc * r);
            }
        }
    }

    /// Backward from g_net = ∂L/∂ō `[channels, V]`: adds ∂L/∂params to `dparams` and returns
    /// ∂L/∂f (the gradient with respect to the frozen sites).
    pub fn backward(
        &self,
        params: &[f64],
        cache: &LayerCache,
        g_net: &[f64],
        dparams: &mut [f64],
        ws: &mut Workspace,
    ) -> Vec<f64> {
        let v = g_net.len() / self.net.out_channels();
        let mut d_frozen = vec![0.0; v];
        let (net, net32) = (&cache.net, &cache.net32);
        let Some(m) = &self.mirror else {
            self.net_backward(params, net, net32, g_net, dparams, &mut d_frozen, ws);
            return d_frozen;
        };
        let half: Vec<f64> = g_net.iter().map(|x| 0.5 * x).collect();
        let mut mirrored = vec![0.0; half.len()];
        for (c, (&pc, &sc)) in m.perm.iter().zip(&m.sign).enumerate() {
            for (o, &h) in mirrored[pc * v..(pc + 1) * v]
                .iter_mut()
                .zip(&half[c * v..(c + 1) * v])
            {
                *o = sc * h;
            }
        }
        self.net_backward(params, net, net32, &half, dparams, &mut d_frozen, ws);
        let mut d_negated = vec![0.0; v];
        let (net, net32) = (&cache.net_mirror, &cache.net32_mirror);
        self.net_backward(params, net, net32, &mirrored, dparams, &mut d_negated, ws);
        d_frozen
            .iter_mut()
            .zip(&d_negated)
            .for_each(|(d, n)| *d -= n);
        d_frozen
    }

    /// One evaluation of the net at `input` into `net.output`: in float64 through the
    /// one-configuration passes, in float32 as lane 0 of the lane kernels
    /// ([`crate::lane_net32`], intermediate values in `net32`), so that a configuration gets
    /// the same output alone as in a lane batch.
    fn net_forward(
        &self,
        params: &[f64],
        input: &[f64],
        net: &mut NetCache,
        net32: &mut LaneNet32Cache,
        ws: &mut Workspace,
    ) {
        let shifts = &self.shifts;
        match self.net.precision() {
            Precision::F64 => self.net.forward(shifts, params, input, net, &mut ws.conv),
            Precision::F32 => {
                let out = &mut net.output;
                self.net
                    .forward_one_f32(shifts, params, input, net32, &mut ws.lanes, out)
            }
        }
    }

    /// Backward through the last [`Conditioner::net_forward`] with g = ∂L/∂output: adds
    /// ∂L/∂params and writes ∂L/∂input into `d_input`.
    #[allow(clippy::too_many_arguments)]
    fn net_backward(
        &self,
        params: &[f64],
        net: &NetCache,
        net32: &LaneNet32Cache,
        g: &[f64],
        dparams: &mut [f64],
        d_input: &mut [f64],
        ws: &mut Workspace,
    ) {
        let shifts = &self.shifts;
        let d = Some(d_input);
        match self.net.precision() {
            Precision::F64 => self
                .net
                .backward(shifts, params, net, g, dparams, d, &mut ws.conv),
            Precision::F32 => {
                let ws = &mut ws.lanes;
                self.net
                    .backward_one_f32(shifts, params, net32, g, dparams, d, ws)
            }
        }
    }
}
