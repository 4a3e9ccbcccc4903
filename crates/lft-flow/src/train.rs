//! Training by the reverse Kullback–Leibler divergence, with Adam, a learning-rate schedule,
//! gradient clipping and a guard against non-finite steps.

use crate::{Adam, Flow, NotContinuous, ProbabilityPath, clip_grad_norm};
use lft_action::Action;
use lft_lattice::Pcg64;
use thiserror::Error;

/// How the learning rate changes over training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    Constant,
    /// lr(t) = lr₀ · ½(1 + cos(π t/T)).
    Cosine,
    /// lr(t) = lr₀ · factor^⌊t/every⌋.
    Step {
        every: usize,
        factor: f64,
    },
}

/// Which estimator of the reverse-KL gradient a step takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GradientEstimator {
    /// The total derivative of log q + S along φ = f(z) ([`Flow::reverse_kl`]).
    #[default]
    Total,
    /// The path gradient, without the score term ([`Flow::reverse_kl_path`]).
    Path,
}

/// Training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub steps: usize,
    /// The batch of the first step.
    pub batch: usize,
    pub lr: f64,
    pub schedule: Schedule,
    /// Clip the gradient to this global norm.
    pub grad_clip: Option<f64>,
    /// Consecutive non-finite steps tolerated (each rolls back and halves the learning rate).
    pub max_failures: usize,
    /// The reverse-KL gradient estimator.
    pub gradient: GradientEstimator,
    /// Steps of linear learning-rate warm-up: the schedule's rate times min(1, (t + 1)/warmup).
    pub warmup: usize,
    /// The batch of the last step: the batch grows geometrically from `batch` to `batch_max`
    /// over the steps (`None`: constant).
    pub batch_max: Option<usize>,
}

impl Default for TrainOptions {
    /// 1000 steps of batch 64 at a constant lr 10⁻³, total gradient, no clipping, warm-up or
    /// batch growth.
    fn default() -> Self {
        Self {
            steps: 1000,
            batch: 64,
            lr: 1e-3,
            schedule: Schedule::Constant,
            grad_clip: None,
            max_failures: 5,
            gradient: GradientEstimator::Total,
            warmup: 0,
            batch_max: None,
        }
    }
}

/// What one training step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    pub step: usize,
    /// ⟨log q + S⟩ over the batch (≥ −log Z).
    pub loss: f64,
    /// Variance of log q + S over the batch (0 for a perfect flow).
    pub loss_variance: f64,
    /// Kish ESS of the batch with log w = −(log q + S).
    pub ess: f64,
    /// Acceptance of an independence Metropolis chain through the batch.
    pub acceptance: f64,
    pub grad_norm: f64,
    pub lr: f64,
}

/// Why training stopped.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TrainError {
    #[error(
        "training diverged: {failures} consecutive steps gave a non-finite loss or gradient \
         (last at step {step}, learning rate lowered to {lr:e}); try a smaller lr or grad_clip"
    )]
    Diverged {
        step: usize,
        failures: usize,
        lr: f64,
    },
    #[error("{}", crate::NotContinuous)]
    NotContinuous,
    #[error(
        "FAB: an AIS run at step {step} gave no sample of finite weight (the flow or the HMC \
         moves produce non-finite values); a smaller fab.step_size or train.lr may help"
    )]
    NoFiniteSamples { step: usize },
}

impl TrainOptions {
    /// The batch of step t: round(b₀ (b₁/b₀)^{t/(T−1)}), from `batch` to `batch_max`.
    pub fn batch_at(&self, step: usize) -> usize {
        let last = match self.batch_max {
            Some(b) if b > self.batch && self.steps >= 2 => b,
            _ => return self.batch,
        };
        let ratio = last as f64 / self.batch as f64;
        let t = step.min(self.steps - 1) as f64 / (self.steps - 1) as f64;
        ((self.batch as f64 * ratio.powf(t)).round() as usize).clamp(self.batch, last)
    }

    /// The learning rate of step t, with the failure scale applied.
    pub fn lr_at(&self, step: usize, scale: f64) -> f64 {
        let warm = if self.warmup > 0 {
            ((step + 1) as f64 / self.warmup as f64).min(1.0)
        } else {
            1.0
        };
        let base = self.lr * scale * warm;
        match self.schedule {
            Schedule::Constant => base,
            Schedule::Cosine => {
                base * 0.5
                    * (1.0 + (std::f64::consts::PI * step as f64 / self.steps.max(1) as f64).cos())
            }
            Schedule::Step { every, factor } => base * factor.powi((step / every.max(1)) as i32),
        }
    }
}

/// `n` configurations of `data` `[N, V]` drawn uniformly with replacement from `rng`.
fn data_batch(data: &[f64], v: usize, n: usize, rng: &mut Pcg64) -> Vec<f64> {
    let n_data = data.len() / v;
    let mut batch = Vec::with_capacity(n * v);
    for _ in 0..n {
        let j = ((lft_lattice::uniform(rng) * n_data as f64) as usize).min(n_data - 1);
        batch.extend_from_slice(&data[j * v..(j + 1) * v]);
    }
    batch
}

