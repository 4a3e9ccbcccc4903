//! Markov-chain samplers: HMC (with pseudofermions for the Yukawa model), heat bath with
//! overrelaxation for U(1) gauge fields, independence
//! Metropolis with flow proposals (and the training of conditional pseudofermion flows for
//! joint sampling), reweighted flow samples, and flow-HMC, all driven by one
//! pipeline ([`run`]). This crate does no file I/O: a run hands its records to a [`Store`],
//! so every algorithm can be tested in memory ([`MemoryStore`]; lft-io provides the HDF5
//! store).

pub mod anneal;
mod chain;
pub mod fab;
mod flow_hmc;
pub mod fourier_mass;
mod heatbath;
mod hmc;
mod imh;
mod integrator;
mod inverse_check;
mod joint_flow_hmc;
mod lane_hmc;
mod pf_flow_train;
mod pf_hmc;
mod pipeline;
mod pullback;
mod reweight;
mod run;
mod stop;
mod summary;
mod tune;

pub use chain::{
    Chain, MarkovChain, Recorder, Step, WithAction, hmc_params, hmc_resume_parts, hmc_resume_state,
    hmc_settings,
};
pub use flow_hmc::{FlowHmc, FlowHmcRecord, FlowHmcSampler};
pub use fourier_mass::{FourierMass, fa_mass_for_chi2};
pub use heatbath::{HeatbathChain, HeatbathSampler, von_mises};
pub use hmc::{HmcChain, HmcParams, HmcRecord, HmcSampler, Start, jittered_steps};
pub use imh::{FLOW_CHAIN_STREAM, FlowImh, ImhRecord, ImhSampler};
pub use integrator::{Integrate, Integrator, integrate_nested};
pub use inverse_check::{InverseCheck, InverseCheckFailed};
pub use joint_flow_hmc::{
    JointFlowHmc, JointFlowHmcError, JointFlowHmcRecord, JointFlowHmcSampler,
};
pub use lane_hmc::{LaneHmc, LaneTarget};
pub use lft_records::{MemoryStore, RecordBlock, SamplerKind, Sink, Store};
pub use pf_flow_train::{
    ConditionalPfFlow, PF_TRAIN_STREAM, PfFlowStep, PfFlowTrainError, PfFlowTraining,
    train_gauge_pf_flow, train_pf_flow,
};
pub use pf_hmc::{CG_FAILURE_LIMIT, PseudofermionHmc, PseudofermionHmcSampler};
pub use pipeline::{RunEvent, RunObserver, RunOutcome, RunPlan, Sampler, StoreMismatch, run};
pub use pullback::PulledBack;
pub use reweight::{FlowReweight, ReweightSampler};
pub use run::{
    ChainRound, Production, Progress, RoundLimits, RunError, advance_each, advance_in_turn,
    run_chains, run_production, run_rounds, thermalize_all, thermalize_chains,
};
pub use stop::{Stop, stop_requested};
pub use summary::RunSummary;
pub use tune::StepSizeTuner;
