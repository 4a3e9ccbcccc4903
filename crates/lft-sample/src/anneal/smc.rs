//! Sequential Monte Carlo from the prior r to e^{−S} along log π_β = (1 − β) log r − β S, and
//! AIS (the same without resampling).
//!
//! N particles start as exact draws from r (Z_0 = 1) with log w = 0. At each step β → β′:
//!   log w_i += (β′ − β) ℓ_i,   ℓ_i = −S(φ_i) − log r(φ_i),
//!   log Ẑ += log Σ_i W_i e^{(β′ − β) ℓ_i}   (W the normalised weights before the step),
//! then, if the ESS fraction falls below the threshold, resampling (log w reset to equal), and
//! a Markov move of every particle: HMC trajectories on π_β′. log Ẑ estimates log Z_1 =
//! log ∫ e^{−S} dφ, unbiased for Z (so log Ẑ is biased low by about var(log Ẑ)/2).
//!
//! Each particle slot i draws from its own stream (seed, ANNEAL_STREAM + pass·2²⁴ + 1 + i) and
//! the resampling from (seed, ANNEAL_STREAM + pass·2²⁴), so results do not depend on the
//! number of threads.

use super::path::Tempered;
use super::resample::Resampling;
use super::schedule::{Schedule, ScheduleError, next_adaptive_beta};
use crate::hmc::{HmcChain, HmcParams};
use lft_action::Action;
use lft_flow::Prior;
use lft_lattice::{Pcg64, RngState, stream_rng};
use lft_stats::{kish_ess, log_sum_exp, normalized_weights};
use rayon::prelude::*;
use thiserror::Error;

/// Random stream family of annealing passes.
pub const ANNEAL_STREAM: u64 = 1 << 34;
/// Streams per pass: the resampling stream and one per particle slot.
const PASS_STREAMS: u64 = 1 << 24;

/// Settings of one SMC or AIS pass.
#[derive(Debug, Clone, PartialEq)]
pub struct SmcSettings {
    pub particles: usize,
    pub schedule: Schedule,
    /// `None`: AIS (never resample).
    pub resampling: Option<Resampling>,
    /// Resample when ESS/N falls below this fraction.
    pub ess_threshold: f64,
    /// The HMC move at each temperature (its step size, unless `step_knots` are given).
    pub hmc: HmcParams,
    /// HMC trajectories per particle and temperature.
    pub trajectories: usize,
    /// (β, ε) knots: the step size at β is interpolated linearly between them (constant
    /// beyond the ends); empty: `hmc.step_size` throughout.
    pub step_knots: Vec<(f64, f64)>,
}

/// What one temperature of a pass did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemperatureRecord {
    pub beta: f64,
    /// ESS/N of the weights after the step, before any resampling.
    pub ess: f64,
    /// log Σ_i W_i e^{(β′ − β) ℓ_i}.
    pub log_z_increment: f64,
    /// Acceptance of the HMC move.
    pub acceptance: f64,
    pub resampled: bool,
}

/// The particle system at β = 1 and the estimate of log Z.
#[derive(Debug, Clone, PartialEq)]
pub struct SmcPass {
    /// `[N, V]`.
    pub particles: Vec<f64>,
    /// Unnormalised log weights of the final particles.
    pub log_weights: Vec<f64>,
    pub log_z: f64,
    pub temperatures: Vec<TemperatureRecord>,
}

/// Why a pass could not run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AnnealError {
    #[error("anneal schedule: {0}")]
    Schedule(#[from] ScheduleError),
    #[error("anneal: {what} must be at least {min}, got {value}")]
    TooSmall {
        what: &'static str,
        min: usize,
        value: usize,
    },
    #[error("anneal: ess_threshold must be in [0, 1], got {0}")]
    Threshold(f64),
    #[error(
        "anneal: the weight of particle {particle} is not finite at β = {beta} (S or log r of \
         its configuration is {value}); a smaller HMC step size or more temperatures may help"
    )]
    NonFinite {
        beta: f64,
        particle: usize,
        value: f64,
    },
}

impl SmcSettings {
    pub fn validate(&self) -> Result<(), AnnealError> {
        self.schedule.validate()?;
        if self.particles < 2 {
            return Err(AnnealError::TooSmall {
                what: "particles",
                min: 2,
                value: self.particles,
            });
        }
        if !(0.0..=1.0).contains(&self.ess_threshold) {
            return Err(AnnealError::Threshold(self.ess_threshold));
        }
        Ok(())
    }