/// Batch statistics of log w = −(log q + S): (mean of log q + S, its variance, Kish ESS,
/// independence-Metropolis acceptance through the batch in order).
pub fn batch_quality(terms: &[f64]) -> (f64, f64, f64, f64) {
    let n = terms.len() as f64;
    let mean = terms.iter().sum::<f64>() / n;
    let var = terms.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / n;
    let log_w: Vec<f64> = terms.iter().map(|t| -t).collect();
    let max = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (s1, s2) = log_w.iter().fold((0.0, 0.0), |(a, b), lw| {
        let w = (lw - max).exp();
        (a + w, b + w * w)
    });
    let ess = s1 * s1 / (n * s2);
    // Deterministic acceptance estimate: E[min(1, w'/w)] over consecutive pairs.
    let acc = log_w
        .windows(2)
        .map(|p| (p[1] - p[0]).exp().min(1.0))
        .sum::<f64>()
        / (n - 1.0).max(1.0);
    (mean, var, ess, acc)
}

/// What training needs of a model: its parameters, latent draws and the two losses with their
/// gradients (in the order of `params`). [`Flow`] implements it; so can a GPU flow.
pub trait Trainable {
    /// Sites per configuration.
    fn volume(&self) -> usize;
    fn params(&self) -> &[f64];
    fn params_mut(&mut self) -> &mut [f64];
    /// A latent batch `[n, V]` from the prior, drawn from `rng` only.
    fn sample_latent(&self, n: usize, rng: &mut Pcg64) -> Vec<f64>;
    /// (L, per-sample log q + S, ∂L/∂θ) of the reverse KL on the latent batch `z` (`&mut`: a
    /// device flow moves data to compute it).
    fn reverse_kl(&mut self, action: &dyn Action, z: &[f64]) -> (f64, Vec<f64>, Vec<f64>);
    /// As `reverse_kl`, with the path gradient (the score term dropped).
    fn reverse_kl_path(&mut self, action: &dyn Action, z: &[f64]) -> (f64, Vec<f64>, Vec<f64>);
    /// (L, ∂L/∂θ) of the forward KL on the configurations `phis`.
    fn forward_kl(&mut self, phis: &[f64]) -> (f64, Vec<f64>);
    /// (L, ∂L/∂θ) of flow matching ([`Flow::flow_matching`]) from the latent draws `z` to the
    /// configurations `phis` at times `times`; models without a vector field refuse.
    fn flow_matching(
        &mut self,
        z: &[f64],
        phis: &[f64],
        times: &[f64],
        path: ProbabilityPath,
    ) -> Result<(f64, Vec<f64>), NotContinuous> {
        let _ = (z, phis, times, path);
        Err(NotContinuous)
    }
}

impl Trainable for Flow {
    fn volume(&self) -> usize {
        self.field_len()
    }
    fn params(&self) -> &[f64] {
        Flow::params(self)
    }
    fn params_mut(&mut self) -> &mut [f64] {
        Flow::params_mut(self)
    }
    fn sample_latent(&self, n: usize, rng: &mut Pcg64) -> Vec<f64> {
        Flow::sample_latent(self, n, rng)
    }
    fn reverse_kl(&mut self, action: &dyn Action, z: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        Flow::reverse_kl(self, action, z)
    }
    fn reverse_kl_path(&mut self, action: &dyn Action, z: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        Flow::reverse_kl_path(self, action, z)
    }
    fn forward_kl(&mut self, phis: &[f64]) -> (f64, Vec<f64>) {
        Flow::forward_kl(self, phis)
    }
    fn flow_matching(
        &mut self,
        z: &[f64],
        phis: &[f64],
        times: &[f64],
        path: ProbabilityPath,
    ) -> Result<(f64, Vec<f64>), NotContinuous> {
        Flow::flow_matching(self, z, phis, times, path)
    }
}

