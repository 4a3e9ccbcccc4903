//! One AIS run of FAB: particles drawn from the flow's prior, reweighted and moved by HMC along
//! [`FabPath`] from β = 0 (the flow) to β = 1 (p²/q), with no resampling. Each particle has a
//! generator of its own (streams of one base seed), so a run does not depend on the number of
//! threads.

use super::FabSettings;
use super::path::FabPath;
use crate::HmcChain;
use lft_action::Action;
use lft_flow::Flow;
use lft_lattice::{Pcg64, stream_rng};
use rayon::prelude::*;

/// What an AIS run returns: configurations φ = f(z) of the final particles with their log
/// weights for g = p²/q, and what the flow's own draws (the particles at β = 0) say of it.
#[derive(Debug, Clone, PartialEq)]
pub struct AisBatch {
    /// `[n, V]`: the final particles, mapped through the flow.
    pub phi: Vec<f64>,
    /// Unnormalised AIS log weights for g ∝ p²/q_θ.
    pub log_w: Vec<f64>,
    /// log q_θ(φ) of the final particles (θ of this run), r(z) e^{−log|det|}.
    pub log_q: Vec<f64>,
    /// log q + S of the initial particles, independent draws of the flow: the terms of the
    /// reverse KL, from which the flow's ESS and acceptance follow.
    pub flow_terms: Vec<f64>,
    /// Acceptance of the HMC moves over the run.
    pub acceptance: f64,
}

/// What one particle's run produced.
struct ParticleRun {
    phi: Vec<f64>,
    log_w: f64,
    log_q: f64,
    flow_term: f64,
    accepted: usize,
    proposed: usize,
}

/// One AIS run of `settings.batch` particles at HMC step size `step_size`, the particles' streams
/// taken from one seed drawn from `rng`.
pub fn fab_ais(
    flow: &Flow,
    action: &dyn Action,
    settings: &FabSettings,
    step_size: f64,
    rng: &mut Pcg64,
) -> AisBatch {
    let base = lft_lattice::draw_u64(rng);
    let runs: Vec<ParticleRun> = (0..settings.batch)
        .into_par_iter()
        .map(|i| {
            run_particle(
                flow,
                action,
                settings,
                step_size,
                stream_rng(base, i as u64),
            )
        })
        .collect();
    let v = flow.field_len();
    let mut batch = AisBatch {
        phi: Vec::with_capacity(settings.batch * v),
        log_w: Vec::with_capacity(settings.batch),
        log_q: Vec::with_capacity(settings.batch),
        flow_terms: Vec::with_capacity(settings.batch),
        acceptance: 0.0,
    };
    let (mut accepted, mut proposed) = (0, 0);
    for r in runs {
        batch.phi.extend_from_slice(&r.phi);
        batch.log_w.push(r.log_w);
        batch.log_q.push(r.log_q);
        batch.flow_terms.push(r.flow_term);
        accepted += r.accepted;
        proposed += r.proposed;
    }
    batch.acceptance = accepted as f64 / proposed.max(1) as f64;
    batch
}

/// One particle from z ~ r through the temperatures β_k = k/K: the weight increment
/// log π_{β_k}(z) − log π_{β_{k−1}}(z), then `trajectories` HMC trajectories at β_k.
fn run_particle(
    flow: &Flow,
    action: &dyn Action,
    settings: &FabSettings,
    step_size: f64,
    mut rng: Pcg64,
) -> ParticleRun {
    let v = flow.field_len();
    let mut z = vec![0.0; v];
    flow.prior().sample(&mut rng, &mut z);
    let at = |beta: f64| FabPath { flow, action, beta };
    let mut point = at(0.0).point(&z);
    let flow_term = point.log_q() + point.action;
    let mut params = settings.hmc;
    params.step_size = step_size;
    let mut chain = HmcChain::resume(&at(0.0), z, rng, params);
    let (mut log_w, mut accepted, mut proposed) = (0.0, 0, 0);
    let k = settings.temperatures;
    for step in 1..=k {
        let (before, after) = (at((step - 1) as f64 / k as f64), at(step as f64 / k as f64));
        log_w += crate::anneal::path::log_weight_increment(
            after.log_density(&point),
            before.log_density(&point),
        );
        if settings.trajectories > 0 {
            let s = -after.log_density(&point);
            let z = chain.field().to_vec();
            chain.set_field_with_action(&after, &z, s);
            for _ in 0..settings.trajectories {
                let record = chain.trajectory(&after);
                accepted += usize::from(record.accepted);
                proposed += 1;
            }
            point = after.point(chain.field());
        }
    }
    let log_q = point.log_q();
    ParticleRun {
        phi: point.phi,
        log_w,
        log_q,
        flow_term,
        accepted,
        proposed,
    }
}
