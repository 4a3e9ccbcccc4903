//! The Yukawa model of the sampler tests (m² = −4, λ = 8, massless staggered fermions on L × L)
//! with exact-determinant HMC as the reference and the observables compared.

#![allow(dead_code)]

use lft_action::{
    EstimatedAction, Phi4Params, PseudofermionCg, Yukawa, YukawaEstimated, YukawaExact,
    YukawaParams,
};
use lft_fermion::{CgParams, DetEstimator, Reference};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{
    HmcChain, HmcParams, Integrator, MarkovChain, MemoryStore, PseudofermionHmc, SamplerKind,
    Start, run_production, thermalize_all,
};
use lft_stats::{Estimate, estimate_mean};
use std::time::Duration;

/// Names of the observables of [`observables`].
pub const NAMES: [&str; 3] = ["<|M|>/V", "<M^2>/V", "<phi^2>"];

pub fn model(l: usize, g: f64) -> Yukawa {
    let params = YukawaParams {
        phi4: Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
        g,
        mass: 0.0,
    };
    Yukawa::new(Lattice::new(&[l, l]).unwrap(), params).unwrap()
}

pub fn hmc_params() -> HmcParams {
    HmcParams {
        // Small steps keep the acceptance near 99 % (ε = 0.1 with Omelyan also gives 98–99 %
        // here and on 8 × 8); the tests want nearly independent trajectories, not speed.
        step_size: 0.05,
        n_steps: 20,
        integrator: Integrator::Omelyan,
        length_jitter: 0.5,
    }
}

/// Per configuration of `[n, V]`: |M|/V, M²/V, (1/V) Σ φ².
pub fn observables(configs: &[f64], v: usize) -> [Vec<f64>; 3] {
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for phi in configs.chunks_exact(v) {
        let m: f64 = phi.iter().sum();
        out[0].push(m.abs() / v as f64);
        out[1].push(m * m / v as f64);
        out[2].push(phi.iter().map(|p| p * p).sum::<f64>() / v as f64);
    }
    out
}

/// The three observables' means over replica chains (Γ-method errors).
pub fn estimates(chains: &[Vec<f64>], v: usize) -> Vec<Estimate> {
    let per_chain: Vec<[Vec<f64>; 3]> = chains.iter().map(|c| observables(c, v)).collect();
    (0..3)
        .map(|k| {
            let replicas: Vec<&[f64]> = per_chain.iter().map(|o| o[k].as_slice()).collect();
            estimate_mean(&replicas).unwrap()
        })
        .collect()
}

/// Two exact-determinant HMC chains of `n` trajectories each after 200 of thermalisation.
pub fn exact_hmc(l: usize, g: f64, n: usize) -> Vec<Vec<f64>> {
    let v = l * l;
    let action = YukawaExact::new(model(l, g));
    let mut chains: Vec<HmcChain> = (0..2)
        .map(|c| HmcChain::new(&action, Start::Hot, stream_rng(11, c), hmc_params()))
        .collect();
    thermalize_all(&mut chains, &action, 200, None);
    let mut sink = MemoryStore::sink(SamplerKind::Hmc, v, 2);
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

/// Two pseudofermion-HMC chains (ε = 0.1 × 10, Omelyan; cold starts, 200 trajectories of
/// thermalisation) of `n` trajectories each: the reference where no determinant fits. Cold,
/// because at 16 × 16, g = 1 a hot start (φ_x standard normal) can make D(φ) so ill
/// conditioned that every force solve fails and the chain stops (CG_FAILURE_LIMIT).
pub fn pseudofermion_hmc(l: usize, g: f64, n: usize) -> Vec<Vec<f64>> {
    pseudofermion_hmc_seeded(l, g, n, 12)
}

/// [`pseudofermion_hmc`] from the streams (seed, 0) and (seed, 1).
pub fn pseudofermion_hmc_seeded(l: usize, g: f64, n: usize, seed: u64) -> Vec<Vec<f64>> {
    let params = HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Omelyan,
        length_jitter: 0.5,
    };
    (0..2)
        .map(|c| {
            let mut chain = PseudofermionHmc::new(
                model(l, g),
                PseudofermionCg::default(),
                Start::Cold,
                stream_rng(seed, c),
                params,
            );
            for _ in 0..200 {
                chain.trajectory().unwrap();
            }
            let mut configs = Vec::with_capacity(n * l * l);
            for _ in 0..n {
                chain.trajectory().unwrap();
                configs.extend_from_slice(chain.field());
            }
            configs
        })
        .collect()
}

/// Asserts |a − b| < 4 combined standard errors.
pub fn assert_agree(name: &str, a: &Estimate, b: &Estimate) {
    let combined = (a.error.powi(2) + b.error.powi(2)).sqrt();
    assert!(
        (a.value - b.value).abs() < 4.0 * combined,
        "{name}: {a:?} vs {b:?} ({:.1}σ)",
        (a.value - b.value).abs() / combined
    );
}

/// Prints `got` (from `label`) beside the exact-HMC estimates, observable by observable, and
/// asserts [`assert_agree`] on each.
pub fn compare(g: f64, label: &str, exact: &[Estimate], got: &[Estimate]) {
    compare_with(g, "exact HMC", exact, label, got);
}

/// [`compare`] against the estimates `reference` of the sampler `reference_label`.
pub fn compare_with(
    g: f64,
    reference_label: &str,
    reference: &[Estimate],
    label: &str,
    got: &[Estimate],
) {
    for k in 0..3 {
        eprintln!(
            "g = {g} {}: {reference_label} {:.4} ± {:.4}, {label} {:.4} ± {:.4}",
            NAMES[k], reference[k].value, reference[k].error, got[k].value, got[k].error
        );
        assert_agree(
            &format!("g={g} {} {label}", NAMES[k]),
            &reference[k],
            &got[k],
        );
    }
}

/// The variance of log d̂et at fixed φ: `repeats` repeated estimates on each of 16 evenly
/// spaced configurations of the chain `configs` (`[n, V]`), their sample variances averaged.
pub fn log_det_variance(
    target: &YukawaEstimated,
    configs: &[f64],
    v: usize,
    repeats: usize,
) -> f64 {
    let n = configs.len() / v;
    let probes: Vec<f64> = configs
        .chunks_exact(v)
        .step_by((n / 16).max(1))
        .map(|phi| {
            let logs = target.repeated_log_det(phi, repeats).unwrap();
            let m = logs.iter().sum::<f64>() / repeats as f64;
            logs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (repeats - 1) as f64
        })
        .collect();
    probes.iter().sum::<f64>() / probes.len() as f64
}

/// Twists lo, lo·r, lo·r², … below hi, then hi.
pub fn geometric(lo: f64, hi: f64, ratio: f64) -> Vec<f64> {
    let mut v = vec![lo];
    while v[v.len() - 1] * ratio < hi {
        v.push(v[v.len() - 1] * ratio);
    }
    v.push(hi);
    v
}

pub fn estimated(l: usize, g: f64, twists: Vec<f64>, draws: usize, seed: u64) -> YukawaEstimated {
    let est = DetEstimator::new(twists, draws, CgParams::default())
        .unwrap()
        .with_reference(Reference::MeanDiagonal);
    YukawaEstimated::new(model(l, g), est, CgParams::default(), seed)
}

/// For training only the force matters (the estimate enters the reported loss): one twist and
/// one draw keep the loss cheap.
pub fn training_target(l: usize, g: f64, seed: u64) -> YukawaEstimated {
    estimated(l, g, vec![3.0], 1, seed)
}
