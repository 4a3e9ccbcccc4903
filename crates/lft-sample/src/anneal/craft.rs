//! CRAFT, continual repeated annealed flow transport (Matthews, Arbel, Rezende, Doucet 2022):
//! an SMC pass in which a flow T_k, one per transition β_{k−1} → β_k, moves the particles
//! before their weights change,
//!   x ← T_k(x),   log w += log π_k(T_k x) + log|det ∂T_k/∂x| − log π_{k−1}(x),
//! and is trained on the transition loss L_k = Σ_i W_i δ_i, δ_i = −(that increment), with its
//! inputs held constant ([`TransitionLoss`]). A training iteration runs a whole pass with fresh
//! particles, then each flow takes one Adam step on its own loss. The flows start as the
//! identity, when CRAFT is SMC exactly.
//!
//! Streams: the flows' hidden layers are drawn from (seed, CRAFT_INIT_STREAM + k); training
//! iteration t runs on [`pass_base`]`(CRAFT_TRAIN_STREAM, t)` onwards and evaluation pass p on
//! the SMC streams of pass p, so that a pass with identity flows repeats [`super::smc_pass`].

use super::blocks::TrainedFlows;
use super::pass::{Observer, Transports, pass_base, run_pass};
use super::path::Tempered;
use super::settings::{ANNEAL_STREAM, AnnealError, SmcPass, SmcSettings};
use super::transport::{TransitionLoss, transport_step};
use lft_action::Action;
use lft_flow::{BijectionStack, FlowSpec, ParamCountError, Prior};
use lft_lattice::Lattice;

/// First stream of the flows' initial hidden layers (one per transition).
pub const CRAFT_INIT_STREAM: u64 = 3 << 32;
/// First stream of the training passes.
pub const CRAFT_TRAIN_STREAM: u64 = 1 << 60;

/// The trained state of CRAFT: one transport per transition with its optimiser.
#[derive(Debug, Clone)]
pub struct Craft {
    flows: TrainedFlows,
}

/// What one training iteration did.
#[derive(Debug, Clone, PartialEq)]
pub struct CraftIteration {
    /// The training pass (its log Ẑ is that of flows still being trained).
    pub pass: SmcPass,
    /// L_k of each transition before the step.
    pub losses: Vec<f64>,
    /// Euclidean norm of all the flows' gradients together.
    pub grad_norm: f64,
}

impl Craft {
    /// `transitions` identity transports of architecture `spec` (its prior is not used).
    pub fn new(spec: &FlowSpec, lattice: &Lattice, transitions: usize, seed: u64) -> Self {
        Self {
            flows: TrainedFlows::identity(spec, lattice, transitions, seed, CRAFT_INIT_STREAM),
        }
    }

    /// Restores a state from flat vectors (all flows' parameters and Adam moments, flow after
    /// flow, as [`Craft::params`] and [`Craft::adam_moments`] give them).
    pub fn restore(
        self,
        params: &[f64],
        adam_m: &[f64],
        adam_v: &[f64],
        iterations: u64,
    ) -> Result<Self, ParamCountError> {
        Ok(Self {
            flows: self.flows.restore(params, adam_m, adam_v, iterations)?,
        })
    }

    pub fn flows(&self) -> &[BijectionStack] {
        self.flows.flows()
    }

    /// The flows with their optimisers (what a checkpoint stores).
    pub fn trained(&self) -> &TrainedFlows {
        &self.flows
    }

    /// Training iterations done.
    pub fn iterations(&self) -> u64 {
        self.flows.steps()
    }

    /// All parameters, flow after flow.
    pub fn params(&self) -> Vec<f64> {
        self.flows.params()
    }

    /// Adam's (m, v), flow after flow.
    pub fn adam_moments(&self) -> (Vec<f64>, Vec<f64>) {
        self.flows.adam_moments()
    }

