//! Rational-quadratic spline: inverse, log-derivative and backward pass, including inputs in
//! the tails, exactly on knots, and extreme parameters.

use lft_flow::spline::RqSpline;
use lft_lattice::{gaussian_fill, stream_rng};

const SPLINE: RqSpline = RqSpline {
    bins: 8,
    bound: 3.0,
    min_width: 1e-3,
    min_height: 1e-3,
    min_derivative: 1e-3,
};

fn raw(seed: u64, scale: f64) -> Vec<f64> {
    let mut r = vec![0.0; SPLINE.params_per_site()];
    gaussian_fill(&mut stream_rng(seed, 0), &mut r);
    r.iter_mut().for_each(|x| *x *= scale);
    r
}

fn inputs() -> Vec<f64> {
    let mut xs: Vec<f64> = (0..=600).map(|i| -3.6 + 7.2 * i as f64 / 600.0).collect();
    xs.extend([
        -3.0,
        3.0,
        -2.9999999999,
        2.9999999999,
        0.0,
        -1e6,
        1e6,
        40.0,
        -40.0,
    ]);
    xs
}

#[test]
fn inverse_undoes_forward_everywhere() {
    for seed in 0..6 {
        for scale in [0.5, 3.0, 30.0] {
            let r = raw(seed, scale);
            let mut prev = f64::NEG_INFINITY;
            for &x in inputs().iter().take(601) {
                let (y, l) = SPLINE.forward(x, &r);
                assert!(y.is_finite() && l.is_finite(), "x = {x}: y = {y}, l = {l}");
                assert!(y >= prev, "not monotone at x = {x}");
                prev = y;
            }
            for x in inputs() {
                let (y, l) = SPLINE.forward(x, &r);
                let (back, l_inv) = SPLINE.inverse(y, &r);
                if scale < 10.0 {
                    assert!(
                        (back - x).abs() < 1e-10 * x.abs().max(1.0),
                        "seed {seed} scale {scale}: {x} -> {y} -> {back}"
                    );
                    assert!((l - l_inv).abs() < 1e-8, "log det at {x}: {l} vs {l_inv}");
                } else {
                    // Logits of ±90 make bins with slopes ~1e-3, where x is determined by y only
                    // to ε|y|/(dy/dx): the inverse must reproduce y to rounding instead.
                    assert!(back.is_finite() && l_inv.is_finite());
                    let (again, _) = SPLINE.forward(back, &r);
                    assert!(
                        (again - y).abs() < 1e-13 * y.abs().max(1.0),
                        "{x} -> {y} -> {back} -> {again}"
                    );
                }
            }
        }
    }
}

/// The ends of the interval are fixed points, and evenly spaced points (on knots or not)
/// invert exactly.
#[test]
fn interval_ends_are_fixed_and_grid_points_invert() {
    let r = raw(11, 2.0);
    let mut xs = vec![-3.0];
    for i in 1..8 {
        xs.push(-3.0 + 6.0 * i as f64 / 8.0);
    }
    xs.push(3.0);
    for x in xs {
        let (y, _) = SPLINE.forward(x, &r);
        let (back, _) = SPLINE.inverse(y, &r);
        assert!((back - x).abs() < 1e-10);
    }
    assert_eq!(SPLINE.forward(3.0, &r).0, 3.0);
    assert_eq!(SPLINE.forward(-3.0, &r).0, -3.0);
}

#[test]
fn log_derivative_matches_finite_differences() {
    let h = 1e-6;
    for seed in 0..4 {
        let r = raw(20 + seed, 1.5);
        for i in 0..200 {
            let x = -2.99 + 5.98 * i as f64 / 199.0;
            let (_, l) = SPLINE.forward(x, &r);
            let fd = (SPLINE.forward(x + h, &r).0 - SPLINE.forward(x - h, &r).0) / (2.0 * h);
            assert!((l - fd.ln()).abs() < 1e-5, "x = {x}: {l} vs ln {fd}");
        }
    }
}

/// L = gy·y + gl·log(dy/dx): ∂L/∂x and ∂L/∂raw against central differences.
#[test]
fn backward_matches_finite_differences() {
    let h = 1e-6;
    let (gy, gl) = (0.8, -1.3);
    for seed in 0..4 {
        let mut r = raw(40 + seed, 1.0);
        for i in 0..40 {
            let x = -2.95 + 5.9 * i as f64 / 39.0 + 0.013;
            let loss = |x: f64, r: &[f64]| {
                let (y, l) = SPLINE.forward(x, r);
                gy * y + gl * l
            };
            let mut graw = vec![0.0; r.len()];
            let gx = SPLINE.backward(x, &r, gy, gl, &mut graw);
            let fd_x = (loss(x + h, &r) - loss(x - h, &r)) / (2.0 * h);
            assert!(
                (gx - fd_x).abs() < 1e-6 * fd_x.abs().max(1.0),
                "∂x at {x}: {gx} vs {fd_x}"
            );
            for j in 0..r.len() {
                let r0 = r[j];
                r[j] = r0 + h;
                let up = loss(x, &r);
                r[j] = r0 - h;
                let down = loss(x, &r);
                r[j] = r0;
                let fd = (up - down) / (2.0 * h);
                assert!(
                    (graw[j] - fd).abs() < 1e-6 * fd.abs().max(1.0),
                    "∂raw[{j}] at {x}: {} vs {fd}",
                    graw[j]
                );
            }
        }
        // Tails: identity, no parameter gradient.
        let mut graw = vec![0.0; r.len()];
        assert_eq!(SPLINE.backward(5.0, &r, gy, gl, &mut graw), gy);
        assert!(graw.iter().all(|&g| g == 0.0));
    }
}

/// The mirrored parameters give the mirrored spline: s_{M raw}(−x) = −s_raw(x) with the same
/// log-derivative, inside the interval and in the tails; M is an involution.
#[test]
fn mirrored_parameters_give_the_mirrored_spline() {
    for seed in 0..4 {
        let r = raw(70 + seed, 1.5);
        let p = SPLINE.params_per_site();
        let m: Vec<f64> = (0..p).map(|c| r[SPLINE.mirror_param(c)]).collect();
        assert!((0..p).all(|c| SPLINE.mirror_param(SPLINE.mirror_param(c)) == c));
        for i in 0..50 {
            let x = -4.0 + 8.0 * i as f64 / 49.0 + 0.007;
            let (y, l) = SPLINE.forward(x, &r);
            let (ym, lm) = SPLINE.forward(-x, &m);
            assert!(
                (y + ym).abs() < 1e-12 && (l - lm).abs() < 1e-12,
                "x {x}: {y} {ym}, {l} {lm}"
            );
        }
    }
}
