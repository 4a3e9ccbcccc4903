//! Pseudofermion HMC for any [`PseudofermionAction`] (the Yukawa model, the Schwinger model):
//! before every trajectory the pseudofermion is drawn from its heat bath at the current state
//! x, then an ordinary HMC trajectory samples e^{−S(x) − ϕ†M(x)⁻¹ϕ} at that fixed ϕ. Both
//! steps leave e^{−S} det M invariant.
//!
//! A trajectory on which a CG solve fails (M nearly singular somewhere along it, where
//! det M → 0 and the target density vanishes) is rejected: every solve starts from zero, so
//! whether one fails is a function of the states the trajectory visits, the same for it and
//! its reverse, and rejecting those trajectories keeps detailed balance. The chain counts them
//! ([`PseudofermionHmc::cg_failures`]) and gives up with the error after
//! [`CG_FAILURE_LIMIT`] failed trajectories in a row (a solver that cannot work here at all,
//! such as a far too small `cg_max_iterations`).

use crate::{HmcChain, HmcParams, HmcRecord, MarkovChain, Start};
use lft_action::{PseudofermionAction, PseudofermionCg, Yukawa, YukawaPseudofermion};
use lft_fermion::FermionError;
use lft_lattice::{Pcg64, RngState};

/// Failed trajectories in a row after which a chain returns the CG error.
pub const CG_FAILURE_LIMIT: usize = 10;

/// One pseudofermion-HMC chain: the state, the generator, and its own pseudofermion action.
pub struct PseudofermionHmc<A = YukawaPseudofermion> {
    hmc: HmcChain,
    action: A,
    cg_failures: u64,
    failures_in_a_row: usize,
}

impl PseudofermionHmc<YukawaPseudofermion> {
    /// A Yukawa chain starting from `start`.
    pub fn new(
        model: Yukawa,
        cg: PseudofermionCg,
        start: Start,
        rng: Pcg64,
        params: HmcParams,
    ) -> Self {
        Self::with_action(YukawaPseudofermion::new(model, cg), start, rng, params)
    }

    /// A Yukawa chain continuing from a saved field and generator state.
    pub fn resume(
        model: Yukawa,
        cg: PseudofermionCg,
        phi: Vec<f64>,
        rng: Pcg64,
        params: HmcParams,
    ) -> Self {
        Self::resume_with_action(YukawaPseudofermion::new(model, cg), phi, rng, params)
    }

    /// Moves the chain to `phi` (another update composed with this one): the next trajectory
    /// redraws ϕ and recomputes S and the force there, so neither is kept now.
    pub(crate) fn jump_to(&mut self, phi: &[f64]) {
        self.hmc
            .set_field_with_action(self.action.model().phi4(), phi, f64::NAN);
    }
}

impl<A: PseudofermionAction> PseudofermionHmc<A> {
    /// A chain of `action` (its own: it owns the pseudofermion) starting from `start`.
    pub fn with_action(action: A, start: Start, rng: Pcg64, params: HmcParams) -> Self {
        let hmc = HmcChain::new(&action, start, rng, params);
        Self {
            hmc,
            action,
            cg_failures: 0,
            failures_in_a_row: 0,
        }
    }

    /// A chain of `action` continuing from a saved state and generator state.
    pub fn resume_with_action(action: A, state: Vec<f64>, rng: Pcg64, params: HmcParams) -> Self {
        let hmc = HmcChain::resume(&action, state, rng, params);
        Self {
            hmc,
            action,
            cg_failures: 0,
            failures_in_a_row: 0,
        }
    }

    /// Trajectories rejected because a CG solve failed on them.
    /// The same chain with `inner` steps of the bosonic (gauge or φ⁴) force per step of the
    /// pseudofermion force (multi-timescale molecular dynamics; 1: a single time scale).
    pub fn with_inner_steps(mut self, inner: usize) -> Self {
        self.hmc = self.hmc.with_inner_steps(inner);
        self
    }

    pub fn cg_failures(&self) -> u64 {
        self.cg_failures
    }

    /// The pseudofermion action (its CG counters, the current ϕ).
    pub fn action(&self) -> &A {
        &self.action
    }

    /// S + S_pf of the current state (with the last pseudofermion).
    pub fn action_value(&self) -> f64 {
        self.hmc.action_value()
    }

    /// The lattice volume.
    pub fn volume(&self) -> usize {
        self.action.lattice().volume()
    }

