//! Geometry of periodic hypercubic lattices and of link fields on them ([`gauge`]), random-number
//! streams and momentum-space helpers.
//!
//! Conventions (docs/PHYSICS.md): shape `[L0, L1, ..., L_{d-1}]`, direction 0 is time, sites are
//! numbered lexicographically with the last axis fastest.

mod fft;
pub mod gauge;
mod geometry;
mod lanes;
mod rng;
mod stencil;

pub use fft::{FftScratch, LatticeFft, lattice_momentum, p_hat_squared};
pub use geometry::{Lattice, LatticeError, MAX_DIM, Parity};
pub use lanes::{LANES, Lanes, lane_axpy, lane_gather, lane_scatter, lane_sum_of_squares};
pub use num_complex::Complex64;
pub use rng::{COUNTER_TAG, Pcg64, RngState, draw_u64, gaussian_fill, stream_rng, uniform};
pub use stencil::Hop;
