//! Running several chains: thermalisation, production in parallel, records handed to a sink.

use crate::{HmcChain, HmcParams, HmcRecord, StepSizeTuner};
use lft_action::Action;
use lft_lattice::RngState;
use rayon::prelude::*;
use std::borrow::BorrowMut;
use std::time::{Duration, Instant};

/// Consecutive trajectories of one chain, ready to be stored.
#[derive(Debug, Clone, Copy)]
pub struct ChainBlock<'a> {
    pub chain: usize,
    /// `[k, V]`: the configuration after each trajectory.
    pub configs: &'a [f64],
    pub records: &'a [HmcRecord],
    /// Generator state after each trajectory: the chain continues from (configs[i], rng_after[i]).
    pub rng_after: &'a [RngState],
}

/// Where production records go. `write_block` may buffer; `flush` makes everything durable.
pub trait Sink {
    type Error;
    fn write_block(&mut self, block: &ChainBlock<'_>) -> Result<(), Self::Error>;
    fn flush(&mut self) -> Result<(), Self::Error>;
}

/// Told how far a run has got after each flush.
pub trait Progress {
    fn update(&mut self, summary: &RunSummary);
}

impl Progress for () {
    fn update(&mut self, _: &RunSummary) {}
}

/// Acceptance and energy-violation statistics of the trajectories run so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    pub trajectories: u64,
    pub accepted: u64,
    pub sum_delta_h: f64,
    pub sum_exp_minus_delta_h: f64,
    pub elapsed: Duration,
}

impl RunSummary {
    pub fn add(&mut self, r: &HmcRecord) {
        self.trajectories += 1;
        self.accepted += u64::from(r.accepted);
        self.sum_delta_h += r.delta_h;
        self.sum_exp_minus_delta_h += (-r.delta_h).exp();
    }

    pub fn acceptance(&self) -> f64 {
        self.accepted as f64 / self.trajectories.max(1) as f64
    }

    /// ⟨ΔH⟩.
    pub fn mean_delta_h(&self) -> f64 {
        self.sum_delta_h / self.trajectories.max(1) as f64
    }

    /// ⟨e^{−ΔH}⟩ (1 for an exact, area-preserving integrator).
    pub fn mean_exp_minus_delta_h(&self) -> f64 {
        self.sum_exp_minus_delta_h / self.trajectories.max(1) as f64
    }

    /// Wall-clock seconds per trajectory (all chains together).
    pub fn seconds_per_trajectory(&self) -> f64 {
        self.elapsed.as_secs_f64() / self.trajectories.max(1) as f64
    }
}

/// A Markov chain of HMC-like trajectories that the runners below can drive: it owns
/// everything it needs (a plain [`HmcChain`] is paired with its action by [`WithAction`]).
pub trait MarkovChain: Send {
    /// Why a trajectory could not be completed (a solver failure, say).
    type Error: Send;
    fn trajectory(&mut self) -> Result<HmcRecord, Self::Error>;
    fn field(&self) -> &[f64];
    fn rng_state(&self) -> RngState;
    fn params(&self) -> HmcParams;
    fn set_params(&mut self, params: HmcParams);
}

/// An [`HmcChain`] (owned, or borrowed as `&mut HmcChain`) together with the action it
/// samples.
pub struct WithAction<'a, C = &'a mut HmcChain> {
    pub chain: C,
    pub action: &'a dyn Action,
}

impl<C: BorrowMut<HmcChain> + Send> MarkovChain for WithAction<'_, C> {
    type Error = std::convert::Infallible;
    fn trajectory(&mut self) -> Result<HmcRecord, Self::Error> {
        Ok(self.chain.borrow_mut().trajectory(self.action))
    }
    fn field(&self) -> &[f64] {
        self.chain.borrow().field()
    }
    fn rng_state(&self) -> RngState {
        self.chain.borrow().rng_state()
    }
    fn params(&self) -> HmcParams {
        self.chain.borrow().params()
    }
    fn set_params(&mut self, params: HmcParams) {
        self.chain.borrow_mut().set_params(params)
    }
}

/// Why a run stopped early: the sink failed, or chain `chain` did. Blocks completed before
/// the failure have been written and flushed.
#[derive(Debug)]
pub enum RunError<S, C> {
    Sink(S),
    Chain { chain: usize, error: C },
}

