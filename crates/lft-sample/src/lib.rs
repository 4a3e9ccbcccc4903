//! Markov-chain samplers: HMC and independence Metropolis with flow proposals. This crate does no file I/O: a run hands its records to a [`Sink`],
//! so every algorithm can be tested in memory (lft-io provides the HDF5 sink).

mod hmc;
mod imh;
mod integrator;
mod run;
mod tune;

pub use hmc::{HmcChain, HmcParams, HmcRecord, Start};
pub use imh::{FlowImh, ImhRecord};
pub use integrator::Integrator;
pub use run::{ChainBlock, MemorySink, Progress, RunSummary, Sink, run_production, thermalize_all};
pub use tune::StepSizeTuner;
