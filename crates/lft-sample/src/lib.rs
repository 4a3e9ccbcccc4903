//! Markov-chain samplers: HMC (with pseudofermions for the Yukawa model), independence
//! Metropolis with flow proposals, and flow-HMC. This crate does no file I/O: a run hands its records to a [`Sink`],
//! so every algorithm can be tested in memory (lft-io provides the HDF5 sink).

mod flow_hmc;
mod hmc;
mod imh;
mod integrator;
mod pf_hmc;
mod run;
mod tune;

pub use flow_hmc::{FlowHmc, FlowHmcRecord};
pub use hmc::{HmcChain, HmcParams, HmcRecord, Start};
pub use imh::{FlowImh, ImhRecord};
pub use integrator::Integrator;
pub use pf_hmc::PseudofermionHmc;
pub use run::{
    ChainBlock, MarkovChain, MemorySink, Progress, RunError, RunSummary, Sink, WithAction,
    run_chains, run_production, thermalize_all, thermalize_chains,
};
pub use tune::StepSizeTuner;
