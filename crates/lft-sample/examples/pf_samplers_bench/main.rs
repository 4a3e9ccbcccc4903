//! Time per effective sample of ⟨|M|⟩/V and ⟨M²⟩/V for the Yukawa samplers that need no
//! determinant, side by side in one run (m² = −4, λ = 8, massless, L × L): pseudofermion HMC;
//! and, with one flow q(φ) (its training time printed apart), exact-determinant flow IMH
//! (L ≤ 16), pseudo-marginal IMH with the default ladder and with a conditional pseudofermion
//! flow (16 draws per estimate), joint IMH (one draw) and joint flow-HMC; and SMC on the joint
//! (φ, ϕ) target. docs/PERFORMANCE.md has the results.
//!
//!   cargo run --release -p lft-sample --example pf_samplers_bench -- L G [FLOW_STEPS=1500] [N=4000] [PASSES=4] [PARTICLES=128] [TRAINING=reverse] [IMH_STEPS=N] [SMC_PRIOR=normal] [PF_STEPS=600]
//!
//! TRAINING = reverse trains q(φ) by reverse KL on pseudofermion forces from N(0, 1); forward
//! trains it by forward KL on N configurations of an independent pseudofermion-HMC chain, from
//! the Z₂ mixture prior (both timed apart, the forward one with its data). SMC_PRIOR = mixture
//! starts SMC's φ from ½ N(+0.34, 1) + ½ N(−0.34, 1) instead of N(0, 1), with four HMC
//! trajectories per temperature instead of two. PF_STEPS is the
//! conditional pseudofermion flow's training steps. HMC and flow-HMC
//! run N steps, the exact-determinant and joint IMH chains IMH_STEPS, the ladder N/8 at L ≤ 16
//! and N/32 beyond (it costs ~100 ms an estimate at L = 16). The time per effective sample is
//! wall time × 2τ_int / steps with the larger τ_int of the two. SMC runs PASSES passes of
//! PARTICLES particles; its effective samples are σ²/Var(pass mean) × PASSES, with σ² the weighted variance of the observable
//! over all particles and Var(pass mean) the scatter of the passes' weighted means.
use lft_action::{
    Action, FlowDetEstimator, Phi4Params, PseudofermionCg, PseudofermionFlow, Yukawa,
    YukawaEstimated, YukawaExact, YukawaParams,
};
use lft_fermion::{CgParams, DetEstimator, Reference};
use lft_flow::PriorSpec;
use lft_lattice::{Lattice, stream_rng};
use lft_sample::{
    FlowImh, HmcParams, Integrator, JointFlowHmcSampler, MarkovChain, PfFlowTraining,
    PseudofermionHmc, Sampler, Start, train_pf_flow,
};
use lft_stats::estimate_mean;
use std::time::Instant;

mod flows;
mod smc;
use flows::{forward_kl_flow, reverse_kl_flow};
use smc::smc_row;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i)
        .map(|s| s.parse().ok().expect("a number"))
        .unwrap_or(default)
}

/// Geometric twists lo … hi at `ratio`.
fn ladder(lo: f64, hi: f64, ratio: f64) -> Vec<f64> {
    let mut v = vec![lo];
    while v[v.len() - 1] * ratio < hi {
        v.push(v[v.len() - 1] * ratio);
    }
    v.push(hi);
    v
}

