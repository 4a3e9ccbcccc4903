//! Driving chains: the [`Chain`] interface every sampler implements, thermalisation of
//! HMC-like chains, and production in parallel over chains, handing record blocks to a sink.

use crate::{HmcChain, HmcParams, HmcRecord, StepSizeTuner};
use lft_action::Action;
use lft_lattice::RngState;
use lft_records::{ChainSettings, RecordBlock, SamplerKind, Sink};
use rayon::prelude::*;
use std::borrow::BorrowMut;
use std::time::{Duration, Instant};

/// What one step of a chain produced, as handed to a [`Recorder`].
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The configuration after the step.
    pub config: &'a [f64],
    /// One value per column of the sampler ([`SamplerKind::columns`]).
    pub values: &'a [f64],
    /// Whether the step's proposal was accepted.
    pub accepted: bool,
    /// The generator state the chain continues from after this step.
    pub rng_after: RngState,
    /// ΔH of an HMC proposal (for ⟨ΔH⟩ and ⟨e^{−ΔH}⟩).
    pub delta_h: Option<f64>,
    /// HMC trajectories run and accepted inside the step (flow-HMC).
    pub inner: (u64, u64),
}

/// Acceptance and energy-violation statistics of the steps run so far (stored or not).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Steps: trajectories for HMC, proposals for flow samplers.
    pub steps: u64,
    pub accepted: u64,
    /// Steps with a ΔH (HMC trajectories).
    pub n_delta_h: u64,
    pub sum_delta_h: f64,
    pub sum_exp_minus_delta_h: f64,
    /// HMC trajectories inside steps (flow-HMC), and how many were accepted.
    pub inner_steps: u64,
    pub inner_accepted: u64,
    pub elapsed: Duration,
}

impl RunSummary {
    /// Counts one step.
    pub fn add(&mut self, s: &Step<'_>) {
        self.steps += 1;
        self.accepted += u64::from(s.accepted);
        if let Some(dh) = s.delta_h {
            self.n_delta_h += 1;
            self.sum_delta_h += dh;
            self.sum_exp_minus_delta_h += (-dh).exp();
        }
        self.inner_steps += s.inner.0;
        self.inner_accepted += s.inner.1;
    }

    /// Counts one HMC trajectory.
    pub fn add_trajectory(&mut self, r: &HmcRecord) {
        self.add(&Step {
            config: &[],
            values: &[],
            accepted: r.accepted,
            rng_after: RngState {
                state: 0,
                stream: 0,
            },
            delta_h: Some(r.delta_h),
            inner: (0, 0),
        });
    }

    /// Adds the counts of `other` (the elapsed time is left alone).
    pub fn merge(&mut self, other: &RunSummary) {
        self.steps += other.steps;
        self.accepted += other.accepted;
        self.n_delta_h += other.n_delta_h;
        self.sum_delta_h += other.sum_delta_h;
        self.sum_exp_minus_delta_h += other.sum_exp_minus_delta_h;
        self.inner_steps += other.inner_steps;
        self.inner_accepted += other.inner_accepted;
    }

    pub fn acceptance(&self) -> f64 {
        self.accepted as f64 / self.steps.max(1) as f64
    }

    /// ⟨ΔH⟩.
    pub fn mean_delta_h(&self) -> f64 {
        self.sum_delta_h / self.n_delta_h.max(1) as f64
    }

    /// ⟨e^{−ΔH}⟩ (1 for an exact, area-preserving integrator).
    pub fn mean_exp_minus_delta_h(&self) -> f64 {
        self.sum_exp_minus_delta_h / self.n_delta_h.max(1) as f64
    }

    /// Acceptance of the HMC trajectories inside steps (flow-HMC).
    pub fn inner_acceptance(&self) -> f64 {
        self.inner_accepted as f64 / self.inner_steps.max(1) as f64
    }

    /// Wall-clock seconds per step (all chains together).
    pub fn seconds_per_step(&self) -> f64 {
        self.elapsed.as_secs_f64() / self.steps.max(1) as f64
    }
}

/// Hands a chain's steps to its block: every step is counted, one in `save_every` is stored.
pub struct Recorder<'a> {
    block: &'a mut RecordBlock,
    save_every: usize,
    since_saved: &'a mut usize,
    summary: &'a mut RunSummary,
    steps: usize,
}

impl<'a> Recorder<'a> {
    /// A recorder filling `block`; `since_saved` counts the chain's steps since its last
    /// stored one (kept across blocks).
    pub fn new(
        block: &'a mut RecordBlock,
        save_every: usize,
        since_saved: &'a mut usize,
        summary: &'a mut RunSummary,
    ) -> Self {
        Self {
            block,
            save_every: save_every.max(1),
            since_saved,
            summary,
            steps: 0,
        }
    }

