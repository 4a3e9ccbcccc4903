//! Particle independent Metropolis–Hastings (Andrieu, Doucet, Holenstein 2010): whole SMC
//! passes are the proposals. With Ẑ the estimate of the current pass and Ẑ′ that of a fresh
//! one, the proposal is accepted with probability min(1, Ẑ′/Ẑ); each step reports one
//! configuration drawn ∝ W from the current particle system. The chain is exact for any
//! number of particles (its invariant law is e^{−S}/Z), because Ẑ is unbiased.

use super::smc::{AnnealError, SmcPass, SmcSettings, smc_pass};
use lft_action::Action;
use lft_flow::Prior;
use lft_lattice::{Pcg64, stream_rng, uniform};
use lft_stats::normalized_weights;

/// Random stream of the accept/reject and particle draws of a PIMH chain (its passes use the
/// annealing streams of pass 0, 1, 2, …).
pub const PIMH_STREAM: u64 = (1 << 34) - 1;

/// One PIMH step.
#[derive(Debug, Clone, PartialEq)]
pub struct PimhStep {
    /// The configuration drawn ∝ W from the current particle system.
    pub config: Vec<f64>,
    pub accepted: bool,
    /// log Ẑ of the current pass.
    pub log_z: f64,
}

/// A PIMH chain: the current pass, the source of fresh passes (SMC, AIS or CRAFT evaluation
/// passes, each call with a new pass index) and the generator of its decisions.
pub struct Pimh<F> {
    passes: F,
    next_pass: u64,
    current: SmcPass,
    rng: Pcg64,
}

impl<F: FnMut(u64) -> Result<SmcPass, AnnealError>> Pimh<F> {
    /// Starts from pass 0 of `passes`; the decisions draw from (seed, PIMH_STREAM).
    pub fn new(mut passes: F, seed: u64) -> Result<Self, AnnealError> {
        let current = passes(0)?;
        Ok(Self {
            passes,
            next_pass: 1,
            current,
            rng: stream_rng(seed, PIMH_STREAM),
        })
    }

    /// A fresh pass, accepted with min(1, Ẑ′/Ẑ), then one configuration drawn ∝ W.
    pub fn step(&mut self) -> Result<PimhStep, AnnealError> {
        let proposal = (self.passes)(self.next_pass)?;
        self.next_pass += 1;
        let accepted = uniform(&mut self.rng).ln() < proposal.log_z - self.current.log_z;
        if accepted {
            self.current = proposal;
        }
        let w = normalized_weights(&self.current.log_weights);
        let u = uniform(&mut self.rng);
        let mut acc = 0.0;
        let pick = w
            .iter()
            .position(|wi| {
                acc += wi;
                u < acc
            })
            .unwrap_or(w.len() - 1);
        let v = self.current.particles.len() / w.len();
        Ok(PimhStep {
            config: self.current.particles[pick * v..(pick + 1) * v].to_vec(),
            accepted,
            log_z: self.current.log_z,
        })
    }

    /// The current pass.
    pub fn current(&self) -> &SmcPass {
        &self.current
    }
}

/// A PIMH chain over SMC (or AIS) passes of `settings`.
pub fn smc_pimh<'a>(
    prior: &'a Prior,
    action: &'a dyn Action,
    settings: &'a SmcSettings,
    seed: u64,
) -> Result<Pimh<impl FnMut(u64) -> Result<SmcPass, AnnealError> + 'a>, AnnealError> {
    Pimh::new(
        move |pass| smc_pass(prior, action, settings, seed, pass),
        seed,
    )
}