impl<S: std::fmt::Display, C: std::fmt::Display> std::fmt::Display for RunError<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Sink(e) => write!(f, "{e}"),
            RunError::Chain { chain, error } => write!(f, "chain {chain}: {error}"),
        }
    }
}

impl<S, C> std::error::Error for RunError<S, C>
where
    S: std::error::Error + 'static,
    C: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Sink(e) => Some(e),
            RunError::Chain { error, .. } => Some(error),
        }
    }
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
                summary.add(&r);
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
        let s = s.map_err(|e| (c, e))?;
        total.trajectories += s.trajectories;
        total.accepted += s.accepted;
        total.sum_delta_h += s.sum_delta_h;
        total.sum_exp_minus_delta_h += s.sum_exp_minus_delta_h;
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// Runs `remaining[c]` production trajectories on chain c, all chains in parallel, handing
/// blocks to `sink` and flushing about every `flush_every` of wall-clock time.
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
    run_chains(&mut bound, v, remaining, sink, flush_every, progress).map_err(|e| match e {
        RunError::Sink(e) => e,
        RunError::Chain { error, .. } => match error {},
    })
}

/// [`run_production`] for any [`MarkovChain`]s on a lattice of `volume` sites. When a chain
/// fails, what every chain completed before is written and flushed, then the error returns.
pub fn run_chains<C: MarkovChain, S: Sink>(
    chains: &mut [C],
    volume: usize,
    remaining: &[usize],
    sink: &mut S,
    flush_every: Duration,
    progress: &mut dyn Progress,
) -> Result<RunSummary, RunError<S::Error, C::Error>> {
    assert_eq!(chains.len(), remaining.len());
    let start = Instant::now();
    let mut left = remaining.to_vec();
    let mut summary = RunSummary::default();
    type Block<E> = (Vec<f64>, Vec<HmcRecord>, Vec<RngState>, Option<E>);
    while left.iter().any(|&n| n > 0) {
        let deadline = Instant::now() + flush_every;
        let blocks: Vec<Block<C::Error>> = chains
            .par_iter_mut()
            .zip(left.par_iter())
            .map(|(chain, &todo)| {
                let (mut configs, mut records, mut rngs) = (Vec::new(), Vec::new(), Vec::new());
                while records.len() < todo && (records.is_empty() || Instant::now() < deadline) {
                    match chain.trajectory() {
                        Ok(r) => records.push(r),
                        Err(e) => return (configs, records, rngs, Some(e)),
                    }
                    configs.extend_from_slice(chain.field());
                    rngs.push(chain.rng_state());
                }
                (configs, records, rngs, None)
            })
            .collect();
        let mut failure = None;
        for (c, (configs, records, rngs, error)) in blocks.into_iter().enumerate() {
            if let Some(error) = error {
                failure.get_or_insert(RunError::Chain { chain: c, error });
            }
            if records.is_empty() {
                continue;
            }
            debug_assert_eq!(configs.len(), records.len() * volume);
            sink.write_block(&ChainBlock {
                chain: c,
                configs: &configs,
                records: &records,
                rng_after: &rngs,
            })
            .map_err(RunError::Sink)?;
            left[c] -= records.len();
            records.iter().for_each(|r| summary.add(r));
        }
        sink.flush().map_err(RunError::Sink)?;
        summary.elapsed = start.elapsed();
        progress.update(&summary);
        if let Some(f) = failure {
            return Err(f);
        }
    }
    Ok(summary)
}

/// A sink that keeps everything in memory (tests, small runs).
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    /// Per chain: configurations `[N, V]`.
    pub configs: Vec<Vec<f64>>,
    pub records: Vec<Vec<HmcRecord>>,
    pub rng_after: Vec<Vec<RngState>>,
}

impl MemorySink {
    pub fn new(chains: usize) -> Self {
        Self {
            configs: vec![Vec::new(); chains],
            records: vec![Vec::new(); chains],
            rng_after: vec![Vec::new(); chains],
        }
    }
}

impl Sink for MemorySink {
    type Error = std::convert::Infallible;

    fn write_block(&mut self, b: &ChainBlock<'_>) -> Result<(), Self::Error> {
        self.configs[b.chain].extend_from_slice(b.configs);
        self.records[b.chain].extend_from_slice(b.records);
        self.rng_after[b.chain].extend_from_slice(b.rng_after);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
