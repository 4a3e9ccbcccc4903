//! A set of flows trained together, one Adam optimiser each: the per-transition transports of
//! CRAFT ([`super::craft`]) and the blocks of a stochastic normalizing flow ([`super::snf`]).
//! Each starts as the identity; checkpoints store the flows' parameters and Adam moments one
//! flow after the other.

use lft_flow::{Adam, BijectionStack, FlowSpec, ParamCountError};
use lft_lattice::Lattice;

/// Flows with their optimisers and the number of steps taken.
#[derive(Debug, Clone)]
pub struct TrainedFlows {
    flows: Vec<BijectionStack>,
    adams: Vec<Adam>,
    steps: u64,
}

impl TrainedFlows {
    /// `count` identity flows of architecture `spec` (its prior unused), hidden layers drawn
    /// from (seed, `first_stream` + k).
    pub fn identity(
        spec: &FlowSpec,
        lattice: &Lattice,
        count: usize,
        seed: u64,
        first_stream: u64,
    ) -> Self {
        let flows: Vec<BijectionStack> = (0..count)
            .map(|k| spec.build_identity_stack(lattice, seed, first_stream + k as u64))
            .collect();
        let adams = flows.iter().map(|f| Adam::new(f.n_params())).collect();
        Self {
            flows,
            adams,
            steps: 0,
        }
    }

    /// Restores a state from flat vectors (all flows' parameters and Adam moments, flow after
    /// flow, as [`TrainedFlows::params`] and [`TrainedFlows::adam_moments`] give them).
    pub fn restore(
        mut self,
        params: &[f64],
        adam_m: &[f64],
        adam_v: &[f64],
        steps: u64,
    ) -> Result<Self, ParamCountError> {
        let total: usize = self.flows.iter().map(|f| f.n_params()).sum();
        for found in [params.len(), adam_m.len(), adam_v.len()] {
            if found != total {
                return Err(ParamCountError {
                    expected: total,
                    found,
                });
            }
        }
        let mut start = 0;
        for (flow, adam) in self.flows.iter_mut().zip(&mut self.adams) {
            let r = start..start + flow.n_params();
            flow.set_params(params[r.clone()].to_vec())?;
            *adam = Adam::restore(adam_m[r.clone()].to_vec(), adam_v[r].to_vec(), steps);
            start += flow.n_params();
        }
        self.steps = steps;
        Ok(self)
    }

    pub fn flows(&self) -> &[BijectionStack] {
        &self.flows
    }

    pub fn flows_mut(&mut self) -> &mut [BijectionStack] {
        &mut self.flows
    }

    /// Optimiser steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// All parameters, flow after flow.
    pub fn params(&self) -> Vec<f64> {
        self.flows
            .iter()
            .flat_map(|f| f.params().to_vec())
            .collect()
    }

    /// Adam's (m, v), flow after flow.
    pub fn adam_moments(&self) -> (Vec<f64>, Vec<f64>) {
        let m = self.adams.iter().flat_map(|a| a.moments().0.to_vec());
        let v = self.adams.iter().flat_map(|a| a.moments().1.to_vec());
        (m.collect(), v.collect())
    }

    /// One Adam step of rate `lr` per flow on its gradient (`grads[k]` for flow k).
    pub fn step<G: AsRef<[f64]>>(&mut self, grads: &[G], lr: f64) {
        for ((flow, adam), g) in self.flows.iter_mut().zip(&mut self.adams).zip(grads) {
            adam.step(flow.params_mut(), g.as_ref(), lr);
        }
        self.steps += 1;
    }
}
