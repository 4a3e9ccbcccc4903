//! The floating-point type a flow's conditioner networks compute in.
//!
//! With [`Precision::F32`] only the convolutions and activations of the conditioners run in
//! float32 ([`crate::lane_conv32`]): the coupling maps, log-determinants, priors, actions,
//! losses, gradients summed over a batch, the optimiser and every Metropolis weight stay in
//! float64. The conditioner is then another deterministic function of the frozen sites, the
//! same in the forward and the inverse direction, so a float32 flow is still an exact
//! bijection with an exact log q (f⁻¹(f(z)) = z to float64 rounding), and samplers built on
//! it stay exact.
//!
//! **How far a float32 flow is from the float64 one with the same weights** (the tolerance
//! `tests/precision.rs` checks, for affine couplings): each conditioner output is off by at
//! most ε = 1e-7·n, n = c_in·K the terms of the widest convolution sum (7.2e-6 for 8 channels
//! and a 3×3 kernel); log|det J| and log q, one output per active site and layer with
//! independent errors, by at most ε·√(layers·V/2); each φ_x = f(z)_x by layers·ε·(1 + |φ_x|).
//! Measured on random 4-layer flows: 4e-6 to 5e-5 in log q. Parameter gradients agree with
//! finite differences of the float64 loss to 1e-4 of their largest component (in practice
//! 2e-7). Spline couplings are exact bijections in float32 too, but an error δ in a bin's
//! width moves a point within the bin by δ/width, so narrow bins amplify it (1e-3 in log det
//! on random flows): the config accepts `precision = "f32"` for affine couplings only.
//!
//! Speed: the float32 kernels need AVX-512 (elsewhere they run as portable loops).

use std::fmt;
use std::str::FromStr;

/// The conditioners' floating-point type (`flow.precision` in a config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Everything in float64 (the default).
    #[default]
    F64,
    /// Conditioner networks in float32, everything else in float64.
    F32,
}

impl Precision {
    /// "f64" or "f32", as in the config.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f64" => Ok(Precision::F64),
            "f32" => Ok(Precision::F32),
            other => Err(format!(
                "unknown precision {other:?} (expected \"f64\" or \"f32\")"
            )),
        }
    }
}
