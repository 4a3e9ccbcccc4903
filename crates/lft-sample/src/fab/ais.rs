//! One AIS run of FAB: particles drawn from the flow's prior, reweighted and moved by HMC along
//! [`FabPath`] from β = 0 (the flow) to β = 1 (p²/q), with no resampling. Each particle has a
//! generator of its own (streams of one base seed), so a run does not depend on the number of
//! threads.

use super::FabSettings;
use super::lanes::FabPathLanes;
use super::path::FabPath;
use crate::{HmcChain, LaneHmc};
use lft_action::Action;
use lft_flow::Flow;
use lft_lattice::{LANES, Pcg64, lane_gather, lane_scatter, stream_rng};
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
    // Whole groups of LANES particles go through the lane path where it exists, the rest
    // (and everything otherwise) one by one; particle i draws from stream i either way.
    let lane_path = FabPathLanes::new(flow, action, 0.0);
    let grouped = if lane_path.is_some() {
        settings.batch / LANES * LANES
    } else {
        0
    };
    let mut runs: Vec<ParticleRun> = Vec::with_capacity(settings.batch);
    if let Some(path) = &lane_path {
        let groups: Vec<Vec<ParticleRun>> = (0..grouped / LANES)
            .into_par_iter()
            .map(|g| run_lane_group(path, settings, step_size, base, g * LANES))
            .collect();
        runs.extend(groups.into_iter().flatten());
    }
    let rest: Vec<ParticleRun> = (grouped..settings.batch)
        .into_par_iter()
        .map(|i| {
            let rng = stream_rng(base, i as u64);
            run_particle(flow, action, settings, step_size, rng)
        })
        .collect();
    runs.extend(rest);
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

/// [`run_particle`] for the [`LANES`] particles `first …` at once, on lane batches.
fn run_lane_group(
    path: &FabPathLanes<'_>,
    settings: &FabSettings,
    step_size: f64,
    base: u64,
    first: usize,
) -> Vec<ParticleRun> {
    // A path of this group's own (its lane buffers are not shared between threads).
    let path = &path.at(0.0);
    let v = path.volume();
    let mut rngs: Vec<Pcg64> = (0..LANES)
        .map(|l| stream_rng(base, (first + l) as u64))
        .collect();
    let mut z = vec![[0.0; LANES]; v];
    let mut one = vec![0.0; v];
    for (l, rng) in rngs.iter_mut().enumerate() {
        path.prior().sample(rng, &mut one);
        lane_scatter(&one, l, &mut z);
    }
    let mut point = path.points(&z);
    let flow_terms: [f64; LANES] =
        std::array::from_fn(|l| point.log_prior[l] - point.logdet[l] + point.action[l]);
    let mut params = settings.hmc;
    params.step_size = step_size;
    let mut log_w = [0.0; LANES];
    let (mut accepted, mut proposed) = ([0usize; LANES], 0);
    let mut fields = vec![0.0; LANES * v];
    let k = settings.temperatures;
    for step in 1..=k {
        let before = path.at((step - 1) as f64 / k as f64);
        let after = path.at(step as f64 / k as f64);
        let (b, a) = (before.log_density(&point), after.log_density(&point));
        for l in 0..LANES {
            log_w[l] += crate::anneal::path::log_weight_increment(a[l], b[l]);
        }
        if settings.trajectories > 0 {
            for (l, field) in fields.chunks_exact_mut(v).enumerate() {
                lane_gather(&z, l, field);
            }
            let mut hmc = LaneHmc::new(&after, &fields);
            for _ in 0..settings.trajectories {
                let acc = hmc.trajectory(&after, params, &mut rngs);
                for l in 0..LANES {
                    accepted[l] += usize::from(acc[l]);
                }
                proposed += 1;
            }
            hmc.write_fields(&mut fields);
            for (l, field) in fields.chunks_exact(v).enumerate() {
                lane_scatter(field, l, &mut z);
            }
            point = after.points(&z);
        }
    }
    (0..LANES)
        .map(|l| {
            let mut phi = vec![0.0; v];
            lane_gather(&point.phi, l, &mut phi);
            ParticleRun {
                phi,
                log_w: log_w[l],
                log_q: point.log_prior[l] - point.logdet[l],
                flow_term: flow_terms[l],
                accepted: accepted[l],
                proposed,
            }
        })
        .collect()
}
