//! What an annealing pass is told and what it tells: [`SmcSettings`] (particles, schedule,
//! resampling or none for AIS, the HMC move), [`TemperatureRecord`] and [`SmcPass`], the
//! named errors [`AnnealError`], and the stream family [`ANNEAL_STREAM`] of SMC passes. The
//! pass itself is [`super::pass`].

use super::resample::Resampling;
use super::schedule::{Schedule, ScheduleError};
use crate::hmc::HmcParams;
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
    /// Particles of zero weight after the step, before any resampling: those whose action is
    /// +∞ (a singular Dirac operator, or a pseudofermion solve that failed; resampling
    /// removes them).
    pub zero_weight: usize,
}

/// The particle system at β = 1 and the estimate of log Z.
#[derive(Debug, Clone, PartialEq)]
pub struct SmcPass {
    /// `[N, V]`.
    pub particles: Vec<f64>,
    /// Unnormalised log weights of the final particles.
    pub log_weights: Vec<f64>,
    /// log Ẑ of the model on φ: the sum of the temperatures' `log_z_increment` minus the
    /// target's [`lft_action::Action::log_z_offset`] (0 unless the state carries
    /// auxiliary fields).
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
        "anneal: every particle has zero weight at β = {beta} (each one's action is +∞); the \
         prior puts no mass where the target does"
    )]
    NoWeight { beta: f64 },
    #[error("anneal on the device: {0}")]
    Device(String),
    #[error("{0}")]
    Unsupported(String),
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
