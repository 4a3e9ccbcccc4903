//! The FAB training loop. Every `reuse` gradient steps an AIS run ([`fab_ais`]) adds its
//! samples to the replay buffer (runs repeat until it holds `min_buffer`); each step draws a
//! batch from the buffer in proportion to the weights and descends the loss
//!   L(θ) = −(1/n) Σ_b c_b log q_θ(φ_b),   c_b = min(clip, q_old(φ_b)/q_θ(φ_b)),
//! whose gradient estimates the α = 2 gradient −E_g[∇ log q_θ] (the factor c_b corrects a
//! buffered weight for the steps since it was last corrected); after the step the drawn
//! samples' weights are corrected to the new θ ([`ReplayBuffer::adjust`]). Without a buffer each
//! step takes a fresh AIS run and weights its samples by their self-normalised AIS weights,
//! c_b = w_b / Σ w.
//!
//! Steps report what the flow's own draws (the AIS runs' initial particles) say of it, as the
//! reverse KL's steps do: ⟨log q + S⟩, its variance, the Kish ESS and the acceptance of an
//! independence-Metropolis chain through them.

use super::{AisBatch, FabSettings, ReplayBuffer, fab_ais};
use lft_action::Action;
use lft_flow::{Adam, Flow, GuardedStep, StepRecord, TrainError, TrainHooks, TrainOptions};
use lft_lattice::Pcg64;

/// The FAB loss −Σ_b c_b log q_θ(φ_b) on `phis` `[n, V]`, c_b = `coefficient(b, log q_θ(φ_b))`
/// (not differentiated): (loss, log q_θ of every configuration, ∂loss/∂θ).
pub fn fab_loss(
    flow: &Flow,
    phis: &[f64],
    coefficient: &(dyn Fn(usize, f64) -> f64 + Sync),
) -> (f64, Vec<f64>, Vec<f64>) {
    flow.weighted_forward_kl(phis, coefficient)
}

/// What the last AIS run of a [`FabTrainer`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FabRecord {
    /// Kish ESS per sample of the AIS weights for p²/q.
    pub ais_ess: f64,
    /// Acceptance of the HMC moves.
    pub acceptance: f64,
    /// The HMC step size the run used.
    pub step_size: f64,
    /// Samples in the buffer after the run (the run's size without a buffer).
    pub buffer_len: usize,
    /// AIS runs so far.
    pub runs: usize,
}

/// FAB's state between steps: the settings, the buffer, the (adapted) HMC step size and the
/// flow draws of the last run.
pub struct FabTrainer {
    pub settings: FabSettings,
    pub buffer: Option<ReplayBuffer>,
    pub step_size: f64,
    /// The last AIS run's statistics.
    pub last: Option<FabRecord>,
    /// log q + S of the last run's initial particles (the flow's own draws).
    flow_terms: Vec<f64>,
    runs: usize,
}

/// A step's loss, gradient, the buffer indices drawn (none without a buffer) and the
/// configurations they hold.
type FabGradient = (f64, Vec<f64>, Vec<usize>, Vec<f64>);

/// The adapted step size stays within this factor of the configured one, either way.
const STEP_SIZE_RANGE: f64 = 50.0;

impl FabTrainer {
    /// A trainer for configurations of `volume` values (with an empty buffer if the settings
    /// ask for one).
    pub fn new(settings: FabSettings, volume: usize) -> Self {
        let buffer = (settings.buffer > 0).then(|| ReplayBuffer::new(volume, settings.buffer));
        Self {
            step_size: settings.hmc.step_size,
            settings,
            buffer,
            last: None,
            flow_terms: Vec::new(),
            runs: 0,
        }
    }

