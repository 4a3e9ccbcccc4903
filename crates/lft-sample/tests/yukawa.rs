//! The Yukawa model on 4 × 4 (m² = −4, λ = 8, massless staggered fermions, g = 0.5 and 1):
//! exact-determinant HMC, pseudofermion HMC, single-site Metropolis with the exact determinant
//! and independence Metropolis with a flow trained on S_eff agree on ⟨|M|⟩/V, ⟨M²⟩/V and ⟨φ²⟩
//! within 4 combined standard errors (Γ-method).

use lft_action::{Action, Phi4Params, PseudofermionCg, Yukawa, YukawaExact, YukawaParams};
use lft_lattice::{Lattice, Pcg64, stream_rng, uniform};
use lft_sample::{
    FlowImh, HmcChain, HmcParams, Integrator, MemoryStore, Production, PseudofermionHmc,
    SamplerKind, Start, run_chains, run_production, thermalize_all, thermalize_chains,
};
use lft_stats::{Estimate, estimate_mean};
use std::time::Duration;

mod common;
use common::trained_flow;

const L: usize = 4;
const V: usize = L * L;

fn model(g: f64) -> Yukawa {
    let params = YukawaParams {
        phi4: Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
        g,
        mass: 0.0,
    };
    Yukawa::new(Lattice::new(&[L, L]).unwrap(), params).unwrap()
}

fn hmc_params() -> HmcParams {
    HmcParams {
        // Small steps keep the acceptance near 99 % (ε = 0.1 with Omelyan also gives 98–99 %
        // here and on 8 × 8); the test wants nearly independent trajectories, not speed.
        step_size: 0.05,
        n_steps: 20,
        integrator: Integrator::Omelyan,
        length_jitter: 0.5,
    }
}

/// Per configuration: |M|/V, M²/V, (1/V) Σ φ².
fn observables(configs: &[f64]) -> [Vec<f64>; 3] {
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for phi in configs.chunks_exact(V) {
        let m: f64 = phi.iter().sum();
        out[0].push(m.abs() / V as f64);
        out[1].push(m * m / V as f64);
        out[2].push(phi.iter().map(|p| p * p).sum::<f64>() / V as f64);
    }
    out
}

fn estimates(chains: &[Vec<f64>]) -> Vec<Estimate> {
    let per_chain: Vec<[Vec<f64>; 3]> = chains.iter().map(|c| observables(c)).collect();
    (0..3)
        .map(|k| {
            let replicas: Vec<&[f64]> = per_chain.iter().map(|o| o[k].as_slice()).collect();
            estimate_mean(&replicas).unwrap()
        })
        .collect()
}

fn exact_hmc(g: f64, n: usize) -> Vec<Vec<f64>> {
    let action = YukawaExact::new(model(g));
    let mut chains: Vec<HmcChain> = (0..2)
        .map(|c| HmcChain::new(&action, Start::Hot, stream_rng(11, c), hmc_params()))
        .collect();
    thermalize_all(&mut chains, &action, 200, None);
    let mut sink = MemoryStore::sink(SamplerKind::Hmc, V, 2);
    run_production(
        &mut chains,
        &action,
        &[n, n],
        &mut sink,
        Duration::from_secs(3600),
        &mut (),
    )
    .unwrap();
    (0..2).map(|c| sink.configs(c).to_vec()).collect()
}

fn pseudofermion_hmc(g: f64, n: usize) -> Vec<Vec<f64>> {
    let mut chains: Vec<PseudofermionHmc> = (0..2)
        .map(|c| {
            PseudofermionHmc::new(
                model(g),
                PseudofermionCg::default(),
                Start::Hot,
                stream_rng(12, c),
                hmc_params(),
            )
        })
        .collect();
    thermalize_chains(&mut chains, 200, None).unwrap();
    let mut sink = MemoryStore::sink(SamplerKind::Hmc, V, 2);
    let production = Production::new(SamplerKind::Hmc, V, 1, Duration::from_secs(3600));
    run_chains(&mut chains, &production, &[n, n], &mut sink, &mut ()).unwrap();
    assert!(chains[0].action().cg_counts().1 > 0);
    (0..2).map(|c| sink.configs(c).to_vec()).collect()
}

