//! The run-time invertibility check of the flow samplers: on the first few proposals of every
//! batch, the inverse map must bring φ = f(z) back to z, and log q through the inverse must
//! equal the log q of the draw ([`lft_flow::RoundTrip`]). Invertible networks can have
//! numerically exploding inverses (Behrmann et al., arXiv:2006.09347); a flow that fails the
//! check would write wrong weights, so sampling stops with [`InverseCheckFailed`] instead.

use lft_flow::diagnostics::{ROUND_TRIP_TOLERANCE, round_trip_warning};
use lft_flow::{FlowSample, Proposal, RoundTrip};
use thiserror::Error;

/// How many proposals of each batch are checked, and the tolerance of
/// [`RoundTrip::exceeds`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InverseCheck {
    /// Proposals checked per batch (0: no check).
    pub per_batch: usize,
    pub tolerance: f64,
}

impl Default for InverseCheck {
    /// Two proposals per batch, tolerance [`ROUND_TRIP_TOLERANCE`].
    fn default() -> Self {
        Self {
            per_batch: 2,
            tolerance: ROUND_TRIP_TOLERANCE,
        }
    }
}

/// A proposal failed the round trip: sampling stopped before its batch was recorded.
#[derive(Debug, Error, Clone, PartialEq)]
#[error(
    "stopped sampling: {}; nothing of this batch was written ({})",
    round_trip_warning(.round_trip, *.tolerance),
    if *.integrated {
        "the flow's ODE is under-resolved: raise flow.steps"
    } else {
        "train with a smaller lr, grad_clip or final_activation = \"tanh\", or check \
         train.checkpoint"
    }
)]
pub struct InverseCheckFailed {
    pub round_trip: RoundTrip,
    pub tolerance: f64,
    /// Whether the flow integrates an ODE (a continuous flow), whose round trip is its
    /// solver's accuracy.
    pub integrated: bool,
}

impl InverseCheck {
    /// Checks the first [`InverseCheck::per_batch`] configurations of `sample`, drawn from
    /// `proposal` (proposals without a latent space pass), within the larger of
    /// [`InverseCheck::tolerance`] and the proposal's own ([`Proposal::round_trip_tolerance`]:
    /// continuous flows round-trip to their solver's accuracy only).
    pub fn check(
        &self,
        proposal: &dyn Proposal,
        sample: &FlowSample,
    ) -> Result<(), InverseCheckFailed> {
        let tolerance = self.tolerance.max(proposal.round_trip_tolerance());
        for i in 0..self.per_batch.min(sample.log_q.len()) {
            if let Some(round_trip) = proposal.round_trip(sample, i)
                && round_trip.exceeds(tolerance)
            {
                return Err(InverseCheckFailed {
                    round_trip,
                    tolerance,
                    integrated: proposal.round_trip_tolerance() > ROUND_TRIP_TOLERANCE,
                });
            }
        }
        Ok(())
    }
}
