//! HMC for [`LANES`] independent chains at once, on a lane-interleaved batch `[V][LANES]`
//! (one vector register holds one site of every chain).
//!
//! Each lane draws from its own generator in the order [`HmcChain`] does (trajectory length,
//! momenta, Metropolis variate) and gets the same arithmetic in the same order, so a lane is
//! bit-identical to an `HmcChain` on that configuration: batching changes the speed, never a
//! number. Lanes whose jittered trajectory is shorter than the longest of the batch sit out
//! the remaining steps (a step of size 0 leaves finite fields unchanged).
//!
//! [`HmcChain`]: crate::HmcChain

use crate::hmc::trajectory_steps;
use crate::integrator::OMELYAN_LAMBDA;
use crate::{HmcParams, Integrator};
use lft_lattice::{
    LANES, Lanes, Pcg64, gaussian_fill, lane_axpy, lane_gather, lane_scatter, lane_sum_of_squares,
    uniform,
};

/// A target density e^{−S} evaluated on lane batches (each lane bit-identical to the
/// one-configuration `Action`).
pub trait LaneTarget: Sync {
    /// S of every lane.
    fn action(&self, phi: &[Lanes]) -> Lanes;
    /// ∂S/∂φ of every lane.
    fn gradient(&self, phi: &[Lanes], grad: &mut [Lanes]);
}

/// ½ Σ_x π_x² of every lane.
fn lane_kinetic(pi: &[Lanes]) -> Lanes {
    lane_sum_of_squares(pi).map(|s| 0.5 * s)
}

/// The coefficient −h of a kick (or h of a drift) for every lane: `h(n_l)` while the lane's
/// trajectory of n_l steps is still at `step`, 0 once it is over.
fn per_lane(steps: &[usize; LANES], step: usize, h: impl Fn(usize) -> f64) -> Lanes {
    std::array::from_fn(|l| if step < steps[l] { h(steps[l]) } else { 0.0 })
}

/// The molecular dynamics of [`crate::Integrate`] on every lane, lane l taking `steps[l]`
/// steps; `grad` holds ∇S(φ) on entry and at the final φ on exit.
fn integrate_lanes(
    integrator: Integrator,
    target: &dyn LaneTarget,
    phi: &mut [Lanes],
    pi: &mut [Lanes],
    grad: &mut [Lanes],
    eps: f64,
    steps: &[usize; LANES],
) {
    let longest = steps.iter().copied().max().unwrap_or(0);
    let kick = |pi: &mut [Lanes], grad: &[Lanes], h: Lanes| lane_axpy(pi, &h.map(|h| -h), grad);
    let drift = |phi: &mut [Lanes], pi: &[Lanes], h: Lanes| lane_axpy(phi, &h, pi);
    match integrator {
        Integrator::Leapfrog => {
            kick(pi, grad, [0.5 * eps; LANES]);
            for step in 0..longest {
                drift(phi, pi, per_lane(steps, step, |_| eps));
                target.gradient(phi, grad);
                let h = per_lane(steps, step, |n| if step + 1 == n { 0.5 * eps } else { eps });
                kick(pi, grad, h);
            }
        }
        Integrator::Omelyan => {
            let l = OMELYAN_LAMBDA;
            kick(pi, grad, [l * eps; LANES]);
            for step in 0..longest {
                drift(phi, pi, per_lane(steps, step, |_| 0.5 * eps));
                target.gradient(phi, grad);
                kick(pi, grad, per_lane(steps, step, |_| (1.0 - 2.0 * l) * eps));
                drift(phi, pi, per_lane(steps, step, |_| 0.5 * eps));
                target.gradient(phi, grad);
                let h = per_lane(steps, step, |n| {
                    if step + 1 == n {
                        l * eps
                    } else {
                        2.0 * l * eps
                    }
                });
                kick(pi, grad, h);
            }
        }
    }
}

