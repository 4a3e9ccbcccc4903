//! The shared parts of annealing: resampling is unbiased, the tempered action interpolates
//! between −log r and S with the right gradient, and schedules lead from 0 to 1 (the adaptive
//! one at the requested conditional ESS).

use lft_action::{Action, Phi4, Phi4Params};
use lft_flow::{Prior, PriorSpec};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};
use lft_sample::anneal::{
    Resampling, Schedule, ScheduleError, Tempered, conditional_ess, next_adaptive_beta,
};

/// E[copies of i] = N W_i for every scheme: the mean over M resamplings lies within 5 of its
/// standard errors (computed from the same draws); a particle of weight 0 is never copied.
#[test]
fn every_resampling_scheme_is_unbiased() {
    let w = [0.05, 0.3, 0.0, 0.15, 0.42, 0.08];
    let n = w.len();
    let m = 20_000;
    for scheme in [
        Resampling::Multinomial,
        Resampling::Stratified,
        Resampling::Systematic,
    ] {
        let mut rng = stream_rng(11, 0);
        let (mut sum, mut sum2) = (vec![0.0; n], vec![0.0; n]);
        let mut ancestors = Vec::new();
        for _ in 0..m {
            scheme.ancestors(&w, &mut rng, &mut ancestors);
            assert_eq!(ancestors.len(), n);
            assert!(ancestors.windows(2).all(|p| p[0] <= p[1]), "sorted");
            let mut copies = vec![0.0; n];
            ancestors.iter().for_each(|&a| copies[a] += 1.0);
            for i in 0..n {
                sum[i] += copies[i];
                sum2[i] += copies[i] * copies[i];
            }
        }
        for i in 0..n {
            let mean = sum[i] / m as f64;
            let var = (sum2[i] / m as f64 - mean * mean).max(0.0);
            let se = (var / m as f64).sqrt();
            let expected = n as f64 * w[i];
            if w[i] == 0.0 {
                assert_eq!(sum[i], 0.0, "{scheme:?} copied a particle of weight 0");
                continue;
            }
            assert!(
                (mean - expected).abs() < 5.0 * se.max(1e-3 / (m as f64).sqrt()),
                "{}: particle {i}: {mean} copies on average, expected {expected} (se {se})",
                scheme.name()
            );
        }
    }
}

/// The low-variance schemes: systematic resampling copies each particle ⌊N W_i⌋ or ⌈N W_i⌉
/// times, stratified keeps the count within 2 of N W_i.
#[test]
fn low_variance_schemes_stay_close_to_n_w() {
    let w = [0.05, 0.3, 0.15, 0.42, 0.08];
    let n = w.len();
    let mut rng = stream_rng(12, 0);
    let mut ancestors = Vec::new();
    for _ in 0..2000 {
        Resampling::Systematic.ancestors(&w, &mut rng, &mut ancestors);
        for i in 0..n {
            let c = ancestors.iter().filter(|&&a| a == i).count() as f64;
            let nw = n as f64 * w[i];
            assert!(
                c >= nw.floor() && c <= nw.ceil(),
                "systematic: {c} copies of {nw}"
            );
        }
        Resampling::Stratified.ancestors(&w, &mut rng, &mut ancestors);
        for i in 0..n {
            let c = ancestors.iter().filter(|&&a| a == i).count() as f64;
            assert!((c - n as f64 * w[i]).abs() < 2.0, "stratified: {c} copies");
        }
    }
}

fn tempered_setup() -> (Phi4, Prior) {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
    )
    .unwrap();
    let prior = Prior::new(PriorSpec::FreeField { m2: 0.7 }, &lat).unwrap();
    (action, prior)
}

/// S_0 = −log r, S_1 = S, S_β linear in β with slope −log_ratio, and ∂S_β/∂φ equal to central
/// differences.
#[test]
fn the_tempered_action_interpolates_with_the_right_gradient() {
    let (action, free) = tempered_setup();
    let mixture = Prior::new(PriorSpec::Z2Mixture { shift: 0.4 }, action.lattice()).unwrap();
    for prior in [free, mixture] {
        tempered_action_checks(&action, &prior);
    }
}

fn tempered_action_checks(action: &dyn Action, prior: &Prior) {
    let mut phi = vec![0.0; 16];
    gaussian_fill(&mut stream_rng(3, 0), &mut phi);
    let at = |beta: f64| Tempered {
        prior,
        action,
        beta,
    };
    assert!((at(0.0).action(&phi) + prior.log_prob(&phi)).abs() < 1e-12);
    assert!((at(1.0).action(&phi) - action.action(&phi)).abs() < 1e-12);
    let (b, d) = (0.3, 0.25);
    let increment = -(at(b + d).action(&phi) - at(b).action(&phi));
    assert!((increment - d * at(b).log_ratio(&phi)).abs() < 1e-10);
    let t = at(0.37);
    let mut grad = vec![0.0; 16];
    t.gradient(&phi, &mut grad);
    let h = 1e-6;
    for i in 0..16 {
        let mut p = phi.clone();
        p[i] += h;
        let up = t.action(&p);
        p[i] -= 2.0 * h;
        let down = t.action(&p);
        let fd = (up - down) / (2.0 * h);
        assert!(
            (grad[i] - fd).abs() < 1e-6 * fd.abs().max(1.0),
            "{prior:?} site {i}"
        );
    }
}

