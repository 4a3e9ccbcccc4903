//! Staggered fermions on periodic lattices (antiperiodic in time).
//!
//! D(φ) = K + m + gφ with the staggered hopping term K (docs/PHYSICS.md): applied matrix-free to
//! real or complex vectors ([`Dirac`]), inverted in D Dᵀ by conjugate gradient ([`solve_ddt`]),
//! factorised densely for exact log|det D|, its sign and D⁻¹ ([`DenseLu`], [`schur_log_det`]),
//! represented stochastically by pseudofermions ([`Pseudofermion`]), and estimated without bias
//! ([`DetEstimator`], for pseudo-marginal samplers), also by importance sampling with a
//! conditional pseudofermion flow ([`PseudofermionFlow`], for joint samplers of (φ, ϕ)).

mod cg;
mod dense;
mod det_estimator;
mod error;
mod even_odd;
pub mod free;
mod operator;
mod pf_flow;
mod pf_flow_estimate;
mod pseudofermion;
mod scalar;
mod staggered;

pub use cg::{
    CgParams, CgScratch, CgStats, STAGNATION_FLOOR, accept_stagnated, solve_ddt, solve_ddt_shifted,
};
pub use dense::DenseLu;
pub use det_estimator::{DetEstimate, DetEstimator, Reference};
pub use error::FermionError;
pub use even_odd::schur_log_det;
pub use num_complex::Complex64;
pub use operator::{Dirac, PARALLEL_SITES, apply_batch};
pub use pf_flow::{PfFlowGradient, PfLayer, PseudofermionFlow};
pub use pf_flow_estimate::{FlowDetEstimator, PfFlowEstimate, PfFlowLoss, standard_complex_normal};
pub use pseudofermion::Pseudofermion;
pub use scalar::{FermionScalar, norm_sqr, re_dot};
pub use staggered::{Staggered, TimeBoundary};
