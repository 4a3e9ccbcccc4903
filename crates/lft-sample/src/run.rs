//! Driving chains: thermalisation of HMC-like chains, and production in parallel over chains,
//! handing record blocks to a sink.

use crate::{
    Chain, HmcChain, HmcParams, MarkovChain, Recorder, RunSummary, StepSizeTuner, WithAction,
};
use crate::{Stop, stop_requested};
use lft_action::Action;
use lft_records::{RecordBlock, SamplerKind, Sink};
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Why a run stopped early: the sink failed, chain `chain` did, or what a store holds does
/// not fit the run (`M`, [`crate::StoreMismatch`] for [`crate::run`]). Blocks completed before a failure have been written and flushed.
#[derive(Debug)]
pub enum RunError<S, C, M = std::convert::Infallible> {
    Sink(S),
    Chain { chain: usize, error: C },
    Stored(M),
}

impl<S: std::fmt::Display, C: std::fmt::Display, M: std::fmt::Display> std::fmt::Display
    for RunError<S, C, M>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Sink(e) => write!(f, "{e}"),
            RunError::Chain { chain, error } => write!(f, "chain {chain}: {error}"),
            RunError::Stored(m) => write!(f, "{m}"),
        }
    }
}

impl<S, C, M> std::error::Error for RunError<S, C, M>
where
    S: std::error::Error + 'static,
    C: std::error::Error + 'static,
    M: std::fmt::Debug + std::fmt::Display,
{
    /// The inner error's own source: its message is part of this one's already, and a chain
    /// of causes printed in full (`{:#}`) should not repeat it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Sink(e) => e.source(),
            RunError::Chain { error, .. } => error.source(),
            RunError::Stored(_) => None,
        }
    }
}

/// Told how far a run has got after each flush.
pub trait Progress {
    fn update(&mut self, summary: &RunSummary);
}

impl Progress for () {
    fn update(&mut self, _: &RunSummary) {}
}

fn bind<'a>(chains: &'a mut [HmcChain], action: &'a dyn Action) -> Vec<WithAction<'a>> {
    chains
        .iter_mut()
        .map(|chain| WithAction { chain, action })
        .collect()
}

/// Runs `n` thermalisation trajectories on every chain in parallel. With `tune = Some(α*)` the
/// step size of each chain is adapted towards acceptance α* at fixed trajectory length and
/// then frozen. Returns the thermalisation summary.
pub fn thermalize_all(
    chains: &mut [HmcChain],
    action: &dyn Action,
    n: usize,
    tune: Option<f64>,
) -> RunSummary {
    match thermalize_chains(&mut bind(chains, action), n, tune) {
        Ok(summary) => summary,
        Err((_, e)) => match e {},
    }
}

