//! Flow-HMC on the joint target p(φ, ϕ) ∝ e^{−S_φ⁴(φ) − ϕ†(D Dᵀ)⁻¹ϕ}: every step an
//! independence-Metropolis move of (φ, ϕ) with the proposal q(φ) q(ϕ | φ) (a flow for φ, the
//! conditional pseudofermion flow for ϕ), then `hmc_per_step` pseudofermion-HMC trajectories
//! (each a heat bath ϕ = D(φ)ξ and a trajectory of φ at fixed ϕ). Both leave p(φ, ϕ) invariant,
//! and neither forms a determinant: CG solves only.
//!
//! The joint importance weight of a state is
//!
//!   log w(φ, ϕ) = −S_φ⁴(φ) − ϕ†(D Dᵀ)⁻¹ϕ − log q(φ) − log q(ϕ | φ),
//!   log q(ϕ | φ) = −|A(φ)⁻¹ϕ|² − log det_ℝ A(φ)   (up to the constant −V ln π),
//!
//! known for a proposal from its draw and recomputed after the trajectories (one flow inverse,
//! one conditional-flow inverse, one CG solve).

use crate::{HmcParams, MarkovChain, PseudofermionHmc};
use lft_action::{Action, PseudofermionCg, PseudofermionFlow, Yukawa};
use lft_fermion::{
    CgParams, CgScratch, Complex64, FermionError, norm_sqr, re_dot, solve_ddt,
    standard_complex_normal,
};
use lft_flow::Proposal;
use lft_lattice::{Pcg64, uniform};

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointFlowHmcRecord {
    /// Whether the joint flow proposal was accepted.
    pub flow_accepted: bool,
    /// Pseudofermion-HMC trajectories accepted in this step.
    pub hmc_accepted: usize,
    /// log w of the step's proposal.
    pub proposal_log_weight: f64,
}

/// A joint flow-HMC chain: the state (φ, ϕ), everything random from the HMC chain's generator.
pub struct JointFlowHmc<'a> {
    proposal: &'a dyn Proposal,
    pf_flow: &'a PseudofermionFlow,
    hmc: PseudofermionHmc,
    hmc_per_step: usize,
    cg: CgParams,
    /// The current pseudofermion and log w of the current state.
    pf: Vec<Complex64>,
    log_weight: f64,
}

impl<'a> JointFlowHmc<'a> {
    /// A chain starting at an exact draw from q(φ) q(ϕ | φ) (accepted unconditionally, as
    /// independence Metropolis starts), its generator `rng`.
    pub fn new(
        proposal: &'a dyn Proposal,
        pf_flow: &'a PseudofermionFlow,
        model: Yukawa,
        cg: PseudofermionCg,
        params: HmcParams,
        hmc_per_step: usize,
        mut rng: Pcg64,
    ) -> Result<Self, FermionError> {
        let v = proposal.volume();
        let first = proposal.draw(1, &mut rng);
        let hmc = PseudofermionHmc::resume(model, cg, first.phi.clone(), rng, params);
        let mut chain = Self {
            proposal,
            pf_flow,
            hmc,
            hmc_per_step,
            cg: cg.action,
            pf: vec![Complex64::default(); v],
            log_weight: f64::NAN,
        };
        let (pf, lw) = chain.propose_pseudofermion(&first.phi, first.log_q[0])?;
        chain.pf = pf;
        chain.log_weight = lw;
        Ok(chain)
    }

    /// The current φ.
    pub fn field(&self) -> &[f64] {
        self.hmc.field()
    }

    /// The current pseudofermion ϕ.
    pub fn pseudofermion(&self) -> &[Complex64] {
        &self.pf
    }

    fn model(&self) -> &Yukawa {
        self.hmc.action().model()
    }

    /// S_pf = ϕ†(D Dᵀ)⁻¹ϕ at φ.
    fn pseudofermion_action(&self, phi: &[f64], pf: &[Complex64]) -> Result<f64, FermionError> {
        let dirac = self.model().dirac(phi);
        let mut x = vec![Complex64::default(); pf.len()];
        solve_ddt(&dirac, pf, &mut x, self.cg, &mut CgScratch::new(pf.len()))?;
        Ok(re_dot(pf, &x))
    }

    /// Draws ϕ ~ q(· | φ) for a φ of log q(φ) = `log_q`; returns ϕ and log w(φ, ϕ).
    fn propose_pseudofermion(
        &mut self,
        phi: &[f64],
        log_q: f64,
    ) -> Result<(Vec<Complex64>, f64), FermionError> {
        let v = phi.len();
        let mut xi = vec![Complex64::default(); v];
        standard_complex_normal(self.hmc.rng_mut(), &mut xi);
        let dirac = self.model().dirac(phi);
        let mut pf = vec![Complex64::default(); v];
        let log_jac = self.pf_flow.forward(&dirac, &xi, &mut pf);
        let log_q_pf = -norm_sqr(&xi) - log_jac;
        let s = self.model().phi4().action(phi) + self.pseudofermion_action(phi, &pf)?;
        Ok((pf, -s - log_q - log_q_pf))
    }

    /// log w of the current (φ, ϕ).
    fn current_log_weight(&self) -> Result<f64, FermionError> {
        let phi = self.hmc.field();
        let dirac = self.model().dirac(phi);
        let mut xi = vec![Complex64::default(); phi.len()];
        let log_jac = self.pf_flow.inverse(&dirac, &self.pf, &mut xi);
        let log_q_pf = -norm_sqr(&xi) - log_jac;
        let s = self.model().phi4().action(phi) + self.pseudofermion_action(phi, &self.pf)?;
        Ok(-s - self.proposal.log_q_one(phi) - log_q_pf)
    }

    /// One step: the joint flow proposal, then the trajectories.
    pub fn step(&mut self) -> Result<JointFlowHmcRecord, FermionError> {
        let sample = self.proposal.draw(1, self.hmc.rng_mut());
        let (pf, lw) = self.propose_pseudofermion(&sample.phi, sample.log_q[0])?;
        let u = uniform(self.hmc.rng_mut());
        // NaN weights (a broken proposal) are rejected.
        let flow_accepted = u < (lw - self.log_weight).exp();
        if flow_accepted {
            self.hmc.jump_to(&sample.phi);
            self.pf = pf;
            self.log_weight = lw;
        }
        let mut hmc_accepted = 0;
        for _ in 0..self.hmc_per_step {
            hmc_accepted += usize::from(self.hmc.trajectory()?.accepted);
        }
        if self.hmc_per_step > 0 {
            self.pf = self.hmc.action().pseudofermion();
            self.log_weight = self.current_log_weight()?;
        }
        Ok(JointFlowHmcRecord {
            flow_accepted,
            hmc_accepted,
            proposal_log_weight: lw,
        })
    }

    /// `n` steps: φ after each `[n, V]`, and the records.
    #[allow(clippy::type_complexity)]
    pub fn run(&mut self, n: usize) -> Result<(Vec<f64>, Vec<JointFlowHmcRecord>), FermionError> {
        let mut configs = Vec::with_capacity(n * self.proposal.volume());
        let mut records = Vec::with_capacity(n);
        for _ in 0..n {
            records.push(self.step()?);
            configs.extend_from_slice(self.hmc.field());
        }
        Ok((configs, records))
    }
}
