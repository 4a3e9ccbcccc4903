//! What a run did: step counts, acceptance and energy violation, whether stored or not.

use crate::{HmcRecord, Step};
use lft_lattice::RngState;
use std::time::Duration;

/// Acceptance and energy-violation statistics of the steps run so far (stored or not).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Steps: trajectories for HMC, proposals for flow samplers.
    pub steps: u64,
    pub accepted: u64,
    /// Steps with a ΔH (HMC trajectories).
    pub n_delta_h: u64,
    pub sum_delta_h: f64,
    pub sum_exp_minus_delta_h: f64,
    /// HMC trajectories inside steps (flow-HMC), and how many were accepted.
    pub inner_steps: u64,
    pub inner_accepted: u64,
    pub elapsed: Duration,
    /// The run ended early on a [`crate::Stop`] request, everything so far stored.
    pub stopped: bool,
}

impl RunSummary {
    /// Counts one step.
    pub fn add(&mut self, s: &Step<'_>) {
        self.steps += 1;
        self.accepted += u64::from(s.accepted);
        if let Some(dh) = s.delta_h {
            self.n_delta_h += 1;
            self.sum_delta_h += dh;
            self.sum_exp_minus_delta_h += (-dh).exp();
        }
        self.inner_steps += s.inner.0;
        self.inner_accepted += s.inner.1;
    }

    /// Counts one HMC trajectory.
    pub fn add_trajectory(&mut self, r: &HmcRecord) {
        self.add(&Step {
            config: &[],
            values: &[],
            accepted: r.accepted,
            rng_after: RngState {
                state: 0,
                stream: 0,
            },
            delta_h: Some(r.delta_h),
            inner: (0, 0),
        });
    }

    /// Adds the counts of `other` (the elapsed time is left alone).
    pub fn merge(&mut self, other: &RunSummary) {
        self.steps += other.steps;
        self.accepted += other.accepted;
        self.n_delta_h += other.n_delta_h;
        self.sum_delta_h += other.sum_delta_h;
        self.sum_exp_minus_delta_h += other.sum_exp_minus_delta_h;
        self.inner_steps += other.inner_steps;
        self.inner_accepted += other.inner_accepted;
        self.stopped |= other.stopped;
    }

    pub fn acceptance(&self) -> f64 {
        self.accepted as f64 / self.steps.max(1) as f64
    }

    /// ⟨ΔH⟩.
    pub fn mean_delta_h(&self) -> f64 {
        self.sum_delta_h / self.n_delta_h.max(1) as f64
    }

    /// ⟨e^{−ΔH}⟩ (1 for an exact, area-preserving integrator).
    pub fn mean_exp_minus_delta_h(&self) -> f64 {
        self.sum_exp_minus_delta_h / self.n_delta_h.max(1) as f64
    }

    /// Acceptance of the HMC trajectories inside steps (flow-HMC).
    pub fn inner_acceptance(&self) -> f64 {
        self.inner_accepted as f64 / self.inner_steps.max(1) as f64
    }

    /// Wall-clock seconds per step (all chains together).
    pub fn seconds_per_step(&self) -> f64 {
        self.elapsed.as_secs_f64() / self.steps.max(1) as f64
    }
}