/// [`thermalize_all`] for any [`MarkovChain`]s; stops at the first chain error.
pub fn thermalize_chains<C: MarkovChain>(
    chains: &mut [C],
    n: usize,
    tune: Option<f64>,
) -> Result<RunSummary, (usize, C::Error)> {
    let start = Instant::now();
    let per_chain: Vec<Result<RunSummary, C::Error>> = chains
        .par_iter_mut()
        .map(|chain| {
            let mut summary = RunSummary::default();
            let p = chain.params();
            let mut tuner = tune.map(|target| StepSizeTuner::new(p.step_size, p.length(), target));
            for _ in 0..n {
                let r = chain.trajectory()?;
                summary.add_trajectory(&r);
                if let Some(t) = tuner.as_mut() {
                    let (step_size, n_steps) = t.update(r.delta_h);
                    chain.set_params(HmcParams {
                        step_size,
                        n_steps,
                        ..chain.params()
                    });
                }
            }
            if let Some(t) = tuner {
                let (step_size, n_steps) = t.finish();
                chain.set_params(HmcParams {
                    step_size,
                    n_steps,
                    ..chain.params()
                });
            }
            Ok(summary)
        })
        .collect();
    let mut total = RunSummary::default();
    for (c, s) in per_chain.into_iter().enumerate() {
        total.merge(&s.map_err(|e| (c, e))?);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// Runs `remaining[c]` production trajectories on HMC chain c, all chains in parallel,
/// handing blocks to `sink` and flushing about every `flush_every` of wall-clock time.
///
/// The result does not depend on `flush_every` or on the number of threads: each chain
/// draws only from its own generator.
pub fn run_production<S: Sink>(
    chains: &mut [HmcChain],
    action: &dyn Action,
    remaining: &[usize],
    sink: &mut S,
    flush_every: Duration,
    progress: &mut dyn Progress,
) -> Result<RunSummary, S::Error> {
    let v = action.lattice().volume();
    let mut bound = bind(chains, action);
    let plan = Production::new(SamplerKind::Hmc, v, 1, flush_every);
    run_chains(&mut bound, &plan, remaining, sink, progress).map_err(|e| match e {
        RunError::Sink(e) => e,
        RunError::Chain { error, .. } => match error {},
        RunError::Stored(m) => match m {},
    })
}

/// How production runs: the sampler's record layout, the lattice volume, the storage
/// stride, the flush cadence, and the limits that keep memory bounded.
#[derive(Debug, Clone, Copy)]
pub struct Production {
    pub kind: SamplerKind,
    pub volume: usize,
    /// One step in `save_every` is stored.
    pub save_every: usize,
    /// Wall-clock time between `Sink::flush` calls.
    pub flush_every: Duration,
    /// Steps a chain's position stays a multiple of between calls (a flow chain's proposal
    /// batch), so that its resume points do not move.
    pub granule: usize,
    /// Steps a chain may run ahead of the slowest (`None`: no limit).
    pub max_lead: Option<usize>,
    /// Records a chain hands over at most at once (about 4 MiB of configurations).
    pub max_block: usize,
    /// Ends the run early, after the steps in hand, when requested.
    pub stop: Option<&'static Stop>,
}

impl Production {
    /// Every-step granularity, no lead limit, blocks of about 4 MiB.
    pub fn new(kind: SamplerKind, volume: usize, save_every: usize, flush_every: Duration) -> Self {
        Self {
            kind,
            volume,
            save_every,
            flush_every,
            granule: 1,
            max_lead: None,
            max_block: ((4 << 20) / (8 * volume).max(1)).max(1),
            stop: None,
        }
    }

    /// Steps chain c may take in the next round: its remaining `left`, at most `max_lead`
    /// ahead of the slowest chain (which has `slowest` left), in whole granules unless it
    /// finishes the chain.
    fn allowed(&self, left: usize, slowest: usize) -> usize {
        let Some(lead) = self.max_lead else {
            return left;
        };
        let granule = self.granule.max(1);
        let lead = lead.max(2 * granule);
        let room = lead.saturating_sub(slowest - left);
        if room >= left {
            left
        } else {
            room - room % granule
        }
    }
}

/// Runs `remaining[c]` steps of every chain, all chains in parallel, handing blocks to
/// `sink` (each at most `max_block` records) and flushing about every `flush_every`. When a
/// chain fails, what every chain completed before is written and flushed, then the error
/// returns.
pub fn run_chains<C: Chain, S: Sink>(
    chains: &mut [C],
    plan: &Production,
    remaining: &[usize],
    sink: &mut S,
    progress: &mut dyn Progress,
) -> Result<RunSummary, RunError<S::Error, C::Error>> {
    run_rounds(chains, plan, remaining, sink, progress, advance_each)
}

/// One chain's share of a round of production: the block its records go to, its steps since
/// the last stored one, what it may still do this round, and what it did.
pub struct ChainRound<'a> {
    pub block: &'a mut RecordBlock,
    /// The chain's steps since its last stored one (kept across rounds).
    pub since_saved: &'a mut usize,
    /// Steps the chain may take this round (its remaining steps, within the lead limit).
    pub todo: usize,
    /// Steps it took.
    pub done: usize,
    /// Its steps' summary.
    pub summary: RunSummary,
}

impl ChainRound<'_> {
    /// A recorder for the chain's next steps (one in `save_every` stored).
    pub fn recorder(&mut self, save_every: usize) -> Recorder<'_> {
        Recorder::new(self.block, save_every, self.since_saved, &mut self.summary)
    }
}

/// What bounds a round of production: a chain's block is handed over at `max_rows` records,
/// and the round ends at `deadline` (after at least one step per chain that has any to do)
/// or when a stop is requested.
#[derive(Debug, Clone, Copy)]
pub struct RoundLimits {
    pub deadline: Instant,
    pub max_rows: usize,
    pub save_every: usize,
    pub stop: Option<&'static Stop>,
}

