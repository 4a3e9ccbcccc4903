//! Sequential Monte Carlo from the prior r to e^{−S} along log π_β = (1 − β) log r − β S, and
//! AIS (the same without resampling): their settings, what a pass reports, and [`smc_pass`].
//!
//! N particles start as exact draws from r (Z_0 = 1) with log w = 0. At each step β → β′:
//!   log w_i += log π_β′(φ_i) − log π_β(φ_i) = (β′ − β)(−S(φ_i) − log r(φ_i)),
//!   log Ẑ += log Σ_i W_i e^{increment_i}   (W the normalised weights before the step),
//! then, if the ESS fraction falls below the threshold, resampling (log w reset to equal), and
//! a Markov move of every particle: HMC trajectories on π_β′ (the loop is in [`super::pass`]).
//! log Ẑ estimates log Z_1 = log ∫ e^{−S} dφ, unbiased for Z (so log Ẑ is biased low by about
//! var(log Ẑ)/2).
//!
//! Pass p uses the streams from [`pass_base`]`(ANNEAL_STREAM, p)`: slot i its own, the
//! resampling another, so results do not depend on the number of threads.

use super::pass::{Observer, pass_base, run_pass};
use super::resample::Resampling;
use super::schedule::{Schedule, ScheduleError};
use crate::hmc::HmcParams;
use lft_action::Action;
use lft_flow::Prior;
use thiserror::Error;

/// Random stream family of annealing passes.
pub const ANNEAL_STREAM: u64 = 1 << 34;

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
    /// Adapt the step size from the move's acceptance: after each temperature the factor on
    /// the interpolated step size is multiplied by e^{acceptance − target} (kept within
    /// [0.05, 20]); `None`: no adaptation.
    pub target_acceptance: Option<f64>,
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
    /// The HMC step size of the move.
    pub step_size: f64,
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
    #[error("anneal: target_acceptance must be in (0, 1), got {0}")]
    TargetAcceptance(f64),
    #[error(
        "anneal: the incremental log weight of particle {particle} is {value} on the way to \
         β = {beta}; a smaller HMC step size or more temperatures may help"
    )]
    NonFinite {
        beta: f64,
        particle: usize,
        value: f64,
    },
    #[error(
        "anneal: CRAFT trains one flow per transition and needs a fixed schedule (linear or a \
         list), not an adaptive one"
    )]
    CraftAdaptive,
    #[error("anneal: {found} CRAFT flows for a schedule of {expected} transitions")]
    FlowCount { expected: usize, found: usize },
    #[error("anneal: learning_rate must be positive and finite, got {0}")]
    LearningRate(f64),
    #[error(
        "anneal: the CRAFT loss of transition {transition} is {value} at iteration {iteration}; \
         a smaller learning rate may help"
    )]
    NonFiniteLoss {
        iteration: u64,
        transition: usize,
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
        if let Some(t) = self.target_acceptance
            && !(t > 0.0 && t < 1.0)
        {
            return Err(AnnealError::TargetAcceptance(t));
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

/// One SMC (or AIS) pass number `pass` of `settings` from `prior` to e^{−S}, on the streams
/// [`pass_base`]`(ANNEAL_STREAM, pass)` onwards.
pub fn smc_pass(
    prior: &Prior,
    action: &dyn Action,
    settings: &SmcSettings,
    seed: u64,
    pass: u64,
) -> Result<SmcPass, AnnealError> {
    smc_pass_observed(prior, action, settings, seed, pass, None)
}

/// [`smc_pass`], telling `observer` of every temperature as it ends.
pub fn smc_pass_observed(
    prior: &Prior,
    action: &dyn Action,
    settings: &SmcSettings,
    seed: u64,
    pass: u64,
    observer: Option<Observer<'_>>,
) -> Result<SmcPass, AnnealError> {
    run_pass(
        prior,
        action,
        settings,
        seed,
        pass_base(ANNEAL_STREAM, pass),
        None,
        observer,
    )
}
