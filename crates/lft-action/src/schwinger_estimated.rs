//! The Schwinger model with its determinant estimated, never formed: the target of gauge flows
//! trained with pseudofermion forces and of the pseudo-marginal samplers that correct them
//! (`fermions = "pseudofermion"` with a `[flow]`).
//!
//!   action(θ)   = S_W(θ) − log d̂et(θ),  d̂et an unbiased positive estimate of det D(θ)
//!                 (lft-fermion's twisted-mass ladder [`GaugeDetEstimator`], or importance
//!                 sampling with a gauge-covariant conditional pseudofermion flow
//!                 [`GaugeFlowDetEstimator`]), so e^{−action} is an unbiased
//!                 estimate of e^{−S(θ)}: independence Metropolis and reweighting on it stay
//!                 exact (pseudo-marginal MCMC, Andrieu & Roberts 2009);
//!   gradient(θ) = ∂S_W/∂θ + ∂(ϕ†M_ee⁻¹ϕ)/∂θ at its own heat-bath ϕ = (D χ)_e, whose mean over
//!                 χ is −tr(M_ee⁻¹ ∂M_ee) = ∂(−log det D)/∂θ, the exact force.
//!
//! Reverse-KL training on this action follows an unbiased gradient of the true KL with one CG
//! solve per configuration. The gradient is **not** the derivative of the action (two
//! independent estimates), so molecular dynamics must not run on it.
//!
//! **Joint sampling.** With the flow estimator and one draw, independence Metropolis on this
//! action with proposals q(θ) is independence Metropolis on the joint target
//! e^{−S_W(θ) − ϕ†M_ee⁻¹ϕ} with proposals q(θ) q(ϕ|θ), seen on θ (as for the Yukawa model).
//!
//! **Randomness** as for the Yukawa model ([`crate::YukawaEstimated`]): the noise of θ comes from
//! the stream keyed by (seed, a hash of θ's bits), so the action is a fixed function of θ.

use crate::estimated_action::{ACTION_KEY, EstimateLog, FORCE_KEY, field_hash, repeat_key};
use crate::schwinger::link_field;
use crate::{Action, EstimateCounts, EstimatedAction, Schwinger};
use lft_fermion::{
    CgParams, FermionError, GaugeDetEstimator, GaugeDirac, GaugeFlowDetEstimator,
    GaugePseudofermion,
};
use lft_lattice::{Lattice, Pcg64, stream_rng};

/// The unbiased estimator of det D(θ) of a [`SchwingerEstimated`].
#[derive(Debug, Clone, PartialEq)]
pub enum GaugeEstimator {
    /// The twisted-mass ladder over the free reference.
    Ladder(GaugeDetEstimator),
    /// Importance sampling with a trained conditional pseudofermion flow (joint sampling).
    Flow(GaugeFlowDetEstimator),
}

impl From<GaugeDetEstimator> for GaugeEstimator {
    fn from(e: GaugeDetEstimator) -> Self {
        GaugeEstimator::Ladder(e)
    }
}

impl From<GaugeFlowDetEstimator> for GaugeEstimator {
    fn from(e: GaugeFlowDetEstimator) -> Self {
        GaugeEstimator::Flow(e)
    }
}

impl GaugeEstimator {
    /// "ladder of N twists, D draws per rung" or "conditional flow of L layers, D draws".
    pub fn describe(&self) -> String {
        match self {
            GaugeEstimator::Ladder(e) => format!(
                "ladder of {} twists, {} draws per rung",
                e.twists().len(),
                e.draws()
            ),
            GaugeEstimator::Flow(e) => format!(
                "gauge-covariant conditional pseudofermion flow of {} layers, {} draws",
                e.flow.layers().len(),
                e.draws
            ),
        }
    }

    /// One estimate of log det D(θ) and its CG iterations.
    fn estimate(
        &self,
        dirac: &GaugeDirac,
        theta: &[f64],
        rng: &mut Pcg64,
    ) -> Result<(f64, usize), FermionError> {
        match self {
            GaugeEstimator::Ladder(e) => e
                .estimate(dirac, rng)
                .map(|est| (est.log_det, est.cg_iterations)),
            GaugeEstimator::Flow(e) => e.estimate(dirac, theta, rng),
        }
    }
}

/// S_W − log d̂et D with stochastic pseudofermion forces (see the module doc).
#[derive(Debug)]
pub struct SchwingerEstimated {
    model: Schwinger,
    estimator: GaugeEstimator,
    force_cg: CgParams,
    seed: u64,
    log: EstimateLog,
}

impl SchwingerEstimated {
    /// The model with determinant estimates from `estimator`, forces solved to `force_cg`, and
    /// noise under the run seed `seed`.
    pub fn new(
        model: Schwinger,
        estimator: impl Into<GaugeEstimator>,
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

    pub fn model(&self) -> &Schwinger {
        &self.model
    }

    pub fn estimator(&self) -> &GaugeEstimator {
        &self.estimator
    }

    /// log d̂et D(θ) with the noise of stream `key`.
    fn log_det_estimate(&self, theta: &[f64], key: u64) -> Result<f64, FermionError> {
        let dirac = self.model.dirac(theta);
        let mut rng = stream_rng(self.seed, key ^ field_hash(theta));
        let (log_det, cg_iterations) = self.estimator.estimate(&dirac, theta, &mut rng)?;
        self.log.estimate(cg_iterations, false);
        Ok(log_det)
    }
}

impl EstimatedAction for SchwingerEstimated {
    fn describe(&self) -> String {
        self.estimator.describe()
    }

    fn counts(&self) -> EstimateCounts {
        self.log.counts()
    }

    fn take_error(&self) -> Option<FermionError> {
        self.log.take_error()
    }

    fn repeated_log_det(&self, theta: &[f64], repeats: usize) -> Result<Vec<f64>, FermionError> {
        (1..=repeats as u64)
            .map(|r| self.log_det_estimate(theta, repeat_key(r)))
            .collect()
    }
}

impl Action for SchwingerEstimated {
    link_field!();

    /// S_W(θ) − log d̂et D(θ); +∞ if a CG solve failed (the proposal is then rejected and the
    /// failure kept for [`EstimatedAction::take_error`]).
    fn action(&self, theta: &[f64]) -> f64 {
        self.log.action(
            self.model.wilson().action(theta),
            self.log_det_estimate(theta, ACTION_KEY),
        )
    }

    /// ∂S_W/∂θ + ∂(ϕ†M_ee⁻¹ϕ)/∂θ at a heat-bath ϕ: an unbiased estimate of ∂S/∂θ.
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        self.model.wilson().gradient(theta, grad);
        let dirac = self.model.dirac(theta);
        let mut pf = GaugePseudofermion::new(dirac.volume());
        let mut rng = stream_rng(self.seed, FORCE_KEY ^ field_hash(theta));
        pf.heat_bath(&dirac, &mut rng);
        let solve = pf.add_force(&dirac, self.force_cg, grad);
        self.log.force(solve, grad);
    }
}
