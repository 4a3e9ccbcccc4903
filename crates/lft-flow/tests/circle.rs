//! Circle transforms: each is a periodic, monotone bijection of the circle with exact
//! log-derivative, inverse (also near θ = ±π) and gradients of both directions; the C¹ spline
//! and the C^∞ smooth mixture are as smooth across ±π as they claim, and the mirror of the
//! parameters gives the mirrored map.

use lft_flow::circle::invert_core;
use lft_flow::{
    CircleMap, CircleTransform, CircularSpline, ElementwiseTransform, NcpMixture, SmoothMixture,
};
use lft_lattice::{gaussian_fill, stream_rng};
use std::f64::consts::PI;

fn raw(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut r = vec![0.0; n];
    gaussian_fill(&mut stream_rng(seed, 3), &mut r);
    r.iter_mut().for_each(|x| *x *= scale);
    r
}

/// Inputs across the circle, on both sides of ±π and a few turns away.
fn inputs() -> Vec<f64> {
    let mut xs: Vec<f64> = (0..=400)
        .map(|i| -PI + 2.0 * PI * i as f64 / 400.0)
        .collect();
    xs.extend([
        -PI + 1e-12,
        PI - 1e-12,
        -PI - 1e-12,
        PI + 1e-12,
        0.0,
        1e-13,
        5.0,
        -7.0,
        13.0,
    ]);
    xs
}

/// Runs `check` on each of the three transforms with `k` components or bins.
fn each_transform(k: usize, check: &mut dyn FnMut(&str, &dyn Dyn)) {
    check("ncp", &CircleTransform::new(NcpMixture { components: k }));
    check(
        "circular spline",
        &CircleTransform::new(CircularSpline::new(k)),
    );
    check(
        "smooth mixture",
        &CircleTransform::new(SmoothMixture::new(k)),
    );
}

/// The object-safe part of [`ElementwiseTransform`] the checks use.
trait Dyn {
    fn n(&self) -> usize;
    fn fwd(&self, x: f64, t: &[f64]) -> (f64, f64);
    fn inv(&self, y: f64, t: &[f64]) -> (f64, f64);
    fn bwd(&self, x: f64, t: &[f64], g: f64, gamma: f64, dt: &mut [f64]) -> f64;
    fn inv_bwd(&self, x: f64, t: &[f64], g: f64, gamma: f64, dt: &mut [f64]) -> f64;
    fn mirrored(&self, t: &[f64]) -> Vec<f64>;
    fn fwd_shared(&self, xs: &[f64], t: &[f64]) -> Vec<(f64, f64)>;
    fn inv_shared(&self, ys: &[f64], t: &[f64]) -> Vec<(f64, f64)>;
}

impl<T: ElementwiseTransform> Dyn for T {
    fn n(&self) -> usize {
        self.params_per_site()
    }
    fn fwd(&self, x: f64, t: &[f64]) -> (f64, f64) {
        self.forward(x, t)
    }
    fn inv(&self, y: f64, t: &[f64]) -> (f64, f64) {
        self.inverse(y, t)
    }
    fn bwd(&self, x: f64, t: &[f64], g: f64, gamma: f64, dt: &mut [f64]) -> f64 {
        self.backward(x, t, g, gamma, dt)
    }
    fn inv_bwd(&self, x: f64, t: &[f64], g: f64, gamma: f64, dt: &mut [f64]) -> f64 {
        self.inverse_backward(x, t, g, gamma, dt)
    }
    fn mirrored(&self, t: &[f64]) -> Vec<f64> {
        let m = self.mirror();
        (0..t.len()).map(|c| m.sign[c] * t[m.perm[c]]).collect()
    }
    fn fwd_shared(&self, xs: &[f64], t: &[f64]) -> Vec<(f64, f64)> {
        let mut out = vec![(0.0, 0.0); xs.len()];
        self.forward_shared(xs, t, &mut out);
        out
    }
    fn inv_shared(&self, ys: &[f64], t: &[f64]) -> Vec<(f64, f64)> {
        let mut out = vec![(0.0, 0.0); ys.len()];
        self.inverse_shared(ys, t, &mut out);
        out
    }
}

