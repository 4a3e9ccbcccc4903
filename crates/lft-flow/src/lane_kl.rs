//! The reverse-KL loss of [`crate::kl`] on lane batches: a full chunk of
//! [`LANES`] configurations goes through the flow at once ([`BijectionStack::forward_lanes`]
//! and its backward passes) and through the action's [`LaneAction`], with the formulas of
//! [`Flow::reverse_kl`] and [`Flow::reverse_kl_path`]. Equal to the one-configuration passes
//! to rounding (the convolutions sum in another order), so a training run on lanes is the
//! same run to about 1e-12 per step.
//!
//! [`BijectionStack::forward_lanes`]: crate::BijectionStack::forward_lanes

use crate::flow::Flow;
use crate::lane_stack::LaneStackScratch;
use lft_action::{Action, LaneAction};
use lft_lattice::{LANES, Lanes, lane_gather, lane_scatter};

/// Which gradient of the reverse KL a lane chunk computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KlGradient {
    /// ∇S · ∂φ/∂θ − ∂ log|det J|/∂θ.
    Total,
    /// [∇_φ (log q_θ + S)] · ∂φ/∂θ at fixed θ in log q.
    Path,
}

/// `[LANES, V]` configurations back to back as one lane batch `[V]`.
pub(crate) fn interleave(chunk: &[f64], v: usize) -> Vec<Lanes> {
    let mut out = vec![[0.0; LANES]; v];
    for (l, c) in chunk.chunks_exact(v).enumerate() {
        lane_scatter(c, l, &mut out);
    }
    out
}

impl Flow {
    /// The action's lane batches, where it offers them and the flow prefers them
    /// ([`crate::BijectionStack::prefers_lanes`]).
    pub(crate) fn lane_action<'a>(&self, action: &'a dyn Action) -> Option<&'a dyn LaneAction> {
        if self.stack().prefers_lanes() {
            action.lanes()
        } else {
            None
        }
    }

    /// One full chunk `zc` `[LANES, V]` of the reverse KL: returns the per-sample terms
    /// log r(z) − log|det J| + S(φ) and adds the chunk's share of ∂L/∂θ (1/n per sample) to
    /// `grad`; `unused` receives the discarded parameter gradient of the path gradient's
    /// inverse pass.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reverse_kl_lanes(
        &self,
        action: &dyn LaneAction,
        zc: &[f64],
        inv_n: f64,
        gradient: KlGradient,
        scratch: &mut LaneStackScratch,
        grad: &mut [f64],
        unused: &mut [f64],
    ) -> Vec<f64> {
        let v = self.field_len();
        let stack = self.stack();
        let z = interleave(zc, v);
        let mut phi = vec![[0.0; LANES]; v];
        let logdet = stack.forward_lanes(&z, &mut phi, scratch);
        let s = action.lane_action(&phi);
        let terms = zc
            .chunks_exact(v)
            .enumerate()
            .map(|(l, zb)| self.prior().log_prob(zb) - logdet[l] + s[l])
            .collect();
        let mut g = vec![[0.0; LANES]; v];
        match gradient {
            KlGradient::Total => {
                action.lane_scaled_gradient(&phi, &mut g, inv_n, 0.0);
                stack.backward_lanes(scratch, &mut g, &[-inv_n; LANES], grad);
            }
            KlGradient::Path => {
                // g_log_q = −∇_φ log q(φ), backward through the inverse at fixed θ on the
                // forward caches, as in `Flow::reverse_kl_path`.
                let mut g_log_q = vec![[0.0; LANES]; v];
                let mut one = vec![0.0; v];
                for (l, zb) in zc.chunks_exact(v).enumerate() {
                    self.prior().grad_neg_log_prob(zb, &mut one);
                    lane_scatter(&one, l, &mut g_log_q);
                }
                stack.inverse_backward_lanes(scratch, &mut g_log_q, &[1.0; LANES], unused);
                action.lane_scaled_gradient(&phi, &mut g, 1.0, 0.0);
                for (x, gq) in g.iter_mut().zip(&g_log_q) {
                    for l in 0..LANES {
                        x[l] = (x[l] - gq[l]) * inv_n;
                    }
                }
                stack.backward_lanes(scratch, &mut g, &[0.0; LANES], grad);
            }
        }
        terms
    }

    /// φ = T(z) of a full chunk `zc` `[LANES, V]` on lanes, written into `phi` `[LANES, V]`;
    /// returns the log|det J| of every configuration.
    pub(crate) fn forward_lanes_chunk(
        &self,
        zc: &[f64],
        phi: &mut [f64],
        scratch: &mut LaneStackScratch,
    ) -> Vec<f64> {
        let v = self.field_len();
        let z = interleave(zc, v);
        let mut y = vec![[0.0; LANES]; v];
        let logdet = self.stack().forward_lanes(&z, &mut y, scratch);
        for (l, p) in phi.chunks_exact_mut(v).enumerate() {
            lane_gather(&y, l, p);
        }
        logdet.to_vec()
    }
}
