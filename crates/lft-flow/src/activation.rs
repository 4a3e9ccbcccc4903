//! Elementwise activations with their derivatives.

/// An elementwise nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// x for x ≥ 0, αx otherwise.
    LeakyRelu(f64),
    /// tanh x, derivative 1 − tanh² x.
    Tanh,
    /// x.
    Identity,
}

impl Activation {
    /// y = a(x).
    #[inline]
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Activation::LeakyRelu(alpha) => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::Identity => x,
        }
    }

    /// a′(x), written in terms of the pre-activation x and the output y = a(x).
    #[inline]
    pub fn derivative(self, x: f64, y: f64) -> f64 {
        match self {
            Activation::LeakyRelu(alpha) => {
                if x >= 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Tanh => 1.0 - y * y,
            Activation::Identity => 1.0,
        }
    }

    /// `out[i] = a(x[i])` for every value (the match hoisted out of the loop, so that the
    /// piecewise-linear cases vectorise), in float64 or float32.
    pub fn apply_all<T: ActivationValue>(self, x: &[T], out: &mut [T]) {
        match self {
            Activation::LeakyRelu(alpha) => {
                let alpha = T::from_f64(alpha);
                for (o, &x) in out.iter_mut().zip(x) {
                    *o = if x >= T::ZERO { x } else { alpha * x };
                }
            }
            Activation::Tanh => T::tanh_all(x, out),
            Activation::Identity => out.copy_from_slice(x),
        }
    }

    /// `g[i] *= a′(x[i])`, with y = a(x) (as [`Activation::derivative`]).
    pub fn scale_by_derivative<T: ActivationValue>(self, g: &mut [T], x: &[T], y: &[T]) {
        match self {
            Activation::LeakyRelu(alpha) => {
                let alpha = T::from_f64(alpha);
                for (g, &x) in g.iter_mut().zip(x) {
                    *g = *g * if x >= T::ZERO { T::ONE } else { alpha };
                }
            }
            Activation::Tanh => {
                for (g, &y) in g.iter_mut().zip(y) {
                    *g = *g * (T::ONE - y * y);
                }
            }
            Activation::Identity => {}
        }
    }
}

/// The floating-point types activations run in (f64, and f32 for float32 conditioners).
pub trait ActivationValue:
    Copy + PartialOrd + std::ops::Mul<Output = Self> + std::ops::Sub<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    /// The nearest value of this type.
    fn from_f64(x: f64) -> Self;
    fn tanh(self) -> Self;
    /// `out[i] = tanh x[i]`.
    fn tanh_all(x: &[Self], out: &mut [Self]) {
        out.iter_mut().zip(x).for_each(|(o, x)| *o = x.tanh());
    }
}

impl ActivationValue for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
}

impl ActivationValue for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn tanh(self) -> Self {
        tanh_f32(self)
    }
    fn tanh_all(x: &[Self], out: &mut [Self]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { tanh_all_avx512(x, out) };
        }
        tanh_all_f32(x, out)
    }
}

#[inline(always)]
fn tanh_all_f32(x: &[f32], out: &mut [f32]) {
    out.iter_mut().zip(x).for_each(|(o, &x)| *o = tanh_f32(x));
}

/// [`tanh_f32`] over a slice, compiled for AVX-512 (eight float64 lanes per instruction).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tanh_all_avx512(x: &[f32], out: &mut [f32]) {
    tanh_all_f32(x, out)
}

/// tanh x for float32 without a libm call, so that a loop over a slice vectorises (libm's
/// `tanhf` cost a sixth of a float32 training step). Computed in float64 as
/// tanh x = 1 − 2/(e^{2x} + 1), with e^y = 2^n e^r, n = round(y/ln 2), |r| ≤ ln 2/2 and e^r
/// by its Taylor series to r¹¹ (relative error below 1e-12); below |x| = 2⁻⁷ as
/// x − x³/3 + 2x⁵/15 (relative error below 2e-11). Both stay far inside the float32 rounding
/// of the result; |x| ≥ 10 gives ±1 exactly, as does tanhf.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let x = x as f64;
    let y = (2.0 * x).clamp(-20.0, 20.0);
    // n = round(y / ln 2) by the 1.5·2⁵² trick (no call to `round`): the low bits of
    // `shifted` hold n, so 2ⁿ is built with integer operations that vectorise.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    let shifted = y * std::f64::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let r = y - n * std::f64::consts::LN_2;
    let mut p = 1.0 / 39_916_800.0;
    for c in [
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    let n_bits = shifted.to_bits().wrapping_sub(SHIFT.to_bits());
    let e = p * f64::from_bits(n_bits.wrapping_add(1023) << 52);
    let large = 1.0 - 2.0 / (e + 1.0);
    let x2 = x * x;
    let small = x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0)));
    (if x.abs() < 1.0 / 128.0 { small } else { large }) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The float32 tanh is within one float32 rounding of tanh in float64, over the whole
    /// range, both branches and the saturation.
    #[test]
    fn tanh_f32_is_correctly_rounded_to_one_ulp() {
        let mut worst = 0.0f64;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4 * (1.0 + (i as f32).abs() * 1e-5);
            let want = (x as f64).tanh();
            let got = tanh_f32(x) as f64;
            let ulp = (want.abs() as f32).max(f32::MIN_POSITIVE);
            let ulp = (f32::from_bits(ulp.to_bits() + 1) - ulp) as f64;
            worst = worst.max((got - want).abs() / ulp);
        }
        assert!(worst <= 1.0, "worst error {worst} ulp");
        assert_eq!(tanh_f32(30.0), 1.0);
        assert_eq!(tanh_f32(-30.0), -1.0);
        assert_eq!(tanh_f32(0.0), 0.0);
    }
}
