//! Independent flow samples with importance weights: no accept/reject, every sample kept with
//! log w = −S − log q, so that ⟨O⟩ = Σ w O / Σ w. Stored in the layout of flow IMH chains,
//! with every `accepted` 1 and the proposal's log w equal to the sample's.

use crate::imh::{FLOW_CHAIN_STREAM, record_batch};
use crate::{Chain, ImhRecord, InverseCheck, InverseCheckFailed, Recorder, Sampler};
use lft_action::Action;
use lft_flow::Proposal;
use lft_lattice::{Pcg64, RngState, stream_rng};
use lft_records::{ChainMeta, ChainSettings, SamplerKind, StoredRow};

/// A stream of weighted flow samples, drawn `batch` at a time.
pub struct FlowReweight<'a> {
    proposal: &'a dyn Proposal,
    action: &'a dyn Action,
    batch: usize,
    rng: Pcg64,
    flow_step: u64,
    inverse_check: InverseCheck,
}

impl<'a> FlowReweight<'a> {
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
            flow_step: 0,
            inverse_check: InverseCheck::default(),
        }
    }

    /// `k` samples with S, log q and log w = −S − log q; fails when a sample fails the
    /// round-trip check.
    #[allow(clippy::type_complexity)]
    pub fn draw(&mut self, k: usize) -> Result<(Vec<f64>, Vec<ImhRecord>), InverseCheckFailed> {
        let sample = self.proposal.draw(k, &mut self.rng);
        self.inverse_check.check(self.proposal, &sample)?;
        let v = self.proposal.volume();
        let records = sample
            .phi
            .chunks_exact(v)
            .zip(&sample.log_q)
            .map(|(phi, &log_q)| {
                let s = self.action.action(phi);
                ImhRecord {
                    accepted: true,
                    proposal_log_weight: -s - log_q,
                    log_q,
                    action: s,
                    log_weight: -s - log_q,
                }
            })
            .collect();
        Ok((sample.phi, records))
    }
}

impl Chain for FlowReweight<'_> {
    type Error = InverseCheckFailed;

    /// One batch of at most `max` samples.
    fn advance(&mut self, max: usize, out: &mut Recorder<'_>) -> Result<(), Self::Error> {
        let (configs, records) = self.draw(self.batch.min(max))?;
        record_batch(out, &configs, &records, RngState::of(&self.rng));
        Ok(())
    }

    fn settings(&self) -> ChainSettings {
        ChainSettings::Flow {
            proposal_batch: self.batch as u64,
            flow_step: self.flow_step,
        }
    }

    fn start_state(&self) -> (Vec<f64>, RngState) {
        (vec![0.0; self.proposal.volume()], RngState::of(&self.rng))
    }
}

/// Weighted flow samples, `batch` at a time; "chain" c draws from the stream
/// (seed, FLOW_CHAIN_STREAM + c).
pub struct ReweightSampler<'a> {
    pub proposal: &'a dyn Proposal,
    pub action: &'a dyn Action,
    pub batch: usize,
    pub seed: u64,
    pub flow_step: u64,
    /// The round-trip check of the samples.
    pub inverse_check: InverseCheck,
}

impl<'a> Sampler for ReweightSampler<'a> {
    type Chain = FlowReweight<'a>;

    fn kind(&self) -> SamplerKind {
        SamplerKind::FlowReweight
    }

    fn volume(&self) -> usize {
        self.proposal.volume()
    }

    fn fresh(&self, index: u64) -> FlowReweight<'a> {
        let rng = stream_rng(self.seed, FLOW_CHAIN_STREAM + index);
        FlowReweight {
            flow_step: self.flow_step,
            inverse_check: self.inverse_check,
            ..FlowReweight::new(self.proposal, self.action, self.batch, rng)
        }
    }

    fn resume(
        &self,
        meta: &ChainMeta,
        last: Option<&StoredRow>,
    ) -> Result<FlowReweight<'a>, String> {
        let rng = last.map_or(meta.start_rng, |row| row.rng);
        Ok(FlowReweight {
            flow_step: self.flow_step,
            inverse_check: self.inverse_check,
            ..FlowReweight::new(self.proposal, self.action, self.batch, rng.restore())
        })
    }

    fn resume_period(&self) -> usize {
        self.batch.max(1)
    }
}
