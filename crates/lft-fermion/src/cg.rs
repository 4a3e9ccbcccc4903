//! Conjugate gradient for A x = b with A Hermitian positive definite ([`HermitianOperator`]):
//! (D Dᵀ + σ) of the Yukawa operator, σ ≥ 0 (σ > 0: the twisted shifts of the determinant
//! estimator), and the even-site normal operator (m² − K²)_ee of the gauge-covariant one.
//!
//! D Dᵀ is real, symmetric and positive definite whenever D is invertible, so CG applies to real
//! and complex right-hand sides alike (all the inner products it needs are real: p†A p is real
//! for Hermitian A). It stops when the true
//! residual satisfies |b − D Dᵀ x| ≤ tol·|b|: the cheap recursive residual decides when to look,
//! and if rounding has let it drift below the true one, CG restarts from the true residual.
//! If [`STAGNANT_RESTARTS`] restarts in a row have not brought the true residual below 0.9 of
//! the best so far, the solve has reached the floating-point floor (about ε·κ(D Dᵀ)) above the
//! tolerance and more iterations cannot help: CG stops with [`FermionError::CgStagnated`],
//! leaving its last iterate (at the floor) in x, instead of running on to `max_iterations`.
//! (Slow progress, a factor of 2 per restart on an ill-conditioned D Dᵀ, is not stagnation.)
//! A recursive residual that grows past 10¹⁰ |b| ends the solve with
//! [`FermionError::CgNotConverged`] at once. A caller that can use a less accurate solve (see
//! [`accept_stagnated`]) takes it from there.

use crate::{Dirac, FermionError, FermionScalar, norm_sqr, re_dot};

/// Restarts in a row without progress after which CG reports stagnation.
pub const STAGNANT_RESTARTS: usize = 5;

/// |r|²/|b|² beyond which CG gives up at once (a relative residual of 10¹⁰: x is rounding
/// noise; only a numerically singular D Dᵀ gets there), instead of at `max_iterations`.
const DIVERGED: f64 = 1e20;

/// When CG stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgParams {
    /// Relative residual |b − A x| / |b| to reach.
    pub tolerance: f64,
    /// Give up (with an error) after this many iterations.
    pub max_iterations: usize,
}

impl Default for CgParams {
    fn default() -> Self {
        Self {
            tolerance: 1e-10,
            max_iterations: 10_000,
        }
    }
}

/// What one solve took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgStats {
    pub iterations: usize,
    /// The true relative residual |b − D Dᵀ x| / |b| of the returned x.
    pub residual: f64,
}

/// Reusable buffers for CG on one lattice (r, p, A p and one more for D Dᵀ).
#[derive(Debug, Clone)]
pub struct CgScratch<T> {
    r: Vec<T>,
    p: Vec<T>,
    ap: Vec<T>,
    tmp: Vec<T>,
}

impl<T: FermionScalar> CgScratch<T> {
    pub fn new(volume: usize) -> Self {
        Self {
            r: vec![T::default(); volume],
            p: vec![T::default(); volume],
            ap: vec![T::default(); volume],
            tmp: vec![T::default(); volume],
        }
    }
}

/// A Hermitian positive definite operator on vectors of [`dim`](Self::dim) components, applied
/// matrix-free (with one scratch vector of the same length).
pub trait HermitianOperator<T> {
    /// The number of components of the vectors it acts on.
    fn dim(&self) -> usize;
    /// out = A v, with `tmp` as scratch.
    fn apply(&self, v: &[T], out: &mut [T], tmp: &mut [T]);
}

/// D Dᵀ + σ of the Yukawa operator.
pub struct ShiftedDdt<'a, 'b> {
    pub dirac: &'a Dirac<'b>,
    pub shift: f64,
}

impl<T: FermionScalar> HermitianOperator<T> for ShiftedDdt<'_, '_> {
    fn dim(&self) -> usize {
        self.dirac.volume()
    }

    fn apply(&self, v: &[T], out: &mut [T], tmp: &mut [T]) {
        self.dirac.apply_ddt(v, out, tmp);
        if self.shift != 0.0 {
            for (o, &v) in out.iter_mut().zip(v) {
                *o += v * self.shift;
            }
        }
    }
}

/// Solves D Dᵀ x = b, starting from the x passed in (zero it for a cold start).
pub fn solve_ddt<T: FermionScalar>(
    dirac: &Dirac,
    b: &[T],
    x: &mut [T],
    params: CgParams,
    scratch: &mut CgScratch<T>,
) -> Result<CgStats, FermionError> {
    solve_ddt_shifted(dirac, 0.0, b, x, params, scratch)
}

/// Solves (D Dᵀ + σ) x = b for σ = `shift` ≥ 0, starting from the x passed in.
pub fn solve_ddt_shifted<T: FermionScalar>(
    dirac: &Dirac,
    shift: f64,
    b: &[T],
    x: &mut [T],
    params: CgParams,
    scratch: &mut CgScratch<T>,
) -> Result<CgStats, FermionError> {
    solve_hermitian(&ShiftedDdt { dirac, shift }, b, x, params, scratch)
}

