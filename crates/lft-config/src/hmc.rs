//! `[hmc]`: hybrid Monte Carlo, resolved into an [`HmcPlan`] of lft-sample types.

use crate::ConfigError;
use crate::defaults;
use crate::error::{at_least_one, invalid, positive};
use lft_sample::{HmcParams, Integrator, Start};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegratorName {
    Leapfrog,
    Omelyan,
}

impl From<IntegratorName> for Integrator {
    fn from(name: IntegratorName) -> Self {
        match name {
            IntegratorName::Leapfrog => Integrator::Leapfrog,
            IntegratorName::Omelyan => Integrator::Omelyan,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartName {
    Cold,
    Hot,
}

impl From<StartName> for Start {
    fn from(name: StartName) -> Self {
        match name {
            StartName::Cold => Start::Cold,
            StartName::Hot => Start::Hot,
        }
    }
}

/// Hybrid Monte Carlo settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmcConfig {
    /// Production trajectories per chain (each one stored).
    pub trajectories: usize,
    /// Thermalisation trajectories per chain (not stored).
    #[serde(default = "defaults::thermalization")]
    pub thermalization: usize,
    /// Mean number of integrator steps per trajectory.
    #[serde(default = "defaults::steps")]
    pub steps: usize,
    /// Mean trajectory length τ; the step size is ε = length / steps.
    #[serde(default = "defaults::length")]
    pub length: f64,
    #[serde(default = "default_integrator")]
    pub integrator: IntegratorName,
    /// Independent chains, run in parallel.
    #[serde(default = "defaults::chains")]
    pub chains: usize,
    /// Each trajectory takes round(steps·u) steps, u uniform in [1 − j, 1 + j]; 0 = fixed length.
    #[serde(default = "defaults::length_jitter")]
    pub length_jitter: f64,
    /// Adapt ε during thermalisation towards `target_acceptance` (n = round(length/ε)).
    #[serde(default)]
    pub tune_step_size: bool,
    #[serde(default = "defaults::target_acceptance")]
    pub target_acceptance: f64,
    #[serde(default = "default_start")]
    pub start: StartName,
    /// Store one trajectory in `save_every` (all are run and counted in the acceptance and
    /// ⟨ΔH⟩ of the run summary). Written out only when it is not 1.
    #[serde(
        default = "defaults::save_every",
        skip_serializing_if = "defaults::is_one"
    )]
    pub save_every: usize,
    /// Fourier acceleration: momenta, drift and kinetic energy with the mass matrix
    /// M_p = 2(p̂² + fa_mass²) in momentum space (scalar fields, on the CPU; lft_sample's
    /// `FourierMass`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fourier_acceleration: bool,
    /// The mass μ of Fourier acceleration, about 1/ξ of the lightest mode; default 4/L (the
    /// smallest extent L; ξ = L/4 is the line lft's flows are measured on), written out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fa_mass: Option<f64>,
    /// Tune μ during thermalisation: after a quarter of it, measure χ₂ = ⟨M²⟩/V over the next
    /// quarter and set μ = 1/√(2χ₂), the mass of the free field with that susceptibility;
    /// `fa_mass` is where it starts. The tuned μ is stored with each chain.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tune_fa_mass: bool,
    /// Multi-timescale molecular dynamics with pseudofermions: `inner_steps` leapfrog steps of
    /// the bosonic force (gauge or φ⁴, cheap) per step of the pseudofermion force (a CG
    /// solve); 1 (the default) is a single time scale. Written out only when it is not 1.
    #[serde(
        default = "defaults::inner_steps",
        skip_serializing_if = "defaults::is_one"
    )]
    pub inner_steps: usize,
}

