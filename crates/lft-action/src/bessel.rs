//! Modified Bessel functions of the first kind of integer order, exponentially scaled:
//! Î_n(x) = I_n(x) e^{−x}, n = 0 … N at once, by Miller's backward recurrence
//!   I_{n−1}(x) = I_{n+1}(x) + (2n/x) I_n(x),
//! normalised by the sum rule e^{x} = I_0(x) + 2 Σ_{n≥1} I_n(x), i.e. Î_0 + 2 Σ_{n≥1} Î_n = 1.
//! The recurrence is stable downwards; starting far enough above N and above x, the values
//! are exact to rounding for any x > 0 (the scaled values neither overflow nor underflow
//! where it matters: Î_n ≤ 1).

/// Î_n(x) = I_n(x) e^{−x} for n = 0 … `n_max`, x > 0.
pub fn scaled_bessel_i(x: f64, n_max: usize) -> Vec<f64> {
    assert!(x > 0.0 && x.is_finite(), "scaled_bessel_i: x = {x}");
    let top = n_max.max(x.ceil() as usize);
    // Far enough above both that the start values do not matter (Numerical Recipes' rule,
    // with room to spare).
    let start = 2 * (top + (200.0 * top.max(10) as f64).sqrt() as usize) + 32;
    let mut values = vec![0.0; n_max + 1];
    let (mut above, mut current) = (0.0f64, 1e-300f64);
    let mut norm = 0.0;
    for j in (1..=start).rev() {
        let below = above + (2.0 * j as f64 / x) * current;
        above = current;
        current = below;
        // current = I_{j−1} (unnormalised).
        if j - 1 <= n_max {
            values[j - 1] = current;
        }
        if j > 1 {
            norm += 2.0 * current;
        } else {
            norm += current;
        }
        if current.abs() > 1e250 {
            let s = 1e-250;
            above *= s;
            current *= s;
            norm *= s;
            values.iter_mut().for_each(|v| *v *= s);
        }
    }
    values.iter_mut().for_each(|v| *v /= norm);
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against mpmath (30 digits): besseli(n, x)·e^{−x}, as printed (more digits than f64).
    #[test]
    #[allow(clippy::excessive_precision)]
    fn scaled_values_match_a_high_precision_reference() {
        let cases = [
            (0, 1.0, 0.465_759_607_593_640_436_5),
            (1, 1.0, 0.207_910_415_349_708_448_87),
            (5, 2.0, 0.001_329_761_094_188_157_814_2),
            (0, 20.0, 0.089_780_311_884_826_021_596),
            (30, 20.0, 1.692_876_225_961_617_239_2e-10),
            (1, 0.01, 0.004_950_311_047_118_275_707_6),
            (3, 0.001, 2.081_251_171_397_724_697e-11),
            (50, 5.0, 1.975_208_710_963_930_234_9e-47),
            (0, 0.5, 0.645_035_270_449_150_068_11),
        ];
        for (n, x, want) in cases {
            let got = scaled_bessel_i(x, n.max(3))[n];
            assert!(
                ((got - want) / want).abs() < 1e-13,
                "Î_{n}({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn the_sum_rule_and_the_recurrence_hold() {
        for x in [0.3, 2.0, 7.5, 20.0, 60.0] {
            let i = scaled_bessel_i(x, 200);
            let sum = i[0] + 2.0 * i[1..].iter().sum::<f64>();
            assert!((sum - 1.0).abs() < 1e-14, "x = {x}: {sum}");
            for n in 1..40 {
                let lhs = i[n - 1] - i[n + 1];
                let rhs = 2.0 * n as f64 / x * i[n];
                assert!(
                    (lhs - rhs).abs() <= 1e-14 * i[n - 1].abs(),
                    "x = {x}, n = {n}"
                );
            }
        }
    }
}
