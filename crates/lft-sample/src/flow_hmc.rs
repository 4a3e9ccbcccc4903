//! Flow-HMC: one chain that alternates an independence-Metropolis step with a flow proposal and
//! `hmc_per_step` HMC trajectories of the target. Both updates leave e^{−S} invariant, so the
//! composition is exact; the HMC part moves the chain where the flow is poor, the flow part
//! jumps between regions HMC connects slowly.

use crate::HmcChain;
use lft_action::Action;
use lft_flow::Flow;
use lft_lattice::{RngState, uniform};

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
    flow: &'a Flow,
    action: &'a dyn Action,
    hmc: HmcChain,
    hmc_per_step: usize,
}

impl<'a> FlowHmc<'a> {
    /// `hmc` holds the current configuration, the HMC settings and the generator.
    pub fn new(flow: &'a Flow, action: &'a dyn Action, hmc: HmcChain, hmc_per_step: usize) -> Self {
        Self {
            flow,
            action,
            hmc,
            hmc_per_step,
        }
    }

    pub fn field(&self) -> &[f64] {
        self.hmc.field()
    }

    /// The generator's state after the last step.
    pub fn rng_state(&self) -> RngState {
        self.hmc.rng_state()
    }

    /// One step: a flow proposal φ' accepted with min(1, w(φ')/w(φ)), w = e^{−S}/q, then
    /// `hmc_per_step` HMC trajectories.
    pub fn step(&mut self) -> FlowHmcRecord {
        let sample = self.flow.sample(1, self.hmc.rng_mut());
        let (proposal, log_q_new) = (sample.phi, sample.log_q[0]);
        let s_new = self.action.action(&proposal);
        let mut z = vec![0.0; proposal.len()];
        let log_q_cur = self.flow.inverse(self.hmc.field(), &mut z);
        let log_w_new = -s_new - log_q_new;
        let log_w_cur = -self.hmc.action_value() - log_q_cur;
        let flow_accepted = uniform(self.hmc.rng_mut()) < (log_w_new - log_w_cur).exp();
        if flow_accepted {
            self.hmc.set_field(self.action, &proposal);
        }
        let hmc_accepted = (0..self.hmc_per_step)
            .filter(|_| self.hmc.trajectory(self.action).accepted)
            .count();
        FlowHmcRecord {
            flow_accepted,
            hmc_accepted,
            action: self.hmc.action_value(),
        }
    }
}
