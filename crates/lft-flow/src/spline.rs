//! Rational-quadratic splines (Durkan, Bekasov, Murray, Papamakarios, arXiv:1906.04032),
//! monotone on [−B, B] with K bins and the identity outside (linear tails).
//!
//! Per site, 3K − 1 raw parameters: K widths and K heights (softmax, with a minimum bin size)
//! and K − 1 interior knot derivatives (min + softplus); the derivatives at ±B are 1, so the map
//! is C¹ with its tails. In bin k with knots (x_k, y_k), width w, height h, slope s = h/w and
//! end derivatives d₀, d₁, with ξ = (x − x_k)/w, θ = ξ(1 − ξ), D = d₀ + d₁ − 2s:
//!
//!   y = y_k + h (s ξ² + d₀ θ) / (s + D θ),
//!   dy/dx = s² (d₁ ξ² + 2 s θ + d₀ (1 − ξ)²) / (s + D θ)².
//!
//! The inverse solves a ξ² + b ξ + c = 0 with a = h(s − d₀) + (y − y_k) D, b = h d₀ − (y − y_k) D,
//! c = −s (y − y_k), for the root ξ = 2c / (−b − √(b² − 4ac)) = (−b + √(b² − 4ac)) / (2a),
//! evaluated in whichever form does not cancel (by the sign of b). The discriminant is
//! clamped at 0, ξ to [0, 1] and the bin index to [0, K − 1], which avoids the float pitfalls
//! reported for nflows (NaN from a slightly negative discriminant, bin search past the last
//! knot, cancellation when a ≈ 0).

/// Shape of the spline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RqSpline {
    pub bins: usize,
    /// B: the spline acts on [−B, B].
    pub bound: f64,
    pub min_width: f64,
    pub min_height: f64,
    pub min_derivative: f64,
}

/// The knots of one site, derived from its raw parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Knots {
    /// Softmax probabilities of widths and heights.
    pub(crate) pw: Vec<f64>,
    pub(crate) ph: Vec<f64>,
    /// Knot positions x_0 = −B … x_K = B and y likewise.
    pub(crate) x: Vec<f64>,
    pub(crate) y: Vec<f64>,
    /// Derivatives at the K + 1 knots (1 at both ends for [`RqSpline`]).
    pub(crate) d: Vec<f64>,
}

pub(crate) fn softmax(raw: &[f64], out: &mut Vec<f64>) {
    let max = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    out.clear();
    out.extend(raw.iter().map(|r| (r - max).exp()));
    let sum: f64 = out.iter().sum();
    out.iter_mut().for_each(|p| *p /= sum);
}

/// softplus(r) = ln(1 + eʳ), computed without overflow.
pub(crate) fn softplus(r: f64) -> f64 {
    if r > 30.0 { r } else { r.exp().ln_1p() }
}

pub(crate) fn sigmoid(r: f64) -> f64 {
    1.0 / (1.0 + (-r).exp())
}

/// Partial derivatives of (y, log dy/dx) in one bin with respect to
/// (x, x_k, w, y_k, h, d₀, d₁).
pub(crate) struct BinGrad {
    pub(crate) y: [f64; 7],
    pub(crate) l: [f64; 7],
}

impl RqSpline {
    /// Raw parameters per site: K widths, K heights, K − 1 derivatives.
    pub fn params_per_site(&self) -> usize {
        3 * self.bins - 1
    }

    /// The raw parameter of the mirrored spline x ↦ −s(−x) that parameter `c` becomes: the
    /// bins, and the interior knots, in reverse order (an involution).
    pub fn mirror_param(&self, c: usize) -> usize {
        let k = self.bins;
        match c {
            c if c < k => k - 1 - c,
            c if c < 2 * k => 3 * k - 1 - c,
            c => 5 * k - 2 - c,
        }
    }

    /// The knots of widths and heights on [−B, B] from the first 2K raw parameters (the
    /// derivatives are left to the caller).
    pub(crate) fn place_knots(&self, raw: &[f64], k: &mut Knots) {
        let n = self.bins;
        let b = self.bound;
        softmax(&raw[..n], &mut k.pw);
        softmax(&raw[n..2 * n], &mut k.ph);
        let place = |p: &[f64], min: f64, out: &mut Vec<f64>| {
            out.clear();
            out.push(-b);
            let mut c = 0.0;
            for (i, pi) in p.iter().enumerate() {
                c += min + (1.0 - min * n as f64) * pi;
                out.push(if i + 1 == n { b } else { -b + 2.0 * b * c });
            }
        };
        place(&k.pw, self.min_width, &mut k.x);
        place(&k.ph, self.min_height, &mut k.y);
    }

