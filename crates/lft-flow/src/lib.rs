//! Normalizing flows for lattice fields, with hand-derived backward passes.
//!
//! The seams:
//! - [`bijection`]: the [`Bijection`] trait every layer implements (forward with log|det J|,
//!   inverse, and the backward passes of both), with caller-owned [`LayerCache`]s (per-layer
//!   state) and a [`Workspace`] (temporaries shared by the layers);
//! - [`stack`]: [`BijectionStack`], layers with one flat parameter vector, a map on its own
//!   (a transport), passes taking a caller-owned [`StackScratch`];
//! - [`proposal`]: [`Proposal`], what the samplers take (draw with log q, log q of given
//!   configurations); [`train::Trainable`], what training takes.
//!
//! The layers: [`coupling`] (one masked coupling over an [`ElementwiseTransform`]: [`affine`]
//! and the rational-quadratic [`spline`], [`spline_coupling`]), [`conditioner`] (the conv net
//! on the frozen sites, optionally Z₂-symmetrised), [`spectral`] (a learnable momentum-space
//! scale), and for U(1) link fields [`gauge_coupling`] (gauge-equivariant plaquette couplings,
//! masks in [`gauge_mask`]) over the circle transforms [`circle`] ([`circle_ncp`],
//! [`circle_spline`], [`circle_smooth`]). Below them [`conv`], [`activation`], [`net`]; beside them [`prior`]. [`spec`] builds
//! a [`Flow`] (prior + stack, [`flow`]) from a [`FlowSpec`]; [`kl`] holds its losses, [`adam`]
//! the optimiser and [`train`] the training loop; [`diagnostics`] says how far to trust a
//! trained flow. [`cnf_field`] is the equivariant kernel vector field of continuous flows, with
//! its exact divergence (issue 39: not yet integrated into a flow).
//!
//! Everything is `f64` and reproducible: batches are processed in parallel over fixed chunks.

pub mod activation;
pub mod adam;
pub mod affine;
pub mod bijection;
pub mod circle;
pub mod circle_ncp;
pub mod circle_smooth;
pub mod circle_spline;
pub mod cnf_field;
pub mod cnf_ode;
mod cnf_spectral;
pub mod conditioner;
pub mod continuous;
pub mod conv;
pub mod coupling;
pub mod diagnostics;
pub mod flow;
pub mod flow_matching;
pub mod gauge_coupling;
pub mod gauge_mask;
pub mod gauge_plaquette_basis;
pub mod gauge_plaquettes;
mod gauge_stack;
pub mod gemm;
pub mod integrator_error;
pub mod kl;
pub mod lane_bijection;
pub mod lane_conv;
pub mod lane_conv32;
pub mod lane_coupling;
pub mod lane_kl;
pub mod lane_net;
pub mod lane_net32;
pub mod lane_spectral;
pub mod lane_stack;
pub mod mask;
pub mod net;
pub mod plaquette_marginal;
pub mod precision;
pub mod prior;
pub mod proposal;
mod reduce;
pub mod round_trip;
pub mod sincos;
pub mod spec;
pub mod spectral;
pub mod spline;
pub mod spline_coupling;
pub mod stack;
pub mod train;
pub mod transform;

pub use activation::Activation;
pub use adam::{Adam, clip_grad_norm};
pub use affine::{Affine, AffineCoupling};
pub use bijection::{Bijection, Cotangent, LayerCache, Workspace};
pub use circle::{CircleMap, CircleTransform};
pub use circle_ncp::NcpMixture;
pub use circle_smooth::SmoothMixture;
pub use circle_spline::CircularSpline;
pub use cnf_field::KernelField;
pub use continuous::ContinuousFlow;
pub use coupling::MaskedCoupling;
pub use diagnostics::FlowQuality;
pub use flow::{Flow, FlowSample};
pub use flow_matching::{NotContinuous, ProbabilityPath};
pub use gauge_coupling::GaugeCoupling;
pub use gauge_mask::MaskOrder;
pub use gauge_mask::{GaugeMask, GaugeMaskError};
pub use gauge_plaquette_basis::PlaquetteBasis;
pub use gauge_stack::{BASIS_FLOOR, basis_transform};
pub use integrator_error::IntegratorError;
pub use lane_bijection::{LaneBijection, LaneLayerCache};
pub use lane_conv::LaneConvScratch;
pub use lane_net::LaneNetCache;
pub use lane_stack::LaneStackScratch;
pub use precision::Precision;
pub use prior::{Prior, PriorSpec};
pub use proposal::Proposal;
pub use round_trip::RoundTrip;
pub use spec::{CircleSpec, ContinuousSpec, CouplingSpec, FlowSpec};
pub use spectral::SpectralScale;
pub use spline::RqSpline;
pub use spline_coupling::SplineCoupling;
pub use stack::{BijectionStack, ParamCountError, StackScratch};
pub use train::{
    GradientEstimator, GuardedStep, Objective, Schedule, StepRecord, TrainError, TrainHooks,
    TrainOptions, Trainable, batch_quality, train, train_with,
};
pub use transform::ElementwiseTransform;
