//! U(1) gauge fields: the von Mises draws of the heat bath have the exact moments; HMC on link
//! angles is reversible; HMC and heat bath with overrelaxation sample the exact distribution
//! of the Wilson action (the character expansion, lft-action's `U1Exact`) at L = 4, β = 2 and
//! 4, and L = 8, β = 2: ⟨cos θ_P⟩, ⟨Q²⟩, W(1×1) and W(2×2) within 4 standard errors of the
//! Γ method; a heat-bath run continued from its store is the uninterrupted run.

use lft_action::bessel::scaled_bessel_i;
use lft_action::{Action, U1Exact, U1Wilson};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{
    HeatbathChain, HeatbathSampler, HmcChain, HmcParams, Integrate, Integrator, MemoryStore,
    RunPlan, Start, run, von_mises,
};
use std::f64::consts::PI;
use std::time::Duration;

mod common;
use common::gauge::{chain_series, check, observables};

/// (mean, standard error) of independent draws.
fn mean_error(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

#[test]
fn von_mises_draws_have_the_exact_moments() {
    let mut rng = stream_rng(11, 0);
    for kappa in [1e-9, 1e-6, 0.05, 0.7, 2.0, 10.0, 60.0] {
        let draws: Vec<f64> = (0..100_000).map(|_| von_mises(&mut rng, kappa)).collect();
        assert!(draws.iter().all(|p| (-PI..=PI).contains(p)));
        let i = scaled_bessel_i(kappa.max(1e-300), 2);
        for (k, want) in [(1, i[1] / i[0]), (2, i[2] / i[0])] {
            let c: Vec<f64> = draws.iter().map(|p| (k as f64 * p).cos()).collect();
            let (m, e) = mean_error(&c);
            assert!(
                (m - want).abs() < 4.0 * e,
                "κ {kappa}: ⟨cos {k}ψ⟩ {m} ± {e}, exact {want}"
            );
        }
        let s: Vec<f64> = draws.iter().map(|p| p.sin()).collect();
        let (m, e) = mean_error(&s);
        assert!(m.abs() < 4.0 * e, "κ {kappa}: ⟨sin ψ⟩ {m} ± {e}");
    }
}

/// Leapfrog on link angles, forwards then with reversed momenta, returns to the start.
#[test]
fn hmc_on_link_angles_is_reversible() {
    let lattice = Lattice::new(&[6, 6]).unwrap();
    let action = U1Wilson::new(lattice, 3.0).unwrap();
    let mut rng = stream_rng(4, 0);
    let mut theta = vec![0.0; action.state_len()];
    action.hot_start(&mut rng, &mut theta);
    let start = theta.clone();
    let mut pi: Vec<f64> = (0..theta.len()).map(|i| ((i * 7) as f64).sin()).collect();
    let mut grad = vec![0.0; theta.len()];
    for integrator in [Integrator::Leapfrog, Integrator::Omelyan] {
        action.gradient(&theta, &mut grad);
        integrator.integrate(&action, &mut theta, &mut pi, &mut grad, 0.07, 25);
        pi.iter_mut().for_each(|p| *p = -*p);
        integrator.integrate(&action, &mut theta, &mut pi, &mut grad, 0.07, 25);
        pi.iter_mut().for_each(|p| *p = -*p);
        for (a, b) in theta.iter().zip(&start) {
            assert!((a - b).abs() < 1e-10, "{integrator:?}: {a} vs {b}");
        }
    }
}

const POINTS: [(usize, f64); 3] = [(4, 2.0), (4, 4.0), (8, 2.0)];

#[test]
fn hmc_samples_the_exact_distribution() {
    for (l, beta) in POINTS {
        let lattice = Lattice::new(&[l, l]).unwrap();
        let action = U1Wilson::new(lattice.clone(), beta).unwrap();
        let params = HmcParams {
            step_size: 0.1,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.2,
        };
        let series = chain_series(4, 200, 15_000, &|c| {
            let mut chain = HmcChain::new(&action, Start::Hot, stream_rng(5, c), params);
            let (action, lattice) = (&action, &lattice);
            Box::new(move || {
                chain.trajectory(action);
                assert!(chain.field().iter().all(|t| (-PI..PI).contains(t)));
                observables(lattice, chain.field())
            })
        });
        let exact = U1Exact::new(beta, l * l).unwrap();
        check(&format!("HMC L = {l}, β = {beta}"), &series, &exact);
    }
}

#[test]
fn heat_bath_samples_the_exact_distribution() {
    for (l, beta) in POINTS {
        let lattice = Lattice::new(&[l, l]).unwrap();
        let action = U1Wilson::new(lattice.clone(), beta).unwrap();
        let series = chain_series(4, 200, 15_000, &|c| {
            let mut chain = HeatbathChain::new(&action, Start::Hot, stream_rng(6, c), 1);
            let lattice = &lattice;
            Box::new(move || {
                chain.sweep();
                observables(lattice, chain.field())
            })
        });
        let exact = U1Exact::new(beta, l * l).unwrap();
        check(&format!("heat bath L = {l}, β = {beta}"), &series, &exact);
    }
}

#[test]
fn a_continued_heat_bath_run_is_the_uninterrupted_one() {
    let lattice = Lattice::new(&[4, 6]).unwrap();
    let action = U1Wilson::new(lattice, 2.5).unwrap();
    let sampler = HeatbathSampler {
        action: &action,
        overrelaxation: 2,
        start: Start::Hot,
        seed: 8,
        thermalization: 10,
    };
    let plan = |steps| RunPlan {
        chains: 2,
        steps,
        save_every: 2,
        flush_every: Duration::ZERO,
        first_chain: 0,
        stop: None,
    };
    let v = action.field_len();
    let mut straight = MemoryStore::new(v);
    run(&sampler, &mut straight, &plan(20), &mut ()).unwrap();
    let mut resumed = MemoryStore::new(v);
    run(&sampler, &mut resumed, &plan(9), &mut ()).unwrap();
    run(&sampler, &mut resumed, &plan(20), &mut ()).unwrap();
    for c in 0..2 {
        assert_eq!(straight.records[c].len(), 10);
        assert_eq!(straight.records[c].configs, resumed.records[c].configs);
        assert_eq!(straight.records[c].rng_after, resumed.records[c].rng_after);
        assert_eq!(straight.column(c, "action"), resumed.column(c, "action"));
    }
}
