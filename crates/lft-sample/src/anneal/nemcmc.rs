//! NE-MCMC: independence Metropolis over whole out-of-equilibrium trajectories (Caselle,
//! Cellini, Nada, Panero, arXiv:2201.08862; the sampling side of stochastic normalizing
//! flows, Wu, Köhler, Noé 2020).
//!
//! A trajectory starts from an exact draw of a normalised start and is driven to e^{−S} through
//! K stages, each with the Monte Carlo move (HMC, or MALA: one leapfrog step) of that stage's
//! action, the annealing path of [`super::path`] with β_k = k/K. Its generalised work is
//!   W = −Σ_k [log π_k(x_{k−1}) − log π_{k−1}(x_{k−1})],
//! the negative AIS log weight (a move at π_k leaves π_k invariant, so its heat cancels), and
//! E[e^{−W}] = Z (Jarzynski). Two starts:
//! - **the prior** r: the stages move φ itself, π_k ∝ r^{1−β_k} e^{−β_k S} (AIS trajectories);
//! - **a trained flow** f with prior r: the stages move the latent z along
//!   π_k ∝ r^{1−β_k} e^{−β_k S̃}, S̃(z) = S(f(z)) − log|det ∂f/∂z| ([`PulledBack`]), and the
//!   trajectory's configuration is φ = f(z_K). With no stage in between (K = 1, no move) the
//!   work is the flow's −log w(φ) = S(φ) + log q(φ); each move in between can only lower
//!   the variance of W for a good protocol.
//!
//! The chain accepts a fresh trajectory with min(1, e^{−(W′ − W)}): exact for any protocol and
//! any flow, because e^{−W} is an unbiased importance weight of the trajectory's endpoint.
//! Trajectories run in batches, in parallel; batch b of a chain runs on the streams of a seed
//! drawn from the chain's generator, so a chain resumes exactly from its generator state
//! after a whole batch.

use super::pass::run_pass;
use super::schedule::Schedule;
use super::settings::{AnnealError, SmcSettings};
use crate::hmc::HmcParams;
use crate::{Chain, PulledBack, Recorder, Sampler, Step};
use lft_action::Action;
use lft_flow::{Flow, Prior};
use lft_lattice::{Pcg64, RngState, draw_u64, stream_rng, uniform};
use lft_records::{ChainMeta, ChainSettings, SamplerKind, StoredRow};
use rayon::prelude::*;

/// Random stream family of NE-MCMC chains: chain c decides on (seed, NEMCMC_STREAM + c).
pub const NEMCMC_STREAM: u64 = 1 << 62;

/// The stages of a protocol: K = `stages` actions on the path, `steps` Monte Carlo updates
/// at each (after the weight update to it), each an HMC trajectory of `move_params` or an
/// unadjusted Langevin step of size `move_params.step_size`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stages {
    pub stages: usize,
    pub steps: usize,
    pub move_params: HmcParams,
    pub kind: MoveKind,
}

/// The Monte Carlo move of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MoveKind {
    /// Metropolis-adjusted: an HMC trajectory (one leapfrog step is MALA). It leaves the
    /// stage's π_k invariant, so it adds nothing to the work.
    #[default]
    Hmc,
    /// Unadjusted Langevin, x′ = x − ε∇U_k(x) + √(2ε) ξ: no accept test, so differentiable
    /// everywhere; it does not leave π_k invariant, and adds
    /// U_k(x′) − U_k(x) + log q(x → x′) − log q(x′ → x) to the work (Wu, Köhler, Noé 2020),
    /// which keeps e^{−W} an exact weight. Run by [`super::snf::Snf`].
    Langevin,
}

/// Where trajectories start.
#[derive(Clone, Copy)]
pub enum PathStart<'a> {
    /// Exact draws from a normalised prior r.
    Prior(&'a Prior),
    /// Exact draws from a trained flow: its prior's draws, pushed through it at the end.
    Flow(&'a Flow),
}

/// What NE-MCMC draws its trajectories from: a [`Protocol`], or a stochastic normalizing
/// flow ([`super::snf::Snf`]).
pub trait TrajectorySource: Sync {
    /// Sites (or links) of the configurations the trajectories end in.
    fn field_len(&self) -> usize;

    /// `n` ≥ 2 trajectories on the streams (seed, base + 1 + i).
    fn run(&self, n: usize, seed: u64, base: u64) -> Result<Trajectories, AnnealError>;
}

/// A protocol: start, target and stages.
pub struct Protocol<'a> {
    prior: &'a Prior,
    action: &'a dyn Action,
    pulled: Option<PulledBack<'a>>,
    stages: Stages,
}

