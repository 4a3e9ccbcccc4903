//! The Yukawa model with its determinant estimated, never formed: the target of flows trained
//! with pseudofermion forces and of the pseudo-marginal samplers that correct them.
//!
//!   action(φ)   = S_φ⁴(φ) − log d̂et(φ),  d̂et an unbiased positive estimate of det(D Dᵀ)
//!                 (lft-fermion's twisted-mass ladder [`DetEstimator`], or importance sampling
//!                 with a conditional pseudofermion flow [`FlowDetEstimator`]), so e^{−action} is an unbiased estimate of
//!                 e^{−S_eff(φ)}: independence Metropolis and reweighting on it stay exact
//!                 (pseudo-marginal MCMC, Andrieu & Roberts 2009);
//!   gradient(φ) = ∂S_φ⁴/∂φ_x − 2g Re(X̄_x ξ_x),  X = D^{−T} ξ = (D Dᵀ)⁻¹ D ξ, ξ standard
//!                 complex normal: the pseudofermion force at its own heat-bath ϕ = D ξ, whose
//!                 mean over ξ is −2g (D⁻¹)_xx = ∂(−log det D Dᵀ)/∂φ_x, the exact force.
//!
//! So reverse-KL training on this action follows an unbiased gradient of the true KL with one
//! CG solve per configuration. The gradient is **not** the derivative of the action (two
//! independent estimates), so molecular dynamics must not run on it.
//!
//! **Randomness.** The noise of configuration φ comes from the stream keyed by (seed, a hash of
//! φ's bits): the action is a fixed function of φ, reproducible and independent of the thread
//! count, and distinct configurations get independent noise. A sampler evaluates each proposal
//! once and keeps the value, as pseudo-marginal MCMC requires.
//!
//! **Joint sampling.** With the flow estimator and one draw, d̂et = p̃(ϕ|φ)/(π^V q(ϕ|φ)) for the
//! drawn ϕ = A(φ)ξ, so independence Metropolis on this action with proposals q(φ) is
//! independence Metropolis on the joint target e^{−S_φ⁴(φ) − ϕ†(D Dᵀ)⁻¹ϕ} with proposals
//! q(φ) q(ϕ|φ), seen on φ: the same chain.

use crate::estimated_action::{ACTION_KEY, EstimateLog, FORCE_KEY, field_hash, repeat_key};
use crate::{Action, EstimateCounts, EstimatedAction, Yukawa};
use lft_fermion::{CgParams, DetEstimator, Dirac, FermionError, FlowDetEstimator, Pseudofermion};
use lft_lattice::Pcg64;
use lft_lattice::{Lattice, stream_rng};

/// The unbiased estimator of det(D Dᵀ) of a [`YukawaEstimated`].
#[derive(Debug, Clone, PartialEq)]
pub enum Estimator {
    /// The twisted-mass ladder with a free reference (extended per field where the variance
    /// condition needs it).
    Ladder(DetEstimator),
    /// Importance sampling with a trained conditional pseudofermion flow (joint sampling).
    Flow(FlowDetEstimator),
}

impl From<DetEstimator> for Estimator {
    fn from(e: DetEstimator) -> Self {
        Estimator::Ladder(e)
    }
}

impl From<FlowDetEstimator> for Estimator {
    fn from(e: FlowDetEstimator) -> Self {
        Estimator::Flow(e)
    }
}

/// One estimate: log d̂et, CG iterations, whether the ladder was extended.
struct LogDet {
    log_det: f64,
    cg_iterations: usize,
    extended: bool,
}

impl Estimator {
    /// "ladder of N twists, D draws per rung" or "conditional flow of L layers, D draws".
    pub fn describe(&self) -> String {
        match self {
            Estimator::Ladder(e) => format!(
                "ladder of {} twists, {} draws per rung",
                e.twists().len(),
                e.draws()
            ),
            Estimator::Flow(e) => format!(
                "conditional pseudofermion flow of {} layers, {} draws",
                e.flow.layers().len(),
                e.draws
            ),
        }
    }

    fn estimate(&self, dirac: &Dirac, rng: &mut Pcg64) -> Result<LogDet, FermionError> {
        match self {
            Estimator::Ladder(e) => e.estimate_extended(dirac, rng).map(|est| LogDet {
                log_det: est.log_det,
                cg_iterations: est.cg_iterations,
                extended: est.extra_rungs > 0,
            }),
            Estimator::Flow(e) => e.estimate(dirac, rng).map(|est| LogDet {
                log_det: est.log_det,
                cg_iterations: est.cg_iterations,
                extended: false,
            }),
        }
    }
}

