//! Hybrid Monte Carlo: one chain's state and its trajectories.

use crate::{Integrate, Integrator};
use lft_action::Action;
use lft_lattice::{Pcg64, RngState, gaussian_fill, uniform};

/// How a chain's first configuration is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// φ = 0 everywhere.
    Cold,
    /// φ_x independent standard normal.
    Hot,
}

/// Parameters of the molecular dynamics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HmcParams {
    /// Step size ε.
    pub step_size: f64,
    /// Mean number of steps per trajectory, n = τ/ε.
    pub n_steps: usize,
    pub integrator: Integrator,
    /// Relative half-width j of the trajectory-length distribution: each trajectory takes
    /// n' = max(1, round(n·u)) steps with u uniform in [1 − j, 1 + j]. 0 gives fixed-length
    /// trajectories, which can fail to be ergodic (docs/PHYSICS.md, "HMC pitfall").
    pub length_jitter: f64,
}

impl HmcParams {
    /// Mean trajectory length τ = n ε.
    pub fn length(&self) -> f64 {
        self.step_size * self.n_steps as f64
    }
}

/// What one trajectory produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HmcRecord {
    /// S of the configuration after the accept/reject step.
    pub action: f64,
    /// ΔH = H(end) − H(start) of the proposal.
    pub delta_h: f64,
    pub accepted: bool,
    /// Number of integrator steps this trajectory took.
    pub n_steps: usize,
}

/// Steps for the next trajectory: n' = max(1, round(n·u)), u uniform in [1 − j, 1 + j] (no
/// draw when j = 0).
pub(crate) fn trajectory_steps(params: &HmcParams, rng: &mut Pcg64) -> usize {
    if params.length_jitter <= 0.0 {
        return params.n_steps.max(1);
    }
    jittered_steps(params, uniform(rng))
}

/// The steps of a trajectory whose length draw is the uniform `r` ∈ [0, 1):
/// n' = max(1, round(n·(1 + j(2r − 1)))), or n (at least 1) when j = 0.
pub fn jittered_steps(params: &HmcParams, r: f64) -> usize {
    let HmcParams {
        n_steps,
        length_jitter,
        ..
    } = *params;
    if length_jitter <= 0.0 {
        return n_steps.max(1);
    }
    let u = 1.0 + length_jitter * (2.0 * r - 1.0);
    ((n_steps as f64 * u).round() as usize).max(1)
}

/// One HMC Markov chain: the current field, its generator, and reusable buffers.
#[derive(Debug, Clone)]
pub struct HmcChain {
    phi: Vec<f64>,
    rng: Pcg64,
    params: HmcParams,
    action_value: f64,
    grad: Vec<f64>,
    trial: Vec<f64>,
    trial_grad: Vec<f64>,
    pi: Vec<f64>,
    /// Fourier acceleration's mass matrix (plain HMC, M = 1, if `None`).
    mass: Option<std::sync::Arc<crate::FourierMass>>,
    /// Fast-force steps per step of the slow force (multi-timescale molecular dynamics,
    /// [`crate::integrate_nested`]); 1: a single time scale.
    inner_steps: usize,
}

impl HmcChain {
    /// A chain starting from `start`, drawing from `rng`.
    pub fn new(action: &dyn Action, start: Start, mut rng: Pcg64, params: HmcParams) -> Self {
        let v = action.state_len();
        let mut phi = vec![0.0; v];
        if start == Start::Hot {
            action.hot_start(&mut rng, &mut phi);
        }
        Self::resume(action, phi, rng, params)
    }

    /// A chain continuing from a saved field and generator state.
    pub fn resume(action: &dyn Action, phi: Vec<f64>, rng: Pcg64, params: HmcParams) -> Self {
        let v = phi.len();
        assert_eq!(
            v,
            action.state_len(),
            "field does not fit the action's state"
        );
        let mut grad = vec![0.0; v];
        action.gradient(&phi, &mut grad);
        let action_value = action.action(&phi);
        Self {
            phi,
            rng,
            params,
            action_value,
            grad,
            trial: vec![0.0; v],
            trial_grad: vec![0.0; v],
            pi: vec![0.0; v],
            mass: None,
            inner_steps: 1,
        }
    }

    /// The same chain with `inner` steps of the action's fast force per step of its slow one
    /// ([`crate::integrate_nested`]; 1: a single time scale). The action must have a fast part
    /// ([`Action::fast_gradient`]) when `inner` > 1.
    pub fn with_inner_steps(mut self, inner: usize) -> Self {
        self.inner_steps = inner.max(1);
        self
    }

    pub fn inner_steps(&self) -> usize {
        self.inner_steps
    }

    /// The same chain with Fourier acceleration: momenta, drift and kinetic energy with the
    /// mass matrix `mass` ([`crate::FourierMass`]).
    pub fn with_mass(mut self, mass: Option<std::sync::Arc<crate::FourierMass>>) -> Self {
        self.set_mass(mass);
        self
    }