    fn knots(&self, raw: &[f64], k: &mut Knots) {
        let n = self.bins;
        self.place_knots(raw, k);
        k.d.clear();
        k.d.push(1.0);
        k.d.extend(
            raw[2 * n..]
                .iter()
                .map(|&r| self.min_derivative + softplus(r)),
        );
        k.d.push(1.0);
    }

    /// The bin holding `v` among the knots `t` (clamped to [0, K − 1]).
    pub(crate) fn bin(&self, t: &[f64], v: f64) -> usize {
        let k = t[1..self.bins].partition_point(|&knot| knot <= v);
        k.min(self.bins - 1)
    }

    /// y and log dy/dx in bin k, with their partial derivatives when `grad` is set.
    pub(crate) fn eval(&self, k: &Knots, bin: usize, x: f64) -> (f64, f64, BinGrad) {
        let (xk, yk) = (k.x[bin], k.y[bin]);
        let (w, h) = (k.x[bin + 1] - xk, k.y[bin + 1] - yk);
        let (d0, d1) = (k.d[bin], k.d[bin + 1]);
        let s = h / w;
        let xi = ((x - xk) / w).clamp(0.0, 1.0);
        let th = xi * (1.0 - xi);
        let dth = 1.0 - 2.0 * xi;
        let dd = d0 + d1 - 2.0 * s;
        let num = s * xi * xi + d0 * th;
        let den = s + dd * th;
        let r = num / den;
        let p = d1 * xi * xi + 2.0 * s * th + d0 * (1.0 - xi) * (1.0 - xi);
        let y = yk + h * r;
        let l = 2.0 * s.ln() + p.ln() - 2.0 * den.ln();
        // ∂R/∂(ξ, s, d₀, d₁), with ∂den/∂s = 1 − 2θ (D contains −2s).
        let dr = |dnum: f64, dden: f64| (dnum * den - num * dden) / (den * den);
        let r_xi = dr(2.0 * s * xi + d0 * dth, dd * dth);
        let r_s = dr(xi * xi, 1.0 - 2.0 * th);
        let r_d0 = dr(th, th);
        let r_d1 = dr(0.0, th);
        let l_xi =
            (2.0 * d1 * xi + 2.0 * s * dth - 2.0 * d0 * (1.0 - xi)) / p - 2.0 * dd * dth / den;
        let l_s = 2.0 / s + 2.0 * th / p - 2.0 * (1.0 - 2.0 * th) / den;
        let l_d0 = (1.0 - xi) * (1.0 - xi) / p - 2.0 * th / den;
        let l_d1 = xi * xi / p - 2.0 * th / den;
        // ξ = (x − x_k)/w, s = h/w: chain to (x, x_k, w, y_k, h, d₀, d₁).
        let (xi_x, xi_xk, xi_w) = (1.0 / w, -1.0 / w, -xi / w);
        let (s_w, s_h) = (-s / w, 1.0 / w);
        let gy = [
            h * r_xi * xi_x,
            h * r_xi * xi_xk,
            h * (r_xi * xi_w + r_s * s_w),
            1.0,
            r + h * r_s * s_h,
            h * r_d0,
            h * r_d1,
        ];
        let gl = [
            l_xi * xi_x,
            l_xi * xi_xk,
            l_xi * xi_w + l_s * s_w,
            0.0,
            l_s * s_h,
            l_d0,
            l_d1,
        ];
        (y, l, BinGrad { y: gy, l: gl })
    }

    /// (y, log dy/dx) for one site with raw parameters `raw`.
    pub fn forward(&self, x: f64, raw: &[f64]) -> (f64, f64) {
        if !(-self.bound..=self.bound).contains(&x) {
            return (x, 0.0);
        }
        let mut k = Knots::default();
        self.knots(raw, &mut k);
        let bin = self.bin(&k.x, x);
        let (y, l, _) = self.eval(&k, bin, x);
        (y, l)
    }

    /// (x, log dy/dx at that x) for one site: the inverse of `forward`.
    pub fn inverse(&self, y: f64, raw: &[f64]) -> (f64, f64) {
        if !(-self.bound..=self.bound).contains(&y) {
            return (y, 0.0);
        }
        let mut k = Knots::default();
        self.knots(raw, &mut k);
        let bin = self.bin(&k.y, y);
        let x = self.invert_in_bin(&k, bin, y);
        let (_, l, _) = self.eval(&k, bin, x);
        (x, l)
    }