    /// One AIS run at the current step size, which then adapts to the run's acceptance.
    pub fn run_ais(&mut self, flow: &Flow, action: &dyn Action, rng: &mut Pcg64) -> AisBatch {
        let batch = fab_ais(flow, action, &self.settings, self.step_size, rng);
        self.runs += 1;
        let buffer_len = match &mut self.buffer {
            Some(b) => {
                b.add(&batch.phi, &batch.log_w, &batch.log_q);
                b.len()
            }
            None => batch.log_w.len(),
        };
        self.last = Some(FabRecord {
            ais_ess: lft_stats::kish_ess(&batch.log_w),
            acceptance: batch.acceptance,
            step_size: self.step_size,
            buffer_len,
            runs: self.runs,
        });
        if let Some(target) = self.settings.target_acceptance {
            let base = self.settings.hmc.step_size;
            self.step_size = (self.step_size * (batch.acceptance - target).exp())
                .clamp(base / STEP_SIZE_RANGE, base * STEP_SIZE_RANGE);
        }
        self.flow_terms = batch.flow_terms.clone();
        batch
    }

    /// The loss and gradient of step `step` (AIS runs as due), with the buffer indices drawn
    /// (empty without a buffer) and the configurations they hold.
    fn gradient(
        &mut self,
        flow: &Flow,
        action: &dyn Action,
        n: usize,
        step: usize,
        rng: &mut Pcg64,
    ) -> Result<FabGradient, TrainError> {
        let none_finite = |batch: &AisBatch| !batch.log_w.iter().any(|w| w.is_finite());
        if self.buffer.is_none() {
            let batch = self.run_ais(flow, action, rng);
            if none_finite(&batch) {
                return Err(TrainError::NoFiniteSamples { step });
            }
            let max = batch
                .log_w
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = batch.log_w.iter().map(|lw| (lw - max).exp()).collect();
            let total: f64 = w.iter().sum();
            let (loss, _, grad) = fab_loss(flow, &batch.phi, &|b, _| w[b] / total);
            return Ok((loss, grad, Vec::new(), Vec::new()));
        }
        let reuse = self.settings.reuse.max(1);
        if step.is_multiple_of(reuse) || self.flow_terms.is_empty() {
            self.run_ais(flow, action, rng);
        }
        while self.buffer.as_ref().expect("checked").len() < self.settings.min_buffer {
            // A run that adds nothing would leave the buffer short forever.
            if none_finite(&self.run_ais(flow, action, rng)) {
                return Err(TrainError::NoFiniteSamples { step });
            }
        }
        let buffer = self.buffer.as_ref().expect("checked");
        let indices = buffer.sample(n, rng);
        let phis = buffer.gather(&indices);
        let old: Vec<f64> = indices.iter().map(|&i| buffer.log_q(i)).collect();
        let clip = self.settings.weight_clip;
        let inv_n = 1.0 / n as f64;
        let (loss, _, grad) = fab_loss(flow, &phis, &|b, log_q| {
            (old[b] - log_q).exp().min(clip) * inv_n
        });
        Ok((loss, grad, indices, phis))
    }

    /// Trains `flow` from step `adam.steps()` up to `until` (at most `options.steps`) as
    /// [`lft_flow::train_with`] does (guarded Adam steps, the global schedule, `hooks`), with
    /// the FAB gradient. Continuing a run starts a fresh buffer.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        &mut self,
        flow: &mut Flow,
        action: &dyn Action,
        options: &TrainOptions,
        until: usize,
        adam: &mut Adam,
        rng: &mut Pcg64,
        hooks: TrainHooks<'_>,
    ) -> Result<Vec<StepRecord>, TrainError> {
        let TrainHooks { report, stop } = hooks;
        let mut history = Vec::new();
        let mut guard = GuardedStep::default();
        let mut step = adam.steps() as usize;
        let until = until.min(options.steps);
        while step < until && !stop() {
            let n = options.batch_at(step);
            let (fab_loss, mut grad, indices, phis) = self.gradient(flow, action, n, step, rng)?;
            let Some((grad_norm, lr)) =
                guard.apply(flow.params_mut(), &mut grad, fab_loss, adam, options, step)?
            else {
                continue;
            };
            if let Some(buffer) = &mut self.buffer {
                buffer.adjust(&indices, &flow.log_q(&phis));
            }
            let (loss, loss_variance, ess, acceptance) = lft_flow::batch_quality(&self.flow_terms);
            let record = StepRecord {
                step,
                loss,
                loss_variance,
                ess,
                acceptance,
                grad_norm,
                lr,
            };
            report(&record);
            history.push(record);
            step += 1;
        }
        Ok(history)
    }
}