    /// Replaces the mass matrix (between trajectories: the momenta are drawn afresh).
    pub fn set_mass(&mut self, mass: Option<std::sync::Arc<crate::FourierMass>>) {
        self.mass = mass;
    }

    /// The mass matrix, if any.
    pub fn mass(&self) -> Option<&crate::FourierMass> {
        self.mass.as_deref()
    }

    pub fn field(&self) -> &[f64] {
        &self.phi
    }

    /// Replaces the current configuration (a move made by another exact update, e.g. a flow
    /// proposal), recomputing its action and gradient.
    pub fn set_field(&mut self, action: &dyn Action, phi: &[f64]) {
        self.phi.copy_from_slice(phi);
        action.gradient(&self.phi, &mut self.grad);
        self.action_value = action.action(&self.phi);
    }

    /// Replaces the current configuration when its action `s` is already known (only the
    /// gradient is recomputed).
    pub(crate) fn set_field_with_action(&mut self, action: &dyn Action, phi: &[f64], s: f64) {
        self.phi.copy_from_slice(phi);
        action.gradient(&self.phi, &mut self.grad);
        self.action_value = s;
    }

    pub fn params(&self) -> HmcParams {
        self.params
    }

    pub fn set_params(&mut self, params: HmcParams) {
        self.params = params;
    }

    /// The generator's exact state (saving it lets a run continue bit for bit).
    pub fn rng_state(&self) -> RngState {
        RngState::of(&self.rng)
    }

    /// The chain's generator, for other updates composed with HMC in the same chain.
    pub(crate) fn rng_mut(&mut self) -> &mut Pcg64 {
        &mut self.rng
    }

    /// S of the current configuration.
    pub fn action_value(&self) -> f64 {
        self.action_value
    }

    /// One trajectory: fresh Gaussian momenta, molecular dynamics, Metropolis accept/reject
    /// with probability min(1, e^{−ΔH}).
    pub fn trajectory(&mut self, action: &dyn Action) -> HmcRecord {
        let n = trajectory_steps(&self.params, &mut self.rng);
        match &self.mass {
            None => gaussian_fill(&mut self.rng, &mut self.pi),
            Some(m) => m.draw(&mut self.rng, &mut self.pi),
        }
        // Drawn before the molecular dynamics, which draws nothing: the stream's order is
        // steps, momenta, uniform either way.
        let u = uniform(&mut self.rng);
        self.integrate_and_test(action, n, u)
    }

    /// One trajectory with its randomness given: the momenta `momenta`, `n_steps` integrator
    /// steps and the uniform `u` of the Metropolis test (another generator's draws, as those of
    /// a GPU's counter-based streams); the chain's own generator is not touched.
    pub fn trajectory_with(
        &mut self,
        action: &dyn Action,
        momenta: &[f64],
        n_steps: usize,
        u: f64,
    ) -> HmcRecord {
        // Momenta from elsewhere are white (M = 1): a Fourier-accelerated chain draws its own.
        debug_assert!(
            self.mass.is_none(),
            "trajectory_with on a chain with a mass matrix"
        );
        self.pi.copy_from_slice(momenta);
        self.integrate_and_test(action, n_steps, u)
    }

    /// The molecular dynamics of `n` steps from the momenta in `self.pi`, then the Metropolis
    /// test with uniform `u`.
    fn integrate_and_test(&mut self, action: &dyn Action, n: usize, u: f64) -> HmcRecord {
        let mass = self.mass.clone();
        let kinetic = |pi: &[f64]| match &mass {
            None => crate::integrator::kinetic_energy(pi),
            Some(m) => m.kinetic_energy(pi),
        };
        let h_start = kinetic(&self.pi) + self.action_value;
        self.trial.copy_from_slice(&self.phi);
        self.trial_grad.copy_from_slice(&self.grad);
        if self.inner_steps > 1 {
            assert!(
                mass.is_none(),
                "multi-timescale molecular dynamics has no Fourier acceleration"
            );
            crate::integrate_nested(
                self.params.integrator,
                action,
                &mut self.trial,
                &mut self.pi,
                &mut self.trial_grad,
                self.params.step_size,
                n,
                self.inner_steps,
            );
        } else {
            self.params.integrator.integrate_with_mass(
                action,
                &mut self.trial,
                &mut self.pi,
                &mut self.trial_grad,
                self.params.step_size,
                n,
                mass.as_deref(),
            );
        }
        let trial_action = action.action(&self.trial);
        let delta_h = kinetic(&self.pi) + trial_action - h_start;
        // NaN ΔH (a diverged trajectory) is rejected.
        let accepted = delta_h <= 0.0 || u < (-delta_h).exp();
        if accepted {
            std::mem::swap(&mut self.phi, &mut self.trial);
            std::mem::swap(&mut self.grad, &mut self.trial_grad);
            self.action_value = trial_action;
            // A periodic state (link angles) is kept in its canonical range, with S and ∇S of
            // exactly that state, so that a chain continued from what it stores is this one.
            if action.canonicalize(&mut self.phi) {
                action.gradient(&self.phi, &mut self.grad);
                self.action_value = action.action(&self.phi);
            }
        }
        HmcRecord {
            action: self.action_value,
            delta_h,
            accepted,
            n_steps: n,
        }
    }
}