/// The batch passes with shared parameters (which the spline runs on knots placed once) give
/// exactly what the per-site passes give.
#[test]
fn shared_parameter_passes_equal_the_per_site_ones() {
    let xs = inputs();
    each_transform(5, &mut |name, t| {
        let theta = raw(t.n(), 17, 0.8);
        let fwd = t.fwd_shared(&xs, &theta);
        let inv = t.inv_shared(&xs, &theta);
        for (i, &x) in xs.iter().enumerate() {
            assert_eq!(fwd[i], t.fwd(x, &theta), "{name}: forward at {x}");
            assert_eq!(inv[i], t.inv(x, &theta), "{name}: inverse at {x}");
        }
    });
}

#[test]
fn each_transform_is_a_periodic_monotone_bijection_of_the_circle() {
    each_transform(4, &mut |name, h| {
        for seed in 0..4 {
            for scale in [0.5, 2.0] {
                let t = raw(h.n(), seed, scale);
                let mut prev = f64::NEG_INFINITY;
                for &x in inputs().iter().take(401) {
                    let (y, l) = h.fwd(x, &t);
                    assert!(y.is_finite() && l.is_finite(), "{name}: x = {x}");
                    assert!(y > prev, "{name}: not monotone at {x}");
                    prev = y;
                }
                let (first, _) = h.fwd(-PI, &t);
                assert!((prev - first - 2.0 * PI).abs() < 1e-12, "{name}: one turn");
                for x in inputs() {
                    let (y, l) = h.fwd(x, &t);
                    for turns in [-2.0, 1.0] {
                        let (yt, lt) = h.fwd(x + 2.0 * PI * turns, &t);
                        assert!(
                            (yt - y - 2.0 * PI * turns).abs() < 1e-11,
                            "{name}: periodicity at {x}"
                        );
                        assert!((lt - l).abs() < 1e-8, "{name}: periodic log-derivative");
                    }
                    let (back, l_inv) = h.inv(y, &t);
                    assert!(
                        (back - x).abs() < 1e-10,
                        "{name} seed {seed} scale {scale}: {x} -> {y} -> {back}"
                    );
                    assert!(
                        (l - l_inv).abs() < 1e-8,
                        "{name}: log-derivative of the inverse"
                    );
                }
            }
        }
    });
}

#[test]
fn log_derivatives_and_gradients_match_finite_differences() {
    let eps = 1e-6;
    each_transform(3, &mut |name, h| {
        for seed in 10..13 {
            let t = raw(h.n(), seed, 1.0);
            for x in [-3.0, -1.3, -0.2, 0.4, 1.9, 3.1, PI - 1e-3, -PI + 1e-3] {
                let (_, l) = h.fwd(x, &t);
                let slope = (h.fwd(x + eps, &t).0 - h.fwd(x - eps, &t).0) / (2.0 * eps);
                assert!(
                    (l.exp() - slope).abs() < 1e-6 * slope.max(1.0),
                    "{name}: slope at {x}"
                );
                // Forward: L = a y + b log h′.
                let (a, b) = (0.8, -1.7);
                let loss = |x: f64, t: &[f64]| {
                    let (y, l) = h.fwd(x, t);
                    a * y + b * l
                };
                let mut dt = vec![0.0; h.n()];
                let dx = h.bwd(x, &t, a, b, &mut dt);
                let num = (loss(x + eps, &t) - loss(x - eps, &t)) / (2.0 * eps);
                assert!(
                    (dx - num).abs() < 1e-5 * num.abs().max(1.0),
                    "{name}: dx at {x}"
                );
                for c in 0..h.n() {
                    let (mut up, mut down) = (t.clone(), t.clone());
                    up[c] += eps;
                    down[c] -= eps;
                    let num = (loss(x, &up) - loss(x, &down)) / (2.0 * eps);
                    assert!(
                        (dt[c] - num).abs() < 1e-5 * num.abs().max(1.0),
                        "{name}: dθ[{c}] at {x}: {} vs {num}",
                        dt[c]
                    );
                }
                // Inverse: L = a x(y) + b log h′(x(y)), gradients against differences of the
                // numerical inverse.
                let y = h.fwd(x, &t).0;
                let inv_loss = |y: f64, t: &[f64]| {
                    let (x, l) = h.inv(y, t);
                    a * x + b * l
                };
                let mut dt = vec![0.0; h.n()];
                let dy = h.inv_bwd(x, &t, a, b, &mut dt);
                let num = (inv_loss(y + eps, &t) - inv_loss(y - eps, &t)) / (2.0 * eps);
                assert!(
                    (dy - num).abs() < 1e-5 * num.abs().max(1.0),
                    "{name}: dy at {x}"
                );
                for c in 0..h.n() {
                    let (mut up, mut down) = (t.clone(), t.clone());
                    up[c] += eps;
                    down[c] -= eps;
                    let num = (inv_loss(y, &up) - inv_loss(y, &down)) / (2.0 * eps);
                    assert!(
                        (dt[c] - num).abs() < 1e-5 * num.abs().max(1.0),
                        "{name}: inverse dθ[{c}] at {x}: {} vs {num}",
                        dt[c]
                    );
                }
            }
        }
    });
}

