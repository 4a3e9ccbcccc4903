//! What the pseudo-marginal samplers need of an action whose fermion determinant is estimated
//! without bias ([`crate::YukawaEstimated`], [`crate::SchwingerEstimated`]): the estimator's
//! description, its running counts and first failure, and repeated estimates at one field
//! (their spread sets the pseudo-marginal acceptance).

use crate::Action;
use lft_fermion::{CgStats, FermionError};
use std::sync::Mutex;

/// What the estimates and forces of an estimated action cost and met so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EstimateCounts {
    /// Determinant estimates made (one per action evaluation).
    pub estimates: u64,
    /// Of them, fields whose ladder was extended past the largest twist to meet the
    /// estimator's variance condition (never for the Schwinger model's ladder).
    pub extended: u64,
    /// Forces computed (one CG solve each).
    pub forces: u64,
    /// CG iterations of all estimates and forces.
    pub cg_iterations: u64,
    /// Estimates or forces whose CG failed (the action is +∞, the force NaN).
    pub failures: u64,
}

/// An action S_bosonic − log d̂et with d̂et an unbiased positive estimate of the fermion
/// determinant and stochastic pseudofermion forces.
pub trait EstimatedAction: Action {
    /// "ladder of N twists, D draws per rung" or the like.
    fn describe(&self) -> String;

    /// The counts so far.
    fn counts(&self) -> EstimateCounts;

    /// The first CG failure since the last call, if any.
    fn take_error(&self) -> Option<FermionError>;

    /// `repeats` independent estimates of log det at `field` (streams other than the
    /// action's).
    fn repeated_log_det(&self, field: &[f64], repeats: usize) -> Result<Vec<f64>, FermionError>;

    /// For a ladder estimator that extends itself per field: (the configured largest twist,
    /// the rungs `field` needs beyond the configured ladder). `None` where no field ever needs
    /// more.
    fn ladder_extension(&self, _field: &[f64]) -> Option<(f64, usize)> {
        None
    }
}

/// The counts of an estimated action and its first unreported failure, shared by the threads
/// that evaluate it.
#[derive(Debug, Default)]
pub(crate) struct EstimateLog(Mutex<(EstimateCounts, Option<FermionError>)>);

impl EstimateLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, (EstimateCounts, Option<FermionError>)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn counts(&self) -> EstimateCounts {
        self.lock().0
    }

    pub(crate) fn take_error(&self) -> Option<FermionError> {
        self.lock().1.take()
    }

    /// Counts a failure and keeps the first.
    pub(crate) fn fail(&self, e: FermionError) {
        let mut c = self.lock();
        c.0.failures += 1;
        c.1.get_or_insert(e);
    }

    /// Counts an estimate of `cg_iterations`, `extended` past the configured ladder or not.
    pub(crate) fn estimate(&self, cg_iterations: usize, extended: bool) {
        let mut c = self.lock();
        c.0.estimates += 1;
        c.0.extended += u64::from(extended);
        c.0.cg_iterations += cg_iterations as u64;
    }

    /// S_bosonic − log d̂et, or +∞ (the proposal rejected) with the failure kept.
    pub(crate) fn action(&self, bosonic: f64, log_det: Result<f64, FermionError>) -> f64 {
        match log_det {
            Ok(log_det) => bosonic - log_det,
            Err(e) => {
                self.fail(e);
                f64::INFINITY
            }
        }
    }

    /// Counts a pseudofermion force's solve, or keeps its failure and makes `grad` NaN.
    pub(crate) fn force(&self, solve: Result<CgStats, FermionError>, grad: &mut [f64]) {
        match solve {
            Ok(stats) => {
                let mut c = self.lock();
                c.0.forces += 1;
                c.0.cg_iterations += stats.iterations as u64;
            }
            Err(e) => {
                self.fail(e);
                grad.fill(f64::NAN);
            }
        }
    }
}

/// A 64-bit hash of the bits of a field (SplitMix64-style mixing of every word): the key of
/// its estimator noise, so that the estimated action is a fixed function of the field.
pub fn field_hash(field: &[f64]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for x in field {
        h ^= x.to_bits();
        h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 29;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 32;
    }
    h
}

/// Stream keys of the two kinds of noise, so that the action's and the force's draws differ.
pub(crate) const ACTION_KEY: u64 = 0xA5A5_0000_0000_0001;
pub(crate) const FORCE_KEY: u64 = 0x5A5A_0000_0000_0002;

/// The stream key of the `r`-th repeated estimate (r ≥ 1; 0 is the action's own).
pub(crate) fn repeat_key(r: u64) -> u64 {
    ACTION_KEY.wrapping_add(0x1_0000 * r)
}
