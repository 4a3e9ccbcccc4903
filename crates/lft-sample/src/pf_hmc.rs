//! Pseudofermion HMC for the Yukawa model: before every trajectory the pseudofermion is drawn
//! from its heat bath ϕ = D(φ)ξ at the current φ, then an ordinary HMC trajectory samples
//! e^{−S_φ⁴(φ) − ϕ†(D Dᵀ)⁻¹ϕ} at that fixed ϕ. Both steps leave e^{−S_φ⁴} det(D Dᵀ) invariant.
//!
//! A trajectory on which a CG solve fails (D nearly singular somewhere along it, where
//! det D → 0 and the target density vanishes) is rejected: every solve starts from zero, so
//! whether one fails is a function of the states the trajectory visits, the same for it and
//! its reverse, and rejecting those trajectories keeps detailed balance. The chain counts them
//! ([`PseudofermionHmc::cg_failures`]) and gives up with the error after
//! [`CG_FAILURE_LIMIT`] failed trajectories in a row (a solver that cannot work here at all,
//! such as a far too small `cg_max_iterations`).

use crate::{HmcChain, HmcParams, HmcRecord, MarkovChain, Start};
use lft_action::{Action, PseudofermionCg, Yukawa, YukawaPseudofermion};
use lft_fermion::FermionError;
use lft_lattice::{Pcg64, RngState};

/// Failed trajectories in a row after which a chain returns the CG error.
pub const CG_FAILURE_LIMIT: usize = 10;

/// One pseudofermion-HMC chain: φ, the generator, and its own pseudofermion action.
pub struct PseudofermionHmc {
    hmc: HmcChain,
    action: YukawaPseudofermion,
    cg_failures: u64,
    failures_in_a_row: usize,
}

impl PseudofermionHmc {
    /// A chain starting from `start`.
    pub fn new(
        model: Yukawa,
        cg: PseudofermionCg,
        start: Start,
        rng: Pcg64,
        params: HmcParams,
    ) -> Self {
        let action = YukawaPseudofermion::new(model, cg);
        let hmc = HmcChain::new(&action, start, rng, params);
        Self {
            hmc,
            action,
            cg_failures: 0,
            failures_in_a_row: 0,
        }
    }

    /// A chain continuing from a saved field and generator state.
    pub fn resume(
        model: Yukawa,
        cg: PseudofermionCg,
        phi: Vec<f64>,
        rng: Pcg64,
        params: HmcParams,
    ) -> Self {
        let action = YukawaPseudofermion::new(model, cg);
        let hmc = HmcChain::resume(&action, phi, rng, params);
        Self {
            hmc,
            action,
            cg_failures: 0,
            failures_in_a_row: 0,
        }
    }

    /// Trajectories rejected because a CG solve failed on them.
    pub fn cg_failures(&self) -> u64 {
        self.cg_failures
    }

    /// The pseudofermion action (its CG counters, the current ϕ).
    pub fn action(&self) -> &YukawaPseudofermion {
        &self.action
    }

    /// S_φ⁴ + S_pf of the current state (with the last pseudofermion).
    pub fn action_value(&self) -> f64 {
        self.hmc.action_value()
    }

    /// The lattice volume.
    pub fn volume(&self) -> usize {
        self.action.lattice().volume()
    }

    /// Moves the chain to `phi` (another update composed with this one): the next trajectory
    /// redraws ϕ and recomputes S and the force there, so neither is kept now.
    pub(crate) fn jump_to(&mut self, phi: &[f64]) {
        self.hmc
            .set_field_with_action(self.action.model().phi4(), phi, f64::NAN);
    }

    /// The chain's generator, shared with composed updates.
    pub(crate) fn rng_mut(&mut self) -> &mut Pcg64 {
        self.hmc.rng_mut()
    }
}

impl MarkovChain for PseudofermionHmc {
    type Error = FermionError;

    /// Heat bath for ϕ, then one HMC trajectory; one on which CG fails is rejected, and the
    /// [`CG_FAILURE_LIMIT`]-th such in a row returns the error.
    fn trajectory(&mut self) -> Result<HmcRecord, FermionError> {
        let phi = self.hmc.field().to_vec();
        let s_pf = self.action.refresh(&phi, self.hmc.rng_mut());
        // S at the start is known exactly after the heat bath (S_pf = ξ†ξ); only the force
        // needs a solve.
        let s = self.action.model().phi4().action(&phi) + s_pf;
        self.hmc.set_field_with_action(&self.action, &phi, s);
        let record = self.hmc.trajectory(&self.action);
        match self.action.take_error() {
            None => {
                self.failures_in_a_row = 0;
                Ok(record)
            }
            Some(e) => {
                self.cg_failures += 1;
                self.failures_in_a_row += 1;
                if self.failures_in_a_row >= CG_FAILURE_LIMIT {
                    return Err(e);
                }
                // Rejected, whatever the Metropolis step said: back to φ and its action.
                self.hmc.set_field_with_action(&self.action, &phi, s);
                Ok(HmcRecord {
                    action: s,
                    delta_h: f64::INFINITY,
                    accepted: false,
                    n_steps: record.n_steps,
                })
            }
        }
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

/// Pseudofermion HMC chains for the Yukawa model, started, thermalised and continued like
/// [`crate::HmcSampler`] chains; every chain owns its pseudofermion action.
pub struct PseudofermionHmcSampler {
    pub model: Yukawa,
    pub cg: PseudofermionCg,
    pub params: HmcParams,
    pub start: Start,
    pub seed: u64,
    pub thermalization: usize,
    pub tune: Option<f64>,
}

impl crate::Sampler for PseudofermionHmcSampler {
    type Chain = PseudofermionHmc;

    fn kind(&self) -> lft_records::SamplerKind {
        lft_records::SamplerKind::Hmc
    }

    fn volume(&self) -> usize {
        self.model.phi4().lattice().volume()
    }

    fn fresh(&self, index: u64) -> PseudofermionHmc {
        let rng = lft_lattice::stream_rng(self.seed, index);
        PseudofermionHmc::new(self.model.clone(), self.cg, self.start, rng, self.params)
    }

    fn thermalization_steps(&self) -> usize {
        self.thermalization
    }

    fn thermalize(
        &self,
        chains: &mut [PseudofermionHmc],
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
    ) -> Result<PseudofermionHmc, String> {
        let (params, field, rng) = crate::hmc_resume_state(meta, last, self.volume())?;
        Ok(PseudofermionHmc::resume(
            self.model.clone(),
            self.cg,
            field,
            rng,
            params,
        ))
    }
}
