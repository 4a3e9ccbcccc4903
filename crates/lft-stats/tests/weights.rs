//! Log-sum-exp and the effective sample size on known vectors, and at the edges of the
//! floating-point range.

use lft_stats::{ess, kish_ess, log_mean_exp, log_sum_exp, normalized_weights};

#[test]
fn ess_of_known_weights() {
    assert!(
        (ess(&[0.7; 10]) - 10.0).abs() < 1e-12,
        "equal weights give N"
    );
    let log_w: Vec<f64> = [0.3f64, 0.2, 0.5].iter().map(|w| w.ln()).collect();
    assert!((ess(&log_w) - 1.0 / 0.38).abs() < 1e-12);
    assert!((ess(&log_w) - 2.6316).abs() < 1e-4);
    assert!((kish_ess(&log_w) - 1.0 / (3.0 * 0.38)).abs() < 1e-12);
    // One weight dominating: ESS → 1.
    assert!((ess(&[0.0, -800.0, -900.0]) - 1.0).abs() < 1e-12);
}

#[test]
fn log_sum_exp_does_not_overflow() {
    // Weights of 1e300 and 1e-300: Σ w = 1e300 (the second is lost to rounding, not to NaN).
    let x = [1e300f64.ln(), 1e-300f64.ln()];
    assert!((log_sum_exp(&x) - 1e300f64.ln()).abs() < 1e-12);
    // Far beyond the range of exp: log(e^1000 + e^1000) = 1000 + log 2.
    assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
    assert!((log_sum_exp(&[-1000.0, -1000.0]) - (-1000.0 + 2f64.ln())).abs() < 1e-12);
    assert!((log_mean_exp(&[-1000.0, -1000.0]) + 1000.0).abs() < 1e-12);
    assert!((ess(&[1000.0, 1000.0, 1000.0]) - 3.0).abs() < 1e-12);
    assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
    assert_eq!(log_sum_exp(&[f64::NEG_INFINITY; 3]), f64::NEG_INFINITY);
    assert!(log_sum_exp(&[0.0, f64::NAN]).is_nan());
    let w = normalized_weights(&[1e300f64.ln(), 1e-300f64.ln()]);
    assert!((w[0] - 1.0).abs() < 1e-15 && (0.0..1e-300).contains(&w[1]));
}