/// S_φ⁴ − log d̂et(D Dᵀ) with stochastic pseudofermion forces (see the module doc).
#[derive(Debug)]
pub struct YukawaEstimated {
    model: Yukawa,
    estimator: Estimator,
    force_cg: CgParams,
    seed: u64,
    log: EstimateLog,
}

impl YukawaEstimated {
    /// The model with determinant estimates from `estimator`, forces solved to `force_cg`, and
    /// noise under the run seed `seed`.
    pub fn new(
        model: Yukawa,
        estimator: impl Into<Estimator>,
        force_cg: CgParams,
        seed: u64,
    ) -> Self {
        Self {
            model,
            estimator: estimator.into(),
            force_cg,
            seed,
            log: EstimateLog::default(),
        }
    }

    pub fn model(&self) -> &Yukawa {
        &self.model
    }

    pub fn estimator(&self) -> &Estimator {
        &self.estimator
    }

    /// The ladder estimator, if that is the one in use.
    pub fn ladder(&self) -> Option<&DetEstimator> {
        match &self.estimator {
            Estimator::Ladder(e) => Some(e),
            Estimator::Flow(_) => None,
        }
    }

    /// log d̂et(D Dᵀ) of φ with the noise of stream `key` (a ladder estimate on the field's
    /// ladder, extended where φ needs it for a finite variance).
    fn log_det_estimate(&self, phi: &[f64], key: u64) -> Result<f64, FermionError> {
        let dirac = self.model.dirac(phi);
        let mut rng = stream_rng(self.seed, key ^ field_hash(phi));
        let est = self.estimator.estimate(&dirac, &mut rng)?;
        self.log.estimate(est.cg_iterations, est.extended);
        Ok(est.log_det)
    }
}

impl EstimatedAction for YukawaEstimated {
    fn describe(&self) -> String {
        self.estimator.describe()
    }

    fn counts(&self) -> EstimateCounts {
        self.log.counts()
    }

    fn take_error(&self) -> Option<FermionError> {
        self.log.take_error()
    }

    /// `repeats` independent estimates of log det(D Dᵀ) of φ (streams other than the
    /// action's): their spread is the estimator's variance at φ, which sets the pseudo-marginal
    /// acceptance.
    fn repeated_log_det(&self, phi: &[f64], repeats: usize) -> Result<Vec<f64>, FermionError> {
        (1..=repeats as u64)
            .map(|r| self.log_det_estimate(phi, repeat_key(r)))
            .collect()
    }

    /// The ladder's largest twist and the rungs φ needs past it.
    fn ladder_extension(&self, phi: &[f64]) -> Option<(f64, usize)> {
        let ladder = self.ladder()?;
        let configured = ladder.twists();
        let needed = ladder.twists_for(&self.model.dirac(phi)).len();
        Some((configured[configured.len() - 1], needed - configured.len()))
    }
}

impl Action for YukawaEstimated {
    fn lattice(&self) -> &Lattice {
        self.model.phi4().lattice()
    }

    fn is_z2_symmetric(&self) -> bool {
        self.model.is_z2_symmetric()
    }

    /// S_φ⁴(φ) − log d̂et(D Dᵀ)(φ); +∞ if a CG solve failed (the proposal is then rejected and
    /// the failure kept for [`YukawaEstimated::take_error`]).
    fn action(&self, phi: &[f64]) -> f64 {
        self.log.action(
            self.model.phi4().action(phi),
            self.log_det_estimate(phi, ACTION_KEY),
        )
    }

    /// ∂S_φ⁴/∂φ_x − 2g Re(X̄_x ξ_x) with X = (D Dᵀ)⁻¹ D ξ: an unbiased estimate of ∂S_eff/∂φ.
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        self.model.phi4().gradient(phi, grad);
        let dirac = self.model.dirac(phi);
        let mut pf = Pseudofermion::new(phi.len());
        let mut rng = stream_rng(self.seed, FORCE_KEY ^ field_hash(phi));
        pf.heat_bath(&dirac, &mut rng);
        let solve = pf.add_force(&dirac, self.force_cg, grad);
        self.log.force(solve, grad);
    }
}
