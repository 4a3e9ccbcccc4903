//! Circular rational-quadratic splines (Rezende et al., arXiv:2002.02428): the core map of
//! [−π, π] is a rational-quadratic spline of K bins ([`crate::spline`]) whose knots include
//! both ends, with the derivative at −π equal to the one at π, so that the map of the circle is
//! C¹ (its second derivative jumps at the knots).
//!
//! Raw parameters per site: K widths, K heights (softmax with a minimum bin size), then K knot
//! derivatives d_j = min + softplus(r_j) for j = 0 … K − 1, with d_K = d_0 (then the rotation t
//! of [`crate::circle::CircleTransform`]). The inverse is the spline's closed form. Under
//! v → −v the bins are reversed and d_j ↦ d_{K−j}.

use crate::circle::CircleMap;
use crate::conditioner::ChannelMirror;
use crate::spline::{Knots, RqSpline, sigmoid, softplus};
use std::f64::consts::PI;

/// A circular spline of `bins` bins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircularSpline {
    pub bins: usize,
    pub min_width: f64,
    pub min_height: f64,
    pub min_derivative: f64,
}

impl CircularSpline {
    /// K bins with minimum bin size and knot derivative 10⁻³.
    pub fn new(bins: usize) -> Self {
        Self {
            bins,
            min_width: 1e-3,
            min_height: 1e-3,
            min_derivative: 1e-3,
        }
    }

    /// K bins with minimum bin size and knot derivative `floor` (the plaquette-basis layer's
    /// spline, [`crate::gauge_plaquette_basis`], takes 10⁻⁸: its bins in the tails of a peaked
    /// marginal are far narrower than 10⁻³ of the circle).
    pub fn with_floor(bins: usize, floor: f64) -> Self {
        Self {
            bins,
            min_width: floor,
            min_height: floor,
            min_derivative: floor,
        }
    }

    /// The raw parameters (with the rotation t = 0 last) of the spline that interpolates the
    /// map c = F⁻¹ taking the uniform angle to the density ∝ e^{β cos θ} on [−π, π]: knots
    /// θ_j = −π + 2πj/K equally spaced in the output, u_j = −π + 2πF(θ_j) in the input (F the
    /// CDF, by Simpson's rule on 256 points per bin), and knot derivatives
    /// c′(u_j) = 1/(2π p(θ_j)). A raw width below the floor is set to the floor.
    pub fn von_mises_params(&self, beta: f64) -> Vec<f64> {
        let k = self.bins;
        let unnormalised = |t: f64| (beta * (t.cos() - 1.0)).exp();
        let knot = |j: usize| -PI + 2.0 * PI * j as f64 / k as f64;
        let sub = 256;
        let mass: Vec<f64> = (0..k)
            .map(|j| {
                let (a, b) = (knot(j), knot(j + 1));
                let h = (b - a) / sub as f64;
                let inner: f64 = (1..sub)
                    .map(|i| unnormalised(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
                    .sum();
                h / 3.0 * (unnormalised(a) + inner + unnormalised(b))
            })
            .collect();
        let z: f64 = mass.iter().sum();
        let free = 1.0 - k as f64 * self.min_width;
        let mut raw: Vec<f64> = mass
            .iter()
            .map(|m| ((m / z - self.min_width) / free).max(1e-300).ln())
            .collect();
        raw.extend(std::iter::repeat_n(0.0, k));
        raw.extend((0..k).map(|j| {
            let d = z / (2.0 * PI * unnormalised(knot(j))) - self.min_derivative;
            // softplus⁻¹(d) = log(eᵈ − 1), which is d to double precision beyond 40.
            if d > 40.0 {
                d
            } else {
                d.max(1e-300).exp_m1().ln()
            }
        }));
        raw.push(0.0);
        raw
    }

    /// The spline on [−π, π] whose bin arithmetic this one shares.
    fn spline(&self) -> RqSpline {
        RqSpline {
            bins: self.bins,
            bound: PI,
            min_width: self.min_width,
            min_height: self.min_height,
            min_derivative: self.min_derivative,
        }
    }

    fn knots(&self, raw: &[f64]) -> Knots {
        let n = self.bins;
        let mut k = Knots::default();
        self.spline().place_knots(raw, &mut k);
        k.d.clear();
        k.d.extend(
            raw[2 * n..3 * n]
                .iter()
                .map(|&r| self.min_derivative + softplus(r)),
        );
        k.d.push(k.d[0]);
        k
    }
}

impl CircleMap for CircularSpline {
    fn core_params(&self) -> usize {
        3 * self.bins
    }

    fn core_mirror(&self) -> ChannelMirror {
        let k = self.bins;
        let perm = (0..3 * k)
            .map(|c| match c {
                c if c < k => k - 1 - c,
                c if c < 2 * k => 3 * k - 1 - c,
                c => 2 * k + (k - (c - 2 * k)) % k,
            })
            .collect();
        ChannelMirror {
            perm,
            sign: vec![1.0; 3 * k],
        }
    }

    fn eval(&self, v: f64, raw: &[f64]) -> (f64, f64) {
        let s = self.spline();
        let k = self.knots(raw);
        let bin = s.bin(&k.x, v);
        let (y, l, _) = s.eval(&k, bin, v);
        (y, l)
    }

    fn backward(&self, v: f64, raw: &[f64], g: f64, gamma: f64, graw: &mut [f64]) -> f64 {
        let n = self.bins;
        let s = self.spline();
        let k = self.knots(raw);
        let bin = s.bin(&k.x, v);
        let (gv, gd0, gd1) = s.backward_knots(&k, bin, v, g, gamma, graw);
        for (j, gd) in [(bin, gd0), ((bin + 1) % n, gd1)] {
            graw[2 * n + j] += gd * sigmoid(raw[2 * n + j]);
        }
        gv
    }

    fn invert(&self, w: f64, raw: &[f64]) -> f64 {
        let s = self.spline();
        let k = self.knots(raw);
        let w = w.clamp(-PI, PI);
        let bin = s.bin(&k.y, w);
        s.invert_in_bin(&k, bin, w)
    }

    /// The knots once for all of `vs`.
    fn eval_shared(&self, vs: &[f64], raw: &[f64], out: &mut [(f64, f64)]) {
        let s = self.spline();
        let k = self.knots(raw);
        for (o, &v) in out.iter_mut().zip(vs) {
            let (y, l, _) = s.eval(&k, s.bin(&k.x, v), v);
            *o = (y, l);
        }
    }

    /// The knots once for all of `ws`.
    fn invert_shared(&self, ws: &[f64], raw: &[f64], out: &mut [f64]) {
        let s = self.spline();
        let k = self.knots(raw);
        for (o, &w) in out.iter_mut().zip(ws) {
            let w = w.clamp(-PI, PI);
            *o = s.invert_in_bin(&k, s.bin(&k.y, w), w);
        }
    }
}