    /// The HMC step size at β.
    pub fn step_size_at(&self, beta: f64) -> f64 {
        let k = &self.step_knots;
        match k.iter().position(|&(b, _)| b >= beta) {
            None if k.is_empty() => self.hmc.step_size,
            None => k[k.len() - 1].1,
            Some(0) => k[0].1,
            Some(j) => {
                let ((b0, e0), (b1, e1)) = (k[j - 1], k[j]);
                e0 + (e1 - e0) * (beta - b0) / (b1 - b0)
            }
        }
    }
}

/// One SMC (or AIS) pass number `pass` of `settings` from `prior` to e^{−S}.
pub fn smc_pass(
    prior: &Prior,
    action: &dyn Action,
    settings: &SmcSettings,
    seed: u64,
    pass: u64,
) -> Result<SmcPass, AnnealError> {
    settings.validate()?;
    let n = settings.particles;
    let v = action.lattice().volume();
    let base = ANNEAL_STREAM + pass * PASS_STREAMS;
    let mut system_rng = stream_rng(seed, base);
    let mut rngs: Vec<Pcg64> = (0..n)
        .map(|i| stream_rng(seed, base + 1 + i as u64))
        .collect();
    let mut particles = vec![0.0; n * v];
    particles
        .par_chunks_exact_mut(v)
        .zip(rngs.par_iter_mut())
        .for_each(|(phi, rng)| prior.sample(rng, phi));
    let mut log_w = vec![0.0; n];
    let mut log_z = 0.0;
    let mut beta = 0.0;
    let fixed = settings.schedule.betas();
    let mut temperatures = Vec::new();
    let mut ancestors = Vec::new();
    while beta < 1.0 {
        let path = Tempered {
            prior,
            action,
            beta,
        };
        let ell: Vec<f64> = particles
            .par_chunks_exact(v)
            .map(|phi| path.log_ratio(phi))
            .collect();
        if let Some(i) = ell.iter().position(|l| !l.is_finite()) {
            return Err(AnnealError::NonFinite {
                beta,
                particle: i,
                value: ell[i],
            });
        }
        let next = match (&fixed, &settings.schedule) {
            (Some(betas), _) => betas[temperatures.len()],
            (None, Schedule::Adaptive { target }) => {
                next_adaptive_beta(beta, &normalized_weights(&log_w), &ell, *target)
            }
            (None, _) => unreachable!("only adaptive schedules have no fixed list"),
        };
        let delta = next - beta;
        // log Σ W_i e^{δ ℓ_i} = log Σ w_i e^{δ ℓ_i} − log Σ w_i.
        let before = log_sum_exp(&log_w);
        log_w
            .iter_mut()
            .zip(&ell)
            .for_each(|(lw, l)| *lw += delta * l);
        let log_z_increment = log_sum_exp(&log_w) - before;
        log_z += log_z_increment;
        let ess_fraction = kish_ess(&log_w);
        let resampled = match settings.resampling {
            Some(scheme) if ess_fraction < settings.ess_threshold => {
                scheme.ancestors(&normalized_weights(&log_w), &mut system_rng, &mut ancestors);
                let old = particles.clone();
                for (slot, &a) in ancestors.iter().enumerate() {
                    particles[slot * v..(slot + 1) * v].copy_from_slice(&old[a * v..(a + 1) * v]);
                }
                log_w.fill(0.0);
                true
            }
            _ => false,
        };
        let target = Tempered {
            prior,
            action,
            beta: next,
        };
        let params = HmcParams {
            step_size: settings.step_size_at(next),
            ..settings.hmc
        };
        let accepted: usize = particles
            .par_chunks_exact_mut(v)
            .zip(rngs.par_iter_mut())
            .map(|(phi, rng)| {
                let mut chain = HmcChain::resume(&target, phi.to_vec(), rng.clone(), params);
                let accepted = (0..settings.trajectories)
                    .filter(|_| chain.trajectory(&target).accepted)
                    .count();
                phi.copy_from_slice(chain.field());
                *rng = RngState::restore(&chain.rng_state());
                accepted
            })
            .sum();
        temperatures.push(TemperatureRecord {
            beta: next,
            ess: ess_fraction,
            log_z_increment,
            acceptance: accepted as f64 / (n * settings.trajectories).max(1) as f64,
            resampled,
        });
        beta = next;
    }
    Ok(SmcPass {
        particles,
        log_weights: log_w,
        log_z,
        temperatures,
    })
}