#[test]
fn mirrored_parameters_give_the_mirrored_map() {
    each_transform(3, &mut |name, h| {
        let t = raw(h.n(), 21, 1.5);
        let m = h.mirrored(&t);
        for x in inputs() {
            let (y, l) = h.fwd(x, &t);
            let (ym, lm) = h.fwd(-x, &m);
            assert!(
                (y + ym).abs() < 1e-10 * y.abs().max(1.0),
                "{name}: mirror at {x}"
            );
            assert!(
                (l - lm).abs() < 1e-8,
                "{name}: mirrored log-derivative at {x}"
            );
        }
    });
}

/// The log-derivative is continuous across ±π for all three (C¹ maps), and for the smooth
/// mixture so is its derivative (C²; it is C^∞), which the spline's is not in general.
#[test]
fn smoothness_across_the_seam() {
    let t_spline = raw(CircularSpline::new(4).core_params(), 5, 1.0);
    let t_smooth = raw(SmoothMixture::new(4).core_params(), 5, 1.0);
    let t_ncp = raw(NcpMixture { components: 4 }.core_params(), 5, 1.0);
    let l_at = |f: &dyn Fn(f64) -> f64, v: f64| f(v);
    let spline = |v: f64| CircularSpline::new(4).eval(v, &t_spline).1;
    let smooth = |v: f64| SmoothMixture::new(4).eval(v, &t_smooth).1;
    let ncp = |v: f64| NcpMixture { components: 4 }.eval(v, &t_ncp).1;
    for (name, f) in [
        ("spline", &spline as &dyn Fn(f64) -> f64),
        ("smooth", &smooth),
        ("ncp", &ncp),
    ] {
        let (a, b) = (l_at(f, -PI), l_at(f, PI));
        assert!((a - b).abs() < 1e-12, "{name}: log c′ at −π {a}, at π {b}");
    }
    let h = 1e-4;
    let d_left = (smooth(PI) - smooth(PI - h)) / h;
    let d_right = (smooth(-PI + h) - smooth(-PI)) / h;
    assert!(
        (d_left - d_right).abs() < 1e-3 * d_left.abs().max(1.0),
        "smooth mixture: (log c′)′ jumps at the seam: {d_left} vs {d_right}"
    );
}

/// The safeguarded Newton iteration inverts a steep core to 1e-13 and reports a core that is
/// not finite (a transform pushed out of its safe range) as NaN.
#[test]
fn the_root_finder_converges_or_says_nan() {
    let smooth = SmoothMixture::new(2);
    let t = vec![3.0, -3.0, 0.5, 2.0, -4.0, -4.0];
    for w in [-3.0, -0.1, 0.0, 0.7, 3.1] {
        let v = invert_core(|v| smooth.eval(v, &t), w);
        assert!((smooth.eval(v, &t).0 - w).abs() < 1e-12, "w = {w}");
    }
    let ncp = NcpMixture { components: 1 };
    let overflow = vec![800.0, 0.0];
    assert!(invert_core(|v| ncp.eval(v, &overflow), 0.5).is_nan());
}
