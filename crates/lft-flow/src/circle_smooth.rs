//! Smooth mixtures of smooth-ramp sigmoids on the circle (after Köhler, Krämer, Noé, "Smooth
//! normalizing flows", arXiv:2110.00351): a C^∞ diffeomorphism of the circle with a minimum
//! density, whose force (in flow-HMC) is smooth everywhere.
//!
//! On x = (v + π)/2π ∈ [0, 1] the core is
//!   c(x) = ε x + (1 − ε) Σ_k w_k [S_k(x) − S_k(0)],   S_k(x) = Σ_{n=−1}^{1} σ(z_{kn}(x)),
//!   z_{kn}(x) = (x + n − μ_k)/(2h_k) + ½,
//! with σ the smooth ramp step σ(z) = ρ(z)/(ρ(z) + ρ(1 − z)), ρ(z) = e^{−1/z} for z > 0 and 0
//! otherwise: σ = 0 for z ≤ 0, 1 for z ≥ 1, and in between σ = sigmoid(q), q = 1/(1 − z) − 1/z,
//! flat to every order at both ends. S_k′ is the bump σ′ of half-width h_k centred at μ_k,
//! wrapped around the circle (the images n = −1, 0, 1 are all that reach [0, 1] for
//! μ_k ∈ [0, 1) and h_k ≤ ½), so c′ = ε + (1 − ε) Σ_k w_k S_k′ is C^∞ and periodic, c(0) = 0 and
//! c(1) = 1 (the sum over images telescopes to one step). The minimum density ε makes each map
//! a bijection with c′ ≥ ε.
//!
//! Raw parameters per site: K weight logits (w = softmax), K centre offsets r_k (μ_k =
//! (k + ½)/K + r_k/2π mod 1: a centre is an angle, and at r = 0 the bumps are evenly spread),
//! K widths ρ_k (h_k = h_min + (½ − h_min) sigmoid(ρ_k + 2), nearly the widest bumps at
//! ρ = 0); then the rotation t of [`crate::circle::CircleTransform`]. So raw parameters near 0
//! give a map near the identity, whatever K. The inverse has no closed form: it is found by
//! [`crate::circle::invert_core`]. Under v → −v component k becomes component K − 1 − k with
//! its centre offset negated.

use crate::circle::CircleMap;
use crate::conditioner::ChannelMirror;
use crate::spline::{sigmoid, softmax};
use std::f64::consts::PI;

/// A mixture of `components` smooth-ramp bumps with minimum density `min_density` and minimum
/// half-width `min_width` (as fractions of the circle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmoothMixture {
    pub components: usize,
    pub min_density: f64,
    pub min_width: f64,
}

impl SmoothMixture {
    /// `components` bumps, minimum density ε = 0.01 of the uniform one and half-widths of at
    /// least 0.05 of the circle.
    pub fn new(components: usize) -> Self {
        Self {
            components,
            min_density: 0.01,
            min_width: 0.05,
        }
    }
}

/// The shift of the width logits: ρ = 0 gives sigmoid(2) ≈ 0.88 of the widest bump.
const WIDTH_SHIFT: f64 = 2.0;

/// (σ, σ′, σ″) of the smooth ramp step at z.
fn ramp_step(z: f64) -> (f64, f64, f64) {
    if z <= 0.0 {
        return (0.0, 0.0, 0.0);
    }
    if z >= 1.0 {
        return (1.0, 0.0, 0.0);
    }
    let (a, b) = (1.0 / z, 1.0 / (1.0 - z));
    let q = b - a;
    let s = sigmoid(q);
    if q.abs() > 700.0 {
        // Flat to double precision: σ′ ~ e^{−|q|} q′ underflows.
        return (s, 0.0, 0.0);
    }
    let dq = b * b + a * a;
    let ddq = 2.0 * (b * b * b - a * a * a);
    let ds = s * (1.0 - s);
    (s, ds * dq, ds * (1.0 - 2.0 * s) * dq * dq + ds * ddq)
}

/// One component's parameters: weight, centre μ ∈ [0, 1), half-width h, and ∂h/∂ρ.
struct Bump {
    mu: f64,
    h: f64,
    dh: f64,
}

/// One component's terms at x: S(x) − S(0), S′(x), S″(x), and the partial derivatives of
/// S(x) − S(0) and of S′(x) with respect to μ and h.
#[derive(Default)]
struct BumpTerms {
    cdf: f64,
    density: f64,
    slope: f64,
    cdf_mu: f64,
    cdf_h: f64,
    density_mu: f64,
    density_h: f64,
}

