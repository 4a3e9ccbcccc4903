//! Independence Metropolis–Hastings with flow proposals.
//!
//! Proposals φ' are drawn from the flow q in batches; with importance weights
//! log w = −S(φ) − log q(φ), φ' replaces the current φ with probability min(1, w(φ')/w(φ)).
//! The chain is exact for any q that covers the target; the flow only sets the acceptance.

use lft_action::Action;
use lft_flow::Flow;
use lft_lattice::{Pcg64, RngState, uniform};

/// The state of the chain after one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImhRecord {
    pub accepted: bool,
    /// log w of the proposal made at this step (accepted or not): their Kish ESS measures the
    /// flow.
    pub proposal_log_weight: f64,
    /// log q of the current configuration.
    pub log_q: f64,
    /// S of the current configuration.
    pub action: f64,
    /// log w = −S − log q of the current configuration.
    pub log_weight: f64,
}

/// An independence-Metropolis chain driven by a flow.
pub struct FlowImh<'a> {
    flow: &'a Flow,
    action: &'a dyn Action,
    batch: usize,
    rng: Pcg64,
    current: Option<(Vec<f64>, ImhRecord)>,
}

impl<'a> FlowImh<'a> {
    /// A chain drawing proposals `batch` at a time from `rng`. Its first proposal is accepted
    /// unconditionally (it is an exact draw from q, the usual starting point).
    pub fn new(flow: &'a Flow, action: &'a dyn Action, batch: usize, rng: Pcg64) -> Self {
        Self {
            flow,
            action,
            batch: batch.max(1),
            rng,
            current: None,
        }
    }

    /// A chain continuing from a stored state: the current configuration and its record, and
    /// the generator as it was after the last complete batch.
    pub fn resume(
        flow: &'a Flow,
        action: &'a dyn Action,
        batch: usize,
        rng: Pcg64,
        current: Option<(Vec<f64>, ImhRecord)>,
    ) -> Self {
        Self {
            flow,
            action,
            batch: batch.max(1),
            rng,
            current,
        }
    }

    /// Generator state (meaningful between batches: the chain resumes from it exactly).
    pub fn rng_state(&self) -> RngState {
        RngState::of(&self.rng)
    }

    /// Runs `n` steps; returns the configuration after each step `[n, V]` and its record.
    pub fn run(&mut self, n: usize) -> (Vec<f64>, Vec<ImhRecord>) {
        let v = self.flow.lattice().volume();
        let mut configs = Vec::with_capacity(n * v);
        let mut records = Vec::with_capacity(n);
        while records.len() < n {
            let k = self.batch.min(n - records.len());
            let proposals = self.flow.sample(k, &mut self.rng);
            let mut actions = vec![0.0; k];
            self.action.action_batch(&proposals.phi, &mut actions);
            for (i, phi) in proposals.phi.chunks_exact(v).enumerate() {
                let log_q = proposals.log_q[i];
                let lw = -actions[i] - log_q;
                let proposal = ImhRecord {
                    accepted: true,
                    proposal_log_weight: lw,
                    log_q,
                    action: actions[i],
                    log_weight: lw,
                };
                let u = uniform(&mut self.rng);
                let accept = match &self.current {
                    None => true,
                    // NaN weights (a broken proposal) are rejected.
                    Some((_, cur)) => u < (proposal.log_weight - cur.log_weight).exp(),
                };
                if accept {
                    self.current = Some((phi.to_vec(), proposal));
                } else if let Some((_, cur)) = &mut self.current {
                    cur.accepted = false;
                    cur.proposal_log_weight = proposal.log_weight;
                }
                let (state, rec) = self.current.as_ref().expect("set on the first step");
                configs.extend_from_slice(state);
                records.push(*rec);
            }
        }
        (configs, records)
    }
}
