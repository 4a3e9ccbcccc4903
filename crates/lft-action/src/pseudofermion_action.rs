//! What pseudofermion HMC needs of an action with a pseudofermion in it
//! ([`PseudofermionAction`]), and the per-chain state such actions keep behind a lock
//! ([`PfCell`]): the field ϕ with its CG buffers, the first CG failure, and CG counters.

use crate::Action;
use lft_fermion::{CgStats, FermionError};
use lft_lattice::Pcg64;
use std::sync::{Mutex, MutexGuard};

/// An action S(x) + ϕ† M(x)⁻¹ ϕ at a pseudofermion ϕ that the action owns and redraws from
/// its heat bath. Alternating the heat bath with HMC in x at fixed ϕ samples
/// e^{−S(x)} det M(x). One action per chain.
pub trait PseudofermionAction: Action + Sized {
    /// The same model and settings with a pseudofermion of its own (for another chain).
    fn fresh(&self) -> Self;

    /// Redraws ϕ from its heat bath at `state`; returns the whole action there with the new ϕ.
    fn refresh(&self, state: &[f64], rng: &mut Pcg64) -> Result<f64, FermionError>;

    /// S(x), the action without the pseudofermion term (for moves composed with HMC).
    fn bosonic_action(&self, state: &[f64]) -> f64;

    /// The first CG failure since the last call, if any.
    fn take_error(&self) -> Option<FermionError>;

    /// (solves, total CG iterations) so far.
    fn cg_counts(&self) -> (u64, u64);
}

/// A pseudofermion of type `P`, the first CG failure since it was last taken, and CG counters.
#[derive(Debug)]
pub(crate) struct PfState<P> {
    pub pf: P,
    error: Option<FermionError>,
    solves: u64,
    iterations: u64,
}

impl<P> PfState<P> {
    /// Counts a solve and keeps its error if it is the first since the last take.
    pub fn record(&mut self, result: Result<&CgStats, &FermionError>) {
        self.solves += 1;
        match result {
            Ok(stats) => self.iterations += stats.iterations as u64,
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(e.clone());
                }
            }
        }
    }
}

/// [`PfState`] behind a mutex, so that an action (shared by reference) can update it.
#[derive(Debug)]
pub(crate) struct PfCell<P>(Mutex<PfState<P>>);

impl<P> PfCell<P> {
    pub fn new(pf: P) -> Self {
        Self(Mutex::new(PfState {
            pf,
            error: None,
            solves: 0,
            iterations: 0,
        }))
    }

    pub fn lock(&self) -> MutexGuard<'_, PfState<P>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn take_error(&self) -> Option<FermionError> {
        self.lock().error.take()
    }

    pub fn cg_counts(&self) -> (u64, u64) {
        let s = self.lock();
        (s.solves, s.iterations)
    }

    /// S_pf from `solve` (which returns it with its CG statistics), counted and with its error
    /// kept (and returned).
    pub fn action_with(
        &self,
        solve: impl FnOnce(&mut P) -> Result<(f64, CgStats), FermionError>,
    ) -> Result<f64, FermionError> {
        let mut state = self.lock();
        let result = solve(&mut state.pf);
        state.record(result.as_ref().map(|(_, stats)| stats));
        result.map(|(s, _)| s)
    }

    /// Adds the force through `solve`, counted and with its error kept; on failure `grad` is
    /// filled with NaN (a trajectory through it is rejected).
    pub fn force_with(
        &self,
        grad: &mut [f64],
        solve: impl FnOnce(&mut P, &mut [f64]) -> Result<CgStats, FermionError>,
    ) {
        let mut state = self.lock();
        let result = solve(&mut state.pf, grad);
        state.record(result.as_ref());
        if result.is_err() {
            grad.fill(f64::NAN);
        }
    }
}