    fn check(&self, settings: &SmcSettings) -> Result<(), AnnealError> {
        settings.validate()?;
        let betas = settings
            .schedule
            .betas()
            .ok_or(AnnealError::CraftAdaptive)?;
        if betas.len() != self.flows().len() {
            return Err(AnnealError::FlowCount {
                expected: betas.len(),
                found: self.flows().len(),
            });
        }
        Ok(())
    }

    /// One training iteration: a pass with fresh particles on the streams of iteration
    /// [`Craft::iterations`], then one Adam step of rate `learning_rate` per flow.
    pub fn train_iteration(
        &mut self,
        prior: &Prior,
        action: &dyn Action,
        settings: &SmcSettings,
        learning_rate: f64,
        seed: u64,
    ) -> Result<CraftIteration, AnnealError> {
        self.check(settings)?;
        if !(learning_rate > 0.0 && learning_rate.is_finite()) {
            return Err(AnnealError::LearningRate(learning_rate));
        }
        let mut losses = vec![TransitionLoss::default(); self.flows().len()];
        let base = pass_base(CRAFT_TRAIN_STREAM, self.iterations());
        let transports = Transports {
            flows: self.flows(),
            losses: Some(&mut losses),
        };
        let pass = run_pass(prior, action, settings, seed, base, Some(transports), None)?;
        let mut norm2 = 0.0;
        for (k, l) in losses.iter().enumerate() {
            let sq: f64 = l.grad.iter().map(|g| g * g).sum();
            if !(l.loss.is_finite() && sq.is_finite()) {
                return Err(AnnealError::NonFiniteLoss {
                    iteration: self.iterations(),
                    transition: k,
                    value: if l.loss.is_finite() { sq } else { l.loss },
                });
            }
            norm2 += sq;
        }
        let grads: Vec<&[f64]> = losses.iter().map(|l| l.grad.as_slice()).collect();
        self.flows.step(&grads, learning_rate);
        Ok(CraftIteration {
            pass,
            losses: losses.iter().map(|l| l.loss).collect(),
            grad_norm: norm2.sqrt(),
        })
    }

    /// An evaluation pass with the flows frozen, on the SMC streams of pass `pass`.
    pub fn evaluate(
        &self,
        prior: &Prior,
        action: &dyn Action,
        settings: &SmcSettings,
        seed: u64,
        pass: u64,
    ) -> Result<SmcPass, AnnealError> {
        self.evaluate_observed(prior, action, settings, seed, pass, None)
    }

    /// [`Craft::evaluate`], telling `observer` of every temperature as it ends.
    pub fn evaluate_observed(
        &self,
        prior: &Prior,
        action: &dyn Action,
        settings: &SmcSettings,
        seed: u64,
        pass: u64,
        observer: Option<Observer<'_>>,
    ) -> Result<SmcPass, AnnealError> {
        self.check(settings)?;
        let transports = Transports {
            flows: self.flows(),
            losses: None,
        };
        let base = pass_base(ANNEAL_STREAM, pass);
        run_pass(
            prior,
            action,
            settings,
            seed,
            base,
            Some(transports),
            observer,
        )
    }
}

/// The transition loss L = Σ_i W_i δ_i of `flow` between β = `from` and `to` for the given
/// particles (`[N, V]`) and normalised weights, with its gradient added to `grad` (what a
/// training pass computes at each transition; for tests and diagnostics).
pub fn transition_loss(
    flow: &BijectionStack,
    prior: &Prior,
    action: &dyn Action,
    (from, to): (f64, f64),
    particles: &[f64],
    weights: &[f64],
    grad: &mut [f64],
) -> f64 {
    let from = Tempered {
        prior,
        action,
        beta: from,
    };
    let to = Tempered {
        prior,
        action,
        beta: to,
    };
    let mut moved = particles.to_vec();
    let mut loss = TransitionLoss::default();
    transport_step(flow, &from, &to, &mut moved, weights, Some(&mut loss));
    grad.iter_mut().zip(&loss.grad).for_each(|(g, l)| *g += l);
    loss.loss
}
