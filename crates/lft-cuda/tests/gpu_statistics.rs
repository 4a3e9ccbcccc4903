//! Long runs on a real GPU (skipped, with a message, where there is none; `LFT_REQUIRE_GPU=1`
//! makes that a failure): the device's HMC samples the CPU's distribution at the E2 point of
//! Albergo, Kanwar, Shanahan (8 × 8, m² = −4, λ = 6.008), and device SMC gives the exact log Z
//! of the free field on 8 × 8. Too slow for the host emulator; `scripts/gpu-check.sh` runs
//! them on the lent GPU machine.

mod common;
use lft_action::{FreeField, Phi4, Phi4Params};
use lft_cuda::{DeviceAnnealer, DeviceHmcSampler};
use lft_flow::{Prior, PriorSpec};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::anneal::{Resampling, Schedule, SmcSettings};
use lft_sample::{
    HmcChain, HmcParams, Integrator, MemoryStore, RunPlan, Start, run, thermalize_all,
};
use lft_stats::{GammaOptions, gamma_method};
use std::time::Duration;

const E2: Phi4Params = Phi4Params {
    m2: -4.0,
    lambda: 6.008,
};

/// (⟨|M|⟩/V, χ₂ = ⟨M²⟩/V) with Γ-method errors from per-chain series of M.
fn observables(series: &[Vec<f64>], v: f64) -> [(f64, f64); 2] {
    let abs: Vec<Vec<f64>> = series
        .iter()
        .map(|m| m.iter().map(|x| x.abs() / v).collect())
        .collect();
    let sq: Vec<Vec<f64>> = series
        .iter()
        .map(|m| m.iter().map(|x| x * x / v).collect())
        .collect();
    [&abs, &sq].map(|s| {
        let replicas: Vec<&[f64]> = s.iter().map(Vec::as_slice).collect();
        let r = gamma_method(&[replicas], &|m| m[0], GammaOptions::default())
            .expect("a long enough series");
        (r.value, r.error)
    })
}

#[test]
fn device_hmc_samples_the_cpus_distribution_at_e2() {
    let Some(gpu) = common::gpu("HMC at E2") else {
        return;
    };
    let lattice = Lattice::new(&[8, 8]).unwrap();
    let v = lattice.volume();
    let action = Phi4::new(lattice.clone(), E2).unwrap();
    let params = HmcParams {
        step_size: 0.2,
        n_steps: 5,
        integrator: Integrator::Omelyan,
        length_jitter: 0.1,
    };
    // GPU: 256 chains × 4000 trajectories after 300 of thermalisation.
    let chains = 256;
    let sampler = DeviceHmcSampler::new(
        gpu,
        action.clone(),
        chains,
        params,
        Start::Hot,
        5,
        300,
        None,
    )
    .unwrap();
    let mut store = MemoryStore::new(v);
    let plan = RunPlan {
        chains,
        steps: 4000,
        save_every: 1,
        flush_every: Duration::from_secs(1),
        first_chain: 0,
        stop: None,
    };
    run(&sampler, &mut store, &plan, &mut ()).unwrap();
    let magnetisation =
        |configs: &[f64]| -> Vec<f64> { configs.chunks_exact(v).map(|c| c.iter().sum()).collect() };
    let device: Vec<Vec<f64>> = (0..chains)
        .map(|c| magnetisation(store.configs(c)))
        .collect();
    // CPU: 8 chains × 20 000 trajectories.
    let mut cpu: Vec<HmcChain> = (0..8)
        .map(|c| HmcChain::new(&action, Start::Hot, stream_rng(9, c), params))
        .collect();
    thermalize_all(&mut cpu, &action, 500, None);
    let cpu_series: Vec<Vec<f64>> = cpu
        .iter_mut()
        .map(|chain| {
            (0..20_000)
                .map(|_| {
                    chain.trajectory(&action);
                    chain.field().iter().sum()
                })
                .collect()
        })
        .collect();
    let (d, c) = (
        observables(&device, v as f64),
        observables(&cpu_series, v as f64),
    );
    for (name, (dv, de), (cv, ce)) in [("<|M|>/V", d[0], c[0]), ("chi_2", d[1], c[1])] {
        let sigma = (de * de + ce * ce).sqrt();
        eprintln!("{name}: GPU {dv:.5} ± {de:.5}, CPU {cv:.5} ± {ce:.5}");
        assert!(
            (dv - cv).abs() < 3.0 * sigma,
            "{name}: GPU {dv} ± {de}, CPU {cv} ± {ce}"
        );
    }
}

#[test]
fn device_smc_gives_the_exact_free_field_log_z_on_8x8() {
    let Some(gpu) = common::gpu("SMC on 8 × 8") else {
        return;
    };
    let lattice = Lattice::new(&[8, 8]).unwrap();
    let couplings = Phi4Params {
        m2: 1.0,
        lambda: 0.0,
    };
    let action = Phi4::new(lattice.clone(), couplings).unwrap();
    let exact = FreeField::new(lattice.clone(), 1.0).unwrap().log_z();
    let prior = Prior::new(PriorSpec::StandardNormal, &lattice).unwrap();
    let s = SmcSettings {
        particles: 1024,
        schedule: Schedule::Linear { steps: 40 },
        resampling: Some(Resampling::Systematic),
        ess_threshold: 0.5,
        hmc: HmcParams {
            step_size: 0.2,
            n_steps: 5,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.5,
        },
        trajectories: 2,
        step_knots: Vec::new(),
        target_acceptance: None,
    };
    let mut annealer = DeviceAnnealer::new(gpu, &lattice, couplings, &prior, s.particles).unwrap();
    let z: Vec<f64> = (0..16)
        .map(|p| {
            annealer
                .pass(&prior, &action, &s, 7, p, None)
                .unwrap()
                .log_z
        })
        .collect();
    let n = z.len() as f64;
    let mean = z.iter().sum::<f64>() / n;
    let se = (z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    eprintln!("log Z on 8 × 8: GPU {mean:.4} ± {se:.4}, exact {exact:.4}");
    assert!(
        (mean - exact).abs() < 3.0 * se,
        "{mean} ± {se} against {exact}"
    );
}
