//! HMC on the free field (λ = 0) reproduces the exact χ₂ = 1/(2m²), ⟨φ²⟩ = G(0) and G(r)
//! within 4 autocorrelation-corrected standard errors, with the default randomised
//! trajectory length, two chains run through the production driver; with an external field h
//! the mean shifts to ⟨φ⟩ = h/(2m²) and the connected χ₂ and G(r) stay those of h = 0.

use lft_action::{Action, FreeField, Phi4, Phi4Params};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{
    HmcChain, HmcParams, Integrator, MemoryStore, SamplerKind, Start, run_production,
    thermalize_all,
};
use lft_stats::estimate_mean;
use std::time::Duration;

const CHAINS: usize = 2;
const TRAJECTORIES: usize = 10_000;

/// (1/(V d)) Σ_y Σ_μ φ_y φ_{y + r μ̂} for r = 0 … L/2: the two-point function along the axes
/// (of φ − ⟨φ⟩ when given the exact mean).
fn axis_correlations(lat: &Lattice, phi: &[f64]) -> Vec<f64> {
    let l = lat.shape()[0];
    let d = lat.dim();
    (0..=l / 2)
        .map(|r| {
            let mut sum = 0.0;
            for y in 0..lat.volume() {
                for mu in 0..d {
                    let mut z = y;
                    for _ in 0..r {
                        z = lat.fwd(z, mu);
                    }
                    sum += phi[y] * phi[z];
                }
            }
            sum / (lat.volume() * d) as f64
        })
        .collect()
}

fn check_free_field(l: usize, m2: f64, seed: u64) {
    check_free_field_in(l, m2, 0.0, seed);
}

fn check_free_field_in(l: usize, m2: f64, h: f64, seed: u64) {
    let lat = Lattice::new(&[l, l]).unwrap();
    let v = lat.volume();
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 })
        .unwrap()
        .with_external_field(h)
        .unwrap();
    let mean = h / (2.0 * m2);
    let params = HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Leapfrog,
        length_jitter: 0.5, // the default
    };
    let mut chains: Vec<HmcChain> = (0..CHAINS)
        .map(|c| HmcChain::new(&action, Start::Hot, stream_rng(seed, c as u64), params))
        .collect();
    thermalize_all(&mut chains, &action, 200, None);
    let mut sink = MemoryStore::sink(SamplerKind::Hmc, action.lattice().volume(), CHAINS);
    let summary = run_production(
        &mut chains,
        &action,
        &[TRAJECTORIES; CHAINS],
        &mut sink,
        Duration::from_millis(50),
        &mut (),
    )
    .unwrap();
    assert!(
        summary.acceptance() > 0.8,
        "acceptance {}",
        summary.acceptance()
    );

    let exact = FreeField::new(lat.clone(), m2).unwrap();
    let g_exact = exact.propagator();
    // Per chain, per configuration: M²/V and the axis correlations.
    let mut chi2_series = vec![Vec::new(); CHAINS];
    let mut mean_series = vec![Vec::new(); CHAINS];
    let mut g_series = vec![vec![Vec::new(); l / 2 + 1]; CHAINS];
    for c in 0..CHAINS {
        for phi in sink.configs(c).chunks_exact(v) {
            let shifted: Vec<f64> = phi.iter().map(|p| p - mean).collect();
            let m: f64 = shifted.iter().sum();
            chi2_series[c].push(m * m / v as f64);
            mean_series[c].push(phi.iter().sum::<f64>() / v as f64);
            for (r, g) in axis_correlations(&lat, &shifted).into_iter().enumerate() {
                g_series[c][r].push(g);
            }
        }
    }
    let check = |name: String, series: Vec<&[f64]>, exact: f64| {
        let est = estimate_mean(&series).unwrap();
        let pull = (est.value - exact) / est.error;
        assert!(
            pull.abs() < 4.0,
            "L={l} m²={m2} {name}: {est:?} vs exact {exact} ({pull:.2}σ)"
        );
    };
    check(
        "chi2".into(),
        chi2_series.iter().map(|s| s.as_slice()).collect(),
        exact.chi2(),
    );
    check(
        "<phi>".into(),
        mean_series.iter().map(|s| s.as_slice()).collect(),
        mean,
    );
    assert!((g_exact[0] - exact.phi2()).abs() < 1e-12);
    for r in 0..=l / 2 {
        let series = g_series.iter().map(|s| s[r].as_slice()).collect();
        check(format!("G({r})"), series, g_exact[lat.index(&[r, 0])]);
    }
}