/// A round of production of chains that each advance on their own, all in parallel (one
/// rayon task per chain): chain c takes steps until its `todo`, the deadline, a full block
/// or a stop request. Returns each chain's error, if it failed.
pub fn advance_each<C: Chain>(
    chains: &mut [C],
    rounds: &mut [ChainRound<'_>],
    limits: &RoundLimits,
) -> Vec<Option<C::Error>> {
    chains
        .par_iter_mut()
        .zip(rounds.par_iter_mut())
        .map(|(chain, round)| advance_one(chain, round, limits))
        .collect()
}

/// [`advance_each`] one chain after another on the calling thread: for chains that share
/// one resource, as annealing passes share one GPU.
pub fn advance_in_turn<C: Chain>(
    chains: &mut [C],
    rounds: &mut [ChainRound<'_>],
    limits: &RoundLimits,
) -> Vec<Option<C::Error>> {
    chains
        .iter_mut()
        .zip(rounds.iter_mut())
        .map(|(chain, round)| advance_one(chain, round, limits))
        .collect()
}

/// One chain's part of a round: steps until its `todo`, the deadline, a full block or a stop
/// request.
fn advance_one<C: Chain>(
    chain: &mut C,
    round: &mut ChainRound<'_>,
    limits: &RoundLimits,
) -> Option<C::Error> {
    while round.done < round.todo
        && !stop_requested(limits.stop)
        && (round.done == 0 || Instant::now() < limits.deadline)
        && round.block.len() < limits.max_rows
    {
        let todo = round.todo - round.done;
        let mut rec = round.recorder(limits.save_every);
        let result = chain.advance(todo, &mut rec);
        let steps = rec.steps();
        round.done += steps;
        if let Err(e) = result {
            return Some(e);
        }
    }
    None
}

/// [`run_chains`] with the rounds advanced by `advance` (see [`advance_each`]; a sampler
/// that moves its chains together, a GPU's batch, advances them its own way).
pub fn run_rounds<C: Chain, S: Sink>(
    chains: &mut [C],
    plan: &Production,
    remaining: &[usize],
    sink: &mut S,
    progress: &mut dyn Progress,
    mut advance: impl FnMut(&mut [C], &mut [ChainRound<'_>], &RoundLimits) -> Vec<Option<C::Error>>,
) -> Result<RunSummary, RunError<S::Error, C::Error>> {
    assert_eq!(chains.len(), remaining.len());
    let start = Instant::now();
    let mut left = remaining.to_vec();
    let mut since_saved = vec![0usize; chains.len()];
    let mut summary = RunSummary::default();
    let mut next_flush = Instant::now() + plan.flush_every;
    let max_rows = plan.max_block.max(1);
    // One block per chain, reused round after round (no allocation in steady state).
    let mut blocks: Vec<RecordBlock> = (0..chains.len())
        .map(|c| RecordBlock::new(c, plan.kind, plan.volume))
        .collect();
    while left.iter().any(|&n| n > 0) {
        let slowest = left.iter().copied().max().unwrap_or(0);
        let limits = RoundLimits {
            deadline: next_flush,
            max_rows,
            save_every: plan.save_every,
            stop: plan.stop,
        };
        let mut rounds: Vec<ChainRound<'_>> = blocks
            .iter_mut()
            .zip(since_saved.iter_mut())
            .zip(&left)
            .map(|((block, since_saved), &left)| ChainRound {
                block,
                since_saved,
                todo: plan.allowed(left, slowest),
                done: 0,
                summary: RunSummary::default(),
            })
            .collect();
        let errors = advance(chains, &mut rounds, &limits);
        let mut failure = None;
        for (c, (round, error)) in rounds.into_iter().zip(errors).enumerate() {
            if let Some(error) = error {
                failure.get_or_insert(RunError::Chain { chain: c, error });
            }
            left[c] -= round.done;
            summary.merge(&round.summary);
        }
        for block in &mut blocks {
            if !block.is_empty() {
                sink.write_block(block).map_err(RunError::Sink)?;
                block.clear();
            }
        }
        let finished = left.iter().all(|&n| n == 0);
        summary.stopped = !finished && stop_requested(plan.stop);
        if failure.is_some() || finished || summary.stopped || Instant::now() >= next_flush {
            sink.flush().map_err(RunError::Sink)?;
            next_flush = Instant::now() + plan.flush_every;
        }
        summary.elapsed = start.elapsed();
        progress.update(&summary);
        if let Some(f) = failure {
            return Err(f);
        }
        if summary.stopped {
            break;
        }
    }
    Ok(summary)
}
