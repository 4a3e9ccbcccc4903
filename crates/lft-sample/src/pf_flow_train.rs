//! Training the conditional pseudofermion flow q(ϕ | φ) ([`PseudofermionFlow`]) by reverse KL
//! on the joint target p(φ, ϕ) ∝ e^{−S_φ⁴(φ) − ϕ†(D Dᵀ)⁻¹ϕ}, with φ drawn from a fixed flow
//! proposal q(φ).
//!
//! KL(q(φ) q(ϕ|φ) ‖ p) depends on the conditional flow's parameters θ only through
//! E_{φ~q, ξ}[ℓ], ℓ = ϕ†(D Dᵀ)⁻¹ϕ − |ξ|² − L(φ) = −log d̂et (lft-fermion's
//! `pf_flow_estimate`): each step draws `batch` configurations from q(φ) and two ξ for each,
//! averages ∂ℓ/∂θ (one CG solve per draw) and takes an Adam step. The two draws per
//! configuration also measure what sets the joint sampler's acceptance: the variance of
//! log d̂et at fixed φ, ½(ℓ₁ − ℓ₂)² averaged over the batch. A configuration whose solve fails
//! (a nearly singular D) is left out of its step, and counted.

use lft_action::{Schwinger, Yukawa};
use lft_fermion::{
    CgParams, Complex64, FermionError, GaugePseudofermionFlow, PseudofermionFlow,
    standard_complex_normal,
};
use lft_flow::{Adam, Proposal};
use lft_lattice::stream_rng;
use rayon::prelude::*;
use thiserror::Error;

/// One configuration's share of a step: the summed gradient of its two draws, their summed
/// loss, ½(ℓ₁ − ℓ₂)², and the CG iterations.
struct ConfigShare {
    grad: Vec<f64>,
    loss: f64,
    spread: f64,
    iterations: usize,
}

/// Settings of [`train_pf_flow`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PfFlowTraining {
    pub steps: usize,
    /// Configurations per step (two ξ draws each).
    pub batch: usize,
    pub learning_rate: f64,
    /// CG of the solves.
    pub cg: CgParams,
    /// Run seed: step s draws φ from stream (seed, s) and the ξ of configuration i from
    /// (seed, PF_TRAIN_STREAM + s·batch + i), so results do not depend on the thread count.
    pub seed: u64,
}

impl Default for PfFlowTraining {
    fn default() -> Self {
        Self {
            steps: 300,
            batch: 16,
            learning_rate: 5e-3,
            cg: CgParams::default(),
            seed: 1,
        }
    }
}

/// Random stream family of the ξ draws of [`train_pf_flow`].
pub const PF_TRAIN_STREAM: u64 = 1 << 40;

/// One step of [`train_pf_flow`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PfFlowStep {
    pub step: usize,
    /// Mean ℓ = −log d̂et over the batch (it falls as the flow improves, towards
    /// −E_q[log det(D Dᵀ)]).
    pub loss: f64,
    /// Mean over the batch of ½(ℓ₁ − ℓ₂)²: the variance of log d̂et at fixed φ.
    pub log_det_variance: f64,
    /// CG iterations of the step.
    pub cg_iterations: usize,
    /// Configurations of the batch left out because a solve failed (a nearly singular D).
    pub failed: usize,
}

/// Why training stopped.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PfFlowTrainError {
    #[error("pseudofermion flow training, step {step}: every solve of the batch failed")]
    Fermion { step: usize, source: FermionError },
    #[error(
        "pseudofermion flow training, step {step}: the loss is {loss} (not finite); lower the learning rate"
    )]
    NotFinite { step: usize, loss: f64 },
    #[error("pseudofermion flow training needs a batch of at least one configuration")]
    EmptyBatch,
}

/// The parameters of a conditional pseudofermion flow, as the trainer sees them.
pub trait ConditionalPfFlow: Sync {
    fn params(&self) -> &[f64];
    fn params_mut(&mut self) -> &mut [f64];
}

impl ConditionalPfFlow for PseudofermionFlow {
    fn params(&self) -> &[f64] {
        PseudofermionFlow::params(self)
    }

    fn params_mut(&mut self) -> &mut [f64] {
        PseudofermionFlow::params_mut(self)
    }
}

impl ConditionalPfFlow for GaugePseudofermionFlow {
    fn params(&self) -> &[f64] {
        GaugePseudofermionFlow::params(self)
    }

    fn params_mut(&mut self) -> &mut [f64] {
        GaugePseudofermionFlow::params_mut(self)
    }
}

/// ℓ = −log d̂et of one (configuration, ξ) under a flow: (ℓ, ∂ℓ/∂parameters, CG iterations).
type ConditionalLoss<'a, F> = dyn Fn(&F, &[f64], &[Complex64], CgParams) -> Result<(f64, Vec<f64>, usize), FermionError>
    + Sync
    + 'a;