    /// The x in bin `bin` with y(x) = `y`: the root of the quadratic in ξ (see the module
    /// documentation), clamped to the bin.
    pub(crate) fn invert_in_bin(&self, k: &Knots, bin: usize, y: f64) -> f64 {
        let (xk, yk) = (k.x[bin], k.y[bin]);
        let (w, h) = (k.x[bin + 1] - xk, k.y[bin + 1] - yk);
        let (d0, d1) = (k.d[bin], k.d[bin + 1]);
        let s = h / w;
        let dy = y - yk;
        let dd = d0 + d1 - 2.0 * s;
        let a = h * (s - d0) + dy * dd;
        let b = h * d0 - dy * dd;
        let c = -s * dy;
        let disc = (b * b - 4.0 * a * c).max(0.0);
        // The root in [0, 1] is ξ = 2c/(−b − √disc) = (−b + √disc)/(2a): evaluate the form whose
        // sum does not cancel (the first for b ≥ 0, the second for b < 0).
        let xi = if b >= 0.0 {
            let denom = -b - disc.sqrt();
            if denom == 0.0 { 0.0 } else { 2.0 * c / denom }
        } else {
            (-b + disc.sqrt()) / (2.0 * a)
        };
        let xi = if xi.is_finite() {
            xi.clamp(0.0, 1.0)
        } else {
            0.0
        };
        xk + xi * w
    }

    /// Backward through bin `bin` at x for ∂L/∂y = `gy`, ∂L/∂(log dy/dx) = `gl`: adds ∂L/∂(raw
    /// widths, raw heights) to the first 2K entries of `graw` and returns (∂L/∂x, ∂L/∂d₀,
    /// ∂L/∂d₁) with d₀, d₁ the derivatives at the bin's knots.
    pub(crate) fn backward_knots(
        &self,
        k: &Knots,
        bin: usize,
        x: f64,
        gy: f64,
        gl: f64,
        graw: &mut [f64],
    ) -> (f64, f64, f64) {
        let n = self.bins;
        let b = self.bound;
        let (_, _, g) = self.eval(k, bin, x);
        let tot = |i: usize| gy * g.y[i] + gl * g.l[i];
        // Knots as functions of the normalised sizes: x_j = −B + 2B Σ_{i<j} wn_i (x_K = B), so
        // ∂x_k/∂wn_i = 2B for i < k and ∂w/∂wn_i = 2B δ_{ik}; wn = min + (1 − K min) softmax.
        let size_grad = |g_start: f64, g_size: f64, p: &[f64], min: f64, out: &mut [f64]| {
            let scale = 2.0 * b * (1.0 - min * n as f64);
            let gw: Vec<f64> = (0..n)
                .map(|i| {
                    if i < bin {
                        g_start
                    } else if i == bin {
                        g_size
                    } else {
                        0.0
                    }
                })
                .collect();
            let avg: f64 = gw.iter().zip(p).map(|(g, pi)| g * pi).sum();
            for j in 0..n {
                out[j] += scale * p[j] * (gw[j] - avg);
            }
        };
        let (gx, gxk, gw, gyk, gh, gd0, gd1) =
            (tot(0), tot(1), tot(2), tot(3), tot(4), tot(5), tot(6));
        let (graw_w, rest) = graw.split_at_mut(n);
        let graw_h = &mut rest[..n];
        size_grad(gxk, gw, &k.pw, self.min_width, graw_w);
        size_grad(gyk, gh, &k.ph, self.min_height, graw_h);
        (gx, gd0, gd1)
    }

    /// Backward for one site: given ∂L/∂y = `gy` and ∂L/∂(log dy/dx) = `gl`, returns ∂L/∂x and
    /// adds ∂L/∂raw into `graw`.
    pub fn backward(&self, x: f64, raw: &[f64], gy: f64, gl: f64, graw: &mut [f64]) -> f64 {
        if !(-self.bound..=self.bound).contains(&x) {
            return gy;
        }
        let n = self.bins;
        let mut k = Knots::default();
        self.knots(raw, &mut k);
        let bin = self.bin(&k.x, x);
        let (gx, gd0, gd1) = self.backward_knots(&k, bin, x, gy, gl, graw);
        // Interior derivatives d_j = min + softplus(raw_{j−1}), j = 1 … K − 1.
        for (j, gd) in [(bin, gd0), (bin + 1, gd1)] {
            if j >= 1 && j < n {
                graw[2 * n + j - 1] += gd * sigmoid(raw[2 * n + j - 1]);
            }
        }
        gx
    }
}
