//! Flow-HMC on the joint target p(φ, ϕ) ∝ e^{−S_φ⁴(φ) − ϕ†(D Dᵀ)⁻¹ϕ}. Every step:
//!
//! 1. a heat bath ϕ = D(φ)ξ, exact Gibbs for ϕ | φ (so the chain's state is φ and its
//!    generator, and it resumes exactly from any stored step);
//! 2. an independence-Metropolis move of (φ, ϕ) with the proposal q(φ) q(ϕ | φ) (a flow for φ,
//!    the conditional pseudofermion flow for ϕ), accepted with the joint weights;
//! 3. `hmc_per_step` pseudofermion-HMC trajectories (each its own heat bath, then a trajectory
//!    of φ at fixed ϕ).
//!
//! All three leave p(φ, ϕ) invariant, so their composition samples the Yukawa model on φ, and
//! none forms a determinant: CG solves only. The joint importance weight is
//!
//!   log w(φ, ϕ) = −S_φ⁴(φ) − ϕ†(D Dᵀ)⁻¹ϕ − log q(φ) − log q(ϕ | φ),
//!   log q(ϕ | φ) = −|A(φ)⁻¹ϕ|² − log det_ℝ A(φ)   (up to the constant −V ln π);
//!
//! after the heat bath ϕ†(D Dᵀ)⁻¹ϕ = |ξ|² exactly, and q(ϕ | φ) takes the conditional flow's
//! inverse (one CG solve on the free operator); a proposal's takes one solve for ϕ'†(D Dᵀ)⁻¹ϕ'.

use crate::flow_hmc::{FlowHmcStep, flow_hmc_resume_state, flow_hmc_settings};
use crate::imh::FLOW_CHAIN_STREAM;
use crate::{
    Chain, HmcParams, InverseCheck, InverseCheckFailed, MarkovChain, PseudofermionHmc, Recorder,
    Sampler,
};
use lft_action::{Action, PseudofermionCg, PseudofermionFlow, Yukawa};
use lft_fermion::{
    CgParams, CgScratch, Complex64, FermionError, norm_sqr, re_dot, solve_ddt,
    standard_complex_normal,
};
use lft_flow::Proposal;
use lft_lattice::{RngState, stream_rng, uniform};
use lft_records::{ChainMeta, ChainSettings, SamplerKind, StoredRow};
use thiserror::Error;

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointFlowHmcRecord {
    /// Whether the joint flow proposal was accepted.
    pub flow_accepted: bool,
    /// Pseudofermion-HMC trajectories accepted in this step.
    pub hmc_accepted: usize,
    /// log w of the step's proposal.
    pub proposal_log_weight: f64,
    /// S_φ⁴ + S_pf after the step (with the last trajectory's pseudofermion; without
    /// trajectories, the accepted or heat-bath one).
    pub action: f64,
    /// Whether the proposal's CG solve failed (it was then rejected).
    pub proposal_failed: bool,
}

/// Why a joint flow-HMC step failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum JointFlowHmcError {
    #[error(transparent)]
    Fermion(#[from] FermionError),
    #[error(transparent)]
    InverseCheck(#[from] InverseCheckFailed),
}

/// A joint flow-HMC chain; everything random comes from the HMC chain's one generator.
pub struct JointFlowHmc<'a> {
    proposal: &'a dyn Proposal,
    pf_flow: &'a PseudofermionFlow,
    hmc: PseudofermionHmc,
    hmc_per_step: usize,
    cg: CgParams,
    flow_step: u64,
    inverse_check: InverseCheck,
    /// Steps since the last round-trip check.
    since_check: usize,
}

/// The round trip of the φ proposals is checked once in this many steps (as flow-HMC does).
const CHECK_PERIOD: usize = 64;

impl<'a> JointFlowHmc<'a> {
    /// `hmc` holds the current φ, the HMC settings and the generator; its solves (and the
    /// proposals') stop at `hmc`'s action tolerance.
    pub fn new(
        proposal: &'a dyn Proposal,
        pf_flow: &'a PseudofermionFlow,
        hmc: PseudofermionHmc,
        hmc_per_step: usize,
        cg: PseudofermionCg,
    ) -> Self {
        Self {
            proposal,
            pf_flow,
            hmc,
            hmc_per_step,
            cg: cg.action,
            flow_step: 0,
            inverse_check: InverseCheck::default(),
            since_check: 0,
        }
    }

    /// The current φ.
    pub fn field(&self) -> &[f64] {
        self.hmc.field()
    }

    /// The generator's state after the last step.
    pub fn rng_state(&self) -> RngState {
        MarkovChain::rng_state(&self.hmc)
    }

    fn model(&self) -> &Yukawa {
        self.hmc.action().model()
    }

    /// −log q(ϕ | φ) − V ln π = |A⁻¹ϕ|² + L.
    fn neg_log_q_pf(&self, phi: &[f64], pf: &[Complex64]) -> f64 {
        let mut xi = vec![Complex64::default(); pf.len()];
        let log_jac = self.pf_flow.inverse(&self.model().dirac(phi), pf, &mut xi);
        norm_sqr(&xi) + log_jac
    }