    /// The chain's generator, shared with composed updates.
    pub(crate) fn rng_mut(&mut self) -> &mut Pcg64 {
        self.hmc.rng_mut()
    }
}

impl<A: PseudofermionAction> MarkovChain for PseudofermionHmc<A> {
    type Error = FermionError;

    /// Heat bath for ϕ, then one HMC trajectory; one on which CG fails (in the heat bath's
    /// action or along the trajectory) is rejected, and the [`CG_FAILURE_LIMIT`]-th such in a
    /// row returns the error.
    fn trajectory(&mut self) -> Result<HmcRecord, FermionError> {
        let phi = self.hmc.field().to_vec();
        // The heat bath gives S at the start (exactly, or from one tight solve); the
        // trajectory needs no other evaluation there.
        let (s, n_steps, error) = match self.action.refresh(&phi, self.hmc.rng_mut()) {
            Ok(s) => {
                self.hmc.set_field_with_action(&self.action, &phi, s);
                let record = self.hmc.trajectory(&self.action);
                match self.action.take_error() {
                    None => {
                        self.failures_in_a_row = 0;
                        return Ok(record);
                    }
                    Some(e) => (s, record.n_steps, e),
                }
            }
            Err(e) => {
                // The failure is the one just returned; clear the recorded copy.
                self.action.take_error();
                (self.action.bosonic_action(&phi), 0, e)
            }
        };
        self.cg_failures += 1;
        self.failures_in_a_row += 1;
        if self.failures_in_a_row >= CG_FAILURE_LIMIT {
            return Err(error);
        }
        // Rejected, whatever the Metropolis step said: back to the state and its action.
        self.hmc.set_field_with_action(&self.action, &phi, s);
        Ok(HmcRecord {
            action: s,
            delta_h: f64::INFINITY,
            accepted: false,
            n_steps,
        })
    }

    fn field(&self) -> &[f64] {
        self.hmc.field()
    }

    fn rng_state(&self) -> RngState {
        self.hmc.rng_state()
    }

    fn params(&self) -> HmcParams {
        self.hmc.params()
    }

    fn set_params(&mut self, params: HmcParams) {
        self.hmc.set_params(params)
    }
}

/// Pseudofermion HMC chains of a [`PseudofermionAction`], started, thermalised and continued
/// like [`crate::HmcSampler`] chains; every chain owns a [`fresh`](PseudofermionAction::fresh)
/// copy of `action`.
pub struct PseudofermionHmcSampler<A = YukawaPseudofermion> {
    pub action: A,
    pub params: HmcParams,
    pub start: Start,
    pub seed: u64,
    pub thermalization: usize,
    pub tune: Option<f64>,
    /// Bosonic-force steps per pseudofermion-force step (1: a single time scale).
    pub inner_steps: usize,
}

impl<A: PseudofermionAction + 'static> crate::Sampler for PseudofermionHmcSampler<A> {
    type Chain = PseudofermionHmc<A>;

    fn kind(&self) -> lft_records::SamplerKind {
        lft_records::SamplerKind::Hmc
    }

    /// The stored field: V sites of a scalar field, 2V links of a gauge field.
    fn volume(&self) -> usize {
        self.action.field_len()
    }

    fn fresh(&self, index: u64) -> PseudofermionHmc<A> {
        let rng = lft_lattice::stream_rng(self.seed, index);
        PseudofermionHmc::with_action(self.action.fresh(), self.start, rng, self.params)
            .with_inner_steps(self.inner_steps)
    }

    fn thermalization_steps(&self) -> usize {
        self.thermalization
    }

    fn thermalize(
        &self,
        chains: &mut [PseudofermionHmc<A>],
    ) -> Result<Option<crate::RunSummary>, (usize, FermionError)> {
        if self.thermalization == 0 {
            return Ok(None);
        }
        crate::thermalize_chains(chains, self.thermalization, self.tune).map(Some)
    }

    fn resume(
        &self,
        meta: &lft_records::ChainMeta,
        last: Option<&lft_records::StoredRow>,
    ) -> Result<PseudofermionHmc<A>, String> {
        let (params, field, rng) = crate::hmc_resume_state(meta, last, self.volume())?;
        Ok(
            PseudofermionHmc::resume_with_action(self.action.fresh(), field, rng, params)
                .with_inner_steps(self.inner_steps),
        )
    }
}
