//! The transport step of CRAFT: every particle moved by the transition's flow T from π_β
//! towards π_β′, its incremental log weight
//!   log π_β′(T x) + log|det ∂T/∂x|(x) − log π_β(x),
//! and, while training, the transition loss and its gradient in T's parameters.
//!
//! Particles go in fixed chunks of [`TRANSPORT_CHUNK`] (reduced in order, so results do not
//! depend on the number of threads). Inside a chunk, groups of [`LANES`] particles go through
//! the lane-batched flow and target ([`BijectionStack::forward_lanes`], [`TemperedLanes`])
//! where both offer it (coupling flows, φ⁴ with the standard normal prior); the others one at
//! a time. The two agree to rounding (the lane convolutions use fused multiply-adds). A flow
//! moves the scalar field only: the auxiliary fields of a longer state (the pseudofermion of
//! the joint Yukawa target) pass through, T(φ, ϕ) = (T(φ), ϕ), with the same log|det|.

use super::path::{Tempered, TemperedLanes, log_weight_increment};
use crate::LaneTarget;
use lft_action::Action;
use lft_flow::{BijectionStack, LaneStackScratch};
use lft_lattice::{LANES, Lanes, lane_gather, lane_scatter};
use rayon::prelude::*;

/// Particles per parallel work item of a transport (fixed, so that sums do not depend on the
/// number of threads; a multiple of [`LANES`]).
const TRANSPORT_CHUNK: usize = 16;

/// The loss of one transition's transport and its gradient in the transport's parameters:
///   L = Σ_i W_i δ_i,   δ_i = log π_β(x_i) − log π_β′(T x_i) − log|det ∂T/∂x|(x_i),
/// with the inputs x_i and weights W_i held constant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransitionLoss {
    pub loss: f64,
    pub grad: Vec<f64>,
}

/// What one chunk of particles contributes.
struct ChunkResult {
    increments: Vec<f64>,
    loss: f64,
    grad: Vec<f64>,
}

/// Moves every particle by `flow` from π_`from` towards π_`to` and returns the increments
/// log π_to(T x) + log|det| − log π_from(x); with `loss`, adds the transition loss
/// Σ_i W_i δ_i (δ_i = −increment_i) and its parameter gradient: backward through T with the
/// upstream ∂L/∂y = W_i ∇S_to(y) and ∂L/∂log|det| = −W_i.
pub(crate) fn transport_step(
    flow: &BijectionStack,
    from: &Tempered<'_>,
    to: &Tempered<'_>,
    particles: &mut [f64],
    weights: &[f64],
    loss: Option<&mut TransitionLoss>,
) -> Vec<f64> {
    // The flow moves the field (scalar or links), the first `field` of a state's `v`
    // components; the rest (a pseudofermion of the joint Yukawa target) passes through
    // unchanged.
    let v = to.action.state_len();
    let field = to.action.field_len();
    let train = loss.is_some();
    let n_params = flow.n_params();
    let lanes = match (flow.has_lanes(), from.lanes(), to.lanes()) {
        (true, Some(from), Some(to)) => Some((from, to)),
        _ => None,
    };
    let chunks: Vec<ChunkResult> = particles
        .par_chunks_mut(TRANSPORT_CHUNK * v)
        .zip(weights.par_chunks(TRANSPORT_CHUNK))
        .map(|(chunk, w)| {
            let mut result = ChunkResult {
                increments: Vec::with_capacity(w.len()),
                loss: 0.0,
                grad: vec![0.0; if train { n_params } else { 0 }],
            };
            let grouped = if lanes.is_some() {
                w.len() / LANES * LANES
            } else {
                0
            };
            let (groups, rest) = chunk.split_at_mut(grouped * v);
            if let Some((from, to)) = &lanes {
                let mut scratch = LaneStackScratch::default();
                for (x, w) in groups
                    .chunks_exact_mut(LANES * v)
                    .zip(w.chunks_exact(LANES))
                {
                    let w: &Lanes = w.try_into().expect("a whole group");
                    let lane = (from, to, &mut scratch);
                    transport_lanes(flow, lane, x, w, train, &mut result);
                }
            }
            // Only the particles left over from whole lane groups need the one-by-one buffers.
            let mut scratch = (!rest.is_empty()).then(|| flow.scratch(field));
            for (x, &wi) in rest.chunks_exact_mut(v).zip(&w[grouped..]) {
                let scratch = scratch.as_mut().expect("made for a non-empty rest");
                transport_one(flow, from, to, scratch, x, wi, train, &mut result);
            }
            result
        })
        .collect();
    if let Some(total) = loss {
        total.grad.resize(n_params, 0.0);
        for chunk in &chunks {
            total.loss += chunk.loss;
            total
                .grad
                .iter_mut()
                .zip(&chunk.grad)
                .for_each(|(t, g)| *t += g);
        }
    }
    chunks.into_iter().flat_map(|c| c.increments).collect()
}

/// One particle x (weight `wi`) through the one-configuration flow.
#[allow(clippy::too_many_arguments)]
fn transport_one(
    flow: &BijectionStack,
    from: &Tempered<'_>,
    to: &Tempered<'_>,
    scratch: &mut lft_flow::StackScratch,
    x: &mut [f64],
    wi: f64,
    train: bool,
    result: &mut ChunkResult,
) {
    let v = x.len();
    let field = to.action.field_len();
    let mut y = x.to_vec();
    let before = from.log_density(from.action.action(x), from.prior.log_prob(x));
    let logdet = flow.forward(&x[..field], &mut y[..field], scratch);
    let after = to.log_density(to.action.action(&y), to.prior.log_prob(&y));
    let increment = log_weight_increment(after + logdet, before);
    if train {
        let mut g = vec![0.0; v];
        to.gradient(&y, &mut g);
        g.truncate(field);
        g.iter_mut().for_each(|gi| *gi *= wi);
        flow.backward(scratch, &mut g, -wi, &mut result.grad);
        result.loss -= wi * increment;
    }
    x.copy_from_slice(&y);
    result.increments.push(increment);
}

/// [`LANES`] particles (`[LANES][V]` row-major, weights `w`) through the lane-batched flow
/// and targets: log π = −S_β of [`TemperedLanes`].
fn transport_lanes(
    flow: &BijectionStack,
    (from, to, scratch): (
        &TemperedLanes<'_>,
        &TemperedLanes<'_>,
        &mut LaneStackScratch,
    ),
    fields: &mut [f64],
    w: &Lanes,
    train: bool,
    result: &mut ChunkResult,
) {
    let v = fields.len() / LANES;
    let mut x = vec![[0.0; LANES]; v];
    for (l, field) in fields.chunks_exact(v).enumerate() {
        lane_scatter(field, l, &mut x);
    }
    let before = from.action(&x);
    let mut y = vec![[0.0; LANES]; v];
    let logdet = flow.forward_lanes(&x, &mut y, scratch);
    let after = to.action(&y);
    let increments: Lanes = std::array::from_fn(|l| -after[l] + logdet[l] - -before[l]);
    if train {
        let mut g = vec![[0.0; LANES]; v];
        to.gradient(&y, &mut g);
        for site in g.iter_mut() {
            for l in 0..LANES {
                site[l] *= w[l];
            }
        }
        flow.backward_lanes(scratch, &mut g, &w.map(|w| -w), &mut result.grad);
        for l in 0..LANES {
            result.loss -= w[l] * increments[l];
        }
    }
    for (l, field) in fields.chunks_exact_mut(v).enumerate() {
        lane_gather(&y, l, field);
    }
    result.increments.extend_from_slice(&increments);
}
