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
        let deadline = next_flush;
        let slowest = left.iter().copied().max().unwrap_or(0);
        type Round<E> = (RunSummary, usize, Option<E>);
        let rounds: Vec<Round<C::Error>> = chains
            .par_iter_mut()
            .zip(blocks.par_iter_mut())
            .zip(left.par_iter())
            .zip(since_saved.par_iter_mut())
            .map(|(((chain, block), &left), since)| {
                let mut s = RunSummary::default();
                let mut done = 0;
                let todo = plan.allowed(left, slowest);
                while done < todo
                    && !stop_requested(plan.stop)
                    && (done == 0 || Instant::now() < deadline)
                    && block.len() < max_rows
                {
                    let mut rec = Recorder::new(block, plan.save_every, since, &mut s);
                    let result = chain.advance(todo - done, &mut rec);
                    done += rec.steps();
                    if let Err(e) = result {
                        return (s, done, Some(e));
                    }
                }
                (s, done, None)
            })
            .collect();
        let mut failure = None;
        for (c, (s, done, error)) in rounds.into_iter().enumerate() {
            if let Some(error) = error {
                failure.get_or_insert(RunError::Chain { chain: c, error });
            }
            left[c] -= done;
            summary.merge(&s);
            if !blocks[c].is_empty() {
                sink.write_block(&blocks[c]).map_err(RunError::Sink)?;
                blocks[c].clear();
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
