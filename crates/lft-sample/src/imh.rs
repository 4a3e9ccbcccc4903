//! Independence Metropolis–Hastings with flow proposals.
//!
//! Proposals φ' are drawn from the flow q in batches; with importance weights
//! log w = −S(φ) − log q(φ), φ' replaces the current φ with probability min(1, w(φ')/w(φ)).
//! The chain is exact for any q that covers the target; the flow only sets the acceptance.

use crate::{Chain, InverseCheck, InverseCheckFailed, Recorder, Sampler, Step};
use lft_action::Action;
use lft_flow::Proposal;
use lft_lattice::{Pcg64, RngState, stream_rng, uniform};
use lft_records::{ChainMeta, ChainSettings, SamplerKind, StoredRow};

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
    proposal: &'a dyn Proposal,
    action: &'a dyn Action,
    batch: usize,
    rng: Pcg64,
    current: Option<(Vec<f64>, ImhRecord)>,
    flow_step: u64,
    inverse_check: InverseCheck,
}

impl<'a> FlowImh<'a> {
    /// A chain drawing proposals `batch` at a time from `rng`. Its first proposal is accepted
    /// unconditionally (it is an exact draw from q, the usual starting point).
    pub fn new(
        proposal: &'a dyn Proposal,
        action: &'a dyn Action,
        batch: usize,
        rng: Pcg64,
    ) -> Self {
        Self {
            proposal,
            action,
            batch: batch.max(1),
            rng,
            current: None,
            flow_step: 0,
            inverse_check: InverseCheck::default(),
        }
    }

    /// A chain continuing from a stored state: the current configuration and its record, and
    /// the generator as it was after the last complete batch.
    pub fn resume(
        proposal: &'a dyn Proposal,
        action: &'a dyn Action,
        batch: usize,
        rng: Pcg64,
        current: Option<(Vec<f64>, ImhRecord)>,
    ) -> Self {
        Self {
            proposal,
            action,
            batch: batch.max(1),
            rng,
            current,
            flow_step: 0,
            inverse_check: InverseCheck::default(),
        }
    }

    /// Records the training steps of the flow in the chain's settings.
    pub fn with_flow_step(mut self, flow_step: u64) -> Self {
        self.flow_step = flow_step;
        self
    }

    /// Checks the round trip of proposals with `check` instead of the default.
    pub fn with_inverse_check(mut self, check: InverseCheck) -> Self {
        self.inverse_check = check;
        self
    }

    /// Generator state (meaningful between batches: the chain resumes from it exactly).
    pub fn rng_state(&self) -> RngState {
        RngState::of(&self.rng)
    }

    /// Runs `n` steps; returns the configuration after each step `[n, V]` and its record.
    /// Fails when a proposal fails the round-trip check.
    #[allow(clippy::type_complexity)]
    pub fn run(&mut self, n: usize) -> Result<(Vec<f64>, Vec<ImhRecord>), InverseCheckFailed> {
        let mut configs = Vec::new();
        let mut records = Vec::with_capacity(n);
        while records.len() < n {
            let k = self.batch.min(n - records.len());
            let (c, r) = self.next_batch(k)?;
            configs.extend(c);
            records.extend(r);
        }
        Ok((configs, records))
    }

    /// Runs one batch of `k` ≤ batch steps.
    #[allow(clippy::type_complexity)]
    fn next_batch(&mut self, k: usize) -> Result<(Vec<f64>, Vec<ImhRecord>), InverseCheckFailed> {
        let v = self.proposal.volume();
        let mut configs = Vec::with_capacity(k * v);
        let mut records = Vec::with_capacity(k);
        let proposals = self.proposal.draw(k, &mut self.rng);
        self.inverse_check.check(self.proposal, &proposals)?;
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
        Ok((configs, records))
    }
}

impl ImhRecord {
    /// The record's values in the column order of [`SamplerKind::FlowImh`].
    pub fn values(&self) -> [f64; 4] {
        [
            self.action,
            self.log_q,
            self.log_weight,
            self.proposal_log_weight,
        ]
    }

    /// Inverse of [`ImhRecord::values`].
    pub fn from_values(values: &[f64], accepted: bool) -> Option<Self> {
        let &[action, log_q, log_weight, proposal_log_weight] = values else {
            return None;
        };
        Some(Self {
            accepted,
            proposal_log_weight,
            log_q,
            action,
            log_weight,
        })
    }
}

/// Records one batch of flow-chain steps, all with the generator state after the batch.
pub(crate) fn record_batch(
    out: &mut Recorder<'_>,
    configs: &[f64],
    records: &[ImhRecord],
    rng_after: RngState,
) {
    let v = configs.len() / records.len().max(1);
    for (phi, r) in configs.chunks_exact(v).zip(records) {
        out.record(Step {
            config: phi,
            values: &r.values(),
            accepted: r.accepted,
            rng_after,
            delta_h: None,
            inner: (0, 0),
        });
    }
}

impl Chain for FlowImh<'_> {
    type Error = InverseCheckFailed;

    /// One batch of at most `max` proposals.
    fn advance(&mut self, max: usize, out: &mut Recorder<'_>) -> Result<(), Self::Error> {
        let (configs, records) = self.next_batch(self.batch.min(max))?;
        record_batch(out, &configs, &records, self.rng_state());
        Ok(())
    }

    fn settings(&self) -> ChainSettings {
        ChainSettings::Flow {
            proposal_batch: self.batch as u64,
            flow_step: self.flow_step,
        }
    }

    fn start_state(&self) -> (Vec<f64>, RngState) {
        (vec![0.0; self.proposal.volume()], self.rng_state())
    }
}

/// Random stream family of flow chains: chain c draws from (seed, FLOW_CHAIN_STREAM + c).
pub const FLOW_CHAIN_STREAM: u64 = 1 << 33;

/// Independence-Metropolis chains with proposals from `proposal`, `batch` at a time; chain c
/// draws from the stream (seed, FLOW_CHAIN_STREAM + c) and starts with an exact draw from q.
pub struct ImhSampler<'a> {
    pub proposal: &'a dyn Proposal,
    pub action: &'a dyn Action,
    pub batch: usize,
    pub seed: u64,
    /// Training steps of the flow (stored with the chains).
    pub flow_step: u64,
    /// The round-trip check of the proposals.
    pub inverse_check: InverseCheck,
}

impl<'a> Sampler for ImhSampler<'a> {
    type Chain = FlowImh<'a>;

    fn kind(&self) -> SamplerKind {
        SamplerKind::FlowImh
    }

    fn volume(&self) -> usize {
        self.proposal.volume()
    }

    fn fresh(&self, index: u64) -> FlowImh<'a> {
        let rng = stream_rng(self.seed, FLOW_CHAIN_STREAM + index);
        FlowImh::new(self.proposal, self.action, self.batch, rng)
            .with_flow_step(self.flow_step)
            .with_inverse_check(self.inverse_check)
    }

    fn resume(&self, meta: &ChainMeta, last: Option<&StoredRow>) -> Result<FlowImh<'a>, String> {
        let (rng, current) = match last {
            None => (meta.start_rng, None),
            Some(row) => {
                let record =
                    ImhRecord::from_values(&row.values, row.accepted).ok_or("not a flow chain")?;
                (row.rng, Some((row.config.clone(), record)))
            }
        };
        Ok(FlowImh::resume(
            self.proposal,
            self.action,
            self.batch,
            rng.restore(),
            current,
        )
        .with_flow_step(self.flow_step)
        .with_inverse_check(self.inverse_check))
    }

    fn resume_period(&self) -> usize {
        self.batch.max(1)
    }
}