impl Bump {
    fn terms(&self, x: f64) -> BumpTerms {
        let mut t = BumpTerms::default();
        let inv = 1.0 / (2.0 * self.h);
        for n in [-1.0, 0.0, 1.0] {
            let z = (x + n - self.mu) * inv + 0.5;
            let z0 = (n - self.mu) * inv + 0.5;
            let (s, s1, s2) = ramp_step(z);
            let (s0, s01, _) = ramp_step(z0);
            // ∂z/∂x = 1/(2h), ∂z/∂μ = −1/(2h), ∂z/∂h = −(z − ½)/h.
            t.cdf += s - s0;
            t.density += s1 * inv;
            t.slope += s2 * inv * inv;
            t.cdf_mu += -(s1 - s01) * inv;
            t.cdf_h += -(s1 * (z - 0.5) - s01 * (z0 - 0.5)) / self.h;
            t.density_mu += -s2 * inv * inv;
            t.density_h += -s2 * (z - 0.5) / self.h * inv - s1 * inv / self.h;
        }
        t
    }
}

impl SmoothMixture {
    fn bumps(&self, raw: &[f64]) -> (Vec<f64>, Vec<Bump>) {
        let k = self.components;
        let mut w = Vec::with_capacity(k);
        softmax(&raw[..k], &mut w);
        let span = 0.5 - self.min_width;
        let bumps = (0..k)
            .map(|j| {
                let turn = (j as f64 + 0.5) / k as f64 + raw[k + j] / (2.0 * PI);
                let sg = sigmoid(raw[2 * k + j] + WIDTH_SHIFT);
                Bump {
                    mu: turn - turn.floor(),
                    h: self.min_width + span * sg,
                    dh: span * sg * (1.0 - sg),
                }
            })
            .collect();
        (w, bumps)
    }
}

impl CircleMap for SmoothMixture {
    fn core_params(&self) -> usize {
        3 * self.components
    }

    fn core_mirror(&self) -> ChannelMirror {
        let k = self.components;
        ChannelMirror {
            perm: (0..3 * k).map(|c| (c / k) * k + k - 1 - c % k).collect(),
            sign: (0..3 * k)
                .map(|c| if (k..2 * k).contains(&c) { -1.0 } else { 1.0 })
                .collect(),
        }
    }

    fn eval(&self, v: f64, raw: &[f64]) -> (f64, f64) {
        let x = ((v + PI) / (2.0 * PI)).clamp(0.0, 1.0);
        let eps = self.min_density;
        let (w, bumps) = self.bumps(raw);
        let (mut cdf, mut density) = (0.0, 0.0);
        for (wk, b) in w.iter().zip(&bumps) {
            let t = b.terms(x);
            cdf += wk * t.cdf;
            density += wk * t.density;
        }
        let c = eps * x + (1.0 - eps) * cdf;
        let slope = eps + (1.0 - eps) * density;
        (-PI + 2.0 * PI * c, slope.ln())
    }

    /// In v, c_v(v) = −π + 2π c(x) and c_v′ = c′(x): ∂L/∂v = g c′ + γ c″/(2π c′), and per
    /// component ∂c/∂(w, μ, h) = (1 − ε)(S − S(0), w ∂_μ, w ∂_h), likewise for c′; then the
    /// softmax, μ = r/2π and h = h_min + (½ − h_min) sigmoid(ρ).
    fn backward(&self, v: f64, raw: &[f64], g: f64, gamma: f64, graw: &mut [f64]) -> f64 {
        let k = self.components;
        let x = ((v + PI) / (2.0 * PI)).clamp(0.0, 1.0);
        let eps = self.min_density;
        let (w, bumps) = self.bumps(raw);
        let terms: Vec<BumpTerms> = bumps.iter().map(|b| b.terms(x)).collect();
        let density: f64 = w.iter().zip(&terms).map(|(w, t)| w * t.density).sum();
        let curvature: f64 = w.iter().zip(&terms).map(|(w, t)| w * t.slope).sum();
        let slope = eps + (1.0 - eps) * density;
        let second = (1.0 - eps) * curvature;
        // ∂L/∂c (value in v units: 2π ∂c) and ∂L/∂c′.
        let (g_c, g_slope) = (g * 2.0 * PI, gamma / slope);
        let scale = 1.0 - eps;
        let dw: Vec<f64> = terms
            .iter()
            .map(|t| scale * (g_c * t.cdf + g_slope * t.density))
            .collect();
        let mean: f64 = w.iter().zip(&dw).map(|(w, d)| w * d).sum();
        for j in 0..k {
            let t = &terms[j];
            graw[j] += w[j] * (dw[j] - mean);
            let d_mu = scale * w[j] * (g_c * t.cdf_mu + g_slope * t.density_mu);
            graw[k + j] += d_mu / (2.0 * PI);
            let d_h = scale * w[j] * (g_c * t.cdf_h + g_slope * t.density_h);
            graw[2 * k + j] += d_h * bumps[j].dh;
        }
        g * slope + gamma * second / (2.0 * PI * slope)
    }
}
