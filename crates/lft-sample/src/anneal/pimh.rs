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

/// A PIMH chain: the current pass and the generator of its decisions.
pub struct Pimh<'a> {
    prior: &'a Prior,
    action: &'a dyn Action,
    settings: &'a SmcSettings,
    seed: u64,
    next_pass: u64,
    current: SmcPass,
    rng: Pcg64,
}

impl<'a> Pimh<'a> {
    /// Starts from pass 0.
    pub fn new(
        prior: &'a Prior,
        action: &'a dyn Action,
        settings: &'a SmcSettings,
        seed: u64,
    ) -> Result<Self, AnnealError> {
        let current = smc_pass(prior, action, settings, seed, 0)?;
        Ok(Self {
            prior,
            action,
            settings,
            seed,
            next_pass: 1,
            current,
            rng: stream_rng(seed, PIMH_STREAM),
        })
    }

    /// A fresh pass, accepted with min(1, Ẑ′/Ẑ), then one configuration drawn ∝ W.
    pub fn step(&mut self) -> Result<PimhStep, AnnealError> {
        let proposal = smc_pass(
            self.prior,
            self.action,
            self.settings,
            self.seed,
            self.next_pass,
        )?;
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
}