/// HMC on an action that needs nothing but φ (φ⁴, the Yukawa model with the exact
/// determinant): chain c starts from `start` with the stream (seed, c), is thermalised for
/// `thermalization` trajectories (tuning ε towards `tune` if given), then produces.
pub struct HmcSampler<'a> {
    pub action: &'a dyn Action,
    pub params: HmcParams,
    pub start: Start,
    pub seed: u64,
    pub thermalization: usize,
    /// Target acceptance of step-size tuning during thermalisation.
    pub tune: Option<f64>,
    /// Fourier acceleration's mass matrix, shared by the chains (plain HMC if `None`).
    pub mass: Option<std::sync::Arc<crate::FourierMass>>,
    /// Tune the mass during thermalisation ([`HmcSampler::tune_mass`]).
    pub tune_mass: bool,
}

impl HmcSampler<'_> {
    /// Thermalisation with the mass tuned: a quarter of it, then a quarter measuring
    /// χ₂ = ⟨M²⟩/V over every chain, then μ = [`crate::fa_mass_for_chi2`]`(χ₂)` for every
    /// chain and the rest of it (the step size tuned again with the new mass).
    fn thermalize_tuning_mass(
        &self,
        chains: &mut [crate::WithAction<'_, HmcChain>],
    ) -> crate::RunSummary {
        use crate::MarkovChain;
        use rayon::prelude::*;
        let n = self.thermalization;
        let (first, pilot) = (n / 4, n / 4);
        let mut total =
            crate::thermalize_chains(chains, first, self.tune).unwrap_or_else(|e| match e.1 {});
        let v = self.action.field_len() as f64;
        let sums: Vec<f64> = chains
            .par_iter_mut()
            .map(|c| {
                (0..pilot)
                    .map(|_| {
                        let Ok(_) = c.trajectory();
                        let m: f64 = c.field().iter().sum();
                        m * m / v
                    })
                    .sum::<f64>()
            })
            .collect();
        let chi2 = sums.iter().sum::<f64>() / (pilot * chains.len()).max(1) as f64;
        let mu = crate::fa_mass_for_chi2(chi2, self.action.lattice());
        let mass = std::sync::Arc::new(crate::FourierMass::new(self.action.lattice(), mu));
        for c in chains.iter_mut() {
            c.chain.set_mass(Some(mass.clone()));
        }
        let rest = crate::thermalize_chains(chains, n - first - pilot, self.tune)
            .unwrap_or_else(|e| match e.1 {});
        total.merge(&rest);
        total
    }
}

impl<'a> crate::Sampler for HmcSampler<'a> {
    type Chain = crate::WithAction<'a, HmcChain>;

    fn kind(&self) -> lft_records::SamplerKind {
        lft_records::SamplerKind::Hmc
    }

    /// The stored field: V sites of a scalar field, d·V links of a gauge field.
    fn volume(&self) -> usize {
        self.action.field_len()
    }

    fn fresh(&self, index: u64) -> Self::Chain {
        let rng = lft_lattice::stream_rng(self.seed, index);
        crate::WithAction {
            chain: HmcChain::new(self.action, self.start, rng, self.params)
                .with_mass(self.mass.clone()),
            action: self.action,
        }
    }

    fn thermalization_steps(&self) -> usize {
        self.thermalization
    }

    fn thermalize(
        &self,
        chains: &mut [Self::Chain],
    ) -> Result<Option<crate::RunSummary>, (usize, std::convert::Infallible)> {
        if self.thermalization == 0 {
            return Ok(None);
        }
        if self.tune_mass && self.mass.is_some() {
            return Ok(Some(self.thermalize_tuning_mass(chains)));
        }
        crate::thermalize_chains(chains, self.thermalization, self.tune).map(Some)
    }

    fn resume(
        &self,
        meta: &lft_records::ChainMeta,
        last: Option<&lft_records::StoredRow>,
    ) -> Result<Self::Chain, String> {
        let (params, field, rng) = crate::hmc_resume_state(meta, last, self.volume())?;
        // The chain's own (tuned) mass where it was stored; the run's for older files.
        let mass = match meta.settings {
            lft_records::ChainSettings::Hmc {
                fa_mass: Some(mu), ..
            } if self.mass.is_some() => Some(std::sync::Arc::new(crate::FourierMass::new(
                self.action.lattice(),
                mu,
            ))),
            _ => self.mass.clone(),
        };
        Ok(crate::WithAction {
            chain: HmcChain::resume(self.action, field, rng, params).with_mass(mass),
            action: self.action,
        })
    }
}
