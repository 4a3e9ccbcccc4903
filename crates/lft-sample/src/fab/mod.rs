//! Flow Annealed importance sampling Bootstrap (FAB; Midgley, Stimper, Simm, Schölkopf,
//! Hernández-Lobato, arXiv:2208.01893): training a flow q_θ on the α = 2 divergence
//! D₂(p‖q) ∝ log ∫ p²/q, whose gradient
//!   ∇_θ log ∫ p²/q_θ = −E_g[∇_θ log q_θ(φ)],   g ∝ p²/q_θ,
//! is estimated with annealed importance sampling from q_θ towards g. The α = 2 divergence is
//! mass-covering: it is large wherever p has mass that q lacks, so training on it finds modes
//! the flow does not yet propose, using only the target's density. One file per part:
//! - [`path`]: the annealing path from q to p²/q in the flow's latent coordinates;
//! - [`ais`]: one AIS run over that path with HMC moves, its samples and log weights;
//! - [`lanes`]: the same path on lane batches of particles (coupling flows of φ⁴);
//! - [`buffer`]: the prioritised replay buffer of AIS samples;
//! - [`train`]: the training loop (AIS runs, buffer draws, guarded Adam steps).

pub mod ais;
pub mod buffer;
pub mod lanes;
pub mod path;
pub mod train;

pub use ais::{AisBatch, fab_ais};
pub use buffer::ReplayBuffer;
pub use path::FabPath;
pub use train::{FabRecord, FabTrainer, fab_loss};

use crate::HmcParams;

/// The settings of FAB (`[fab]` of a config).
#[derive(Debug, Clone, PartialEq)]
pub struct FabSettings {
    /// Temperatures of each AIS run, β_k = k/K from the flow (β = 0) to p²/q (β = 1).
    pub temperatures: usize,
    /// The HMC move at every temperature (its step size is the starting one when
    /// `target_acceptance` adapts it).
    pub hmc: HmcParams,
    /// HMC trajectories per particle and temperature.
    pub trajectories: usize,
    /// AIS samples per run.
    pub batch: usize,
    /// Capacity of the replay buffer (0: no buffer; each gradient step uses a fresh AIS run,
    /// weighted by its self-normalised weights).
    pub buffer: usize,
    /// Gradient steps per AIS run (with a buffer; 1 without).
    pub reuse: usize,
    /// Samples the buffer holds before the first gradient step (filled by AIS runs).
    pub min_buffer: usize,
    /// The largest correction q_old/q_θ of a buffered sample's weight in the loss (fab-torch's
    /// clip, 10).
    pub weight_clip: f64,
    /// Adapt the HMC step size between AIS runs towards this acceptance (ε ← ε e^{a − target});
    /// `None`: keep it fixed.
    pub target_acceptance: Option<f64>,
}
