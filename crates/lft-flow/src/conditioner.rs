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
use crate::net::ConvNet;
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
        self.net.forward(
            &self.shifts,
            params,
            &cache.frozen,
            &mut cache.net,
            &mut ws.conv,
        );
        cache.st.clear();
        cache.st.extend_from_slice(&cache.net.output);
        let Some(m) = &self.mirror else { return };
        cache.frozen.iter_mut().for_each(|f| *f = -*f);
        self.net.forward(
            &self.shifts,
            params,
            &cache.frozen,
            &mut cache.net_mirror,
            &mut ws.conv,
        );
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
        let shifts = &self.shifts;
        let v = g_net.len() / self.net.out_channels();
        let mut d_frozen = vec![0.0; v];
        let Some(m) = &self.mirror else {
            self.net.backward(
                shifts,
                params,
                &cache.net,
                g_net,
                dparams,
                Some(&mut d_frozen),
                &mut ws.conv,
            );
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
        self.net.backward(
            shifts,
            params,
            &cache.net,
            &half,
            dparams,
            Some(&mut d_frozen),
            &mut ws.conv,
        );
        let mut d_negated = vec![0.0; v];
        self.net.backward(
            shifts,
            params,
            &cache.net_mirror,
            &mirrored,
            dparams,
            Some(&mut d_negated),
            &mut ws.conv,
        );
        d_frozen
            .iter_mut()
            .zip(&d_negated)
            .for_each(|(d, n)| *d -= n);
        d_frozen
    }
}