/// A validated `[hmc]` section in the terms of lft-sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HmcPlan {
    /// The molecular dynamics: ε = length / steps.
    pub params: HmcParams,
    pub start: Start,
    /// Thermalisation trajectories per chain.
    pub thermalization: usize,
    /// The target acceptance when ε is tuned during thermalisation.
    pub tune: Option<f64>,
    pub chains: usize,
    /// Production trajectories per chain.
    pub trajectories: usize,
    pub save_every: usize,
    /// Fourier acceleration's mass μ, if on.
    pub fa_mass: Option<f64>,
    /// Tune μ during thermalisation (`hmc.tune_fa_mass`).
    pub tune_fa_mass: bool,
    /// Bosonic-force steps per pseudofermion-force step (`hmc.inner_steps`).
    pub inner_steps: usize,
}

impl TryFrom<&HmcConfig> for HmcPlan {
    type Error = ConfigError;

    fn try_from(h: &HmcConfig) -> Result<Self, ConfigError> {
        at_least_one("hmc.trajectories", h.trajectories)?;
        at_least_one("hmc.steps", h.steps)?;
        positive("hmc.length", h.length)?;
        at_least_one("hmc.chains", h.chains)?;
        at_least_one("hmc.inner_steps", h.inner_steps)?;
        if h.save_every == 0 || h.save_every > h.trajectories {
            return Err(invalid(
                "hmc.save_every",
                format!(
                    "must be between 1 and hmc.trajectories = {}",
                    h.trajectories
                ),
            ));
        }
        if !(0.0..1.0).contains(&h.length_jitter) {
            return Err(invalid(
                "hmc.length_jitter",
                format!("must be in [0, 1), got {}", h.length_jitter),
            ));
        }
        if !(h.target_acceptance > 0.0 && h.target_acceptance < 1.0) {
            return Err(invalid(
                "hmc.target_acceptance",
                format!("must be in (0, 1), got {}", h.target_acceptance),
            ));
        }
        if h.tune_fa_mass && !h.fourier_acceleration {
            return Err(invalid(
                "hmc.tune_fa_mass",
                "tunes the mass of Fourier acceleration: set hmc.fourier_acceleration = true too",
            ));
        }
        if h.tune_fa_mass && h.thermalization < 8 {
            return Err(invalid(
                "hmc.tune_fa_mass",
                format!(
                    "tunes during thermalisation, which needs at least 8 trajectories (a quarter \
                     to measure χ₂), got hmc.thermalization = {}",
                    h.thermalization
                ),
            ));
        }
        let fa_mass = match (h.fourier_acceleration, h.fa_mass) {
            (false, Some(_)) => {
                return Err(invalid(
                    "hmc.fa_mass",
                    "the mass of Fourier acceleration: set hmc.fourier_acceleration = true too",
                ));
            }
            (true, Some(m)) if !(m.is_finite() && m > 0.0) => {
                return Err(invalid(
                    "hmc.fa_mass",
                    format!("must be a finite number > 0, got {m}"),
                ));
            }
            (true, m) => m,
            (false, None) => None,
        };
        if h.tune_step_size && h.thermalization < 20 {
            return Err(invalid(
                "hmc.thermalization",
                "tune_step_size needs at least 20 thermalisation trajectories",
            ));
        }
        Ok(HmcPlan {
            params: HmcParams {
                step_size: h.length / h.steps as f64,
                n_steps: h.steps,
                integrator: h.integrator.into(),
                length_jitter: h.length_jitter,
            },
            start: h.start.into(),
            thermalization: h.thermalization,
            tune: h.tune_step_size.then_some(h.target_acceptance),
            chains: h.chains,
            trajectories: h.trajectories,
            save_every: h.save_every,
            fa_mass,
            tune_fa_mass: h.tune_fa_mass,
            inner_steps: h.inner_steps,
        })
    }
}

impl HmcConfig {
    /// Fills the Fourier-acceleration mass when it is on and not given: 4/L for the smallest
    /// extent L (written out with the effective config).
    pub(crate) fn fill_defaults(&mut self, shape: &[usize]) {
        if self.fourier_acceleration && self.fa_mass.is_none() {
            let l = shape.iter().copied().min().unwrap_or(1).max(1);
            self.fa_mass = Some(4.0 / l as f64);
        }
    }
}

fn default_integrator() -> IntegratorName {
    IntegratorName::Leapfrog
}

fn default_start() -> StartName {
    StartName::Cold
}
