//! Normalizing flows for lattice fields, with hand-derived backward passes.
//!
//! - [`conv`]: periodic convolutions on lattices of dimension 1–4;
//! - [`activation`], [`net`]: activations and conditioner networks;
//! - [`affine`]: the RealNVP affine coupling with checkerboard masks (optionally Z₂-equivariant);
//! - [`spline`], [`spline_coupling`]: rational-quadratic spline couplings;
//! - [`prior`]: the standard normal prior and the exact free-field prior;
//! - [`flow`]: the model φ = f(z), log q(φ), sampling and the reverse-KL gradient;
//! - [`adam`]: the optimiser; [`train`]: reverse-KL training.
//!
//! Everything is `f64` and reproducible: batches are processed in parallel over fixed chunks.

pub mod activation;
pub mod adam;
pub mod affine;
pub mod conditioner;
pub mod conv;
pub mod flow;
pub mod gemm;
pub mod mask;
pub mod net;
pub mod prior;
pub mod spectral;
pub mod spline;
pub mod spline_coupling;
pub mod train;

pub use activation::Activation;
pub use adam::{Adam, clip_grad_norm};
pub use flow::{CouplingSpec, Flow, FlowSample, FlowSpec, ParamCountError};
pub use prior::{Prior, PriorSpec};
pub use spectral::SpectralScale;
pub use train::{
    Objective, Schedule, StepRecord, TrainError, TrainOptions, batch_quality, train, train_with,
};