/// What training minimises.
#[derive(Clone, Copy)]
pub enum Objective<'a> {
    /// Reverse KL, ⟨log q + S⟩ over the flow's own samples.
    ReverseKl(&'a dyn Action),
    /// Forward KL, −⟨log q⟩ over data `[N, V]` (configurations of the target, e.g. from HMC);
    /// each step uses a batch drawn uniformly with replacement.
    ForwardKl(&'a [f64]),
    /// Conditional flow matching of a continuous flow on data `[N, V]` along `path`
    /// ([`Flow::flow_matching`]): each step draws a data batch as the forward KL does, a latent
    /// batch, and one time t ~ U(0, 1) per configuration.
    FlowMatching(&'a [f64], ProbabilityPath),
}

/// Reverse-KL training: [`train_with`] with [`Objective::ReverseKl`].
pub fn train<F: Trainable + ?Sized>(
    flow: &mut F,
    action: &dyn Action,
    options: &TrainOptions,
    until: usize,
    adam: &mut Adam,
    rng: &mut Pcg64,
    report: &mut dyn FnMut(&StepRecord),
) -> Result<Vec<StepRecord>, TrainError> {
    train_with(
        flow,
        Objective::ReverseKl(action),
        options,
        until,
        adam,
        rng,
        TrainHooks {
            report,
            stop: &|| false,
        },
    )
}

/// What [`train_with`] tells and asks along the way.
pub struct TrainHooks<'a> {
    /// Called after every step.
    pub report: &'a mut dyn FnMut(&StepRecord),
    /// Asked before every step: once it says true, training returns after the step in hand.
    pub stop: &'a dyn Fn() -> bool,
}

/// Trains `flow` from step `adam.steps()` up to step `until` (at most `options.steps`, which
/// also sets the length of the schedule), drawing latent batches from `rng`. The hooks'
/// `report` is called after every step, and `stop` asked before each: once it says true,
/// training returns after the step in hand. Stopping and continuing at any step gives the same result as one
/// run. Returns the records of the steps taken.
pub fn train_with<F: Trainable + ?Sized>(
    flow: &mut F,
    objective: Objective<'_>,
    options: &TrainOptions,
    until: usize,
    adam: &mut Adam,
    rng: &mut Pcg64,
    hooks: TrainHooks<'_>,
) -> Result<Vec<StepRecord>, TrainError> {
    let TrainHooks { report, stop } = hooks;
    let v = flow.volume();
    let mut history = Vec::with_capacity(options.steps);
    let mut guard = GuardedStep::default();
    let mut step = adam.steps() as usize;
    let until = until.min(options.steps);
    while step < until && !stop() {
        let (loss, terms, mut grad) = match objective {
            Objective::ReverseKl(action) => {
                let z = flow.sample_latent(options.batch_at(step), rng);
                match options.gradient {
                    GradientEstimator::Total => flow.reverse_kl(action, &z),
                    GradientEstimator::Path => flow.reverse_kl_path(action, &z),
                }
            }
            Objective::ForwardKl(data) => {
                let batch = data_batch(data, v, options.batch_at(step), rng);
                let (loss, grad) = flow.forward_kl(&batch);
                (loss, Vec::new(), grad)
            }
            Objective::FlowMatching(data, path) => {
                let n = options.batch_at(step);
                let batch = data_batch(data, v, n, rng);
                let z = flow.sample_latent(n, rng);
                let times: Vec<f64> = (0..n).map(|_| lft_lattice::uniform(rng)).collect();
                let (loss, grad) = flow
                    .flow_matching(&z, &batch, &times, path)
                    .map_err(|_| TrainError::NotContinuous)?;
                (loss, Vec::new(), grad)
            }
        };
        let Some((grad_norm, lr)) =
            guard.apply(flow.params_mut(), &mut grad, loss, adam, options, step)?
        else {
            // Nothing was applied: the parameters and optimiser state are still the last good ones.
            continue;
        };
        // Sample quality is measured on the flow's own samples: reverse-KL steps have them.
        let (loss_variance, ess, acceptance) = if terms.is_empty() {
            (f64::NAN, f64::NAN, f64::NAN)
        } else {
            let (_, var, ess, acc) = batch_quality(&terms);
            (var, ess, acc)
        };
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

/// The guard of every optimiser step: a non-finite loss or gradient, or parameters made
/// non-finite by the step, roll back and halve the learning rate; more than
/// `options.max_failures` in a row stop training ([`TrainError::Diverged`]). Gradients are
/// clipped to `options.grad_clip`.
#[derive(Debug, Clone, Copy)]
pub struct GuardedStep {
    lr_scale: f64,
    failures: usize,
}

impl Default for GuardedStep {
    fn default() -> Self {
        Self {
            lr_scale: 1.0,
            failures: 0,
        }
    }
}

impl GuardedStep {
    /// One Adam step of `params` along `grad` (clipped in place) at step `step`'s learning
    /// rate: `Some((gradient norm before clipping, lr))` once applied, `None` where it was
    /// refused and rolled back (try again), or the divergence error.
    pub fn apply(
        &mut self,
        params: &mut [f64],
        grad: &mut [f64],
        loss: f64,
        adam: &mut Adam,
        options: &TrainOptions,
        step: usize,
    ) -> Result<Option<(f64, f64)>, TrainError> {
        if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return self.fail(options, step).map(|_| None);
        }
        let grad_norm = match options.grad_clip {
            Some(max) => clip_grad_norm(grad, max),
            None => grad.iter().map(|g| g * g).sum::<f64>().sqrt(),
        };
        let lr = options.lr_at(step, self.lr_scale);
        let saved = (params.to_vec(), adam.clone());
        adam.step(params, grad, lr);
        if params.iter().any(|p| !p.is_finite()) {
            params.copy_from_slice(&saved.0);
            *adam = saved.1;
            return self.fail(options, step).map(|_| None);
        }
        self.failures = 0;
        Ok(Some((grad_norm, lr)))
    }

    /// Counts a refused step: halves the learning rate, or gives up after too many.
    fn fail(&mut self, options: &TrainOptions, step: usize) -> Result<(), TrainError> {
        self.failures += 1;
        self.lr_scale *= 0.5;
        if self.failures > options.max_failures {
            return Err(TrainError::Diverged {
                step,
                failures: self.failures,
                lr: options.lr_at(step, self.lr_scale),
            });
        }
        Ok(())
    }
}
