//! The rational-quadratic spline as the elementwise transform of a coupling: every active site
//! is mapped by its own spline, whose 3K − 1 raw parameters θ the conditioner computes.
//!
//!   y = (1 − A) ⊙ x + A ⊙ spline(x; θ),   log|det| = Σ_{x active} log spline′.
//!
//! Through the inverse x = s⁻¹(y), with ℓ = log s′(x), g = ∂L/∂x and γ = ∂L/∂ℓ: by the
//! implicit function theorem ∂x/∂y = 1/s′ and ∂x/∂θ = −s_θ/s′, so
//! ∂L/∂y = (g + γℓ_x)/s′ and ∂L/∂θ = γℓ_θ − (g + γℓ_x) s_θ/s′: the forward backward with
//! ∂L/∂y = −(g + γℓ_x)/s′ and ∂L/∂ℓ = γ. The mirror (the spline x ↦ −s(−x)) reverses the bins
//! and the interior knots, with σ = +1.

use crate::conditioner::ChannelMirror;
use crate::coupling::MaskedCoupling;
use crate::spline::RqSpline;
use crate::transform::ElementwiseTransform;

/// A rational-quadratic spline coupling with a checkerboard mask.
pub type SplineCoupling = MaskedCoupling<RqSpline>;

impl ElementwiseTransform for RqSpline {
    fn params_per_site(&self) -> usize {
        RqSpline::params_per_site(self)
    }

    fn mirror(&self) -> ChannelMirror {
        let p = RqSpline::params_per_site(self);
        ChannelMirror {
            perm: (0..p).map(|c| self.mirror_param(c)).collect(),
            sign: vec![1.0; p],
        }
    }

    fn forward(&self, x: f64, theta: &[f64]) -> (f64, f64) {
        RqSpline::forward(self, x, theta)
    }

    fn inverse(&self, y: f64, theta: &[f64]) -> (f64, f64) {
        RqSpline::inverse(self, y, theta)
    }

    fn backward(&self, x: f64, theta: &[f64], g: f64, gamma: f64, dtheta: &mut [f64]) -> f64 {
        RqSpline::backward(self, x, theta, g, gamma, dtheta)
    }

    fn inverse_backward(
        &self,
        x: f64,
        theta: &[f64],
        g: f64,
        gamma: f64,
        dtheta: &mut [f64],
    ) -> f64 {
        let (_, l) = RqSpline::forward(self, x, theta);
        let slope = l.exp();
        // ℓ_x, with `dtheta` as scratch for the ∂ℓ/∂θ this call does not need.
        let l_x = RqSpline::backward(self, x, theta, 0.0, 1.0, dtheta);
        dtheta.fill(0.0);
        let total = g + gamma * l_x;
        RqSpline::backward(self, x, theta, -total / slope, gamma, dtheta);
        total / slope
    }
}