/// Single-site Metropolis on S_eff = S_φ⁴ − 2 log|det D| with the determinant recomputed by
/// dense LU for every proposal φ_x → φ_x + δu, u uniform in [−1, 1]. Records every sweep.
fn metropolis(g: f64, sweeps: usize, seed: u64) -> Vec<f64> {
    let action = YukawaExact::new(model(g));
    let mut rng: Pcg64 = stream_rng(seed, 0);
    let mut phi = vec![0.0; V];
    phi.iter_mut().for_each(|p| *p = uniform(&mut rng) - 0.5);
    let mut s = action.action(&phi);
    let delta = 0.8;
    let mut out = Vec::with_capacity(sweeps * V);
    for sweep in 0..sweeps + 500 {
        for x in 0..V {
            let old = phi[x];
            phi[x] = old + delta * (2.0 * uniform(&mut rng) - 1.0);
            let s_new = action.action(&phi);
            if uniform(&mut rng) < (s - s_new).exp() {
                s = s_new;
            } else {
                phi[x] = old;
            }
        }
        if sweep >= 500 {
            out.extend_from_slice(&phi);
        }
    }
    out
}

/// Independence Metropolis with a flow trained by reverse KL on S_eff (its gradient through
/// −2g diag D⁻¹). Returns the configurations and the fraction of them with det D < 0, a region
/// HMC started at det D > 0 never reaches.
fn flow_imh(g: f64, n: usize) -> (Vec<f64>, f64) {
    let action = YukawaExact::new(model(g));
    let flow = trained_flow(&action, 1500, 21);
    let (configs, records) = FlowImh::new(&flow, &action, 256, stream_rng(22, 0))
        .run(n)
        .unwrap();
    let acceptance = records.iter().filter(|r| r.accepted).count() as f64 / n as f64;
    eprintln!("g = {g}: flow acceptance {acceptance}");
    assert!(acceptance > 0.2, "g = {g}: flow acceptance {acceptance}");
    let negative = configs
        .chunks_exact(V)
        .filter(|phi| action.model().log_det(phi).1 < 0.0)
        .count();
    (configs, negative as f64 / n as f64)
}

fn assert_agree(name: &str, a: &Estimate, b: &Estimate) {
    let combined = (a.error.powi(2) + b.error.powi(2)).sqrt();
    assert!(
        (a.value - b.value).abs() < 4.0 * combined,
        "{name}: {a:?} vs {b:?} ({:.1}σ)",
        (a.value - b.value).abs() / combined
    );
}

#[test]
fn exact_hmc_pseudofermion_hmc_and_metropolis_agree() {
    let names = ["<|M|>/V", "<M^2>/V", "<phi^2>"];
    for g in [0.5, 1.0] {
        let exact = estimates(&exact_hmc(g, 4000));
        let pf = estimates(&pseudofermion_hmc(g, 4000));
        let metro = estimates(&[metropolis(g, 4000, 13), metropolis(g, 4000, 14)]);
        let (flow_configs, negative) = flow_imh(g, 20_000);
        let flow = estimates(&[flow_configs]);
        eprintln!("g = {g}: flow IMH has det D < 0 in {negative:.4} of its configurations");
        for k in 0..3 {
            eprintln!(
                "g = {g} {}: exact HMC {:.4} ± {:.4}, pf HMC {:.4} ± {:.4}, Metropolis {:.4} ± {:.4}, flow IMH {:.4} ± {:.4}",
                names[k],
                exact[k].value,
                exact[k].error,
                pf[k].value,
                pf[k].error,
                metro[k].value,
                metro[k].error,
                flow[k].value,
                flow[k].error
            );
            assert_agree(
                &format!("g={g} {} exact vs flow IMH", names[k]),
                &exact[k],
                &flow[k],
            );
            assert_agree(
                &format!("g={g} {} exact vs pf", names[k]),
                &exact[k],
                &pf[k],
            );
            assert_agree(
                &format!("g={g} {} exact vs Metropolis", names[k]),
                &exact[k],
                &metro[k],
            );
            assert_agree(
                &format!("g={g} {} pf vs Metropolis", names[k]),
                &pf[k],
                &metro[k],
            );
        }
    }
}
