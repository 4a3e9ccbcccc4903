//! Annealing from a normalised prior to e^{−S} through a population of particles (SMC, AIS,
//! CRAFT, PIMH; the annealing issue). The parts that every method shares, one file each:
//! - [`path`]: the tempered action S_β = −(1 − β) log r + β S, and the incremental weights;
//! - [`schedule`]: linear, listed and adaptive (conditional-ESS) temperatures;
//! - [`resample`]: multinomial, stratified and systematic resampling;
//! - [`settings`]: what a pass is told and reports ([`SmcSettings`], [`SmcPass`]), its errors;
//! - [`particles`]: where a pass's particles live (the CPU's batch, or a GPU's), [`Particles`];
//! - [`pass`]: the loop of one pass (transport, weights, resampling, HMC move, log Z), and
//!   [`smc_pass`] (SMC, or AIS without resampling);
//! - [`transport`]: CRAFT's flow step inside a pass, with its loss and gradient;
//! - [`blocks`]: flows trained together, an optimiser each (CRAFT's and an SNF's);
//! - [`craft`]: CRAFT, a trained flow per transition;
//! - [`pimh`]: particle independent Metropolis–Hastings over whole passes;
//! - [`nemcmc`]: independence Metropolis over single out-of-equilibrium trajectories
//!   (NE-MCMC), from a prior or through a trained flow;
//! - [`snf`]: stochastic normalizing flows (flow blocks between the stages' HMC moves) and
//!   their training by the reparameterised gradient of the work;
//! - [`sampler`]: passes and PIMH chains in the one sampler pipeline.

pub mod blocks;
pub mod craft;
pub mod nemcmc;
pub mod particles;
pub mod pass;
pub mod path;
pub mod pimh;
pub mod resample;
pub mod sampler;
pub mod schedule;
pub mod settings;
pub mod snf;
pub mod transport;

pub use blocks::TrainedFlows;
pub use craft::{CRAFT_INIT_STREAM, CRAFT_TRAIN_STREAM, Craft, CraftIteration, transition_loss};
pub use nemcmc::{
    MoveKind, NEMCMC_STREAM, NeMcmc, NeMcmcSampler, NeMcmcStep, PathStart, Protocol, Stages,
    Trajectories, TrajectorySource,
};
pub use particles::{CpuParticles, Particles, initial_particles};
pub use pass::{Observer, PASS_STREAMS, pass_base, smc_pass, smc_pass_observed, smc_pass_on};
pub use path::Tempered;
pub use pimh::{PIMH_STREAM, Pimh, PimhStep, smc_pimh};
pub use resample::Resampling;
pub use sampler::{
    AnnealContext, PassChain, PassSampler, PassSource, PimhChain, PimhSampler, pimh_first_pass,
};
pub use schedule::{Schedule, ScheduleError, conditional_ess, next_adaptive_beta};
pub use settings::{ANNEAL_STREAM, AnnealError, SmcPass, SmcSettings, TemperatureRecord};
pub use snf::{SNF_INIT_STREAM, SNF_TRAIN_STREAM, Snf, SnfStep, SnfTrainer, WorkGradient};
pub use transport::TransitionLoss;
