//! A molecular-dynamics trajectory as a list of kicks and drifts, which the device runs one
//! launch each (`hmc_kick`, `hmc_drift`). Adjacent kicks of consecutive steps are merged, so a
//! leapfrog trajectory of N steps is N + 1 kicks and N drifts, and the schedule reproduces
//! lft-sample's integrators operation for operation (tested on the host against them).

use lft_records::{Integrator, OMELYAN_LAMBDA};

/// One operation: `Kick(h)` is π ← π − h ∇S(φ), `Drift(h)` is φ ← φ + h π.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MdStep {
    Kick(f64),
    Drift(f64),
}

/// The operations of `n_steps` steps of size `eps`.
pub fn schedule(integrator: Integrator, eps: f64, n_steps: usize) -> Vec<MdStep> {
    let mut ops = Vec::new();
    let last = |step: usize| step + 1 == n_steps;
    match integrator {
        Integrator::Leapfrog => {
            ops.push(MdStep::Kick(0.5 * eps));
            for step in 0..n_steps {
                ops.push(MdStep::Drift(eps));
                ops.push(MdStep::Kick(if last(step) { 0.5 * eps } else { eps }));
            }
        }
        Integrator::Omelyan => {
            let l = OMELYAN_LAMBDA;
            ops.push(MdStep::Kick(l * eps));
            for step in 0..n_steps {
                ops.push(MdStep::Drift(0.5 * eps));
                ops.push(MdStep::Kick((1.0 - 2.0 * l) * eps));
                ops.push(MdStep::Drift(0.5 * eps));
                ops.push(MdStep::Kick(if last(step) {
                    l * eps
                } else {
                    2.0 * l * eps
                }));
            }
        }
    }
    ops
}

/// Gradient evaluations of a schedule (one per kick).
pub fn gradients(ops: &[MdStep]) -> usize {
    ops.iter()
        .filter(|op| matches!(op, MdStep::Kick(_)))
        .count()
}

/// One trajectory of n chains on a device, each with its own integrator, step size and number
/// of steps: the operations alternate kick, drift, kick, …, kick (every [`schedule`] does), and
/// row r holds each chain's coefficient of operation r, zero past the end of that chain's own
/// schedule or for a chain that does not run — so a chain with fewer steps stays put while the
/// others go on.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSchedule {
    /// Operations: kicks at even rows, drifts at odd rows.
    pub rows: usize,
    /// `[rows, n]`.
    pub coefficients: Vec<f64>,
}

impl BatchSchedule {
    /// The schedule of chains `chains[b]` = (integrator, ε, steps), `None` for a chain that
    /// does not run this trajectory.
    pub fn new(chains: &[Option<(Integrator, f64, usize)>]) -> Self {
        let n = chains.len();
        let ops: Vec<Vec<MdStep>> = chains
            .iter()
            .map(|c| c.map_or_else(Vec::new, |(i, eps, steps)| schedule(i, eps, steps)))
            .collect();
        let rows = ops.iter().map(Vec::len).max().unwrap_or(0);
        let mut coefficients = vec![0.0; rows * n];
        for (b, ops) in ops.iter().enumerate() {
            for (r, op) in ops.iter().enumerate() {
                coefficients[r * n + b] = match (r % 2, *op) {
                    (0, MdStep::Kick(h)) | (1, MdStep::Drift(h)) => h,
                    _ => unreachable!("schedules alternate kick and drift, starting with a kick"),
                };
            }
        }
        Self { rows, coefficients }
    }
}