    /// One step (see the module doc). Fails on a CG failure or when a φ proposal fails the
    /// round-trip check (made on the first step and on every 64th after it).
    pub fn step(&mut self) -> Result<JointFlowHmcRecord, JointFlowHmcError> {
        let v = self.proposal.volume();
        // 1. Heat bath at the current φ: S_pf = |ξ|².
        let phi = self.hmc.field().to_vec();
        let mut xi = vec![Complex64::default(); v];
        standard_complex_normal(self.hmc.rng_mut(), &mut xi);
        let mut pf = vec![Complex64::default(); v];
        self.model().dirac(&phi).apply(&xi, &mut pf);
        let s_cur = self.model().phi4().action(&phi) + norm_sqr(&xi);
        let log_w_cur = -s_cur - self.proposal.log_q_one(&phi) + self.neg_log_q_pf(&phi, &pf);
        // 2. The joint flow proposal.
        let sample = self.proposal.draw(1, self.hmc.rng_mut());
        if self.since_check == 0 {
            self.inverse_check.check(self.proposal, &sample)?;
        }
        self.since_check = (self.since_check + 1) % CHECK_PERIOD;
        let phi_new = &sample.phi;
        standard_complex_normal(self.hmc.rng_mut(), &mut xi);
        let dirac = self.model().dirac(phi_new);
        let mut pf_new = vec![Complex64::default(); v];
        let log_jac = self.pf_flow.forward(&dirac, &xi, &mut pf_new);
        let mut x = vec![Complex64::default(); v];
        // A proposal whose solve fails (a nearly singular D, where the target density
        // vanishes) is rejected, as the estimated action's +∞ is.
        let solved = lft_fermion::accept_stagnated(
            solve_ddt(&dirac, &pf_new, &mut x, self.cg, &mut CgScratch::new(v)),
            lft_fermion::STAGNATION_FLOOR,
        );
        let proposal_failed = solved.is_err();
        let s_new = match solved {
            Ok(_) => self.model().phi4().action(phi_new) + re_dot(&pf_new, &x),
            Err(_) => f64::INFINITY,
        };
        let log_w_new = -s_new - sample.log_q[0] + norm_sqr(&xi) + log_jac;
        // NaN weights (a broken proposal) are rejected.
        let flow_accepted = uniform(self.hmc.rng_mut()) < (log_w_new - log_w_cur).exp();
        let mut action = s_cur;
        if flow_accepted {
            self.hmc.jump_to(phi_new);
            action = s_new;
        }
        // 3. The trajectories.
        let mut hmc_accepted = 0;
        for _ in 0..self.hmc_per_step {
            hmc_accepted += usize::from(self.hmc.trajectory()?.accepted);
            action = self.hmc.action_value();
        }
        Ok(JointFlowHmcRecord {
            flow_accepted,
            hmc_accepted,
            proposal_log_weight: log_w_new,
            action,
            proposal_failed,
        })
    }

    /// `n` steps: φ after each `[n, V]`, and the records.
    #[allow(clippy::type_complexity)]
    pub fn run(
        &mut self,
        n: usize,
    ) -> Result<(Vec<f64>, Vec<JointFlowHmcRecord>), JointFlowHmcError> {
        let mut configs = Vec::with_capacity(n * self.proposal.volume());
        let mut records = Vec::with_capacity(n);
        for _ in 0..n {
            records.push(self.step()?);
            configs.extend_from_slice(self.hmc.field());
        }
        Ok((configs, records))
    }
}

impl Chain for JointFlowHmc<'_> {
    type Error = JointFlowHmcError;

    /// One step: a heat bath, a joint flow proposal and `hmc_per_step` trajectories.
    fn advance(&mut self, _max: usize, out: &mut Recorder<'_>) -> Result<(), Self::Error> {
        let r = self.step()?;
        let step = FlowHmcStep {
            flow_accepted: r.flow_accepted,
            hmc_accepted: r.hmc_accepted,
            hmc_per_step: self.hmc_per_step,
            action: r.action,
        };
        step.record(out, self.field(), self.rng_state());
        Ok(())
    }

    fn settings(&self) -> ChainSettings {
        flow_hmc_settings(self.hmc.params(), self.hmc_per_step, self.flow_step)
    }

    fn start_state(&self) -> (Vec<f64>, RngState) {
        (self.field().to_vec(), self.rng_state())
    }
}

/// Joint flow-HMC chains, stored like flow-HMC ones: chain c starts from φ = 0 with the stream
/// (seed, FLOW_CHAIN_STREAM + c), with no thermalisation.
pub struct JointFlowHmcSampler<'a> {
    pub proposal: &'a dyn Proposal,
    pub pf_flow: &'a PseudofermionFlow,
    pub model: &'a Yukawa,
    pub cg: PseudofermionCg,
    pub params: HmcParams,
    pub hmc_per_step: usize,
    pub seed: u64,
    pub flow_step: u64,
    pub inverse_check: InverseCheck,
}

impl<'a> JointFlowHmcSampler<'a> {
    fn chain(&self, field: Vec<f64>, rng: RngState, params: HmcParams) -> JointFlowHmc<'a> {
        let hmc =
            PseudofermionHmc::resume(self.model.clone(), self.cg, field, rng.restore(), params);
        JointFlowHmc {
            flow_step: self.flow_step,
            inverse_check: self.inverse_check,
            ..JointFlowHmc::new(self.proposal, self.pf_flow, hmc, self.hmc_per_step, self.cg)
        }
    }
}

impl<'a> Sampler for JointFlowHmcSampler<'a> {
    type Chain = JointFlowHmc<'a>;

    fn kind(&self) -> SamplerKind {
        SamplerKind::FlowHmc
    }

    fn volume(&self) -> usize {
        self.proposal.volume()
    }

    fn fresh(&self, index: u64) -> JointFlowHmc<'a> {
        let rng = RngState::of(&stream_rng(self.seed, FLOW_CHAIN_STREAM + index));
        self.chain(vec![0.0; self.volume()], rng, self.params)
    }

    fn resume(
        &self,
        meta: &ChainMeta,
        last: Option<&StoredRow>,
    ) -> Result<JointFlowHmc<'a>, String> {
        let (params, field, rng) = flow_hmc_resume_state(meta, last, self.volume())?;
        Ok(self.chain(field, rng, params))
    }
}