/// [`LANES`] HMC chains on one lane batch, with reusable buffers.
pub struct LaneHmc {
    phi: Vec<Lanes>,
    grad: Vec<Lanes>,
    trial: Vec<Lanes>,
    trial_grad: Vec<Lanes>,
    pi: Vec<Lanes>,
    action: Lanes,
    /// One lane's momenta as drawn, `[V]`.
    noise: Vec<f64>,
}

impl LaneHmc {
    /// Chains starting from the [`LANES`] configurations `fields` (`[LANES][V]` row-major).
    pub fn new(target: &dyn LaneTarget, fields: &[f64]) -> Self {
        assert!(
            fields.len().is_multiple_of(LANES),
            "a lane batch holds {LANES} configurations"
        );
        let v = fields.len() / LANES;
        let mut phi = vec![[0.0; LANES]; v];
        for (l, field) in fields.chunks_exact(v).enumerate() {
            lane_scatter(field, l, &mut phi);
        }
        let mut grad = vec![[0.0; LANES]; v];
        target.gradient(&phi, &mut grad);
        let action = target.action(&phi);
        Self {
            phi,
            grad,
            trial: vec![[0.0; LANES]; v],
            trial_grad: vec![[0.0; LANES]; v],
            pi: vec![[0.0; LANES]; v],
            action,
            noise: vec![0.0; v],
        }
    }

    /// The configurations, written as `[LANES][V]` row-major.
    pub fn write_fields(&self, fields: &mut [f64]) {
        let v = self.phi.len();
        for (l, field) in fields.chunks_exact_mut(v).enumerate() {
            lane_gather(&self.phi, l, field);
        }
    }

    /// S of every lane's current configuration.
    pub fn action_values(&self) -> Lanes {
        self.action
    }

    /// One trajectory on every lane, lane l drawing from `rngs[l]` exactly as
    /// `HmcChain::trajectory` does; returns which lanes accepted.
    pub fn trajectory(
        &mut self,
        target: &dyn LaneTarget,
        params: HmcParams,
        rngs: &mut [Pcg64],
    ) -> [bool; LANES] {
        assert_eq!(rngs.len(), LANES, "one generator per lane");
        let mut steps = [0; LANES];
        for (l, rng) in rngs.iter_mut().enumerate() {
            steps[l] = trajectory_steps(&params, rng);
            gaussian_fill(rng, &mut self.noise);
            lane_scatter(&self.noise, l, &mut self.pi);
        }
        let kinetic = lane_kinetic(&self.pi);
        let h_start: Lanes = std::array::from_fn(|l| kinetic[l] + self.action[l]);
        self.trial.copy_from_slice(&self.phi);
        self.trial_grad.copy_from_slice(&self.grad);
        integrate_lanes(
            params.integrator,
            target,
            &mut self.trial,
            &mut self.pi,
            &mut self.trial_grad,
            params.step_size,
            &steps,
        );
        let trial_action = target.action(&self.trial);
        let kinetic = lane_kinetic(&self.pi);
        let mut accepted = [false; LANES];
        for (l, rng) in rngs.iter_mut().enumerate() {
            let delta_h = kinetic[l] + trial_action[l] - h_start[l];
            let u = uniform(rng);
            // NaN ΔH (a diverged trajectory) is rejected.
            accepted[l] = delta_h <= 0.0 || u < (-delta_h).exp();
        }
        if accepted.iter().all(|&a| a) {
            std::mem::swap(&mut self.phi, &mut self.trial);
            std::mem::swap(&mut self.grad, &mut self.trial_grad);
            self.action = trial_action;
        } else {
            for (l, _) in accepted.iter().enumerate().filter(|(_, a)| **a) {
                for x in 0..self.phi.len() {
                    self.phi[x][l] = self.trial[x][l];
                    self.grad[x][l] = self.trial_grad[x][l];
                }
                self.action[l] = trial_action[l];
            }
        }
        accepted
    }
}