/// Trains the Yukawa model's `flow` for `settings.steps` steps on configurations from
/// `proposal` (see the module doc), calling `on_step` after each; returns every step's record.
pub fn train_pf_flow(
    flow: &mut PseudofermionFlow,
    proposal: &dyn Proposal,
    model: &Yukawa,
    settings: &PfFlowTraining,
    on_step: &mut dyn FnMut(&PfFlowStep),
) -> Result<Vec<PfFlowStep>, PfFlowTrainError> {
    let v = proposal.volume();
    let loss = |f: &PseudofermionFlow, phi: &[f64], xi: &[Complex64], cg: CgParams| {
        let out = f.loss(&model.dirac(phi), xi, cg)?;
        Ok((out.loss, out.params, out.cg_iterations))
    };
    train_conditional(flow, proposal, v, settings, &loss, on_step)
}

/// Trains the Schwinger model's gauge-covariant `flow` (ξ on the V/2 even sites) on link
/// configurations from `proposal`, as [`train_pf_flow`] does the Yukawa model's.
pub fn train_gauge_pf_flow(
    flow: &mut GaugePseudofermionFlow,
    proposal: &dyn Proposal,
    model: &Schwinger,
    settings: &PfFlowTraining,
    on_step: &mut dyn FnMut(&PfFlowStep),
) -> Result<Vec<PfFlowStep>, PfFlowTrainError> {
    let half = model.geometry().half_volume();
    let loss = |f: &GaugePseudofermionFlow, theta: &[f64], xi: &[Complex64], cg: CgParams| {
        let out = f.loss(&model.dirac(theta), theta, xi, cg)?;
        Ok((out.loss, out.params, out.cg_iterations))
    };
    train_conditional(flow, proposal, half, settings, &loss, on_step)
}

/// The training loop of either model: ξ of `xi_len` components per draw.
fn train_conditional<F: ConditionalPfFlow>(
    flow: &mut F,
    proposal: &dyn Proposal,
    xi_len: usize,
    settings: &PfFlowTraining,
    loss: &ConditionalLoss<'_, F>,
    on_step: &mut dyn FnMut(&PfFlowStep),
) -> Result<Vec<PfFlowStep>, PfFlowTrainError> {
    if settings.batch == 0 {
        return Err(PfFlowTrainError::EmptyBatch);
    }
    let v = proposal.volume();
    let mut adam = Adam::new(flow.params().len());
    let mut history = Vec::with_capacity(settings.steps);
    for step in 0..settings.steps {
        let phis = proposal
            .draw(settings.batch, &mut stream_rng(settings.seed, step as u64))
            .phi;
        let frozen = &*flow;
        let per_config: Vec<Result<ConfigShare, FermionError>> = phis
            .par_chunks_exact(v)
            .enumerate()
            .map(|(i, phi)| {
                let key = PF_TRAIN_STREAM + (step * settings.batch + i) as u64;
                let mut rng = stream_rng(settings.seed, key);
                let mut xi = vec![Complex64::default(); xi_len];
                let mut grad = vec![0.0; frozen.params().len()];
                let mut losses = [0.0; 2];
                let mut iterations = 0;
                for l in &mut losses {
                    standard_complex_normal(&mut rng, &mut xi);
                    let (value, params, cg_iterations) = loss(frozen, phi, &xi, settings.cg)?;
                    grad.iter_mut().zip(&params).for_each(|(g, p)| *g += p);
                    *l = value;
                    iterations += cg_iterations;
                }
                Ok(ConfigShare {
                    grad,
                    loss: losses[0] + losses[1],
                    spread: 0.5 * (losses[0] - losses[1]).powi(2),
                    iterations,
                })
            })
            .collect();
        let failed = per_config.iter().filter(|r| r.is_err()).count();
        if failed == settings.batch {
            let source = per_config
                .into_iter()
                .find_map(Result::err)
                .expect("all failed");
            return Err(PfFlowTrainError::Fermion { step, source });
        }
        let kept = settings.batch - failed;
        let n = (2 * kept) as f64;
        let mut grad = vec![0.0; flow.params().len()];
        let (mut loss, mut spread, mut iterations) = (0.0, 0.0, 0);
        for share in per_config.into_iter().flatten() {
            grad.iter_mut()
                .zip(&share.grad)
                .for_each(|(a, b)| *a += b / n);
            loss += share.loss / n;
            spread += share.spread / kept as f64;
            iterations += share.iterations;
        }
        if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return Err(PfFlowTrainError::NotFinite { step, loss });
        }
        adam.step(flow.params_mut(), &grad, settings.learning_rate);
        let record = PfFlowStep {
            step,
            loss,
            log_det_variance: spread,
            cg_iterations: iterations,
            failed,
        };
        on_step(&record);
        history.push(record);
    }
    Ok(history)
}
