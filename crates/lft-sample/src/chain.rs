//! The interface every sampler's chains implement ([`Chain`]), the [`Step`]s they hand to a
//! [`Recorder`], and the HMC-like chains ([`MarkovChain`]) that thermalisation and tuning
//! work on.

use crate::{HmcChain, HmcParams, HmcRecord, RunSummary};
use lft_action::Action;
use lft_lattice::RngState;
use lft_records::{ChainSettings, RecordBlock};
use std::borrow::BorrowMut;

/// What one step of a chain produced, as handed to a [`Recorder`].
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The configuration after the step.
    pub config: &'a [f64],
    /// One value per column of the sampler ([`SamplerKind::columns`]).
    pub values: &'a [f64],
    /// Whether the step's proposal was accepted.
    pub accepted: bool,
    /// The generator state the chain continues from after this step.
    pub rng_after: RngState,
    /// ΔH of an HMC proposal (for ⟨ΔH⟩ and ⟨e^{−ΔH}⟩).
    pub delta_h: Option<f64>,
    /// HMC trajectories run and accepted inside the step (flow-HMC).
    pub inner: (u64, u64),
}

/// Hands a chain's steps to its block: every step is counted, one in `save_every` is stored.
pub struct Recorder<'a> {
    block: &'a mut RecordBlock,
    save_every: usize,
    since_saved: &'a mut usize,
    summary: &'a mut RunSummary,
    steps: usize,
}

impl<'a> Recorder<'a> {
    /// A recorder filling `block`; `since_saved` counts the chain's steps since its last
    /// stored one (kept across blocks).
    pub fn new(
        block: &'a mut RecordBlock,
        save_every: usize,
        since_saved: &'a mut usize,
        summary: &'a mut RunSummary,
    ) -> Self {
        Self {
            block,
            save_every: save_every.max(1),
            since_saved,
            summary,
            steps: 0,
        }
    }

    /// Records one step; stores it if it is the `save_every`-th since the last stored one.
    pub fn record(&mut self, step: Step<'_>) {
        self.summary.add(&step);
        self.steps += 1;
        *self.since_saved += 1;
        if *self.since_saved >= self.save_every {
            *self.since_saved = 0;
            self.block
                .push(step.config, step.values, step.accepted, step.rng_after);
        }
    }

    /// Whether the next step recorded will be stored (a sampler that must fetch its
    /// configurations from elsewhere, a GPU's memory, fetches only those).
    pub fn stores_next(&self) -> bool {
        *self.since_saved + 1 >= self.save_every
    }

