//! Flow-HMC: one chain that alternates an independence-Metropolis step with a flow proposal and
//! `hmc_per_step` HMC trajectories of the target. Both updates leave e^{−S} invariant, so the
//! composition is exact; the HMC part moves the chain where the flow is poor, the flow part
//! jumps between regions HMC connects slowly.

use crate::imh::FLOW_CHAIN_STREAM;
use crate::{
    Chain, HmcChain, HmcParams, InverseCheck, InverseCheckFailed, Recorder, Sampler, Step,
};
use lft_action::Action;
use lft_flow::Proposal;
use lft_lattice::{RngState, stream_rng, uniform};
use lft_records::{ChainMeta, ChainSettings, SamplerKind, StoredRow};

/// What one flow-HMC step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowHmcRecord {
    /// Whether the flow proposal was accepted.
    pub flow_accepted: bool,
    /// HMC trajectories accepted in this step.
    pub hmc_accepted: usize,
    /// S of the configuration after the step.
    pub action: f64,
}

/// A flow-HMC chain. Everything random (the flow's latent draws, the accept/reject uniforms
/// and the HMC momenta) comes from the HMC chain's one generator, one proposal per step, so
/// the chain's state after any step is (field, generator state) and it resumes exactly there.
pub struct FlowHmc<'a> {
    proposal: &'a dyn Proposal,
    action: &'a dyn Action,
    hmc: HmcChain,
    hmc_per_step: usize,
    flow_step: u64,
    inverse_check: InverseCheck,
    /// Steps since the last round-trip check.
    since_check: usize,
}

/// Flow-HMC draws one proposal per step: its round trip is checked once in this many steps
/// (the first included), so the check costs ~2 % of the flow's work instead of doubling it.
const CHECK_PERIOD: usize = 64;

impl<'a> FlowHmc<'a> {
    /// `hmc` holds the current configuration, the HMC settings and the generator.
    pub fn new(
        proposal: &'a dyn Proposal,
        action: &'a dyn Action,
        hmc: HmcChain,
        hmc_per_step: usize,
    ) -> Self {
        Self {
            proposal,
            action,
            hmc,
            hmc_per_step,
            flow_step: 0,
            inverse_check: InverseCheck::default(),
            since_check: 0,
        }
    }

    pub fn field(&self) -> &[f64] {
        self.hmc.field()
    }

    /// The generator's state after the last step.
    pub fn rng_state(&self) -> RngState {
        self.hmc.rng_state()
    }

    /// Checks the round trip of proposals with `check` instead of the default.
    pub fn with_inverse_check(mut self, check: InverseCheck) -> Self {
        self.inverse_check = check;
        self
    }

    /// One step: a flow proposal φ' accepted with min(1, w(φ')/w(φ)), w = e^{−S}/q, then
    /// `hmc_per_step` HMC trajectories. Fails when the proposal fails the round-trip check
    /// (made on the first step and on every 64th after it).
    pub fn step(&mut self) -> Result<FlowHmcRecord, InverseCheckFailed> {
        let sample = self.proposal.draw(1, self.hmc.rng_mut());
        if self.since_check == 0 {
            self.inverse_check.check(self.proposal, &sample)?;
        }
        self.since_check = (self.since_check + 1) % CHECK_PERIOD;
        let (proposal, log_q_new) = (sample.phi, sample.log_q[0]);
        let s_new = self.action.action(&proposal);
        let log_q_cur = self.proposal.log_q_one(self.hmc.field());
        let log_w_new = -s_new - log_q_new;
        let log_w_cur = -self.hmc.action_value() - log_q_cur;
        let flow_accepted = uniform(self.hmc.rng_mut()) < (log_w_new - log_w_cur).exp();
        if flow_accepted {
            self.hmc.set_field(self.action, &proposal);
        }
        let hmc_accepted = (0..self.hmc_per_step)
            .filter(|_| self.hmc.trajectory(self.action).accepted)
            .count();
        Ok(FlowHmcRecord {
            flow_accepted,
            hmc_accepted,
            action: self.hmc.action_value(),
        })
    }
}