/// A batch of trajectories: the configurations φ they end in `[n, V]` (the scalar field or
/// links; auxiliary fields are not kept), S(φ), the work W, and the acceptance of the moves.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectories {
    pub configs: Vec<f64>,
    pub actions: Vec<f64>,
    pub work: Vec<f64>,
    pub move_acceptance: f64,
}

impl<'a> Protocol<'a> {
    /// A protocol from `start` to e^{−`action`}; fails on stages that lead nowhere.
    pub fn new(
        start: PathStart<'a>,
        action: &'a dyn Action,
        stages: Stages,
    ) -> Result<Self, AnnealError> {
        if stages.stages == 0 {
            return Err(AnnealError::TooSmall {
                what: "stages",
                min: 1,
                value: 0,
            });
        }
        if stages.kind == MoveKind::Langevin {
            return Err(AnnealError::Unsupported(
                "snf: a protocol of annealing passes moves by HMC; Langevin stages run as a \
                 stochastic normalizing flow (Snf)"
                    .into(),
            ));
        }
        let (prior, pulled) = match start {
            PathStart::Prior(prior) => (prior, None),
            PathStart::Flow(flow) => (flow.prior(), Some(PulledBack { flow, action })),
        };
        Ok(Self {
            prior,
            action,
            pulled,
            stages,
        })
    }

    /// The settings of one batch of `n` trajectories as an AIS pass.
    pub fn pass_settings(&self, n: usize) -> SmcSettings {
        SmcSettings {
            particles: n,
            schedule: Schedule::Linear {
                steps: self.stages.stages,
            },
            resampling: None,
            ess_threshold: 0.0,
            hmc: self.stages.move_params,
            trajectories: self.stages.steps,
            step_knots: Vec::new(),
            target_acceptance: None,
        }
    }

    /// What the stages move: the action, or the action pulled back through the flow.
    fn path_target(&self) -> &dyn Action {
        match &self.pulled {
            Some(p) => p,
            None => self.action,
        }
    }
}

impl TrajectorySource for Protocol<'_> {
    fn field_len(&self) -> usize {
        self.action.field_len()
    }

    /// `n` ≥ 2 trajectories on the streams (seed, base + 1 + i) (those of an AIS pass whose
    /// streams start at `base`: without a flow, the same numbers as that pass).
    fn run(&self, n: usize, seed: u64, base: u64) -> Result<Trajectories, AnnealError> {
        let settings = self.pass_settings(n);
        let target = self.path_target();
        let pass = run_pass(self.prior, target, &settings, seed, base, None, None)?;
        let records = pass.temperatures.len().max(1) as f64;
        let move_acceptance = pass.temperatures.iter().map(|t| t.acceptance).sum::<f64>() / records;
        let v = target.state_len();
        let field = self.action.field_len();
        let (configs, actions): (Vec<Vec<f64>>, Vec<f64>) = pass
            .particles
            .par_chunks_exact(v)
            .map(|x| {
                let phi = match &self.pulled {
                    Some(p) => {
                        let mut phi = vec![0.0; field];
                        p.flow.forward_with(x, &mut phi, &mut p.flow.scratch());
                        phi
                    }
                    None => x[..field].to_vec(),
                };
                let s = match &self.pulled {
                    Some(_) => self.action.action(&phi),
                    None => self.action.action(x),
                };
                (phi, s)
            })
            .unzip();
        Ok(Trajectories {
            configs: configs.concat(),
            actions,
            work: pass.log_weights.iter().map(|lw| -lw).collect(),
            move_acceptance,
        })
    }
}

/// The current configuration of an NE-MCMC chain: φ, S(φ) and the work of its trajectory.
#[derive(Debug, Clone, PartialEq)]
struct Current {
    config: Vec<f64>,
    action: f64,
    work: f64,
}

/// An NE-MCMC chain: trajectories `batch` at a time, each accepted with min(1, e^{W − W′}).
pub struct NeMcmc<'a> {
    protocol: &'a dyn TrajectorySource,
    batch: usize,
    rng: Pcg64,
    current: Option<Current>,
    flow_step: u64,
}

/// One step of an NE-MCMC chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NeMcmcStep {
    pub config: Vec<f64>,
    pub accepted: bool,
    pub action: f64,
    /// W of the current configuration's trajectory.
    pub work: f64,
    /// W of the trajectory proposed at this step.
    pub proposal_work: f64,
}

