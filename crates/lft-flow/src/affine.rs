//! The affine (RealNVP) transform of one site, θ = (s, t):
//!   y = x e^s + t,   log h′ = s,   x = (y − t) e^{−s}.
//! Backward with g = ∂L/∂y, γ = ∂L/∂ log h′:
//!   ∂L/∂s = g x e^s + γ,  ∂L/∂t = g,  ∂L/∂x = g e^s.
//! Through the inverse, with g = ∂L/∂x: ∂L/∂y = g e^{−s}, ∂L/∂s = −g x + γ, ∂L/∂t = −g e^{−s}.
//! Under φ → −φ, s is even and t odd: an equivariant conditioner mirrors (s, t) → (s, −t).

use crate::conditioner::ChannelMirror;
use crate::coupling::MaskedCoupling;
use crate::transform::ElementwiseTransform;

/// y = x e^s + t.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Affine;

/// The RealNVP affine coupling with a checkerboard mask.
pub type AffineCoupling = MaskedCoupling<Affine>;

impl ElementwiseTransform for Affine {
    fn params_per_site(&self) -> usize {
        2
    }

    fn mirror(&self) -> ChannelMirror {
        ChannelMirror {
            perm: vec![0, 1],
            sign: vec![1.0, -1.0],
        }
    }

    fn forward(&self, x: f64, theta: &[f64]) -> (f64, f64) {
        let (s, t) = (theta[0], theta[1]);
        (x * s.exp() + t, s)
    }

    fn inverse(&self, y: f64, theta: &[f64]) -> (f64, f64) {
        let (s, t) = (theta[0], theta[1]);
        ((y - t) * (-s).exp(), s)
    }

    fn backward(&self, x: f64, theta: &[f64], g: f64, gamma: f64, dtheta: &mut [f64]) -> f64 {
        let e = theta[0].exp();
        dtheta[0] += g * x * e + gamma;
        dtheta[1] += g;
        g * e
    }

    fn inverse_backward(
        &self,
        x: f64,
        theta: &[f64],
        g: f64,
        gamma: f64,
        dtheta: &mut [f64],
    ) -> f64 {
        let e = (-theta[0]).exp();
        dtheta[0] += -g * x + gamma;
        dtheta[1] += -g * e;
        g * e
    }
}