impl Chain for FlowHmc<'_> {
    type Error = InverseCheckFailed;

    /// One step: a flow proposal and `hmc_per_step` trajectories.
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

/// Flow-HMC chains: chain c starts from φ = 0 with the stream (seed, FLOW_CHAIN_STREAM + c),
/// with no thermalisation (the first accepted flow proposal takes it into the bulk).
pub struct FlowHmcSampler<'a> {
    pub proposal: &'a dyn Proposal,
    pub action: &'a dyn Action,
    pub params: HmcParams,
    pub hmc_per_step: usize,
    pub seed: u64,
    pub flow_step: u64,
    /// The round-trip check of the proposals.
    pub inverse_check: InverseCheck,
}

impl<'a> FlowHmcSampler<'a> {
    fn chain(&self, field: Vec<f64>, rng: RngState, params: HmcParams) -> FlowHmc<'a> {
        let hmc = HmcChain::resume(self.action, field, rng.restore(), params);
        FlowHmc {
            flow_step: self.flow_step,
            inverse_check: self.inverse_check,
            ..FlowHmc::new(self.proposal, self.action, hmc, self.hmc_per_step)
        }
    }
}

impl<'a> Sampler for FlowHmcSampler<'a> {
    type Chain = FlowHmc<'a>;

    fn kind(&self) -> SamplerKind {
        SamplerKind::FlowHmc
    }

    fn volume(&self) -> usize {
        self.proposal.volume()
    }

    fn fresh(&self, index: u64) -> FlowHmc<'a> {
        let rng = RngState::of(&stream_rng(self.seed, FLOW_CHAIN_STREAM + index));
        self.chain(vec![0.0; self.volume()], rng, self.params)
    }

    fn resume(&self, meta: &ChainMeta, last: Option<&StoredRow>) -> Result<FlowHmc<'a>, String> {
        let (params, field, rng) = flow_hmc_resume_state(meta, last, self.volume())?;
        Ok(self.chain(field, rng, params))
    }
}

/// What one step of a flow-HMC-like chain stores (plain or joint flow-HMC alike).
pub(crate) struct FlowHmcStep {
    pub flow_accepted: bool,
    pub hmc_accepted: usize,
    pub hmc_per_step: usize,
    pub action: f64,
}

impl FlowHmcStep {
    /// Records the step: values [S, trajectories accepted], the flow move as `accepted`.
    pub(crate) fn record(&self, out: &mut Recorder<'_>, field: &[f64], rng_after: RngState) {
        out.record(Step {
            config: field,
            values: &[self.action, self.hmc_accepted as f64],
            accepted: self.flow_accepted,
            rng_after,
            delta_h: None,
            inner: (self.hmc_per_step as u64, self.hmc_accepted as u64),
        });
    }
}

/// The stored settings of a flow-HMC-like chain.
pub(crate) fn flow_hmc_settings(
    p: HmcParams,
    hmc_per_step: usize,
    flow_step: u64,
) -> ChainSettings {
    ChainSettings::FlowHmc {
        step_size: p.step_size,
        n_steps: p.n_steps as u64,
        integrator: p.integrator,
        length_jitter: p.length_jitter,
        hmc_per_step: hmc_per_step as u64,
        flow_step,
    }
}

/// The HMC settings, field and generator a flow-HMC-like chain continues from after its
/// stored record `last` (`None`: from its start state).
pub(crate) fn flow_hmc_resume_state(
    meta: &ChainMeta,
    last: Option<&StoredRow>,
    volume: usize,
) -> Result<(HmcParams, Vec<f64>, RngState), String> {
    let ChainSettings::FlowHmc {
        step_size,
        n_steps,
        integrator,
        length_jitter,
        ..
    } = meta.settings
    else {
        return Err("not a flow-HMC chain".into());
    };
    let params = HmcParams {
        step_size,
        n_steps: n_steps as usize,
        integrator,
        length_jitter,
    };
    let (field, rng) = match last {
        Some(row) => (row.config.clone(), row.rng),
        None => (meta.start_config.clone(), meta.start_rng),
    };
    if field.len() != volume {
        return Err("the stored state does not fit the lattice".into());
    }
    Ok((params, field, rng))
}
