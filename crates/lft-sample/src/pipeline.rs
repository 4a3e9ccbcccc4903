//! One pipeline for every sampler: fresh chains are made and thermalised, or stored chains
//! continued from their last exact state; production runs in parallel over chains; blocks go
//! to a [`Store`], flushed on a cadence; progress is reported; the store is finished.
//!
//! A sampler plugs in by implementing [`Sampler`] (make, thermalise and resume its chains);
//! the runner knows nothing of the algorithm, and a store knows nothing of the sampler but
//! its [`SamplerKind`].

use crate::run::{ChainRound, RoundLimits, advance_each, run_rounds};
use crate::{Chain, Production, Progress, RunError, RunSummary, Stop};
use lft_records::{ChainMeta, ChainSettings, SamplerKind, Store, StoredRow};
use std::time::Duration;

/// A family of chains: how to start, thermalise and continue them.
pub trait Sampler: Sync {
    type Chain: Chain;
    /// The sampler's record layout and file name.
    fn kind(&self) -> SamplerKind;
    /// Sites per configuration.
    fn volume(&self) -> usize;
    /// A new chain with global index `index`, which selects its random stream.
    fn fresh(&self, index: u64) -> Self::Chain;
    /// Thermalisation steps per fresh chain (0: none).
    fn thermalization_steps(&self) -> usize {
        0
    }
    /// Brings fresh chains to equilibrium before production (and may tune their settings).
    /// Returns the summary of what it ran, or `None` if the sampler needs no thermalisation.
    fn thermalize(
        &self,
        _chains: &mut [Self::Chain],
    ) -> Result<Option<RunSummary>, (usize, <Self::Chain as Chain>::Error)> {
        Ok(None)
    }
    /// A chain continuing after its stored record `last` (`None`: from its start state in
    /// `meta`). An error says why the stored state cannot be continued.
    fn resume(&self, meta: &ChainMeta, last: Option<&StoredRow>) -> Result<Self::Chain, String>;
    /// Steps between states a chain continues from exactly (a flow chain stores its generator
    /// once per batch of proposals).
    fn resume_period(&self) -> usize {
        1
    }
    /// Advances the chains through one round of production. The default moves every chain
    /// on its own thread ([`advance_each`]); a sampler whose chains move together (a GPU's
    /// batch of chains) overrides it. Returns each chain's error, if it failed.
    fn advance_round(
        &self,
        chains: &mut [Self::Chain],
        rounds: &mut [ChainRound<'_>],
        limits: &RoundLimits,
    ) -> Vec<Option<<Self::Chain as Chain>::Error>> {
        advance_each(chains, rounds, limits)
    }
}

/// Why what a store holds cannot be continued by a run.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreMismatch {
    /// It holds another sampler's chains.
    Sampler {
        stored: SamplerKind,
        wanted: SamplerKind,
    },
    /// It holds another number of chains.
    Chains { stored: usize, wanted: usize },
    /// A chain stores another stride of steps.
    Stride {
        chain: usize,
        stored: usize,
        wanted: usize,
    },
    /// A chain holds more records than the run asks for.
    Longer {
        chain: usize,
        stored: usize,
        wanted: usize,
    },
    /// A chain's stored state cannot be continued.
    State { chain: usize, message: String },
}

impl std::fmt::Display for StoreMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreMismatch::Sampler { stored, wanted } => {
                write!(f, "holds an ensemble of sampler `{stored}`, not `{wanted}`")
            }
            StoreMismatch::Chains { stored, wanted } => {
                write!(f, "holds {stored} chain(s), but the run has {wanted}")
            }
            StoreMismatch::Stride {
                chain,
                stored,
                wanted,
            } => write!(
                f,
                "chain {chain} stores one step in {stored}, but the run asks for one in {wanted}"
            ),
            StoreMismatch::Longer {
                chain,
                stored,
                wanted,
            } => write!(
                f,
                "chain {chain} already holds {stored} records, more than the {wanted} asked for"
            ),
            StoreMismatch::State { chain, message } => write!(f, "chain {chain}: {message}"),
        }
    }
}