/// Solves A x = b for a Hermitian positive definite A, starting from the x passed in.
pub fn solve_hermitian<T: FermionScalar, A: HermitianOperator<T>>(
    op: &A,
    b: &[T],
    x: &mut [T],
    params: CgParams,
    scratch: &mut CgScratch<T>,
) -> Result<CgStats, FermionError> {
    let n = op.dim();
    assert!(
        b.len() == n && x.len() == n && scratch.r.len() == n,
        "CG vectors do not fit the operator"
    );
    let CgScratch { r, p, ap, tmp } = scratch;
    let b_norm2 = norm_sqr(b);
    if b_norm2 == 0.0 {
        x.fill(T::default());
        return Ok(CgStats {
            iterations: 0,
            residual: 0.0,
        });
    }
    if !b_norm2.is_finite() {
        return Err(FermionError::CgNotConverged {
            iterations: 0,
            residual: f64::NAN,
            tolerance: params.tolerance,
        });
    }
    let target = params.tolerance * params.tolerance * b_norm2;
    let mut iterations = 0;
    let mut best_true_rr = f64::INFINITY;
    let mut idle_restarts = 0;
    loop {
        // r = b − A x from scratch: at the start, and again whenever the recursively updated
        // residual claims convergence, since rounding lets it drift below the true one.
        op.apply(x, ap, tmp);
        for ((r, &b), &ax) in r.iter_mut().zip(b).zip(ap.iter()) {
            *r = b - ax;
        }
        let mut rr = norm_sqr(r);
        if rr <= target {
            return Ok(CgStats {
                iterations,
                residual: (rr / b_norm2).sqrt(),
            });
        }
        // Progress: a restart that brings the true residual below 0.9 of the best so far.
        if rr < 0.81 * best_true_rr {
            best_true_rr = rr;
            idle_restarts = 0;
        } else {
            idle_restarts += 1;
        }
        if idle_restarts >= STAGNANT_RESTARTS {
            return Err(FermionError::CgStagnated {
                iterations,
                residual: (rr / b_norm2).sqrt(),
                tolerance: params.tolerance,
            });
        }
        p.copy_from_slice(r);
        // A NaN residual (a non-finite operator) must reach the check below, not skip the
        // loop and restart it forever.
        while rr > target || rr.is_nan() {
            if iterations == params.max_iterations || !rr.is_finite() || rr > DIVERGED * b_norm2 {
                return Err(FermionError::CgNotConverged {
                    iterations,
                    residual: (rr / b_norm2).sqrt(),
                    tolerance: params.tolerance,
                });
            }
            op.apply(p, ap, tmp);
            let alpha = rr / re_dot(p, ap);
            for (((x, r), &p), &ap) in x.iter_mut().zip(r.iter_mut()).zip(p.iter()).zip(ap.iter()) {
                *x += p * alpha;
                *r = *r - ap * alpha;
            }
            let rr_new = norm_sqr(r);
            let beta = rr_new / rr;
            for (p, &r) in p.iter_mut().zip(r.iter()) {
                *p = r + *p * beta;
            }
            rr = rr_new;
            iterations += 1;
        }
    }
}

/// Solves A x = b from x = 0, so that x depends on A and b only, never on earlier solves
/// (molecular dynamics built on it stays exactly reversible); a solve that stagnates at a
/// relative residual ≤ `floor` counts as done ([`accept_stagnated`]).
pub fn solve_from_zero<T: FermionScalar, A: HermitianOperator<T>>(
    op: &A,
    b: &[T],
    x: &mut [T],
    params: CgParams,
    floor: f64,
    scratch: &mut CgScratch<T>,
) -> Result<CgStats, FermionError> {
    x.fill(T::default());
    accept_stagnated(solve_hermitian(op, b, x, params, scratch), floor)
}

/// The relative residual up to which the solvers built on CG in lft (pseudofermion actions
/// and forces, determinant estimators, stochastic traces) take a stagnated solve as done:
/// where D Dᵀ is so ill-conditioned that double precision cannot reach the requested
/// tolerance, a solve at 1e-8 still gives S_pf to about 1e-8 relative, and deterministically
/// (every solve starts from zero), so Markov chains built on it stay exact for it.
pub const STAGNATION_FLOOR: f64 = 1e-8;

/// Takes a solve that stagnated at a true relative residual ≤ `floor` as done: its
/// [`CgStats`] (with that residual) instead of the error. Every other outcome passes through.
pub fn accept_stagnated(
    result: Result<CgStats, FermionError>,
    floor: f64,
) -> Result<CgStats, FermionError> {
    match result {
        Err(FermionError::CgStagnated {
            iterations,
            residual,
            ..
        }) if residual <= floor => Ok(CgStats {
            iterations,
            residual,
        }),
        other => other,
    }
}
