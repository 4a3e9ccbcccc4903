//! The freezing curve of 2D U(1) (docs/PERFORMANCE.md, issue 36): at L = 16 and β = 2 … 6,
//! HMC (trajectory length 1, 10 leapfrog steps) and heat bath (2 overrelaxation sweeps per
//! sweep), each `chains` chains of `steps` steps after a tenth as many of thermalisation: the
//! integrated autocorrelation times of Q and of the plaquette (Γ method), how often Q changes
//! per step, ⟨Q²⟩ against the exact value, and the error of ⟨Q²⟩ reached per second of wall
//! clock (error × √seconds, smaller is better). Then SMC from the Haar measure at the last β
//! (the settings of configs/u1-anneal.toml), `passes` passes, the same error per second.
//!
//!     cargo run --release -p lft-sample --example u1_freezing -- [steps] [chains] [passes] [betas...]
//!
//! SMC_PARTICLES (256), SMC_TARGET_ESS (0.97) and SMC_TRAJECTORIES (3) change the SMC settings;
//! `passes = 0` leaves SMC out. U1_L (16) sets the lattice size.

use lft_action::{Action, U1Exact, U1Wilson};
use lft_flow::{Prior, PriorSpec};
use lft_lattice::gauge::{average_plaquette, topological_charge};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::anneal::{Resampling, Schedule, SmcSettings, smc_pass};
use lft_sample::{HeatbathChain, HmcChain, HmcParams, Integrator, Start};
use lft_stats::{GammaOptions, gamma_method, normalized_weights};
use rayon::prelude::*;
use std::time::Instant;

/// (value, error, τ_int) of the mean of per-chain series (error 0 and τ_int NaN where the
/// Γ method has nothing to work with: a frozen chain).
fn gamma(series: &[Vec<f64>]) -> (f64, f64, f64) {
    let replicas: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
    match gamma_method(&[replicas], &|m| m[0], GammaOptions::default()) {
        Ok(r) => (r.value, r.error, r.tau_int),
        Err(_) => {
            let n: usize = series.iter().map(Vec::len).sum();
            (
                series.iter().flatten().sum::<f64>() / n as f64,
                0.0,
                f64::NAN,
            )
        }
    }
}

