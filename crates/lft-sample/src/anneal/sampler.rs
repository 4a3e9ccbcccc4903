//! Annealing in the one sampler pipeline: [`PassSampler`] stores pass r of SMC, AIS or CRAFT
//! as chain r, its records the N final particles (S, log W_i + log Ẑ, slot); [`PimhSampler`]
//! stores PIMH chains, one configuration per step. Where the target's state carries auxiliary
//! fields after the scalar field (the joint Yukawa target), only the scalar field is stored
//! and S is the target's action of the whole state. Passes are deterministic functions of
//! their index, so an interrupted chain resumes exactly by running its pass again.

use super::pass::pass_base;
use super::pimh::{PIMH_STREAM, Pimh};
use super::settings::{ANNEAL_STREAM, AnnealError, SmcPass};
use crate::{
    Chain, ChainRound, Recorder, RoundLimits, Sampler, Step, advance_each, advance_in_turn,
};
use lft_action::Action;
use lft_lattice::{RngState, stream_rng};
use lft_records::{ChainMeta, ChainSettings, SamplerKind, StoredRow};
use lft_stats::log_sum_exp;

/// A source of passes: pass index → pass (SMC, AIS or a CRAFT evaluation pass).
pub type PassSource<'a> = dyn Fn(u64) -> Result<SmcPass, AnnealError> + Sync + 'a;

/// What every annealing chain of a run shares.
#[derive(Clone, Copy)]
pub struct AnnealContext<'a> {
    pub passes: &'a PassSource<'a>,
    pub action: &'a dyn Action,
    pub particles: usize,
    /// CRAFT training iterations of the flows (0: none).
    pub flow_step: u64,
    pub seed: u64,
    /// The passes share one device (a GPU holding a pass's particles): chains run their
    /// passes one after another instead of in parallel.
    pub one_pass_at_a_time: bool,
}

impl AnnealContext<'_> {
    /// A round of `chains`: in parallel, or one after another on a shared device.
    fn advance_round<C: Chain>(
        &self,
        chains: &mut [C],
        rounds: &mut [ChainRound<'_>],
        limits: &RoundLimits,
    ) -> Vec<Option<C::Error>> {
        if self.one_pass_at_a_time {
            advance_in_turn(chains, rounds, limits)
        } else {
            advance_each(chains, rounds, limits)
        }
    }
}

/// Passes of SMC, AIS or CRAFT as an ensemble: chain c is pass `first_chain + c`.
pub struct PassSampler<'a> {
    /// `Smc`, `Ais` or `Craft`.
    pub kind: SamplerKind,
    pub context: AnnealContext<'a>,
}

/// One pass, run at its first step, then handed out particle by particle.
pub struct PassChain<'a> {
    sampler: AnnealContext<'a>,
    pass: u64,
    /// The finished pass, with S and log W_i + log Ẑ of every particle.
    system: Option<(SmcPass, Vec<f64>, Vec<f64>)>,
    next: usize,
}

impl PassChain<'_> {
    /// The pass, once run.
    pub fn pass(&self) -> Option<&SmcPass> {
        self.system.as_ref().map(|s| &s.0)
    }

    /// Its index.
    pub fn index(&self) -> u64 {
        self.pass
    }

    fn rng(&self) -> RngState {
        RngState::of(&stream_rng(
            self.sampler.seed,
            pass_base(ANNEAL_STREAM, self.pass),
        ))
    }
}

impl<'a> PassChain<'a> {
    /// Runs the pass if it has not run yet (a resumed chain whose records are all stored
    /// runs it here, for its per-temperature records).
    pub fn ensure_run(&mut self) -> Result<&SmcPass, AnnealError> {
        if self.system.is_none() {
            let pass = (self.sampler.passes)(self.pass)?;
            let v = self.sampler.action.state_len();
            let actions = pass
                .particles
                .chunks_exact(v)
                .map(|phi| self.sampler.action.action(phi))
                .collect();
            // log W_i + log Ẑ: each chain's weights sum to its Ẑ, so chains pooled weight
            // their passes by Ẑ.
            let total = log_sum_exp(&pass.log_weights);
            let log_w = pass
                .log_weights
                .iter()
                .map(|lw| lw - total + pass.log_z)
                .collect();
            self.system = Some((pass, actions, log_w));
        }
        Ok(&self.system.as_ref().expect("just run").0)
    }
}

impl Chain for PassChain<'_> {
    type Error = AnnealError;

    fn advance(&mut self, max: usize, out: &mut Recorder<'_>) -> Result<(), AnnealError> {
        self.ensure_run()?;
        let rng = self.rng();
        let (pass, actions, log_w) = self.system.as_ref().expect("run above");
        let v = pass.particles.len() / actions.len();
        // The stored field: the first components of a state (auxiliary fields are not stored).
        let field = self.sampler.action.field_len();
        let end = (self.next + max).min(actions.len());
        for i in self.next..end {
            out.record(Step {
                config: &pass.particles[i * v..i * v + field],
                values: &[actions[i], log_w[i], i as f64],
                accepted: true,
                rng_after: rng,
                delta_h: None,
                inner: (0, 0),
            });
        }
        self.next = end;
        Ok(())
    }

    fn settings(&self) -> ChainSettings {
        ChainSettings::Anneal {
            particles: self.sampler.particles as u64,
            pass: self.pass,
            flow_step: self.sampler.flow_step,
        }
    }

    fn start_state(&self) -> (Vec<f64>, RngState) {
        (vec![0.0; self.sampler.action.field_len()], self.rng())
    }
}

