//! Markov-chain samplers: HMC (with pseudofermions for the Yukawa model), independence
//! Metropolis with flow proposals, reweighted flow samples, and flow-HMC, all driven by one
//! pipeline ([`run`]). This crate does no file I/O: a run hands its records to a [`Store`],
//! so every algorithm can be tested in memory ([`MemoryStore`]; lft-io provides the HDF5
//! store).

mod flow_hmc;
mod hmc;
mod imh;
mod integrator;
mod pf_hmc;
mod pipeline;
mod reweight;
mod run;
mod tune;

pub use flow_hmc::{FlowHmc, FlowHmcRecord, FlowHmcSampler};
pub use hmc::{HmcChain, HmcParams, HmcRecord, HmcSampler, Start};
pub use imh::{FLOW_CHAIN_STREAM, FlowImh, ImhRecord, ImhSampler};
pub use integrator::{Integrate, Integrator};
pub use lft_records::{MemoryStore, RecordBlock, SamplerKind, Sink, Store};
pub use pf_hmc::{PseudofermionHmc, PseudofermionHmcSampler};
pub use pipeline::{RunEvent, RunObserver, RunOutcome, RunPlan, Sampler, StoreMismatch, run};
pub use reweight::{FlowReweight, ReweightSampler};
pub use run::{
    Chain, MarkovChain, Production, Progress, Recorder, RunError, RunSummary, Step, WithAction,
    hmc_params, hmc_settings, run_chains, run_production, thermalize_all, thermalize_chains,
};
pub use tune::StepSizeTuner;
