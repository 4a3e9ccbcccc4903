//! The variance of lft-fermion's determinant estimator on fields of the Yukawa model
//! (m² = −4, λ = 8, massless): 40 exact-determinant HMC trajectories after 100 of
//! thermalisation, then 8 repeated estimates on every fourth field; prints Var(log estimate),
//! its mean bias against the dense log det (−Var/2 for log-normal noise), the time per estimate
//! and each rung's share. docs/PHYSICS.md has the table.
//!
//!   cargo run --release -p lft-sample --example pf_estimator_variance -- \
//!       L G TWIST_MIN RATIO DRAWS [TWIST_MAX=4] [free|mean-diagonal]
use lft_action::{Phi4Params, Yukawa, YukawaExact, YukawaParams};
use lft_fermion::{CgParams, DenseLu, DetEstimator, Reference};
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{
    HmcChain, HmcParams, Integrator, MemoryStore, SamplerKind, Start, run_production,
    thermalize_all,
};
use std::time::{Duration, Instant};

fn geometric(lo: f64, hi: f64, ratio: f64) -> Vec<f64> {
    let mut v = vec![lo];
    while v[v.len() - 1] * ratio < hi {
        v.push(v[v.len() - 1] * ratio);
    }
    v.push(hi);
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!(
            "usage: pf_estimator_variance L G TWIST_MIN RATIO DRAWS [TWIST_MAX] [free|mean-diagonal]"
        );
        std::process::exit(2);
    }
    let l: usize = args[1].parse().unwrap();
    let g: f64 = args[2].parse().unwrap();
    let lo: f64 = args[3].parse().unwrap();
    let ratio: f64 = args[4].parse().unwrap();
    let draws: usize = args[5].parse().unwrap();
    let top: f64 = args.get(6).map(|s| s.parse().unwrap()).unwrap_or(4.0);
    let v = l * l;
    let model = Yukawa::new(
        Lattice::new(&[l, l]).unwrap(),
        YukawaParams {
            phi4: Phi4Params {
                m2: -4.0,
                lambda: 8.0,
            },
            g,
            mass: 0.0,
        },
    )
    .unwrap();
    let action = YukawaExact::new(model.clone());
    let p = HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Omelyan,
        length_jitter: 0.5,
    };
    let mut chains = vec![HmcChain::new(&action, Start::Hot, stream_rng(1, 0), p)];
    thermalize_all(&mut chains, &action, 100, None);
    let mut sink = MemoryStore::sink(SamplerKind::Hmc, v, 1);
    run_production(
        &mut chains,
        &action,
        &[40],
        &mut sink,
        Duration::from_secs(3600),
        &mut (),
    )
    .unwrap();
    let configs = sink.configs(0).to_vec();
    let twists = geometric(lo, top, ratio);
    let reference = if args.get(7).map(|s| s.as_str()) == Some("free") {
        Reference::Free
    } else {
        Reference::MeanDiagonal
    };
    let est = DetEstimator::new(twists.clone(), draws, CgParams::default())
        .unwrap()
        .with_reference(reference);
    let mut rng = stream_rng(5, 0);
    let mut total_var = 0.0;
    let mut n = 0;
    let mut rung_var = vec![0.0; twists.len() + 1];
    let t0 = Instant::now();
    let mut count = 0;
    let mut bias = 0.0;
    for phi in configs.chunks_exact(v).step_by(4) {
        let dirac = model.dirac(phi);
        let exact = 2.0 * DenseLu::of(&dirac).log_abs_det();
        let reps: Vec<_> = (0..8)
            .map(|_| {
                count += 1;
                est.estimate_extended(&dirac, &mut rng).unwrap()
            })
            .collect();
        let logs: Vec<f64> = reps.iter().map(|r| r.log_det).collect();
        let m = logs.iter().sum::<f64>() / 8.0;
        bias += m - exact;
        total_var += logs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 7.0;
        for k in 0..rung_var.len() {
            let xs: Vec<f64> = reps.iter().map(|r| r.rungs[k]).collect();
            let m = xs.iter().sum::<f64>() / 8.0;
            rung_var[k] += xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 7.0;
        }
        n += 1;
    }
    let per = t0.elapsed().as_secs_f64() / count as f64;
    println!(
        "L={l} g={g} rungs={} draws={draws}: Var(log est) = {:.3}, mean(log est - exact) = {:.3}, {:.2} ms/estimate",
        twists.len() + 1,
        total_var / n as f64,
        bias / n as f64,
        per * 1e3
    );
    let rv: Vec<String> = rung_var
        .iter()
        .zip(twists.iter().chain([&top]))
        .map(|(x, mu)| format!("{mu:.3}:{:.3}", x / n as f64))
        .collect();
    println!("  per rung: {}", rv.join(" "));
}
