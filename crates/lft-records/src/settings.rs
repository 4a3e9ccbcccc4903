//! The settings a chain runs with, frozen when production starts and stored with it.

use crate::UnknownName;
use lft_lattice::RngState;
use std::fmt;

/// Omelyan's second-order minimum-norm parameter λ (Omelyan, Mryglod, Folk 2003).
pub const OMELYAN_LAMBDA: f64 = 0.193_183_327_503_783_6;

/// Which molecular-dynamics integrator HMC trajectories use (lft-sample implements them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrator {
    /// Leapfrog: π ← π − ε/2 ∇S; φ ← φ + επ; π ← π − ε/2 ∇S. One gradient per step; ΔH = O(ε²).
    Leapfrog,
    /// Second-order minimum norm: π ← π − λε∇S; φ ← φ + ε/2 π; π ← π − (1−2λ)ε∇S;
    /// φ ← φ + ε/2 π; π ← π − λε∇S. Two gradients per step, an error about 10× smaller.
    Omelyan,
}

impl Integrator {
    /// The name in configs and files: "leapfrog" or "omelyan".
    pub fn name(self) -> &'static str {
        match self {
            Integrator::Leapfrog => "leapfrog",
            Integrator::Omelyan => "omelyan",
        }
    }

    /// Inverse of [`Integrator::name`].
    pub fn from_name(name: &str) -> Result<Self, UnknownName> {
        [Integrator::Leapfrog, Integrator::Omelyan]
            .into_iter()
            .find(|i| i.name() == name)
            .ok_or_else(|| UnknownName {
                what: "integrator",
                name: name.to_string(),
            })
    }

    /// Gradient evaluations per step (after the first, which is shared with the previous step).
    pub fn gradients_per_step(self) -> usize {
        match self {
            Integrator::Leapfrog => 1,
            Integrator::Omelyan => 2,
        }
    }
}

impl fmt::Display for Integrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The frozen settings of one chain's sampler (after thermalisation and step-size tuning).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChainSettings {
    /// HMC (sampler "hmc").
    Hmc {
        step_size: f64,
        /// Mean integrator steps per trajectory.
        n_steps: u64,
        integrator: Integrator,
        /// j: each trajectory takes round(n_steps·u) steps, u uniform in [1 − j, 1 + j].
        length_jitter: f64,
        /// Fourier acceleration's mass μ of the mass matrix 2(p̂² + μ²) (`None`: plain HMC,
        /// or a file written before μ was stored).
        fa_mass: Option<f64>,
    },
    /// Flow proposals (samplers "flow-imh" and "flow-reweight").
    Flow {
        /// Proposals drawn per batch (the chain resumes at batch boundaries).
        proposal_batch: u64,
        /// Training steps of the flow checkpoint used.
        flow_step: u64,
    },
    /// Flow-HMC (sampler "flow-hmc"): a flow proposal, then `hmc_per_step` HMC trajectories.
    FlowHmc {
        step_size: f64,
        n_steps: u64,
        integrator: Integrator,
        length_jitter: f64,
        hmc_per_step: u64,
        flow_step: u64,
    },
    /// Annealing (samplers "smc", "ais", "craft", "pimh"): a chain is pass `pass` (for PIMH,
    /// the chain's passes are numbered from `pass`) of `particles` particles.
    Anneal {
        particles: u64,
        pass: u64,
        /// CRAFT training iterations of the flows used (0 without flows).
        flow_step: u64,
    },
    /// Heat bath of a gauge field (sampler "heatbath"): each step one heat-bath sweep, then
    /// `overrelaxation` overrelaxation sweeps.
    Heatbath { overrelaxation: u64 },
}

/// Per-chain metadata: the frozen settings, how often a step is stored, and the state
/// production started from.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainMeta {
    pub settings: ChainSettings,
    /// One step in `save_every` is stored (1: every step). Acceptance and ΔH of the steps
    /// in between reach the run summary only.
    pub save_every: u64,
    /// The (thermalised) field production started from.
    pub start_config: Vec<f64>,
    /// The generator state production started from.
    pub start_rng: RngState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrator_names_round_trip() {
        for i in [Integrator::Leapfrog, Integrator::Omelyan] {
            assert_eq!(Integrator::from_name(i.name()), Ok(i));
        }
        assert!(Integrator::from_name("Leapfrog").is_err());
    }
}
