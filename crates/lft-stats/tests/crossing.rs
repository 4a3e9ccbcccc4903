//! The Binder-crossing estimator on synthetic curves with a known crossing and known
//! jackknife fluctuations.

use lft_stats::{JackknifeCurve, crossing};

/// Jackknife samples θ_(j) = θ + s_j with Σ s_j = 0 whose jackknife error is `sigma`.
fn shifts(blocks: usize, sigma: f64) -> Vec<f64> {
    let raw: Vec<f64> = (0..blocks).map(|j| ((j * 7) % 5) as f64 - 2.0).collect();
    let mean = raw.iter().sum::<f64>() / blocks as f64;
    let centred: Vec<f64> = raw.iter().map(|x| x - mean).collect();
    let b = blocks as f64;
    let err = (centred.iter().map(|x| x * x).sum::<f64>() * (b - 1.0) / b).sqrt();
    centred.iter().map(|x| x * sigma / err).collect()
}

#[test]
fn two_lines_cross_where_they_should_with_the_propagated_error() {
    let c_star = 0.27088;
    let (slope_a, slope_b) = (2.0, 5.0);
    let (sa, sb) = (0.003, 0.004);
    let da = shifts(20, sa);
    let db = shifts(16, sb);
    let a = |j: Option<usize>, c: f64| 0.6 + slope_a * (c - c_star) + j.map_or(0.0, |j| da[j]);
    let b = |j: Option<usize>, c: f64| 0.6 + slope_b * (c - c_star) + j.map_or(0.0, |j| db[j]);
    let grid: Vec<f64> = (0..=50).map(|i| 0.25 + 0.001 * i as f64).collect();
    let x = crossing(
        &JackknifeCurve { blocks: 20, at: &a },
        &JackknifeCurve { blocks: 16, at: &b },
        &grid,
    )
    .unwrap();
    assert!((x.value - c_star).abs() < 1e-12, "{}", x.value);
    // A shift ε of one curve moves the root by ε / (slope_b − slope_a).
    let expected = (sa * sa + sb * sb).sqrt() / (slope_b - slope_a);
    assert!(
        (x.error - expected).abs() < 1e-9 * expected,
        "{} vs {expected}",
        x.error
    );
}

#[test]
fn curves_that_do_not_cross_in_the_range_give_none() {
    let a = |_: Option<usize>, c: f64| 0.6 + c;
    let b = |_: Option<usize>, c: f64| 0.7 + c;
    let grid: Vec<f64> = (0..=10).map(|i| i as f64).collect();
    assert!(
        crossing(
            &JackknifeCurve { blocks: 4, at: &a },
            &JackknifeCurve { blocks: 4, at: &b },
            &grid
        )
        .is_none()
    );
}

/// A jackknife sample whose curves no longer cross in the range: the error is infinite, not
/// silently small.
#[test]
fn a_crossing_lost_in_a_jackknife_sample_gives_an_infinite_error() {
    let a = |j: Option<usize>, c: f64| c + if j == Some(2) { 5.0 } else { 0.0 };
    let b = |_: Option<usize>, c: f64| 2.0 * c - 0.5;
    let grid: Vec<f64> = (0..=10).map(|i| i as f64 * 0.1).collect();
    let x = crossing(
        &JackknifeCurve { blocks: 4, at: &a },
        &JackknifeCurve { blocks: 4, at: &b },
        &grid,
    )
    .unwrap();
    assert!((x.value - 0.5).abs() < 1e-12 && x.error.is_infinite());
}
