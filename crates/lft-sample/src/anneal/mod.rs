//! Annealing from a normalised prior to e^{−S} through a population of particles (SMC, AIS,
//! CRAFT, PIMH; the annealing issue). The parts that every method shares, one file each:
//! - [`path`]: the tempered action S_β = −(1 − β) log r + β S, and the incremental weights;
//! - [`schedule`]: linear, listed and adaptive (conditional-ESS) temperatures;
//! - [`resample`]: multinomial, stratified and systematic resampling;
//! - [`smc`]: SMC and AIS passes with HMC moves and the log Z estimate;
//! - [`pimh`]: particle independent Metropolis–Hastings over whole passes.

pub mod path;
pub mod pimh;
pub mod resample;
pub mod schedule;
pub mod smc;

pub use path::Tempered;
pub use pimh::{PIMH_STREAM, Pimh, PimhStep};
pub use resample::Resampling;
pub use schedule::{Schedule, ScheduleError, conditional_ess, next_adaptive_beta};
pub use smc::{ANNEAL_STREAM, AnnealError, SmcPass, SmcSettings, TemperatureRecord, smc_pass};
