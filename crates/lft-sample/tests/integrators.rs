//! Integrators: reversibility, ⟨e^{−ΔH}⟩ = 1, ΔH ∝ ε², Omelyan against leapfrog.

use lft_action::{Action, Phi4, Phi4Params};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};
use lft_sample::{HmcChain, HmcParams, Integrate, Integrator, Start};
use lft_stats::estimate_mean;

fn tutorial_action() -> Phi4 {
    Phi4::new(
        Lattice::new(&[8, 8]).unwrap(),
        Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
    )
    .unwrap()
}

/// An equilibrated configuration of the tutorial point, from a short HMC run.
fn equilibrated(action: &Phi4, seed: u64) -> Vec<f64> {
    let params = HmcParams {
        step_size: 0.05,
        n_steps: 20,
        integrator: Integrator::Omelyan,
        length_jitter: 0.5,
    };
    let mut chain = HmcChain::new(action, Start::Cold, stream_rng(seed, 0), params);
    for _ in 0..200 {
        chain.trajectory(action);
    }
    chain.field().to_vec()
}

/// ΔH of one trajectory from φ with momenta π.
fn delta_h(action: &Phi4, integ: Integrator, phi: &[f64], pi: &[f64], eps: f64, n: usize) -> f64 {
    let h =
        |phi: &[f64], pi: &[f64]| 0.5 * pi.iter().map(|p| p * p).sum::<f64>() + action.action(phi);
    let (mut f, mut p) = (phi.to_vec(), pi.to_vec());
    let mut g = vec![0.0; phi.len()];
    action.gradient(&f, &mut g);
    integ.integrate(action, &mut f, &mut p, &mut g, eps, n);
    h(&f, &p) - h(phi, pi)
}

#[test]
fn integrators_are_reversible() {
    let action = tutorial_action();
    let phi0 = equilibrated(&action, 1);
    for integ in [Integrator::Leapfrog, Integrator::Omelyan] {
        let mut pi = vec![0.0; phi0.len()];
        gaussian_fill(&mut stream_rng(2, 0), &mut pi);
        let pi0 = pi.clone();
        let mut phi = phi0.clone();
        let mut g = vec![0.0; phi.len()];
        action.gradient(&phi, &mut g);
        integ.integrate(&action, &mut phi, &mut pi, &mut g, 0.02, 50);
        let moved = phi
            .iter()
            .zip(&phi0)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(moved > 0.1, "the trajectory should go somewhere");
        pi.iter_mut().for_each(|p| *p = -*p);
        integ.integrate(&action, &mut phi, &mut pi, &mut g, 0.02, 50);
        for x in 0..phi.len() {
            assert!((phi[x] - phi0[x]).abs() < 1e-10, "{integ:?}: φ at {x}");
            assert!((pi[x] + pi0[x]).abs() < 1e-10, "{integ:?}: π at {x}");
        }
    }
}

/// Area preservation in effect: ⟨e^{−ΔH}⟩ = 1 (Creutz), within 3 autocorrelation-corrected
/// standard errors, for both integrators at a step size with visible violations.
#[test]
fn mean_exp_minus_delta_h_is_one() {
    let action = tutorial_action();
    // Step sizes with about 12% rejections (acceptance ≈ 0.88).
    let cases = [
        (Integrator::Leapfrog, 0.1, 10),
        (Integrator::Omelyan, 0.2, 5),
    ];
    for (k, (integ, step_size, n_steps)) in cases.into_iter().enumerate() {
        let params = HmcParams {
            step_size,
            n_steps,
            integrator: integ,
            length_jitter: 0.5,
        };
        let mut chain = HmcChain::new(&action, Start::Cold, stream_rng(10 + k as u64, 0), params);
        for _ in 0..300 {
            chain.trajectory(&action);
        }
        let w: Vec<f64> = (0..20_000)
            .map(|_| (-chain.trajectory(&action).delta_h).exp())
            .collect();
        let est = estimate_mean(&[&w]).unwrap();
        assert!(est.error > 0.0 && est.error < 0.05, "{integ:?}: {est:?}");
        assert!(
            (est.value - 1.0).abs() < 3.0 * est.error,
            "{integ:?}: {est:?}"
        );
    }
}

/// RMS ΔH over fixed (φ, π) pairs at fixed trajectory length τ = 1: halving ε divides it by 4
/// for leapfrog, and Omelyan's error at the same ε is several times smaller.
#[test]
fn delta_h_scales_as_eps_squared_and_omelyan_is_smaller() {
    let action = tutorial_action();
    let samples: Vec<(Vec<f64>, Vec<f64>)> = (0..8)
        .map(|s| {
            let phi = equilibrated(&action, 100 + s);
            assert!(phi.iter().map(|x| x * x).sum::<f64>() / (phi.len() as f64) < 0.5);
            let mut pi = vec![0.0; phi.len()];
            gaussian_fill(&mut stream_rng(200 + s, 0), &mut pi);
            (phi, pi)
        })
        .collect();
    let rms = |integ: Integrator, n: usize| -> f64 {
        let eps = 1.0 / n as f64;
        let sq: f64 = samples
            .iter()
            .map(|(f, p)| delta_h(&action, integ, f, p, eps, n).powi(2))
            .sum();
        (sq / samples.len() as f64).sqrt()
    };
    for integ in [Integrator::Leapfrog, Integrator::Omelyan] {
        let (a, b, c) = (rms(integ, 20), rms(integ, 40), rms(integ, 80));
        for (coarse, fine) in [(a, b), (b, c)] {
            let ratio = coarse / fine;
            assert!(
                (ratio - 4.0).abs() < 0.4,
                "{integ:?}: ratio {ratio} ({coarse} / {fine})"
            );
        }
    }
    for n in [20, 40] {
        let (lf, om) = (rms(Integrator::Leapfrog, n), rms(Integrator::Omelyan, n));
        assert!(om < 0.25 * lf, "n = {n}: Omelyan {om} vs leapfrog {lf}");
    }
}
