//! What annealing needs of a joint (field, pseudofermion) target beyond its action: the CG work
//! it did, the solves it accepted stagnated, and its first failure
//! ([`crate::YukawaJoint`], [`crate::SchwingerJoint`]).

use crate::Action;
use lft_fermion::{CgStats, FermionError, accept_stagnated};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A joint target of a field and one pseudofermion, no determinant: S_J = S_bosonic + ϕ†A⁻¹ϕ.
pub trait JointAction: Action {
    /// "(φ, ϕ)" or "(θ, ϕ)": the joint state, for reports.
    fn joint_state(&self) -> &'static str;

    /// (solves, total CG iterations) so far.
    fn cg_counts(&self) -> (u64, u64);

    /// How many solves stagnated above their tolerance and were accepted.
    fn stagnated_solves(&self) -> u64;

    /// The largest relative residual at which a stagnated action solve is accepted.
    fn stagnation_floor(&self) -> f64;

    /// The first CG failure since the last call, if any.
    fn take_error(&self) -> Option<FermionError>;
}

/// The default stagnation floor of the joint targets.
pub const DEFAULT_STAGNATION_FLOOR: f64 = lft_fermion::STAGNATION_FLOOR;

/// The solve counts of a joint target, shared by the threads that evaluate it.
#[derive(Debug, Default)]
pub(crate) struct JointSolves {
    solves: AtomicU64,
    iterations: AtomicU64,
    stagnated: AtomicU64,
    error: Mutex<Option<FermionError>>,
}

impl JointSolves {
    /// Takes a solve that stagnated at a relative residual ≤ `floor` as done, and counts it;
    /// a failure is kept.
    pub(crate) fn record(
        &self,
        raw: Result<CgStats, FermionError>,
        floor: f64,
    ) -> Result<CgStats, FermionError> {
        let stagnated = matches!(raw, Err(FermionError::CgStagnated { .. }));
        let result = accept_stagnated(raw, floor);
        if stagnated && result.is_ok() {
            self.stagnated.fetch_add(1, Ordering::Relaxed);
        }
        self.solves.fetch_add(1, Ordering::Relaxed);
        match &result {
            Ok(stats) => {
                self.iterations
                    .fetch_add(stats.iterations as u64, Ordering::Relaxed);
            }
            Err(e) => {
                let mut error = self.error.lock().unwrap_or_else(|e| e.into_inner());
                error.get_or_insert_with(|| e.clone());
            }
        }
        result
    }

    pub(crate) fn cg_counts(&self) -> (u64, u64) {
        (
            self.solves.load(Ordering::Relaxed),
            self.iterations.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn stagnated(&self) -> u64 {
        self.stagnated.load(Ordering::Relaxed)
    }

    pub(crate) fn take_error(&self) -> Option<FermionError> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
