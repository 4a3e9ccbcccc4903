//! The Γ-method, jackknife, bootstrap and weighted estimates against exact results.

use lft_lattice::{gaussian_fill, stream_rng};
use lft_stats::*;

/// AR(1): x_t = ρ x_{t−1} + √(1−ρ²) η_t, stationary with unit variance, τ_int = ½(1+ρ)/(1−ρ).
fn ar1(rho: f64, n: usize, seed: u64) -> Vec<f64> {
    let mut eta = vec![0.0; n];
    gaussian_fill(&mut stream_rng(seed, 0), &mut eta);
    let mut x = vec![0.0; n];
    x[0] = eta[0];
    for t in 1..n {
        x[t] = rho * x[t - 1] + (1.0 - rho * rho).sqrt() * eta[t];
    }
    x
}

/// Exact standard deviation of the mean of N consecutive AR(1) values:
/// Var = (1/N)[(1+ρ)/(1−ρ) − 2ρ(1−ρ^N)/(N(1−ρ)²)].
fn exact_error(rho: f64, n: usize) -> f64 {
    let nf = n as f64;
    (((1.0 + rho) / (1.0 - rho)
        - 2.0 * rho * (1.0 - rho.powi(n as i32)) / (nf * (1.0 - rho).powi(2)))
        / nf)
        .sqrt()
}

/// τ_int is recovered within its own error: the average over 64 seeds (one run is too noisy
/// to test alone) lies within 3 of its standard errors, the error each run reports divided by
/// √64. The error of the mean matches the exact one within 10% in every run.
#[test]
fn ar1_tau_int_and_error_of_the_mean() {
    let n = 100_000;
    let seeds = 64;
    for rho in [0.0, 0.5, 0.9] {
        let exact_tau = 0.5 * (1.0 + rho) / (1.0 - rho);
        let mut taus = Vec::new();
        let mut tau_errs = Vec::new();
        for s in 0..seeds {
            let x = ar1(rho, n, 1000 * s + (rho * 10.0) as u64);
            let g = gamma_mean(&[&x], GammaOptions::default()).unwrap();
            assert!(g.window_found);
            let exact = exact_error(rho, n);
            assert!(
                (g.error / exact - 1.0).abs() < 0.1,
                "ρ = {rho}: error {} vs exact {exact}",
                g.error
            );
            taus.push(g.tau_int);
            tau_errs.push(g.tau_int_error);
        }
        let mean_tau = taus.iter().sum::<f64>() / seeds as f64;
        let err = tau_errs.iter().sum::<f64>() / seeds as f64 / (seeds as f64).sqrt();
        assert!(
            (mean_tau - exact_tau).abs() < 3.0 * err,
            "ρ = {rho}: τ_int {mean_tau} ± {err} vs {exact_tau}"
        );
    }
}

/// Four replicas of length N/4 give the same τ_int and error as one chain of length N.
#[test]
fn replicas_combine_like_one_long_chain() {
    let rho = 0.8;
    let long = ar1(rho, 200_000, 5);
    let reps: Vec<Vec<f64>> = (0..4).map(|r| ar1(rho, 50_000, 100 + r)).collect();
    let refs: Vec<&[f64]> = reps.iter().map(|r| r.as_slice()).collect();
    let one = gamma_mean(&[&long], GammaOptions::default()).unwrap();
    let four = gamma_mean(&refs, GammaOptions::default()).unwrap();
    let combined = (one.tau_int_error.powi(2) + four.tau_int_error.powi(2)).sqrt();
    assert!(
        (one.tau_int - four.tau_int).abs() < 3.0 * combined,
        "{one:?} vs {four:?}"
    );
    assert!((one.error / four.error - 1.0).abs() < 0.1);
    let q = four.q_value.unwrap();
    assert!(
        q > 0.001 && q <= 1.0,
        "replicas of one process should agree: Q = {q}"
    );
    assert!(one.q_value.is_none());
}

/// Replicas that disagree (different means) give a tiny Q-value.
#[test]
fn inconsistent_replicas_have_small_q() {
    let a = ar1(0.5, 20_000, 1);
    let b: Vec<f64> = ar1(0.5, 20_000, 2).iter().map(|x| x + 0.2).collect();
    let g = gamma_mean(&[&a, &b], GammaOptions::default()).unwrap();
    assert!(g.q_value.unwrap() < 1e-6, "{g:?}");
}

