//! Transforms of the circle S¹ for gauge-equivariant flows (Kanwar et al., arXiv:2003.06413):
//! an orientation-preserving diffeomorphism of the circle, written on angles as a lift
//! H: ℝ → ℝ with H(θ + 2π) = H(θ) + 2π.
//!
//! Every transform here is a *core* map c of [−π, π] onto itself with c(±π) = ±π and c′ > 0,
//! c′ periodic (a [`CircleMap`]), followed by a rotation by the last parameter t:
//!   θ = v + 2πn with v ∈ [−π, π), n ∈ ℤ,   H(θ) = c(v) + 2πn + t,   log H′(θ) = log c′(v).
//! The inverse is θ = c⁻¹(w) + 2πn for y − t = w + 2πn; cores without a closed-form inverse are
//! inverted by a safeguarded Newton iteration inside a bisection bracket ([`invert_core`]), to
//! |c(v) − w| ≤ 10⁻¹³, and the gradients of that inverse come from the inverse function
//! theorem, not from the iterations: with x = c⁻¹(w; p), ℓ = log c′(x),
//!   ∂x/∂w = 1/c′(x),   ∂x/∂p = −(∂c/∂p)/c′(x),
//! so for an upstream g = ∂L/∂x and γ = ∂L/∂ℓ, with G = g + γ ∂ℓ/∂x,
//!   ∂L/∂w = G/c′,   ∂L/∂p = γ ∂ℓ/∂p − G (∂c/∂p)/c′,   ∂L/∂t = −G/c′.
//! Both partial derivatives of c and of ℓ come from the core's own backward pass, run twice.
//!
//! Under θ → −θ (charge conjugation of U(1)), −H(−θ; p) is the transform of the mirrored
//! parameters given by [`CircleMap::core_mirror`], with t odd.

use crate::conditioner::ChannelMirror;
use crate::transform::ElementwiseTransform;
use std::f64::consts::PI;
use std::fmt;

/// A core map c of [−π, π] onto itself (c(±π) = ±π, c′ > 0 and periodic).
pub trait CircleMap: Send + Sync + Clone + fmt::Debug {
    /// Raw parameters of the core (the rotation t comes after them).
    fn core_params(&self) -> usize;

    /// How the core's parameters transform for the map v ↦ −c(−v): (π(c), σ_c) per parameter.
    fn core_mirror(&self) -> ChannelMirror;

    /// (c(v), log c′(v)) for v ∈ [−π, π].
    fn eval(&self, v: f64, raw: &[f64]) -> (f64, f64);

    /// Backward through (c(v), log c′(v)) with g = ∂L/∂c and γ = ∂L/∂ log c′: adds ∂L/∂raw to
    /// `graw` and returns ∂L/∂v.
    fn backward(&self, v: f64, raw: &[f64], g: f64, gamma: f64, graw: &mut [f64]) -> f64;

    /// v ∈ [−π, π] with c(v) = w: by [`invert_core`] unless the core knows better.
    fn invert(&self, w: f64, raw: &[f64]) -> f64 {
        invert_core(|v| self.eval(v, raw), w)
    }

    /// [`CircleMap::eval`] at every v of `vs` with the same parameters, into `out`.
    fn eval_shared(&self, vs: &[f64], raw: &[f64], out: &mut [(f64, f64)]) {
        for (o, &v) in out.iter_mut().zip(vs) {
            *o = self.eval(v, raw);
        }
    }

    /// [`CircleMap::invert`] at every w of `ws` with the same parameters, into `out`.
    fn invert_shared(&self, ws: &[f64], raw: &[f64], out: &mut [f64]) {
        for (o, &w) in out.iter_mut().zip(ws) {
            *o = self.invert(w, raw);
        }
    }
}

/// Largest number of iterations of [`invert_core`]; a core it cannot invert in that many gives
/// NaN, which the round-trip check of the samplers reports.
pub const MAX_INVERSE_ITERATIONS: usize = 200;

/// The root v ∈ [−π, π] of c(v) = w for a monotone core given as v ↦ (c(v), log c′(v)): Newton
/// steps, each replaced by bisection when it leaves the bracket that the signs of c(v) − w
/// maintain; stops when |c(v) − w| ≤ 10⁻¹³ or the bracket is below 4 ulp. NaN if the core gives
/// a non-finite value or the bracket does not close in [`MAX_INVERSE_ITERATIONS`].
pub fn invert_core(core: impl Fn(f64) -> (f64, f64), w: f64) -> f64 {
    let w = w.clamp(-PI, PI);
    let (mut lo, mut hi) = (-PI, PI);
    let mut v = w;
    for _ in 0..MAX_INVERSE_ITERATIONS {
        let (c, l) = core(v);
        if !(c.is_finite() && l.is_finite()) {
            return f64::NAN;
        }
        let r = c - w;
        if r.abs() <= 1e-13 {
            return v;
        }
        if r < 0.0 {
            lo = v;
        } else {
            hi = v;
        }
        if hi - lo <= 4.0 * f64::EPSILON * PI {
            return 0.5 * (lo + hi);
        }
        let newton = v - r * (-l).exp();
        v = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
    }
    f64::NAN
}

