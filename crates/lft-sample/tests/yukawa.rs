//! The Yukawa model on 4 × 4 (m² = −4, λ = 8, massless staggered fermions, g = 0.5 and 1):
//! exact-determinant HMC, pseudofermion HMC, single-site Metropolis with the exact determinant
//! and independence Metropolis with a flow trained on S_eff agree on ⟨|M|⟩/V, ⟨M²⟩/V and ⟨φ²⟩
//! within 4 combined standard errors (Γ-method).

use lft_action::{Action, PseudofermionAction, PseudofermionCg, Yukawa, YukawaExact};
use lft_lattice::{Pcg64, stream_rng, uniform};
use lft_sample::{
    FlowImh, MemoryStore, Production, PseudofermionHmc, SamplerKind, Start, run_chains,
    thermalize_chains,
};
use lft_stats::Estimate;
use std::time::Duration;

mod common;
use common::trained_flow;
use common::yukawa::{self, assert_agree, hmc_params};

const L: usize = 4;
const V: usize = L * L;

fn model(g: f64) -> Yukawa {
    yukawa::model(L, g)
}

fn estimates(chains: &[Vec<f64>]) -> Vec<Estimate> {
    yukawa::estimates(chains, V)
}

fn exact_hmc(g: f64, n: usize) -> Vec<Vec<f64>> {
    yukawa::exact_hmc(L, g, n)
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

#[test]
fn exact_hmc_pseudofermion_hmc_and_metropolis_agree() {
    let names = yukawa::NAMES;
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

/// A trajectory on which CG fails is rejected and counted, the chain stays where it was, and
/// the `CG_FAILURE_LIMIT`-th failure in a row returns the error: with one CG iteration allowed,
/// every force solve fails.
#[test]
fn pseudofermion_hmc_rejects_trajectories_whose_solves_fail() {
    use lft_fermion::{CgParams, FermionError};
    use lft_sample::{CG_FAILURE_LIMIT, MarkovChain};
    let starved = CgParams {
        tolerance: 1e-8,
        max_iterations: 1,
    };
    let cg = PseudofermionCg {
        force: starved,
        action: starved,
    };
    let mut chain =
        PseudofermionHmc::new(model(1.0), cg, Start::Hot, stream_rng(3, 0), hmc_params());
    let start = chain.field().to_vec();
    for k in 1..CG_FAILURE_LIMIT {
        let record = chain.trajectory().unwrap();
        assert!(!record.accepted, "trajectory {k}");
        assert_eq!(chain.field(), start.as_slice());
        assert_eq!(chain.cg_failures(), k as u64);
    }
    let err = chain.trajectory().unwrap_err();
    assert!(matches!(err, FermionError::CgNotConverged { .. }), "{err}");
    assert_eq!(chain.cg_failures(), CG_FAILURE_LIMIT as u64);
}
