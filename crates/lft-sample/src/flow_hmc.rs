//! Flow-HMC: one chain that alternates an independence-Metropolis step with a flow proposal and
//! `hmc_per_step` HMC trajectories of the target. Both updates leave e^{−S} invariant, so the
//! composition is exact; the HMC part moves the chain where the flow is poor, the flow part
//! jumps between regions HMC connects slowly.

use crate::HmcChain;
use lft_action::Action;
use lft_flow::Flow;
use lft_lattice::{Pcg64, uniform};

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

/// A flow-HMC chain.
pub struct FlowHmc<'a> {
    flow: &'a Flow,
    action: &'a dyn Action,
    hmc: HmcChain,
    hmc_per_step: usize,
    rng: Pcg64,
    batch: usize,
    /// Proposals not yet used: (configuration, log q).
    pending: Vec<(Vec<f64>, f64)>,
}

impl<'a> FlowHmc<'a> {
    /// `hmc` holds the starting configuration and the HMC settings; flow proposals and their
    /// accept/reject draw from `rng`, `batch` proposals at a time.
    pub fn new(
        flow: &'a Flow,
        action: &'a dyn Action,
        hmc: HmcChain,
        hmc_per_step: usize,
        batch: usize,
        rng: Pcg64,
    ) -> Self {
        Self {
            flow,
            action,
            hmc,
            hmc_per_step,
            rng,
            batch: batch.max(1),
            pending: Vec::new(),
        }
    }

    pub fn field(&self) -> &[f64] {
        self.hmc.field()
    }

    fn next_proposal(&mut self) -> (Vec<f64>, f64) {
        if self.pending.is_empty() {
            let v = self.flow.lattice().volume();
            let s = self.flow.sample(self.batch, &mut self.rng);
            self.pending = s
                .phi
                .chunks_exact(v)
                .map(|p| p.to_vec())
                .zip(s.log_q)
                .rev()
                .collect();
        }
        self.pending.pop().expect("refilled above")
    }

    /// One step: flow proposal accepted with min(1, w(φ')/w(φ)), w = e^{−S}/q, then the HMC
    /// trajectories.
    pub fn step(&mut self) -> FlowHmcRecord {
        let (proposal, log_q_new) = self.next_proposal();
        let s_new = self.action.action(&proposal);
        let mut z = vec![0.0; proposal.len()];
        let log_q_cur = self.flow.inverse(self.hmc.field(), &mut z);
        let log_w_new = -s_new - log_q_new;
        let log_w_cur = -self.hmc.action_value() - log_q_cur;
        let flow_accepted = uniform(&mut self.rng) < (log_w_new - log_w_cur).exp();
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