/// A core map with the rotation t: the [`ElementwiseTransform`] of one active plaquette.
#[derive(Debug, Clone, PartialEq)]
pub struct CircleTransform<M> {
    pub core: M,
}

/// θ = v + 2πn with v ∈ [−π, π).
fn reduce(theta: f64) -> (f64, f64) {
    let turns = ((theta + PI) / (2.0 * PI)).floor();
    let v = (theta - 2.0 * PI * turns).clamp(-PI, PI);
    (v, turns)
}

impl<M: CircleMap> CircleTransform<M> {
    pub fn new(core: M) -> Self {
        Self { core }
    }

    /// ∂L/∂w and ∂L/∂(raw, t) of x = c⁻¹(w; raw) by the inverse function theorem (see the
    /// module documentation), adding into `dtheta` `[raw…, t]`.
    fn inverse_gradients(
        &self,
        v: f64,
        theta: &[f64],
        g: f64,
        gamma: f64,
        dtheta: &mut [f64],
    ) -> f64 {
        let n = self.core.core_params();
        let raw = &theta[..n];
        let mut c_p = vec![0.0; n];
        let mut l_p = vec![0.0; n];
        let c_v = self.core.backward(v, raw, 1.0, 0.0, &mut c_p);
        let l_v = self.core.backward(v, raw, 0.0, 1.0, &mut l_p);
        let big_g = (g + gamma * l_v) / c_v;
        for ((d, cp), lp) in dtheta[..n].iter_mut().zip(&c_p).zip(&l_p) {
            *d += gamma * lp - big_g * cp;
        }
        dtheta[n] -= big_g;
        big_g
    }
}

impl<M: CircleMap> ElementwiseTransform for CircleTransform<M> {
    fn params_per_site(&self) -> usize {
        self.core.core_params() + 1
    }

    fn mirror(&self) -> ChannelMirror {
        let mut m = self.core.core_mirror();
        m.perm.push(self.core.core_params());
        m.sign.push(-1.0);
        m
    }

    fn forward(&self, x: f64, theta: &[f64]) -> (f64, f64) {
        let n = self.core.core_params();
        let (v, turns) = reduce(x);
        let (c, l) = self.core.eval(v, &theta[..n]);
        (c + 2.0 * PI * turns + theta[n], l)
    }

    fn inverse(&self, y: f64, theta: &[f64]) -> (f64, f64) {
        let n = self.core.core_params();
        let (w, turns) = reduce(y - theta[n]);
        let v = self.core.invert(w, &theta[..n]);
        let (_, l) = self.core.eval(v, &theta[..n]);
        (v + 2.0 * PI * turns, l)
    }

    fn forward_shared(&self, xs: &[f64], theta: &[f64], out: &mut [(f64, f64)]) {
        let n = self.core.core_params();
        let (vs, turns): (Vec<f64>, Vec<f64>) = xs.iter().map(|&x| reduce(x)).unzip();
        self.core.eval_shared(&vs, &theta[..n], out);
        for (o, t) in out.iter_mut().zip(&turns) {
            o.0 = o.0 + 2.0 * PI * t + theta[n];
        }
    }

    fn inverse_shared(&self, ys: &[f64], theta: &[f64], out: &mut [(f64, f64)]) {
        let n = self.core.core_params();
        let (ws, turns): (Vec<f64>, Vec<f64>) = ys.iter().map(|&y| reduce(y - theta[n])).unzip();
        let mut vs = vec![0.0; ws.len()];
        self.core.invert_shared(&ws, &theta[..n], &mut vs);
        self.core.eval_shared(&vs, &theta[..n], out);
        for ((o, v), t) in out.iter_mut().zip(&vs).zip(&turns) {
            o.0 = v + 2.0 * PI * t;
        }
    }

    fn backward(&self, x: f64, theta: &[f64], g: f64, gamma: f64, dtheta: &mut [f64]) -> f64 {
        let n = self.core.core_params();
        let (v, _) = reduce(x);
        dtheta[n] += g;
        self.core
            .backward(v, &theta[..n], g, gamma, &mut dtheta[..n])
    }

    fn inverse_backward(
        &self,
        x: f64,
        theta: &[f64],
        g: f64,
        gamma: f64,
        dtheta: &mut [f64],
    ) -> f64 {
        let (v, _) = reduce(x);
        self.inverse_gradients(v, theta, g, gamma, dtheta)
    }
}