#[test]
fn schedules_lead_from_zero_to_one() {
    let linear = Schedule::Linear { steps: 3 };
    assert_eq!(linear.validate(), Ok(()));
    let betas = linear.betas().unwrap();
    assert_eq!(betas.len(), 3);
    assert_eq!(*betas.last().unwrap(), 1.0, "exactly 1 at the end");
    assert!((betas[0] - 1.0 / 3.0).abs() < 1e-15);
    assert_eq!(
        Schedule::Linear { steps: 0 }.validate(),
        Err(ScheduleError::NoSteps)
    );
    assert_eq!(Schedule::List(vec![0.1, 0.5, 1.0]).validate(), Ok(()));
    assert!(matches!(
        Schedule::List(vec![0.1, 0.5, 0.9]).validate(),
        Err(ScheduleError::DoesNotEnd { last }) if last == 0.9
    ));
    assert!(matches!(
        Schedule::List(vec![0.5, 0.3, 1.0]).validate(),
        Err(ScheduleError::NotIncreasing { index: 2, .. })
    ));
    assert!(Schedule::List(vec![]).validate().is_err());
    assert!(Schedule::Adaptive { target: 1.0 }.validate().is_err());
    assert_eq!(Schedule::Adaptive { target: 0.5 }.validate(), Ok(()));
    assert_eq!(Schedule::Adaptive { target: 0.5 }.betas(), None);
}

/// The adaptive step hits the target conditional ESS, and goes straight to 1 when the whole
/// remaining step keeps it.
#[test]
fn adaptive_steps_keep_the_conditional_ess_at_the_target() {
    let n = 500;
    let mut ell = vec![0.0; n];
    gaussian_fill(&mut stream_rng(4, 0), &mut ell);
    ell.iter_mut().for_each(|l| *l *= 30.0);
    let mut raw = vec![0.0; n];
    gaussian_fill(&mut stream_rng(5, 0), &mut raw);
    let total: f64 = raw.iter().map(|r| r.exp()).sum();
    let w: Vec<f64> = raw.iter().map(|r| r.exp() / total).collect();
    assert!((conditional_ess(&w, &ell, 0.0) - 1.0).abs() < 1e-12);
    let mut beta = 0.0;
    let mut steps = 0;
    while beta < 1.0 {
        let next = next_adaptive_beta(beta, &w, &ell, 0.7);
        assert!(next > beta);
        let cess = conditional_ess(&w, &ell, next - beta);
        if next < 1.0 {
            assert!((cess - 0.7).abs() < 1e-6, "CESS {cess} at β = {next}");
        } else {
            assert!(cess >= 0.7 - 1e-12);
        }
        beta = next;
        steps += 1;
        assert!(steps < 10_000);
    }
    assert!(steps > 1, "σ(ℓ) = 30 needs several steps");
    // Equal log ratios change nothing: one step to 1.
    assert_eq!(next_adaptive_beta(0.2, &w, &vec![-3.0; n], 0.9), 1.0);
}

/// Ordered resampling: still E[copies of i] = N W_i (within 5 computed standard errors), and
/// in every draw the particles with a positive key get N · W(key > 0) copies up to ±1, the
/// balance that plain systematic resampling in index order lets drift.
#[test]
fn ordered_resampling_is_unbiased_and_keeps_the_balance_of_the_key() {
    let n = 40;
    let mut rng = stream_rng(13, 0);
    let raw: Vec<f64> = (0..n)
        .map(|_| lft_lattice::uniform(&mut rng) + 0.01)
        .collect();
    let total: f64 = raw.iter().sum();
    let w: Vec<f64> = raw.iter().map(|x| x / total).collect();
    let keys: Vec<f64> = (0..n)
        .map(|_| lft_lattice::uniform(&mut rng) - 0.5)
        .collect();
    let positive: f64 = (0..n).filter(|&i| keys[i] > 0.0).map(|i| w[i]).sum();
    let m = 20_000;
    let (mut sum, mut sum2) = (vec![0.0; n], vec![0.0; n]);
    let mut ancestors = Vec::new();
    let mut worst_plain: f64 = 0.0;
    for _ in 0..m {
        Resampling::Ordered.ancestors_by_key(&w, &keys, &mut rng, &mut ancestors);
        assert_eq!(ancestors.len(), n);
        let mut copies = vec![0.0; n];
        ancestors.iter().for_each(|&a| copies[a] += 1.0);
        for i in 0..n {
            sum[i] += copies[i];
            sum2[i] += copies[i] * copies[i];
        }
        let up = ancestors.iter().filter(|&&a| keys[a] > 0.0).count() as f64;
        assert!(
            (up - n as f64 * positive).abs() <= 1.0,
            "ordered: {up} copies with key > 0 for N·W = {}",
            n as f64 * positive
        );
        Resampling::Systematic.ancestors(&w, &mut rng, &mut ancestors);
        let up = ancestors.iter().filter(|&&a| keys[a] > 0.0).count() as f64;
        worst_plain = worst_plain.max((up - n as f64 * positive).abs());
    }
    assert!(
        worst_plain > 1.0,
        "index-order systematic drifts ({worst_plain})"
    );
    for i in 0..n {
        let mean = sum[i] / m as f64;
        let se = ((sum2[i] / m as f64 - mean * mean).max(0.0) / m as f64).sqrt();
        let expected = n as f64 * w[i];
        assert!(
            (mean - expected).abs() < 5.0 * se.max(1e-3 / (m as f64).sqrt()),
            "ordered: particle {i}: {mean} copies on average, expected {expected} (se {se})"
        );
    }
}
