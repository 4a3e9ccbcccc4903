//! Elementwise transforms: the map a coupling layer applies to each active site, y = h(x; θ),
//! with θ the `params_per_site` values its conditioner computes for that site.

use crate::conditioner::ChannelMirror;
use std::fmt;

/// A monotone map of one real variable with its parameters θ (see [`crate::coupling`]).
pub trait ElementwiseTransform: Send + Sync + Clone + fmt::Debug {
    /// Length of θ: the conditioner's output channels.
    fn params_per_site(&self) -> usize;

    /// How θ transforms under φ → −φ for the map x ↦ −h(−x; θ) to equal h(x; θ′): the channel
    /// mirror of a Z₂-equivariant conditioner.
    fn mirror(&self) -> ChannelMirror;

    /// (y, log h′(x)) with y = h(x; θ).
    fn forward(&self, x: f64, theta: &[f64]) -> (f64, f64);

    /// (x, log h′(x)) with x = h⁻¹(y; θ).
    fn inverse(&self, y: f64, theta: &[f64]) -> (f64, f64);

    /// Backward through y = h(x; θ) with g = ∂L/∂y and γ = ∂L/∂ log h′(x): adds ∂L/∂θ to
    /// `dtheta` and returns ∂L/∂x.
    fn backward(&self, x: f64, theta: &[f64], g: f64, gamma: f64, dtheta: &mut [f64]) -> f64;

    /// Backward through x = h⁻¹(y; θ), given that x, with g = ∂L/∂x and γ = ∂L/∂ log h′(x):
    /// adds ∂L/∂θ to `dtheta` (zero on entry) and returns ∂L/∂y.
    fn inverse_backward(
        &self,
        x: f64,
        theta: &[f64],
        g: f64,
        gamma: f64,
        dtheta: &mut [f64],
    ) -> f64;

    /// (h(x_i; θ), log h′(x_i)) for every x_i of `xs` with one θ, into `out`: for layers whose
    /// sites share their parameters, so that a transform can prepare θ once.
    fn forward_shared(&self, xs: &[f64], theta: &[f64], out: &mut [(f64, f64)]) {
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = self.forward(x, theta);
        }
    }

    /// (h⁻¹(y_i; θ), log h′ there) for every y_i of `ys` with one θ, into `out`.
    fn inverse_shared(&self, ys: &[f64], theta: &[f64], out: &mut [(f64, f64)]) {
        for (o, &y) in out.iter_mut().zip(ys) {
            *o = self.inverse(y, theta);
        }
    }
}
