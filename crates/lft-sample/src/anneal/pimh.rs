//! Particle independent Metropolis–Hastings (Andrieu, Doucet, Holenstein 2010): whole SMC
//! (or CRAFT) passes are the proposals. With Ẑ the estimate of the current pass and Ẑ′ that of
//! a fresh one, the proposal is accepted with probability min(1, Ẑ′/Ẑ); each step reports one
//! configuration drawn ∝ W from the current particle system. The chain is exact for any
//! number of particles (its invariant law is e^{−S}/Z), because Ẑ is unbiased.
//!
//! The chain is handed its source of passes at every step (pass index → pass), so that it
//! can be stored and resumed: its state is the index of the current pass (rerun on resume,
//! passes being deterministic), the index of the next proposal and its generator.

use super::pass::smc_pass;
use super::settings::{AnnealError, SmcPass, SmcSettings};
use lft_action::Action;
use lft_flow::Prior;
use lft_lattice::{Pcg64, RngState, stream_rng, uniform};
use lft_stats::normalized_weights;

/// First random stream of the accept/reject and particle draws of PIMH chains (chain c uses
/// PIMH_STREAM + c).
pub const PIMH_STREAM: u64 = 1 << 61;

/// One PIMH step.
#[derive(Debug, Clone, PartialEq)]
pub struct PimhStep {
    /// The configuration drawn ∝ W from the current particle system.
    pub config: Vec<f64>,
    pub accepted: bool,
    /// log Ẑ of the current pass.
    pub log_z: f64,
    /// Index of the current pass.
    pub pass: u64,
    /// Index of the pass proposed in this step.
    pub proposal: u64,
}

/// A PIMH chain: the current pass and the generator of its decisions.
#[derive(Debug, Clone)]
pub struct Pimh {
    current: SmcPass,
    current_pass: u64,
    next_pass: u64,
    rng: Pcg64,
}

impl Pimh {
    /// Starts from pass `first` of `passes`; later proposals are passes first + 1, first + 2, ….
    pub fn new(
        passes: &mut impl FnMut(u64) -> Result<SmcPass, AnnealError>,
        first: u64,
        rng: Pcg64,
    ) -> Result<Self, AnnealError> {
        Self::resume(passes, first, first + 1, rng)
    }

    /// Continues a chain whose current pass is `current_pass` and whose next proposal is
    /// `next_pass`, with generator `rng` (the current pass is run again).
    pub fn resume(
        passes: &mut impl FnMut(u64) -> Result<SmcPass, AnnealError>,
        current_pass: u64,
        next_pass: u64,
        rng: Pcg64,
    ) -> Result<Self, AnnealError> {
        Ok(Self {
            current: passes(current_pass)?,
            current_pass,
            next_pass,
            rng,
        })
    }

    /// A fresh pass, accepted with min(1, Ẑ′/Ẑ), then one configuration drawn ∝ W.
    pub fn step(
        &mut self,
        passes: &mut impl FnMut(u64) -> Result<SmcPass, AnnealError>,
    ) -> Result<PimhStep, AnnealError> {
        let proposal_index = self.next_pass;
        let proposal = passes(proposal_index)?;
        self.next_pass += 1;
        let accepted = uniform(&mut self.rng).ln() < proposal.log_z - self.current.log_z;
        if accepted {
            self.current = proposal;
            self.current_pass = proposal_index;
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
            pass: self.current_pass,
            proposal: proposal_index,
        })
    }

    /// The current pass.
    pub fn current(&self) -> &SmcPass {
        &self.current
    }

    pub fn rng_state(&self) -> RngState {
        RngState::of(&self.rng)
    }
}

/// A source of passes by index, as [`Pimh::step`] takes it.
pub trait PassFn: FnMut(u64) -> Result<SmcPass, AnnealError> {}
impl<F: FnMut(u64) -> Result<SmcPass, AnnealError>> PassFn for F {}

/// A PIMH chain over SMC (or AIS) passes of `settings`, from pass 0, with the decisions of
/// stream (seed, PIMH_STREAM); returns the chain and its source of passes.
pub fn smc_pimh<'a>(
    prior: &'a Prior,
    action: &'a dyn Action,
    settings: &'a SmcSettings,
    seed: u64,
) -> Result<(Pimh, impl PassFn + 'a), AnnealError> {
    let mut passes = move |pass| smc_pass(prior, action, settings, seed, pass);
    let chain = Pimh::new(&mut passes, 0, stream_rng(seed, PIMH_STREAM))?;
    Ok((chain, passes))
}