/// A ratio of means of correlated samples: jackknife and bootstrap errors agree with the
/// Γ-method's linear propagation within 10%.
#[test]
fn jackknife_and_bootstrap_match_linear_propagation() {
    let n = 200_000;
    let (mut u, mut v) = (vec![0.0; n], vec![0.0; n]);
    gaussian_fill(&mut stream_rng(3, 0), &mut u);
    gaussian_fill(&mut stream_rng(3, 1), &mut v);
    let a: Vec<f64> = u.iter().map(|x| 2.0 + 0.5 * x).collect();
    let b: Vec<f64> = u
        .iter()
        .zip(&v)
        .map(|(x, y)| 4.0 + 0.3 * x + 0.4 * y)
        .collect();
    let ratio = |m: &[f64]| m[0] / m[1];
    let lin = gamma_method(
        &[vec![&a[..]], vec![&b[..]]],
        &ratio,
        GammaOptions::default(),
    )
    .unwrap();
    let bins = vec![bin_means(&a, 100), bin_means(&b, 100)];
    let (jv, je) = jackknife(&bins, ratio).unwrap();
    let (bv, be) = bootstrap(&bins, ratio, 2000, 9).unwrap();
    assert!((jv - lin.value).abs() < 1e-3 * lin.error.max(1e-12) + 1e-9);
    assert!((bv - jv).abs() < 1e-12);
    assert!(
        (je / lin.error - 1.0).abs() < 0.1,
        "jackknife {je} vs linear {}",
        lin.error
    );
    assert!(
        (be / lin.error - 1.0).abs() < 0.1,
        "bootstrap {be} vs linear {}",
        lin.error
    );
}

/// Binning: the error of bin means grows to the true error once bins are much longer than τ.
#[test]
fn binning_plateau_reaches_the_exact_error() {
    let rho = 0.7;
    let x = ar1(rho, 262_144, 8);
    let curve = binning_analysis(&x, 64);
    let (b, plateau) = curve[curve.len() - 3];
    assert!(b >= 512);
    let exact = exact_error(rho, x.len());
    assert!(
        (plateau / exact - 1.0).abs() < 0.2,
        "plateau {plateau} at B = {b} vs {exact}"
    );
    assert!(
        curve[0].1 < 0.5 * exact,
        "unbinned error must underestimate"
    );
}

/// Samples of N(0,1) reweighted to N(μ, s²): the weighted mean and variance are exact within
/// 4 jackknife errors, and the Kish ESS matches its closed form 1/E_q[w²], with
/// E_q[w²] = exp(μ²/(s⁴a) − μ²/s²) / (s²√(2a)), a = 1/s² − ½, within 4 jackknife errors.
#[test]
fn weighted_estimates_are_exact() {
    let n = 400_000;
    let (mu, s) = (0.5, 0.8);
    let mut x = vec![0.0; n];
    gaussian_fill(&mut stream_rng(21, 0), &mut x);
    // log w = log N(x; μ, s²) − log N(x; 0, 1).
    let lw: Vec<f64> = x
        .iter()
        .map(|&x| -(x - mu).powi(2) / (2.0 * s * s) - s.ln() + x * x / 2.0)
        .collect();
    let x2: Vec<f64> = x.iter().map(|v| v * v).collect();
    let (mean, mean_err) = weighted_jackknife(&[&x], &lw, 200, |m| m[0]).unwrap();
    assert!((mean - mu).abs() < 4.0 * mean_err, "{mean} ± {mean_err}");
    let (var, var_err) = weighted_jackknife(&[&x, &x2], &lw, 200, |m| m[1] - m[0] * m[0]).unwrap();
    assert!((var - s * s).abs() < 4.0 * var_err, "{var} ± {var_err}");

    let a = 1.0 / (s * s) - 0.5;
    let ew2 = (mu * mu / (s.powi(4) * a) - mu * mu / (s * s)).exp() / (s * s * (2.0 * a).sqrt());
    let ess = kish_ess(&lw);
    // Jackknife error of (Σw)²/(NΣw²) with unnormalised weights w = p/q.
    let w: Vec<f64> = lw.iter().map(|l| l.exp()).collect();
    let w2: Vec<f64> = w.iter().map(|v| v * v).collect();
    let (ess_jk, ess_err) = jackknife(&[bin_means(&w, 1000), bin_means(&w2, 1000)], |m| {
        m[0] * m[0] / m[1]
    })
    .unwrap();
    assert!((ess - ess_jk).abs() < 1e-9);
    assert!(
        (ess - 1.0 / ew2).abs() < 4.0 * ess_err,
        "ESS {ess} ± {ess_err} vs {}",
        1.0 / ew2
    );
    assert!((kish_ess(&[0.3; 10]) - 1.0).abs() < 1e-15);
}
