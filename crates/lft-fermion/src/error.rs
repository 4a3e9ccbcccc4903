//! Errors of the fermion library.

use thiserror::Error;

/// Why a fermion computation was refused or failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FermionError {
    #[error("staggered fermions need even extents: lattice axis {axis} has extent {extent}")]
    OddExtent { axis: usize, extent: usize },
    #[error("fermion parameter `{name}` = {value}: {reason}")]
    BadParameter {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error(
        "conjugate gradient did not converge: relative residual {residual:.3e} after {iterations} iterations (tolerance {tolerance:.1e}); the Dirac operator may be (nearly) singular"
    )]
    CgNotConverged {
        iterations: usize,
        residual: f64,
        tolerance: f64,
    },
    #[error(
        "conjugate gradient stagnated at relative residual {residual:.3e} after {iterations} iterations, above its tolerance {tolerance:.1e}: D Dᵀ is too ill-conditioned for that tolerance in double precision"
    )]
    CgStagnated {
        iterations: usize,
        residual: f64,
        tolerance: f64,
    },
    #[error("the Dirac operator is singular (a zero pivot in its LU factorisation)")]
    Singular,
    #[error("even-odd Schur complement needs m + g φ_x ≠ 0 on every even site; site {site} has 0")]
    ZeroEvenDiagonal { site: usize },
    #[error(
        "the determinant estimator's variance is infinite for this field: (m + g φ_x)² = {value:.4} at site {site} is not below m² + μ_N²/2 = {bound:.4}; raise the largest twist μ_N (pf_twists) above {needed:.4}"
    )]
    EstimatorVariance {
        site: usize,
        value: f64,
        bound: f64,
        needed: f64,
    },
}