    /// Records one step; stores it if it is the `save_every`-th since the last stored one.
    pub fn record(&mut self, step: Step<'_>) {
        self.summary.add(&step);
        self.steps += 1;
        *self.since_saved += 1;
        if *self.since_saved >= self.save_every {
            *self.since_saved = 0;
            self.block
                .push(step.config, step.values, step.accepted, step.rng_after);
        }
    }

    /// Steps recorded through this recorder.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

/// One chain of any sampler, as the runners drive it.
pub trait Chain: Send {
    /// Why a step could not be completed (a solver failure, say).
    type Error: Send;
    /// Runs at least one and at most `max` steps (`max` ≥ 1), typically one natural unit
    /// (an HMC trajectory, a batch of flow proposals), recording every step.
    fn advance(&mut self, max: usize, out: &mut Recorder<'_>) -> Result<(), Self::Error>;
    /// The settings to store with the chain (frozen when production starts).
    fn settings(&self) -> ChainSettings;
    /// The state production starts from: the field and the generator.
    fn start_state(&self) -> (Vec<f64>, RngState);
}

/// A Markov chain of HMC-like trajectories (plain HMC, pseudofermion HMC): thermalisation
/// and step-size tuning work on these. A plain [`HmcChain`] is paired with its action by
/// [`WithAction`].
pub trait MarkovChain: Send {
    /// Why a trajectory could not be completed (a solver failure, say).
    type Error: Send;
    fn trajectory(&mut self) -> Result<HmcRecord, Self::Error>;
    fn field(&self) -> &[f64];
    fn rng_state(&self) -> RngState;
    fn params(&self) -> HmcParams;
    fn set_params(&mut self, params: HmcParams);
}

/// The stored settings of HMC parameters.
pub fn hmc_settings(p: HmcParams) -> ChainSettings {
    ChainSettings::Hmc {
        step_size: p.step_size,
        n_steps: p.n_steps as u64,
        integrator: p.integrator,
        length_jitter: p.length_jitter,
    }
}

/// HMC parameters from stored settings (`None` for settings of another sampler).
pub fn hmc_params(s: &ChainSettings) -> Option<HmcParams> {
    match *s {
        ChainSettings::Hmc {
            step_size,
            n_steps,
            integrator,
            length_jitter,
        } => Some(HmcParams {
            step_size,
            n_steps: n_steps as usize,
            integrator,
            length_jitter,
        }),
        _ => None,
    }
}

/// What an HMC-like chain continues from: its stored HMC parameters, and the field and
/// generator after its last stored record (or at its start), checked against `volume`.
pub fn hmc_resume_state(
    meta: &lft_records::ChainMeta,
    last: Option<&lft_records::StoredRow>,
    volume: usize,
) -> Result<(HmcParams, Vec<f64>, lft_lattice::Pcg64), String> {
    let params = hmc_params(&meta.settings).ok_or("not an HMC chain")?;
    let (field, rng) = match last {
        Some(row) => (row.config.clone(), row.rng),
        None => (meta.start_config.clone(), meta.start_rng),
    };
    if field.len() != volume {
        return Err("the stored state does not fit the lattice".into());
    }
    Ok((params, field, rng.restore()))
}

/// Every HMC-like chain is a [`Chain`] of kind [`SamplerKind::Hmc`]: one trajectory per
/// step, recording S and ΔH.
impl<M: MarkovChain> Chain for M {
    type Error = M::Error;

    fn advance(&mut self, _max: usize, out: &mut Recorder<'_>) -> Result<(), M::Error> {
        let r = self.trajectory()?;
        out.record(Step {
            config: self.field(),
            values: &[r.action, r.delta_h],
            accepted: r.accepted,
            rng_after: self.rng_state(),
            delta_h: Some(r.delta_h),
            inner: (0, 0),
        });
        Ok(())
    }

    fn settings(&self) -> ChainSettings {
        hmc_settings(self.params())
    }

    fn start_state(&self) -> (Vec<f64>, RngState) {
        (self.field().to_vec(), self.rng_state())
    }
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
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Sink(e) => Some(e),
            RunError::Chain { error, .. } => Some(error),
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
        if failure.is_some() || finished || Instant::now() >= next_flush {
            sink.flush().map_err(RunError::Sink)?;
            next_flush = Instant::now() + plan.flush_every;
        }
        summary.elapsed = start.elapsed();
        progress.update(&summary);
        if let Some(f) = failure {
            return Err(f);
        }
    }
    Ok(summary)
}
