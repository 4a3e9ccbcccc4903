//! Staggered fermions on periodic lattices (antiperiodic in time).
//!
//! D(φ) = K + m + gφ with the staggered hopping term K (docs/PHYSICS.md): applied matrix-free to
//! real or complex vectors ([`Dirac`]), inverted in D Dᵀ by conjugate gradient ([`solve_ddt`]),
//! factorised densely for exact log|det D|, its sign and D⁻¹ ([`DenseLu`], [`schur_log_det`]),
//! represented stochastically by pseudofermions ([`Pseudofermion`]), and estimated without bias
//! ([`DetEstimator`], for pseudo-marginal samplers), also by importance sampling with a
//! conditional pseudofermion flow ([`PseudofermionFlow`], for joint samplers of (φ, ϕ)).
//!
//! The same staggered operator coupled to U(1) links, D(θ) = m + K(θ), for the Schwinger
//! model: matrix-free with its even-site normal operator ([`GaugeDirac`]), exactly through the
//! even-site block ([`EvenBlockInverse`]) and through even-site pseudofermions
//! ([`GaugePseudofermion`]), and estimated without bias ([`GaugeDetEstimator`]).

mod cg;
mod dense;
mod det_estimator;
mod error;
mod even_odd;
pub mod free;
mod gauge_dense;
mod gauge_det_estimator;
mod gauge_operator;
mod gauge_pf_flow;
mod gauge_pseudofermion;
mod operator;
mod pf_flow;
mod pf_flow_estimate;
mod pseudofermion;
mod scalar;
mod staggered;

pub use cg::{
    CgParams, CgScratch, CgStats, HermitianOperator, STAGNATION_FLOOR, ShiftedDdt,
    accept_stagnated, solve_ddt, solve_ddt_shifted, solve_from_zero, solve_hermitian,
};
pub use dense::DenseLu;
pub use det_estimator::{DetEstimate, DetEstimator, Reference};
pub use error::FermionError;
pub use even_odd::schur_log_det;
pub use gauge_dense::EvenBlockInverse;
pub use gauge_det_estimator::{GAUGE_HOP_BOUND, GaugeDetEstimate, GaugeDetEstimator};
pub use gauge_operator::{GaugeDirac, GaugeStaggered, apply_gauge_batch};
pub use gauge_pf_flow::{
    GaugeFlowDetEstimator, GaugePfGradient, GaugePfInputs, GaugePfLayer, GaugePfLoss,
    GaugePseudofermionFlow,
};
pub use gauge_pseudofermion::{GaugePseudofermion, add_solved_force};
pub use num_complex::Complex64;
pub use operator::{Dirac, PARALLEL_SITES, apply_batch};
pub use pf_flow::{PfFlowGradient, PfLayer, PseudofermionFlow};
pub use pf_flow_estimate::{FlowDetEstimator, PfFlowEstimate, PfFlowLoss, standard_complex_normal};
pub use pseudofermion::Pseudofermion;
pub use scalar::{FermionScalar, norm_sqr, re_dot};
pub use staggered::{Staggered, TimeBoundary};