/// What a run should reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunPlan {
    pub chains: usize,
    /// Steps per chain, counting those a store already holds.
    pub steps: usize,
    /// One step in `save_every` is stored.
    pub save_every: usize,
    pub flush_every: Duration,
    /// Global index of the first chain: chain c draws from stream `first_chain + c` of its
    /// sampler, so task i of a job array can own chains no other task has.
    pub first_chain: u64,
    /// Ends production early, everything so far stored, when requested (see [`Stop`]).
    pub stop: Option<&'static Stop>,
}

impl RunPlan {
    /// Records each chain holds when done.
    pub fn records(&self) -> usize {
        self.steps / self.save_every.max(1)
    }
}

/// What the runner tells as it goes.
pub enum RunEvent<'a> {
    /// Thermalisation of fresh chains starts: this many steps per chain.
    Thermalizing { steps: usize },
    /// Thermalisation ended; the chains' frozen settings.
    Thermalized {
        summary: &'a RunSummary,
        settings: &'a [ChainSettings],
    },
    /// Stored chains continue from these record counts.
    Resuming { kept: &'a [usize] },
    /// Production starts: this many steps in all.
    Producing { steps: u64 },
}

/// A [`Progress`] that also hears [`RunEvent`]s.
pub trait RunObserver: Progress {
    fn event(&mut self, _event: RunEvent<'_>) {}
}

impl RunObserver for () {}

/// The end of a run: its summary and its chains (for solver statistics and the like).
pub struct RunOutcome<C> {
    /// Production steps of this run (not those stored before).
    pub summary: RunSummary,
    pub chains: Vec<C>,
    /// Whether the store already held chains (continued or complete).
    pub resumed: bool,
}

type Failure<S, Sm> = RunError<
    <S as lft_records::Sink>::Error,
    <<Sm as Sampler>::Chain as Chain>::Error,
    StoreMismatch,
>;

/// Runs `sampler` into `store` until every chain holds `plan.steps` steps: fresh chains if
/// the store is empty, else the stored chains continued, each from its last exact state (a
/// partial tail is dropped first). Finishes the store.
///
/// The result does not depend on the flush cadence, the number of threads or interruptions:
/// every chain draws only from its own generator, and the state after every stored step is
/// stored with it.
pub fn run<Sm: Sampler, S: Store>(
    sampler: &Sm,
    store: &mut S,
    plan: &RunPlan,
    observer: &mut dyn RunObserver,
) -> Result<RunOutcome<Sm::Chain>, Failure<S, Sm>> {
    let save_every = plan.save_every.max(1);
    let (mut chains, remaining, resumed) = match store.stored().map_err(RunError::Sink)? {
        None => (
            start(sampler, store, plan, observer)?,
            vec![plan.steps; plan.chains],
            false,
        ),
        Some((kind, stored)) => {
            if kind != sampler.kind() {
                return Err(RunError::Stored(StoreMismatch::Sampler {
                    stored: kind,
                    wanted: sampler.kind(),
                }));
            }
            if stored.len() != plan.chains {
                return Err(RunError::Stored(StoreMismatch::Chains {
                    stored: stored.len(),
                    wanted: plan.chains,
                }));
            }
            let wanted = plan.records();
            let period = sampler.resume_period().max(1);
            let mut kept = Vec::with_capacity(stored.len());
            let mut chains = Vec::with_capacity(stored.len());
            for (c, sc) in stored.iter().enumerate() {
                if sc.meta.save_every as usize != save_every {
                    return Err(RunError::Stored(StoreMismatch::Stride {
                        chain: c,
                        stored: sc.meta.save_every as usize,
                        wanted: save_every,
                    }));
                }
                if sc.len > wanted {
                    return Err(RunError::Stored(StoreMismatch::Longer {
                        chain: c,
                        stored: sc.len,
                        wanted,
                    }));
                }
                // Exact resume points: records whose step ends a resume period.
                let keep = if sc.len == wanted {
                    sc.len
                } else {
                    (0..=sc.len)
                        .rev()
                        .find(|r| (r * save_every).is_multiple_of(period))
                        .unwrap_or(0)
                };
                let last = match keep {
                    0 => None,
                    n => Some(store.row(c, n - 1).map_err(RunError::Sink)?),
                };
                let chain = sampler.resume(&sc.meta, last.as_ref()).map_err(|message| {
                    RunError::Stored(StoreMismatch::State { chain: c, message })
                })?;
                chains.push(chain);
                kept.push(keep);
            }
            let complete = kept.iter().all(|&n| n == wanted);
            if !complete {
                observer.event(RunEvent::Resuming { kept: &kept });
                store.truncate(&kept).map_err(RunError::Sink)?;
            }
            let remaining = kept
                .iter()
                .map(|&n| {
                    if complete {
                        0
                    } else {
                        plan.steps - n * save_every
                    }
                })
                .collect();
            (chains, remaining, true)
        }
    };
    let total: usize = remaining.iter().sum();
    let mut summary = RunSummary::default();
    if total > 0 {
        observer.event(RunEvent::Producing {
            steps: total as u64,
        });
        let mut production = Production::new(
            sampler.kind(),
            sampler.volume(),
            save_every,
            plan.flush_every,
        );
        production.granule = sampler.resume_period();
        production.max_lead = store.max_lead().map(|rows| rows * save_every);
        production.stop = plan.stop;
        let advance =
            |chains: &mut [Sm::Chain], rounds: &mut [ChainRound<'_>], limits: &RoundLimits| {
                sampler.advance_round(chains, rounds, limits)
            };
        summary = match run_rounds(
            &mut chains,
            &production,
            &remaining,
            store,
            observer,
            advance,
        ) {
            Ok(summary) => summary,
            // What the chains completed is in the store; finishing it appends the rows a
            // resumed store still holds, so a failing chain loses nothing written before.
            Err(RunError::Chain { chain, error }) => {
                store.finish().map_err(RunError::Sink)?;
                return Err(RunError::Chain { chain, error });
            }
            Err(RunError::Sink(e)) => return Err(RunError::Sink(e)),
            Err(RunError::Stored(never)) => match never {},
        };
    }
    store.finish().map_err(RunError::Sink)?;
    Ok(RunOutcome {
        summary,
        chains,
        resumed,
    })
}

/// Makes, thermalises and registers fresh chains.
fn start<Sm: Sampler, S: Store>(
    sampler: &Sm,
    store: &mut S,
    plan: &RunPlan,
    observer: &mut dyn RunObserver,
) -> Result<Vec<Sm::Chain>, Failure<S, Sm>> {
    let mut chains: Vec<Sm::Chain> = (0..plan.chains)
        .map(|c| sampler.fresh(plan.first_chain + c as u64))
        .collect();
    let steps = sampler.thermalization_steps();
    if steps > 0 {
        observer.event(RunEvent::Thermalizing { steps });
    }
    if let Some(summary) = sampler
        .thermalize(&mut chains)
        .map_err(|(chain, error)| RunError::Chain { chain, error })?
    {
        let settings: Vec<ChainSettings> = chains.iter().map(Chain::settings).collect();
        observer.event(RunEvent::Thermalized {
            summary: &summary,
            settings: &settings,
        });
    }
    let metas: Vec<ChainMeta> = chains
        .iter()
        .map(|chain| {
            let (start_config, start_rng) = chain.start_state();
            ChainMeta {
                settings: chain.settings(),
                save_every: plan.save_every.max(1) as u64,
                start_config,
                start_rng,
            }
        })
        .collect();
    store
        .begin(sampler.kind(), &metas)
        .map_err(RunError::Sink)?;
    Ok(chains)
}