/// Checks the stored settings of an annealing chain against the run's; returns its pass.
fn stored_pass(meta: &ChainMeta, particles: usize, flow_step: u64) -> Result<u64, String> {
    match meta.settings {
        ChainSettings::Anneal {
            particles: p,
            pass,
            flow_step: f,
        } if p == particles as u64 && f == flow_step => Ok(pass),
        ChainSettings::Anneal { particles: p, .. } if p != particles as u64 => Err(format!(
            "its passes have {p} particles, the run {particles}"
        )),
        ChainSettings::Anneal { flow_step: f, .. } => Err(format!(
            "it was made with CRAFT flows trained {f} iterations, the run's have {flow_step}"
        )),
        _ => Err("it is not an annealing chain".into()),
    }
}

impl<'a> Sampler for PassSampler<'a> {
    type Chain = PassChain<'a>;

    fn kind(&self) -> SamplerKind {
        self.kind
    }

    fn volume(&self) -> usize {
        self.context.action.field_len()
    }

    fn fresh(&self, index: u64) -> PassChain<'a> {
        PassChain {
            sampler: self.context,
            pass: index,
            system: None,
            next: 0,
        }
    }

    fn resume(&self, meta: &ChainMeta, last: Option<&StoredRow>) -> Result<PassChain<'a>, String> {
        let pass = stored_pass(meta, self.context.particles, self.context.flow_step)?;
        let mut chain = self.fresh(pass);
        chain.next = last.map_or(0, |row| row.values[2] as usize + 1);
        Ok(chain)
    }

    fn advance_round(
        &self,
        chains: &mut [PassChain<'a>],
        rounds: &mut [ChainRound<'_>],
        limits: &RoundLimits,
    ) -> Vec<Option<AnnealError>> {
        self.context.advance_round(chains, rounds, limits)
    }
}

/// PIMH chains as an ensemble: chain c proposes passes (1 + c)·2²⁴, (1 + c)·2²⁴ + 1, … of
/// its source and decides on the stream (seed, PIMH_STREAM + c). Its records: the drawn
/// configuration, S, log Ẑ of the current pass, the current pass and the last proposal.
pub struct PimhSampler<'a> {
    pub context: AnnealContext<'a>,
}

/// The first pass of PIMH chain `chain`.
pub fn pimh_first_pass(chain: u64) -> u64 {
    (1 + chain) << 24
}

/// A PIMH chain of the pipeline: started at its first step (which runs the first pass).
pub struct PimhChain<'a> {
    context: AnnealContext<'a>,
    first: u64,
    /// (current pass, next proposal, generator) to start from.
    start: (u64, u64, RngState),
    chain: Option<Pimh>,
}

impl Chain for PimhChain<'_> {
    type Error = AnnealError;

    /// One PIMH step (a whole pass).
    fn advance(&mut self, _max: usize, out: &mut Recorder<'_>) -> Result<(), AnnealError> {
        let mut passes = |p| (self.context.passes)(p);
        if self.chain.is_none() {
            let (current, next, rng) = self.start;
            self.chain = Some(Pimh::resume(&mut passes, current, next, rng.restore())?);
        }
        let chain = self.chain.as_mut().expect("started above");
        let step = chain.step(&mut passes)?;
        let action = self.context.action.action(&step.config);
        let field = self.context.action.field_len();
        out.record(Step {
            config: &step.config[..field],
            values: &[action, step.log_z, step.pass as f64, step.proposal as f64],
            accepted: step.accepted,
            rng_after: chain.rng_state(),
            delta_h: None,
            inner: (0, 0),
        });
        Ok(())
    }

    fn settings(&self) -> ChainSettings {
        ChainSettings::Anneal {
            particles: self.context.particles as u64,
            pass: self.first,
            flow_step: self.context.flow_step,
        }
    }

    fn start_state(&self) -> (Vec<f64>, RngState) {
        (vec![0.0; self.context.action.field_len()], self.start.2)
    }
}

impl<'a> Sampler for PimhSampler<'a> {
    type Chain = PimhChain<'a>;

    fn kind(&self) -> SamplerKind {
        SamplerKind::Pimh
    }

    fn volume(&self) -> usize {
        self.context.action.field_len()
    }

    fn fresh(&self, index: u64) -> PimhChain<'a> {
        let first = pimh_first_pass(index);
        let rng = RngState::of(&stream_rng(self.context.seed, PIMH_STREAM + index));
        PimhChain {
            context: self.context,
            first,
            start: (first, first + 1, rng),
            chain: None,
        }
    }

    fn resume(&self, meta: &ChainMeta, last: Option<&StoredRow>) -> Result<PimhChain<'a>, String> {
        let first = stored_pass(meta, self.context.particles, self.context.flow_step)?;
        let start = match last {
            None => (first, first + 1, meta.start_rng),
            Some(row) => (row.values[2] as u64, row.values[3] as u64 + 1, row.rng),
        };
        Ok(PimhChain {
            context: self.context,
            first,
            start,
            chain: None,
        })
    }

    fn advance_round(
        &self,
        chains: &mut [PimhChain<'a>],
        rounds: &mut [ChainRound<'_>],
        limits: &RoundLimits,
    ) -> Vec<Option<AnnealError>> {
        self.context.advance_round(chains, rounds, limits)
    }
}
