//! The particles of an annealing pass where they live: what the pass loop
//! ([`super::pass`]) asks of them, as the [`Particles`] trait, and the CPU's batch
//! ([`CpuParticles`]). A GPU keeps its particles in device memory between temperatures and
//! implements the same trait (lft-cuda), so SMC and AIS run the one loop on either.

use super::path::Tempered;
use super::settings::AnnealError;
use crate::LaneHmc;
use crate::hmc::{HmcChain, HmcParams};
use lft_action::Action;
use lft_flow::Prior;
use lft_lattice::{LANES, Pcg64, RngState, stream_rng};
use rayon::prelude::*;

/// N particles of one pass, moved and evaluated where they live.
pub trait Particles {
    /// (S, log r) of every particle: the target's action and the prior's log density.
    fn values(&mut self) -> Result<Vec<(f64, f64)>, AnnealError>;
    /// Σ_j x_j of every particle's state (the keys of sorted resampling).
    fn keys(&mut self) -> Result<Vec<f64>, AnnealError>;
    /// Particle `slot` becomes a copy of particle `ancestors[slot]`, for every slot.
    fn resample(&mut self, ancestors: &[usize]) -> Result<(), AnnealError>;
    /// `trajectories` HMC trajectories of every particle on π_β with `params`: the move of
    /// temperature `temperature` (0, 1, …) of the pass. Returns the number accepted.
    fn hmc_move(
        &mut self,
        beta: f64,
        params: HmcParams,
        trajectories: usize,
        temperature: usize,
    ) -> Result<usize, AnnealError>;
    /// Every particle's state, `[N, state_len]`.
    fn read(&mut self) -> Result<Vec<f64>, AnnealError>;
    /// The states in host memory, where CRAFT's transports move them (`None` on a device,
    /// which runs SMC and AIS only).
    fn host(&mut self) -> Option<&mut [f64]>;
}

/// The first states of a pass whose streams start at `base`: particle i drawn from the prior
/// with the stream (seed, base + 1 + i), which it keeps for its HMC moves on the CPU.
pub fn initial_particles(
    prior: &Prior,
    state_len: usize,
    n: usize,
    seed: u64,
    base: u64,
) -> (Vec<f64>, Vec<Pcg64>) {
    let mut rngs: Vec<Pcg64> = (0..n)
        .map(|i| stream_rng(seed, base + 1 + i as u64))
        .collect();
    let mut particles = vec![0.0; n * state_len];
    particles
        .par_chunks_exact_mut(state_len)
        .zip(rngs.par_iter_mut())
        .for_each(|(phi, rng)| prior.sample(rng, phi));
    (particles, rngs)
}

/// The CPU's particles: one `[N, V]` batch, each particle with its own generator; work in
/// parallel over particles in fixed chunks, so results do not depend on the thread count.
pub struct CpuParticles<'a> {
    prior: &'a Prior,
    action: &'a dyn Action,
    particles: Vec<f64>,
    rngs: Vec<Pcg64>,
}

impl<'a> CpuParticles<'a> {
    /// N exact draws from the prior ([`initial_particles`]).
    pub fn new(prior: &'a Prior, action: &'a dyn Action, n: usize, seed: u64, base: u64) -> Self {
        let (particles, rngs) = initial_particles(prior, action.state_len(), n, seed, base);
        Self {
            prior,
            action,
            particles,
            rngs,
        }
    }
}

impl Particles for CpuParticles<'_> {
    fn values(&mut self) -> Result<Vec<(f64, f64)>, AnnealError> {
        let (prior, action) = (self.prior, self.action);
        Ok(self
            .particles
            .par_chunks_exact(action.state_len())
            .map(|phi| (action.action(phi), prior.log_prob(phi)))
            .collect())
    }

    fn keys(&mut self) -> Result<Vec<f64>, AnnealError> {
        Ok(self
            .particles
            .chunks_exact(self.action.state_len())
            .map(|phi| phi.iter().sum())
            .collect())
    }

    fn resample(&mut self, ancestors: &[usize]) -> Result<(), AnnealError> {
        let v = self.action.state_len();
        let old = self.particles.clone();
        for (slot, &a) in ancestors.iter().enumerate() {
            self.particles[slot * v..(slot + 1) * v].copy_from_slice(&old[a * v..(a + 1) * v]);
        }
        Ok(())
    }

    fn hmc_move(
        &mut self,
        beta: f64,
        params: HmcParams,
        trajectories: usize,
        _temperature: usize,
    ) -> Result<usize, AnnealError> {
        let target = Tempered {
            prior: self.prior,
            action: self.action,
            beta,
        };
        Ok(hmc_move(
            &target,
            params,
            trajectories,
            &mut self.particles,
            &mut self.rngs,
        ))
    }

    fn read(&mut self) -> Result<Vec<f64>, AnnealError> {
        Ok(self.particles.clone())
    }

    fn host(&mut self) -> Option<&mut [f64]> {
        Some(&mut self.particles)
    }
}

/// `trajectories` HMC trajectories on `target` for every particle, each from its own stream;
/// returns the number accepted. Where the target offers lane batches, whole groups of
/// [`LANES`] particles move together ([`LaneHmc`], bit-identical to one chain per particle).
fn hmc_move(
    target: &Tempered<'_>,
    params: HmcParams,
    trajectories: usize,
    particles: &mut [f64],
    rngs: &mut [Pcg64],
) -> usize {
    let v = target.action.state_len();
    let Some(lanes) = target.lanes() else {
        return hmc_move_one_by_one(target, params, trajectories, particles, rngs);
    };
    let grouped = rngs.len() / LANES * LANES;
    let (groups, rest) = particles.split_at_mut(grouped * v);
    let (group_rngs, rest_rngs) = rngs.split_at_mut(grouped);
    let in_groups: usize = groups
        .par_chunks_exact_mut(LANES * v)
        .zip(group_rngs.par_chunks_exact_mut(LANES))
        .map(|(fields, rngs)| {
            let mut hmc = LaneHmc::new(&lanes, fields);
            let accepted: usize = (0..trajectories)
                .map(|_| {
                    let lanes = hmc.trajectory(&lanes, params, rngs);
                    lanes.iter().filter(|&&a| a).count()
                })
                .sum();
            hmc.write_fields(fields);
            accepted
        })
        .sum();
    in_groups + hmc_move_one_by_one(target, params, trajectories, rest, rest_rngs)
}

/// [`hmc_move`] with one [`HmcChain`] per particle.
fn hmc_move_one_by_one(
    target: &Tempered<'_>,
    params: HmcParams,
    trajectories: usize,
    particles: &mut [f64],
    rngs: &mut [Pcg64],
) -> usize {
    let v = target.action.state_len();
    particles
        .par_chunks_exact_mut(v)
        .zip(rngs.par_iter_mut())
        .map(|(phi, rng)| {
            let mut chain = HmcChain::resume(target, phi.to_vec(), rng.clone(), params);
            let accepted = (0..trajectories)
                .filter(|_| chain.trajectory(target).accepted)
                .count();
            phi.copy_from_slice(chain.field());
            *rng = RngState::restore(&chain.rng_state());
            accepted
        })
        .sum()
}
