//! `[sample]`: sampling with the trained flow, resolved into a [`SamplePlan`].

use crate::ConfigError;
use crate::defaults;
use crate::error::{at_least_one, invalid, positive};
use crate::hmc::IntegratorName;
use lft_records::SamplerKind;
use lft_sample::{HmcParams, InverseCheck};
use serde::{Deserialize, Serialize};

/// Independence Metropolis with the trained flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Configurations per chain (each stored).
    pub configs: usize,
    /// Independent chains.
    #[serde(default = "defaults::chains")]
    pub chains: usize,
    /// Proposals drawn from the flow at a time (the chain resumes at batch boundaries).
    #[serde(default = "defaults::proposal_batch")]
    pub batch: usize,
    /// "imh": independence Metropolis chains; "reweight": independent flow samples with
    /// importance weights w = e^{−S}/q (no accept/reject); "flow_hmc": each step a flow
    /// proposal (independence Metropolis), then `hmc_per_step` HMC trajectories; "nemcmc":
    /// independence Metropolis over out-of-equilibrium trajectories (the `[snf]` protocol),
    /// `batch` of them at a time.
    #[serde(default)]
    pub method: SampleMethod,
    /// flow_hmc: HMC trajectories after each flow proposal.
    #[serde(default = "defaults::hmc_per_step")]
    pub hmc_per_step: usize,
    /// flow_hmc: mean integrator steps per trajectory.
    #[serde(default = "defaults::steps")]
    pub hmc_steps: usize,
    /// flow_hmc: trajectory length (step size = hmc_length / hmc_steps).
    #[serde(default = "defaults::length")]
    pub hmc_length: f64,
    /// flow_hmc: the integrator.
    #[serde(default = "default_flow_hmc_integrator")]
    pub hmc_integrator: IntegratorName,
    /// Store one step in `save_every` (`configs` counts steps). Written out only when it is
    /// not 1.
    #[serde(
        default = "defaults::save_every",
        skip_serializing_if = "defaults::is_one"
    )]
    pub save_every: usize,
    /// Proposals of every batch whose round trip f⁻¹(f(z)) is checked (0: none); sampling
    /// stops with an error when one is off by more than `inverse_tol`. Written out only when
    /// not the default.
    #[serde(
        default = "defaults::inverse_checks",
        skip_serializing_if = "defaults::is_inverse_checks"
    )]
    pub inverse_checks: usize,
    /// Tolerance of the round trip: max |f⁻¹(f(z)) − z| and the relative change of log q.
    #[serde(
        default = "defaults::inverse_tol",
        skip_serializing_if = "defaults::is_inverse_tol"
    )]
    pub inverse_tol: f64,
}

/// How flow samples are turned into an ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleMethod {
    #[default]
    Imh,
    Reweight,
    FlowHmc,
    Nemcmc,
}

impl From<SampleMethod> for SamplerKind {
    /// The sampler of the ensemble a method writes.
    fn from(method: SampleMethod) -> Self {
        match method {
            SampleMethod::Imh => SamplerKind::FlowImh,
            SampleMethod::Reweight => SamplerKind::FlowReweight,
            SampleMethod::FlowHmc => SamplerKind::FlowHmc,
            SampleMethod::Nemcmc => SamplerKind::NeMcmc,
        }
    }
}

/// Length jitter of the HMC trajectories of flow-HMC steps.
const FLOW_HMC_LENGTH_JITTER: f64 = 0.5;

/// A validated `[sample]` section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplePlan {
    pub method: SampleMethod,
    pub chains: usize,
    /// Steps per chain.
    pub configs: usize,
    /// Proposals drawn from the flow at a time.
    pub batch: usize,
    pub save_every: usize,
    /// flow_hmc: HMC trajectories after each flow proposal.
    pub hmc_per_step: usize,
    /// flow_hmc: the molecular dynamics of those trajectories, ε = hmc_length / hmc_steps.
    pub hmc: HmcParams,
    /// The round-trip check of the proposals.
    pub inverse_check: InverseCheck,
}

impl TryFrom<&SampleConfig> for SamplePlan {
    type Error = ConfigError;

    fn try_from(s: &SampleConfig) -> Result<Self, ConfigError> {
        at_least_one("sample.configs", s.configs)?;
        at_least_one("sample.chains", s.chains)?;
        at_least_one("sample.batch", s.batch)?;
        if s.save_every == 0 || s.save_every > s.configs {
            return Err(invalid(
                "sample.save_every",
                format!("must be between 1 and sample.configs = {}", s.configs),
            ));
        }
        positive("sample.inverse_tol", s.inverse_tol)?;
        if s.method == SampleMethod::FlowHmc {
            at_least_one("sample.hmc_steps", s.hmc_steps)?;
            positive("sample.hmc_length", s.hmc_length)?;
        }
        Ok(SamplePlan {
            method: s.method,
            chains: s.chains,
            configs: s.configs,
            batch: s.batch,
            save_every: s.save_every,
            hmc_per_step: s.hmc_per_step,
            hmc: HmcParams {
                step_size: s.hmc_length / s.hmc_steps.max(1) as f64,
                n_steps: s.hmc_steps,
                integrator: s.hmc_integrator.into(),
                length_jitter: FLOW_HMC_LENGTH_JITTER,
            },
            inverse_check: InverseCheck {
                per_batch: s.inverse_checks,
                tolerance: s.inverse_tol,
            },
        })
    }
}

fn default_flow_hmc_integrator() -> IntegratorName {
    IntegratorName::Omelyan
}
