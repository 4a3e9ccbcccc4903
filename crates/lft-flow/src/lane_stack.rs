//! [`BijectionStack`] on lane batches: the forward map and its backward pass through every
//! layer for [`LANES`](lft_lattice::LANES) configurations at once, where every layer offers
//! them ([`BijectionStack::has_lanes`]).

use crate::lane_bijection::LaneLayerCache;
use crate::lane_conv::LaneConvScratch;
use crate::stack::BijectionStack;
use lft_lattice::{LANES, Lanes};

/// The buffers of one lane pass through a stack (one per thread, reused).
#[derive(Debug, Clone, Default)]
pub struct LaneStackScratch {
    caches: Vec<LaneLayerCache>,
    ws: LaneConvScratch,
    a: Vec<Lanes>,
    b: Vec<Lanes>,
}

impl BijectionStack {
    /// Whether every layer offers lane batches (the identity stack does).
    pub fn has_lanes(&self) -> bool {
        (0..self.len()).all(|l| self.layer(l).lanes().is_some())
    }

    /// Whether batches should go through lane batches: every layer offers them, and either
    /// the lane kernels are vectorised on this CPU ([`crate::lane_conv::vectorised`]) or a
    /// layer computes in float32 (whose one-configuration passes run the lane kernels anyway).
    /// Otherwise the one-configuration passes, whose matrix products also use AVX2, are faster.
    pub fn prefers_lanes(&self) -> bool {
        let f32 = (0..self.len()).any(|l| self.layer(l).precision() == crate::Precision::F32);
        self.has_lanes() && (crate::lane_conv::vectorised() || f32)
    }

    /// The lane layer `l`.
    fn lane_layer(&self, l: usize) -> &dyn crate::LaneBijection {
        self.layer(l)
            .lanes()
            .expect("lane passes need layers that offer them (BijectionStack::has_lanes)")
    }

    /// y = T(x) for every lane; returns Σ_l log|det ∂f_l| of every lane and keeps the caches
    /// for [`BijectionStack::backward_lanes`]. Panics unless [`BijectionStack::has_lanes`].
    pub fn forward_lanes(
        &self,
        x: &[Lanes],
        y: &mut [Lanes],
        scratch: &mut LaneStackScratch,
    ) -> Lanes {
        let LaneStackScratch { caches, ws, a, b } = scratch;
        a.clear();
        a.extend_from_slice(x);
        b.resize(x.len(), [0.0; LANES]);
        caches.resize(self.len(), LaneLayerCache::default());
        let mut logdet = [0.0; LANES];
        for (l, cache) in caches.iter_mut().enumerate() {
            let p = &self.params()[self.layer_range(l)];
            let layer_logdet = self.lane_layer(l).forward_lanes(p, a, b, cache, ws);
            for (total, ld) in logdet.iter_mut().zip(layer_logdet) {
                *total += ld;
            }
            std::mem::swap(a, b);
        }
        y.copy_from_slice(a);
        logdet
    }

    /// Backward through the last [`BijectionStack::forward_lanes`]: `g` = ∂L/∂y on entry and
    /// ∂L/∂x on return, γ_l = ∂L/∂(Σ log det of lane l); adds ∂L/∂θ, summed over the lanes,
    /// to `grad`.
    pub fn backward_lanes(
        &self,
        scratch: &mut LaneStackScratch,
        g: &mut Vec<Lanes>,
        dlogdet: &Lanes,
        grad: &mut [f64],
    ) {
        let LaneStackScratch { caches, ws, a, .. } = scratch;
        a.resize(g.len(), [0.0; LANES]);
        for l in (0..self.len()).rev() {
            let range = self.layer_range(l);
            let p = &self.params()[range.clone()];
            self.lane_layer(l)
                .backward_lanes(p, &caches[l], g, dlogdet, &mut grad[range], a, ws);
            std::mem::swap(g, a);
        }
    }

    /// Backward through the inverse T⁻¹ on the caches of the last
    /// [`BijectionStack::forward_lanes`] (as [`BijectionStack::inverse_backward`] does on
    /// those of a forward pass): `g` = ∂L/∂x on entry and ∂L/∂y on return, γ_l = ∂L/∂(Σ log
    /// det of lane l); adds ∂L/∂θ, summed over the lanes, to `grad`.
    pub fn inverse_backward_lanes(
        &self,
        scratch: &mut LaneStackScratch,
        g: &mut Vec<Lanes>,
        dlogdet: &Lanes,
        grad: &mut [f64],
    ) {
        let LaneStackScratch { caches, ws, a, .. } = scratch;
        a.resize(g.len(), [0.0; LANES]);
        for l in 0..self.len() {
            let range = self.layer_range(l);
            let p = &self.params()[range.clone()];
            self.lane_layer(l).inverse_backward_lanes(
                p,
                &caches[l],
                g,
                dlogdet,
                &mut grad[range],
                a,
                ws,
            );
            std::mem::swap(g, a);
        }
    }
}
