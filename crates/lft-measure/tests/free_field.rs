//! Measurements of HMC free-field ensembles against exact results (docs/PHYSICS.md): C(t),
//! m_eff(t), the pole mass cosh m_p = 1 + m²/2, G_c(x), χ₂, ⟨φ²⟩, the Ising energy, the Binder
//! cumulant (0 for a Gaussian) and ⟨S⟩/V; plain chains and importance-weighted samples.

use lft_action::{FreeField, Phi4, Phi4Params};
use lft_lattice::{Lattice, LatticeFft, stream_rng};
use lft_measure::{AnalysisOptions, ChainSeries, Geometry, Measurement, SeriesBuilder, analyze};
use lft_sample::{
    HmcChain, HmcParams, Integrator, MemoryStore, SamplerKind, Start, run_production,
    thermalize_all,
};
use std::time::Duration;

const SHAPE: [usize; 2] = [16, 4];
const M2: f64 = 0.5;
const N: usize = 20_000;

/// Two HMC chains of the free field m² = 0.5 on 16×4, as (configurations, actions) per chain.
fn ensemble() -> (Lattice, MemoryStore) {
    let lat = Lattice::new(&SHAPE).unwrap();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: M2,
            lambda: 0.0,
        },
    )
    .unwrap();
    let params = HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Leapfrog,
        length_jitter: 0.5,
    };
    let mut chains: Vec<HmcChain> = (0..2)
        .map(|c| HmcChain::new(&action, Start::Hot, stream_rng(31, c), params))
        .collect();
    thermalize_all(&mut chains, &action, 200, None);
    let mut sink = MemoryStore::sink(SamplerKind::Hmc, lat.volume(), 2);
    run_production(
        &mut chains,
        &action,
        &[N, N],
        &mut sink,
        Duration::from_secs(1),
        &mut (),
    )
    .unwrap();
    (lat, sink)
}

fn series(
    lat: &Lattice,
    sink: &MemoryStore,
    log_weight: impl Fn(&[f64]) -> Option<f64>,
) -> Vec<ChainSeries> {
    let fft = LatticeFft::new(lat);
    let v = lat.volume();
    (0..2)
        .map(|c| {
            let mut b = SeriesBuilder::new(lat, &fft, 100);
            let mut lw = Vec::new();
            for (phi, r) in sink
                .configs(c)
                .chunks_exact(v)
                .zip(sink.column(c, "action"))
            {
                b.push(phi, *r);
                if let Some(w) = log_weight(phi) {
                    lw.push(w);
                }
            }
            b.finish_weighted((!lw.is_empty()).then_some(lw))
        })
        .collect()
}

fn check(m: &Measurement, m2: f64, what: &str) {
    let lat = Lattice::new(&SHAPE).unwrap();
    let exact = FreeField::new(lat.clone(), m2).unwrap();
    let v = lat.volume() as f64;
    let g = exact.propagator();
    let pull = |name: &str, value: f64, error: f64, truth: f64, n_sigma: f64| {
        assert!(
            (value - truth).abs() < n_sigma * error,
            "{what} {name}: {value} ± {error} vs exact {truth} ({:.1}σ)",
            (value - truth) / error
        );
    };
    let obs = |k: &str| m.observables[k];
    let energy = 0.5 * (g[lat.index(&[1, 0])] + g[lat.index(&[0, 1])]);
    for (k, truth) in [
        ("chi2", exact.chi2()),
        ("phi2", exact.phi2()),
        ("ising_energy", energy),
        ("action_density", exact.mean_action() / v),
        ("magnetization", 0.0),
        ("binder", 0.0),
    ] {
        if what == "weighted" && k == "action_density" {
            continue; // S is the action of the sampled theory, not of the reweighted one
        }
        pull(k, obs(k).value, obs(k).error, truth, 4.0);
    }
    let c_exact = exact.correlator();
    for p in &m.correlator {
        pull(&format!("C({})", p.t), p.value, p.error, c_exact[p.t], 4.0);
    }
    let mp = exact.pole_mass();
    assert!(
        m.effective_mass.len() >= 6,
        "{what}: {} effective masses",
        m.effective_mass.len()
    );
    for p in &m.effective_mass {
        pull(&format!("m_eff({})", p.t), p.value, p.error, mp, 4.0);
    }
    let pm = m.pole_mass.expect("a plateau");
    pull("pole mass", pm.value, pm.error, mp, 3.0);
    if let Some(prop) = &m.propagator {
        for x in 0..lat.volume() {
            pull(
                &format!("G_c({x})"),
                prop.value[x],
                prop.error[x],
                g[x],
                4.0,
            );
        }
    }
}

#[test]
fn free_field_measurements_are_exact_within_errors() {
    let (lat, sink) = ensemble();
    let chains = series(&lat, &sink, |_| None);
    let geometry = Geometry {
        shape: SHAPE.to_vec(),
    };
    let m = analyze(&chains, &geometry, &AnalysisOptions::default(), None).unwrap();
    assert!(m.propagator.is_some());
    check(&m, M2, "plain");
    // A user-chosen fit range gives a consistent pole mass.
    let fixed = analyze(
        &chains,
        &geometry,
        &AnalysisOptions {
            fit_range: Some((2, 6)),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let pm = fixed.pole_mass.unwrap();
    assert_eq!(pm.fit_range, [2, 6]);
    let exact = FreeField::new(lat, M2).unwrap().pole_mass();
    assert!(
        (pm.value - exact).abs() < 3.0 * pm.error,
        "{pm:?} vs {exact}"
    );
}

/// The same configurations reweighted from m² = 0.5 to m² = 0.6, log w = −(0.6 − 0.5) Σ_x φ_x²,
/// reproduce the exact results of m² = 0.6.
#[test]
fn reweighted_free_field_is_exact_within_errors() {
    let (lat, sink) = ensemble();
    let target = 0.6;
    let chains = series(&lat, &sink, |phi| {
        Some(-(target - M2) * phi.iter().map(|x| x * x).sum::<f64>())
    });
    let geometry = Geometry {
        shape: SHAPE.to_vec(),
    };
    let m = analyze(
        &chains,
        &geometry,
        &AnalysisOptions {
            bin: Some(50),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert!(m.weighted);
    let ess = m.ess.unwrap();
    assert!(ess > 0.3 && ess < 1.0, "ESS {ess}");
    check(&m, target, "weighted");
}