    /// Steps recorded through this recorder.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

/// One chain of any sampler, as the runners drive it.
pub trait Chain: Send {
    /// Why a step could not be completed (a solver failure, say).
    type Error: Send;
    /// Runs at least one and at most `max` steps (`max` ≥ 1), typically one natural unit
    /// (an HMC trajectory, a batch of flow proposals), recording every step.
    fn advance(&mut self, max: usize, out: &mut Recorder<'_>) -> Result<(), Self::Error>;
    /// The settings to store with the chain (frozen when production starts).
    fn settings(&self) -> ChainSettings;
    /// The state production starts from: the field and the generator.
    fn start_state(&self) -> (Vec<f64>, RngState);
}

/// A Markov chain of HMC-like trajectories (plain HMC, pseudofermion HMC): thermalisation
/// and step-size tuning work on these. A plain [`HmcChain`] is paired with its action by
/// [`WithAction`].
pub trait MarkovChain: Send {
    /// Why a trajectory could not be completed (a solver failure, say).
    type Error: Send;
    fn trajectory(&mut self) -> Result<HmcRecord, Self::Error>;
    fn field(&self) -> &[f64];
    fn rng_state(&self) -> RngState;
    fn params(&self) -> HmcParams;
    fn set_params(&mut self, params: HmcParams);
    /// Fourier acceleration's mass μ, if the chain has a mass matrix.
    fn fa_mass(&self) -> Option<f64> {
        None
    }
}

/// The stored settings of HMC parameters, with Fourier acceleration's mass μ if any.
pub fn hmc_settings(p: HmcParams, fa_mass: Option<f64>) -> ChainSettings {
    ChainSettings::Hmc {
        step_size: p.step_size,
        n_steps: p.n_steps as u64,
        integrator: p.integrator,
        length_jitter: p.length_jitter,
        fa_mass,
    }
}

/// HMC parameters from stored settings (`None` for settings of another sampler).
pub fn hmc_params(s: &ChainSettings) -> Option<HmcParams> {
    match *s {
        ChainSettings::Hmc {
            step_size,
            n_steps,
            integrator,
            length_jitter,
            ..
        } => Some(HmcParams {
            step_size,
            n_steps: n_steps as usize,
            integrator,
            length_jitter,
        }),
        _ => None,
    }
}

/// What an HMC-like chain continues from: its stored HMC parameters, and the field and the
/// generator state after its last stored record (or at its start), checked against `volume`.
pub fn hmc_resume_parts(
    meta: &lft_records::ChainMeta,
    last: Option<&lft_records::StoredRow>,
    volume: usize,
) -> Result<(HmcParams, Vec<f64>, RngState), String> {
    let params = hmc_params(&meta.settings).ok_or("not an HMC chain")?;
    let (field, rng) = match last {
        Some(row) => (row.config.clone(), row.rng),
        None => (meta.start_config.clone(), meta.start_rng),
    };
    if field.len() != volume {
        return Err("the stored state does not fit the lattice".into());
    }
    Ok((params, field, rng))
}

/// [`hmc_resume_parts`] of a CPU chain, its generator restored; a chain made on a GPU (whose
/// state is a counter-based stream's) is refused by name.
pub fn hmc_resume_state(
    meta: &lft_records::ChainMeta,
    last: Option<&lft_records::StoredRow>,
    volume: usize,
) -> Result<(HmcParams, Vec<f64>, lft_lattice::Pcg64), String> {
    let (params, field, rng) = hmc_resume_parts(meta, last, volume)?;
    if rng.as_counter().is_some() {
        return Err(
            "it was made on a GPU, whose chains draw from counter-based streams: continue it \
             with --device cuda"
                .into(),
        );
    }
    Ok((params, field, rng.restore()))
}

/// Every HMC-like chain is a [`Chain`] of kind [`SamplerKind::Hmc`]: one trajectory per
/// step, recording S and ΔH.
impl<M: MarkovChain> Chain for M {
    type Error = M::Error;

    fn advance(&mut self, _max: usize, out: &mut Recorder<'_>) -> Result<(), M::Error> {
        let r = self.trajectory()?;
        out.record(Step {
            config: self.field(),
            values: &[r.action, r.delta_h],
            accepted: r.accepted,
            rng_after: self.rng_state(),
            delta_h: Some(r.delta_h),
            inner: (0, 0),
        });
        Ok(())
    }

    fn settings(&self) -> ChainSettings {
        hmc_settings(self.params(), self.fa_mass())
    }

    fn start_state(&self) -> (Vec<f64>, RngState) {
        (self.field().to_vec(), self.rng_state())
    }
}

/// An [`HmcChain`] (owned, or borrowed as `&mut HmcChain`) together with the action it
/// samples.
pub struct WithAction<'a, C = &'a mut HmcChain> {
    pub chain: C,
    pub action: &'a dyn Action,
}

impl<C: BorrowMut<HmcChain> + Send> MarkovChain for WithAction<'_, C> {
    type Error = std::convert::Infallible;
    fn trajectory(&mut self) -> Result<HmcRecord, Self::Error> {
        Ok(self.chain.borrow_mut().trajectory(self.action))
    }
    fn field(&self) -> &[f64] {
        self.chain.borrow().field()
    }
    fn rng_state(&self) -> RngState {
        self.chain.borrow().rng_state()
    }
    fn params(&self) -> HmcParams {
        self.chain.borrow().params()
    }
    fn set_params(&mut self, params: HmcParams) {
        self.chain.borrow_mut().set_params(params)
    }
    fn fa_mass(&self) -> Option<f64> {
        self.chain.borrow().mass().map(|m| m.mu())
    }
}