impl<'a> NeMcmc<'a> {
    /// A chain drawing its batches' seeds from `rng`; its first trajectory is accepted (an
    /// exact draw of the protocol, the usual start).
    pub fn new(protocol: &'a dyn TrajectorySource, batch: usize, rng: Pcg64) -> Self {
        Self {
            protocol,
            batch: batch.max(2),
            rng,
            current: None,
            flow_step: 0,
        }
    }

    /// Records the training steps of the start flow in the chain's settings.
    pub fn with_flow_step(mut self, flow_step: u64) -> Self {
        self.flow_step = flow_step;
        self
    }

    pub fn rng_state(&self) -> RngState {
        RngState::of(&self.rng)
    }

    /// One batch of `k` ≤ batch steps (at least two trajectories run; the rest of a batch
    /// cut short is discarded, so a chain resumes at batch boundaries only).
    pub fn next_batch(&mut self, k: usize) -> Result<Vec<NeMcmcStep>, AnnealError> {
        let seed = draw_u64(&mut self.rng);
        let t = self.protocol.run(self.batch, seed, 0)?;
        let v = t.configs.len() / self.batch;
        let mut steps = Vec::with_capacity(k);
        for i in 0..k.min(self.batch) {
            let work = t.work[i];
            let u = uniform(&mut self.rng);
            let accepted = match &self.current {
                None => true,
                // NaN work (a broken trajectory) is rejected.
                Some(c) => u < (c.work - work).exp(),
            };
            if accepted {
                self.current = Some(Current {
                    config: t.configs[i * v..(i + 1) * v].to_vec(),
                    action: t.actions[i],
                    work,
                });
            }
            let c = self.current.as_ref().expect("set on the first step");
            steps.push(NeMcmcStep {
                config: c.config.clone(),
                accepted,
                action: c.action,
                work: c.work,
                proposal_work: work,
            });
        }
        Ok(steps)
    }
}

impl Chain for NeMcmc<'_> {
    type Error = AnnealError;

    /// One batch of at most `max` steps.
    fn advance(&mut self, max: usize, out: &mut Recorder<'_>) -> Result<(), AnnealError> {
        let steps = self.next_batch(self.batch.min(max))?;
        let rng_after = self.rng_state();
        for s in &steps {
            out.record(Step {
                config: &s.config,
                values: &[s.action, s.work, s.proposal_work],
                accepted: s.accepted,
                rng_after,
                delta_h: None,
                inner: (0, 0),
            });
        }
        Ok(())
    }

    fn settings(&self) -> ChainSettings {
        ChainSettings::Flow {
            proposal_batch: self.batch as u64,
            flow_step: self.flow_step,
        }
    }

    fn start_state(&self) -> (Vec<f64>, RngState) {
        (vec![0.0; self.protocol.field_len()], self.rng_state())
    }
}

/// NE-MCMC chains of a protocol, `batch` trajectories at a time; chain c decides on the
/// stream (seed, NEMCMC_STREAM + c).
pub struct NeMcmcSampler<'a> {
    pub protocol: &'a dyn TrajectorySource,
    pub batch: usize,
    pub seed: u64,
    /// Training steps of the start flow (0 for a prior start).
    pub flow_step: u64,
}

impl<'a> Sampler for NeMcmcSampler<'a> {
    type Chain = NeMcmc<'a>;

    fn kind(&self) -> SamplerKind {
        SamplerKind::NeMcmc
    }

    fn volume(&self) -> usize {
        self.protocol.field_len()
    }

    fn fresh(&self, index: u64) -> NeMcmc<'a> {
        let rng = stream_rng(self.seed, NEMCMC_STREAM + index);
        NeMcmc::new(self.protocol, self.batch, rng).with_flow_step(self.flow_step)
    }

    fn resume(&self, meta: &ChainMeta, last: Option<&StoredRow>) -> Result<NeMcmc<'a>, String> {
        match meta.settings {
            ChainSettings::Flow { proposal_batch, .. }
                if proposal_batch == self.batch.max(2) as u64 => {}
            ChainSettings::Flow { proposal_batch, .. } => {
                return Err(format!(
                    "its trajectories ran {proposal_batch} at a time, this run's {}",
                    self.batch.max(2)
                ));
            }
            _ => return Err("it is not an NE-MCMC chain".into()),
        }
        let mut chain = self.fresh(0);
        match last {
            None => chain.rng = meta.start_rng.restore(),
            Some(row) => {
                let &[action, work, _] = row.values.as_slice() else {
                    return Err("its records are not NE-MCMC's".into());
                };
                chain.rng = row.rng.restore();
                chain.current = Some(Current {
                    config: row.config.clone(),
                    action,
                    work,
                });
            }
        }
        Ok(chain)
    }

    fn resume_period(&self) -> usize {
        self.batch.max(2)
    }
}