/// Prints one row: the sampler, its steps, wall time, acceptance, τ_int of |M| and M², and the
/// time per effective sample.
fn report(name: &str, configs: &[f64], v: usize, seconds: f64, acceptance: f64) {
    let (mut abs_m, mut m2) = (Vec::new(), Vec::new());
    for phi in configs.chunks_exact(v) {
        let m: f64 = phi.iter().sum();
        abs_m.push(m.abs() / v as f64);
        m2.push(m * m / v as f64);
    }
    let a = estimate_mean(&[&abs_m]).unwrap();
    let b = estimate_mean(&[&m2]).unwrap();
    let n = abs_m.len() as f64;
    let tau = a.tau_int.max(b.tau_int);
    println!(
        "| {name} | {n} | {seconds:.1} s | {acceptance:.3} | {:.4}({:.0}) | {:.3}({:.0}) | {:.1} / {:.1} | {:.2} ms |",
        a.value,
        a.error * 1e4,
        b.value,
        b.error * 1e3,
        a.tau_int,
        b.tau_int,
        1e3 * seconds * 2.0 * tau / n
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!(
            "usage: pf_samplers_bench L G [FLOW_STEPS] [N] [PASSES] [PARTICLES] [reverse|forward] [IMH_STEPS] [normal|mixture] [PF_STEPS]"
        );
        std::process::exit(2);
    }
    let l: usize = arg(&args, 1, 16);
    let g: f64 = arg(&args, 2, 1.0);
    let flow_steps: usize = arg(&args, 3, 1500);
    let n: usize = arg(&args, 4, 4000);
    let smc_passes: u64 = arg(&args, 5, 4);
    let smc_particles: usize = arg(&args, 6, 128);
    let forward = match args.get(7).map(String::as_str) {
        None | Some("reverse") => false,
        Some("forward") => true,
        Some(other) => {
            eprintln!("TRAINING is reverse or forward, not {other}");
            std::process::exit(2);
        }
    };
    let imh_steps: usize = arg(&args, 8, n);
    let smc_prior = match args.get(9).map(String::as_str) {
        None | Some("normal") => PriorSpec::StandardNormal,
        Some("mixture") => PriorSpec::Z2Mixture { shift: 0.34 },
        Some(other) => {
            eprintln!("SMC_PRIOR is normal or mixture, not {other}");
            std::process::exit(2);
        }
    };
    let pf_steps: usize = arg(&args, 10, 600);
    let v = l * l;
    let params = YukawaParams {
        phi4: Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
        g,
        mass: 0.0,
    };
    let model = || Yukawa::new(Lattice::new(&[l, l]).unwrap(), params).unwrap();
    let cg = PseudofermionCg::default();
    let hmc = HmcParams {
        step_size: 0.1,
        n_steps: 10,
        integrator: Integrator::Omelyan,
        length_jitter: 0.5,
    };
    println!("L = {l}, g = {g}, {n} steps per sampler");
    println!(
        "| sampler | steps | wall | acceptance | <|M|>/V | <M^2>/V | tau_int |M|, M^2 | per effective sample |"
    );
    println!("|---|---|---|---|---|---|---|---|");

    // Pseudofermion HMC from a cold start, after 200 trajectories of thermalisation.
    let mut chain = PseudofermionHmc::new(model(), cg, Start::Cold, stream_rng(1, 0), hmc);
    for _ in 0..200 {
        chain.trajectory().unwrap();
    }
    let t = Instant::now();
    let mut configs = Vec::with_capacity(n * v);
    let mut accepted = 0;
    for _ in 0..n {
        accepted += usize::from(chain.trajectory().unwrap().accepted);
        configs.extend_from_slice(chain.field());
    }
    let hmc_seconds = t.elapsed().as_secs_f64();
    if chain.cg_failures() > 0 {
        println!(
            "pseudofermion HMC: {} trajectories rejected for a failed CG solve",
            chain.cg_failures()
        );
    }
    report(
        "pseudofermion HMC (ε = 0.1 × 10, Omelyan)",
        &configs,
        v,
        hmc_seconds,
        accepted as f64 / n as f64,
    );

    // One flow q(φ) for the flow samplers.
    let t = Instant::now();
    let flow = if forward {
        forward_kl_flow(&model, cg, hmc, flow_steps, n)
    } else {
        reverse_kl_flow(&model, flow_steps)
    };
    let flow_seconds = t.elapsed().as_secs_f64();
    let mut pf_flow = PseudofermionFlow::standard(2, 2);
    let t = Instant::now();
    let settings = PfFlowTraining {
        steps: pf_steps,
        seed: 5,
        ..PfFlowTraining::default()
    };
    train_pf_flow(&mut pf_flow, &flow, &model(), &settings, &mut |_| {}).unwrap();
    let pf_seconds = t.elapsed().as_secs_f64();

    let imh = |name: &str, target: &dyn Action, steps: usize| {
        let t = Instant::now();
        let (configs, records) = FlowImh::new(&flow, target, 256, stream_rng(22, 0))
            .run(steps)
            .unwrap();
        let acc = records.iter().filter(|r| r.accepted).count() as f64 / steps as f64;
        report(name, &configs, v, t.elapsed().as_secs_f64(), acc);
    };
    if l <= 16 {
        imh(
            "exact-determinant flow IMH",
            &YukawaExact::new(model()),
            imh_steps,
        );
    }
    let ladder_target = YukawaEstimated::new(
        model(),
        DetEstimator::new(ladder(0.01, 3.0, 1.15), 2, CgParams::default())
            .unwrap()
            .with_reference(Reference::MeanDiagonal),
        CgParams::default(),
        32,
    );
    imh(
        "pseudo-marginal IMH (default ladder)",
        &ladder_target,
        if l <= 16 { n / 8 } else { n / 32 },
    );
    let joint = YukawaEstimated::new(
        model(),
        FlowDetEstimator::new(pf_flow.clone(), 16, CgParams::default()).unwrap(),
        CgParams::default(),
        33,
    );
    imh(
        "pseudo-marginal IMH (flow estimator, 16 draws)",
        &joint,
        imh_steps,
    );
    let joint_one = YukawaEstimated::new(
        model(),
        FlowDetEstimator::new(pf_flow.clone(), 1, CgParams::default()).unwrap(),
        CgParams::default(),
        34,
    );
    imh("joint IMH (1 draw)", &joint_one, imh_steps);
    let yukawa = model();
    let sampler = JointFlowHmcSampler {
        proposal: &flow,
        pf_flow: &pf_flow,
        model: &yukawa,
        cg,
        params: hmc,
        hmc_per_step: 1,
        seed: 23,
        flow_step: 0,
        inverse_check: Default::default(),
    };
    let mut chain = sampler.fresh(0);
    let t = Instant::now();
    let (configs, records) = chain.run(n).unwrap();
    let acc = records.iter().filter(|r| r.flow_accepted).count() as f64 / n as f64;
    report(
        "joint flow-HMC (1 trajectory per step)",
        &configs,
        v,
        t.elapsed().as_secs_f64(),
        acc,
    );
    smc_row(&model(), cg, smc_prior, smc_passes, smc_particles);
    println!(
        "training (not counted above): q(φ) {flow_steps} steps {flow_seconds:.0} s{}; conditional flow {pf_steps} steps {pf_seconds:.1} s",
        if forward {
            " (forward KL, pseudofermion-HMC data included)"
        } else {
            " (reverse KL)"
        }
    );
}