#[test]
fn free_field_l4() {
    check_free_field(4, 0.5, 1);
    check_free_field(4, 1.0, 2);
}

#[test]
fn free_field_l8() {
    check_free_field(8, 0.5, 3);
    check_free_field(8, 1.0, 4);
}

#[test]
fn free_field_with_an_external_field() {
    check_free_field_in(4, 0.5, 0.4, 7);
    check_free_field_in(8, 1.0, -0.7, 8);
}

#[test]
fn free_field_l16() {
    check_free_field(16, 0.5, 5);
    check_free_field(16, 1.0, 6);
}

/// A run split into short flushes gives exactly the chain of one long block.
#[test]
fn production_does_not_depend_on_flush_interval() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = Phi4::new(
        lat,
        Phi4Params {
            m2: -1.0,
            lambda: 1.0,
        },
    )
    .unwrap();
    let params = HmcParams {
        step_size: 0.1,
        n_steps: 5,
        integrator: Integrator::Omelyan,
        length_jitter: 0.5,
    };
    let run = |flush: Duration| {
        let mut chains: Vec<HmcChain> = (0..2)
            .map(|c| HmcChain::new(&action, Start::Cold, stream_rng(9, c), params))
            .collect();
        let mut sink = MemoryStore::sink(SamplerKind::Hmc, action.lattice().volume(), 2);
        run_production(&mut chains, &action, &[300, 200], &mut sink, flush, &mut ()).unwrap();
        sink
    };
    let a = run(Duration::ZERO);
    let b = run(Duration::from_secs(60));
    assert_eq!(a.records, b.records);
    assert_eq!(a.configs(0).len(), 300 * 16);
    assert_eq!(a.configs(1).len(), 200 * 16);
    let _ = action.lattice();
}

/// The "HMC pitfall" of docs/PHYSICS.md, made exact. With 10 leapfrog steps of ε = 0.1, a mode
/// of frequency ω turns by θ per step, cos θ = 1 − ε²ω²/2, and ω² = 2(p̂² + m²). At
/// m² = 2(1 − cos(π/10))/ε² / 2 − 4 = 0.8943… the six p̂² = 4 modes of a 4×4 lattice turn by
/// exactly π per trajectory. They only change sign and never equilibrate, so a fixed trajectory
/// length gives a wrong ⟨φ²⟩, far outside its error bar. The default randomised length
/// samples correctly. This shows that the free-field checks above can fail. The error analysis
/// sees the stuck modes too: the fixed-length replicas never decorrelate, so τ_int comes out
/// as a large fraction of the chain length.
#[test]
fn fixed_length_resonance_is_caught_and_jitter_cures_it() {
    let (eps, n) = (0.1, 10);
    let m2 = (1.0 - (std::f64::consts::PI / n as f64).cos()) / (eps * eps) - 4.0;
    let lat = Lattice::new(&[4, 4]).unwrap();
    let v = lat.volume();
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let exact = FreeField::new(lat, m2).unwrap().phi2();
    let run = |length_jitter: f64| {
        let params = HmcParams {
            step_size: eps,
            n_steps: n,
            integrator: Integrator::Leapfrog,
            length_jitter,
        };
        let mut chains: Vec<HmcChain> = (0..2)
            .map(|c| HmcChain::new(&action, Start::Hot, stream_rng(77, c), params))
            .collect();
        thermalize_all(&mut chains, &action, 200, None);
        let mut sink = MemoryStore::sink(SamplerKind::Hmc, action.lattice().volume(), 2);
        run_production(
            &mut chains,
            &action,
            &[5000, 5000],
            &mut sink,
            Duration::from_secs(1),
            &mut (),
        )
        .unwrap();
        let series: Vec<Vec<f64>> = (0..2)
            .map(|c| sink.configs(c))
            .map(|c| {
                c.chunks_exact(v)
                    .map(|phi| phi.iter().map(|x| x * x).sum::<f64>() / v as f64)
                    .collect()
            })
            .collect();
        estimate_mean(&series.iter().map(|s| s.as_slice()).collect::<Vec<_>>()).unwrap()
    };
    let fixed = run(0.0);
    let jittered = run(0.5);
    let pull = (jittered.value - exact) / jittered.error;
    assert!(
        pull.abs() < 4.0,
        "randomised length should be right: {jittered:?}, exact {exact}"
    );
    assert!(
        (fixed.value - exact).abs() > 10.0 * jittered.error && fixed.tau_int > 100.0,
        "fixed length should be wrong and undecorrelated: {fixed:?}, exact {exact}"
    );
}