/// Per chain: the series of Q and of the plaquette, and the number of Q changes.
fn run_chains(
    chains: usize,
    steps: usize,
    step: &(dyn Fn(u64) -> Box<dyn FnMut() -> Vec<f64> + Send> + Sync),
    lattice: &Lattice,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, usize, f64) {
    let t = Instant::now();
    let results: Vec<(Vec<f64>, Vec<f64>)> = (0..chains as u64)
        .into_par_iter()
        .map(|c| {
            let mut next = step(c);
            for _ in 0..steps / 10 {
                next();
            }
            let (mut q, mut p) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
            for _ in 0..steps {
                let theta = next();
                q.push(topological_charge(lattice, &theta).round());
                p.push(average_plaquette(lattice, &theta));
            }
            (q, p)
        })
        .collect();
    let seconds = t.elapsed().as_secs_f64();
    let changes = results
        .iter()
        .map(|(q, _)| q.windows(2).filter(|w| w[0] != w[1]).count())
        .sum();
    let (q, p) = results.into_iter().unzip();
    (q, p, changes, seconds)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (steps, chains, passes) = (num(1, 20_000), num(2, 4), num(3, 8));
    let betas: Vec<f64> = if args.len() > 4 {
        args[4..].iter().map(|s| s.parse().expect("a β")).collect()
    } else {
        vec![2.0, 3.0, 4.0, 5.0, 6.0]
    };
    let l: usize = std::env::var("U1_L")
        .ok()
        .map(|v| v.parse().expect("U1_L: a lattice size"))
        .unwrap_or(16);
    let lattice = Lattice::new(&[l, l]).unwrap();
    println!(
        "L = {l}, {chains} chains × {steps} steps (after {} of thermalisation) per sampler and β; \
         {} threads",
        steps / 10,
        rayon::current_num_threads()
    );
    println!(
        "| β | sampler | τ_int(Q) | τ_int(plaq) | Q changes per step | ⟨Q²⟩ | exact ⟨Q²⟩ | error × √s | time per step |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &beta in &betas {
        let action = U1Wilson::new(lattice.clone(), beta).unwrap();
        let exact = U1Exact::new(beta, l * l).unwrap();
        let params = HmcParams {
            step_size: 0.1,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.0,
        };
        let hmc = |c: u64| -> Box<dyn FnMut() -> Vec<f64> + Send> {
            let mut chain = HmcChain::new(&action, Start::Hot, stream_rng(1, c), params);
            let action = action.clone();
            Box::new(move || {
                chain.trajectory(&action);
                chain.field().to_vec()
            })
        };
        let heatbath = |c: u64| -> Box<dyn FnMut() -> Vec<f64> + Send> {
            let action = Box::leak(Box::new(action.clone()));
            let mut chain = HeatbathChain::new(action, Start::Hot, stream_rng(2, c), 2);
            Box::new(move || {
                chain.sweep();
                chain.field().to_vec()
            })
        };
        for (name, step) in [
            (
                "HMC",
                &hmc as &(dyn Fn(u64) -> Box<dyn FnMut() -> Vec<f64> + Send> + Sync),
            ),
            ("heat bath", &heatbath),
        ] {
            let (q, p, changes, seconds) = run_chains(chains, steps, step, &lattice);
            let q2: Vec<Vec<f64>> = q
                .iter()
                .map(|s| s.iter().map(|x| x * x).collect())
                .collect();
            let (_, _, tau_q) = gamma(&q);
            let (_, _, tau_p) = gamma(&p);
            let (m, e, _) = gamma(&q2);
            let per_step = seconds / (chains * steps + chains * steps / 10) as f64 * chains as f64;
            println!(
                "| {beta} | {name} | {tau_q:.1} | {tau_p:.2} | {:.4} | {m:.3} ± {e:.3} | {:.3} | {:.3} | {:.1} µs |",
                changes as f64 / (chains * (steps - 1)) as f64,
                exact.q2(),
                e * seconds.sqrt(),
                per_step * 1e6,
            );
        }
    }
    if passes == 0 {
        return;
    }
    // SMC at the last β.
    let beta = *betas.last().expect("a β");
    let action = U1Wilson::new(lattice.clone(), beta).unwrap();
    let exact = U1Exact::new(beta, l * l).unwrap();
    let prior = Prior::new(PriorSpec::Uniform, &lattice).unwrap();
    let env = |name: &str, default: f64| -> f64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let particles = env("SMC_PARTICLES", 256.0) as usize;
    let settings = SmcSettings {
        particles,
        schedule: Schedule::Adaptive {
            target: env("SMC_TARGET_ESS", 0.97),
        },
        resampling: Some(Resampling::Systematic),
        ess_threshold: 0.5,
        hmc: HmcParams {
            step_size: 0.15,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.0,
        },
        trajectories: env("SMC_TRAJECTORIES", 3.0) as usize,
        step_knots: Vec::new(),
        target_acceptance: None,
    };
    let t = Instant::now();
    let (mut log_z, mut q2_per_pass) = (Vec::new(), Vec::new());
    for p in 0..passes as u64 {
        let pass = smc_pass(&prior, &action, &settings, 6, p).unwrap();
        let w = normalized_weights(&pass.log_weights);
        let q2: f64 = pass
            .particles
            .chunks_exact(action.state_len())
            .zip(&w)
            .map(|(theta, w)| w * topological_charge(&lattice, theta).round().powi(2))
            .sum();
        log_z.push(pass.log_z);
        q2_per_pass.push(q2);
    }
    let seconds = t.elapsed().as_secs_f64();
    let n = passes as f64;
    let mean = |x: &[f64]| x.iter().sum::<f64>() / n;
    let error =
        |x: &[f64], m: f64| (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    let (mq, mz) = (mean(&q2_per_pass), mean(&log_z));
    let (eq, ez) = (error(&q2_per_pass, mq), error(&log_z, mz));
    println!(
        "| {beta} | SMC ({passes} passes of {particles}, target ESS {}, {} trajectories) | | | | {mq:.3} ± {eq:.3} | {:.3} | {:.3} | {:.2} s per pass |",
        env("SMC_TARGET_ESS", 0.97),
        settings.trajectories,
        exact.q2(),
        eq * seconds.sqrt(),
        seconds / n
    );
    println!("SMC log Z = {mz:.3} ± {ez:.3}, exact {:.4}", exact.log_z());
}
