//! Joint sampling of (φ, ϕ) for the Yukawa model (m² = −4, λ = 8, massless, g = 0.5 and 1) with
//! no determinant ever formed: a flow q(φ) trained with pseudofermion forces, a conditional
//! pseudofermion flow q(ϕ | φ) trained by reverse KL on the joint target, and independence
//! Metropolis with proposals q(φ) q(ϕ | φ) (on φ: pseudo-marginal IMH with the flow's
//! importance-sampling estimate of det(D Dᵀ)), and flow-HMC on the joint (that move, then a
//! pseudofermion-HMC trajectory). Their ⟨|M|⟩/V, ⟨M²⟩/V and ⟨φ²⟩ agree with exact-determinant
//! HMC within 4 combined standard errors on 4 × 4 (8 × 8 behind `--ignored`).

use lft_action::{FlowDetEstimator, PseudofermionFlow, YukawaEstimated};
use lft_fermion::CgParams;
use lft_flow::Flow;
use lft_lattice::stream_rng;
use lft_sample::{FlowImh, JointFlowHmcSampler, PfFlowTraining, Sampler, train_pf_flow};

mod common;
use common::yukawa::{
    compare, compare_with, estimates, exact_hmc, hmc_params, log_det_variance, model,
    pseudofermion_hmc, pseudofermion_hmc_seeded, training_target,
};
use common::{forward_kl_flow, trained_flow};
use lft_flow::PriorSpec;

/// q(φ) and q(ϕ | φ) trained on L × L at coupling g (see [`trained_pf_flow`]).
fn trained_pair(l: usize, g: f64, flow_steps: usize, pf_steps: usize) -> (Flow, PseudofermionFlow) {
    let flow = trained_flow(&training_target(l, g, 31), flow_steps, 21);
    let pf_flow = trained_pf_flow(&flow, l, g, pf_steps);
    (flow, pf_flow)
}

/// q(ϕ | φ) trained for `pf_steps` steps against `flow`'s q(φ) on L × L at coupling g; prints
/// how the variance of log d̂et at fixed φ fell during training and asserts that it fell.
fn trained_pf_flow(flow: &Flow, l: usize, g: f64, pf_steps: usize) -> PseudofermionFlow {
    let yukawa = model(l, g);
    let mut pf_flow = PseudofermionFlow::standard(2, 2);
    let settings = PfFlowTraining {
        steps: pf_steps,
        seed: 5,
        ..PfFlowTraining::default()
    };
    let history = train_pf_flow(&mut pf_flow, flow, &yukawa, &settings, &mut |_| {}).unwrap();
    let window = pf_steps / 10;
    let mean_var = |r: &[lft_sample::PfFlowStep]| {
        r.iter().map(|s| s.log_det_variance).sum::<f64>() / r.len() as f64
    };
    let (first, last) = (
        mean_var(&history[..window]),
        mean_var(&history[pf_steps - window..]),
    );
    eprintln!(
        "L = {l}, g = {g}: Var(log d̂et | φ) {first:.3} over the first {window} training steps, {last:.3} over the last"
    );
    assert!(
        last < first,
        "training did not lower the variance: {first} → {last}"
    );
    pf_flow
}

/// IMH for `n` steps with proposals from `flow` and the flow estimator of `pf_flow` with
/// `draws` draws (one: the joint sampler; more: pseudo-marginal IMH on φ). Returns the chain of
/// φ and the acceptance; prints the acceptance and the variance of log d̂et on the chain.
fn flow_estimator_imh(
    flow: &Flow,
    pf_flow: &PseudofermionFlow,
    l: usize,
    g: f64,
    draws: usize,
    n: usize,
) -> (Vec<f64>, f64) {
    let estimator = FlowDetEstimator::new(pf_flow.clone(), draws, CgParams::default()).unwrap();
    let target = YukawaEstimated::new(model(l, g), estimator, CgParams::default(), 32);
    let (configs, records) = FlowImh::new(flow, &target, 256, stream_rng(22, 0))
        .run(n)
        .unwrap();
    let acceptance = records.iter().filter(|r| r.accepted).count() as f64 / n as f64;
    let var = log_det_variance(&target, &configs, l * l, 8);
    let c = target.counts();
    eprintln!(
        "L = {l}, g = {g}, {draws} draw(s): IMH acceptance {acceptance:.3}, Var(log d̂et) {var:.3} on the chain, {:.0} CG iterations per estimate",
        c.cg_iterations as f64 / c.estimates as f64
    );
    (configs, acceptance)
}

/// `n` steps of joint IMH (one draw per estimate) with [`trained_pair`]'s flows.
fn joint_imh(l: usize, g: f64, n: usize, flow_steps: usize, pf_steps: usize) -> Vec<f64> {
    let (flow, pf_flow) = trained_pair(l, g, flow_steps, pf_steps);
    let (configs, acceptance) = flow_estimator_imh(&flow, &pf_flow, l, g, 1, n);
    assert!(acceptance > 0.05, "g = {g}: acceptance {acceptance}");
    configs
}

#[test]
fn joint_imh_agrees_with_exact_hmc_on_4x4() {
    for g in [0.5, 1.0] {
        let exact = estimates(&exact_hmc(4, g, 4000), 16);
        let joint = estimates(&[joint_imh(4, g, 12_000, 1500, 300)], 16);
        compare(g, "joint IMH", &exact, &joint);
    }
}

/// `n` steps of joint flow-HMC (one trajectory per step) with [`trained_pair`]'s flows on
/// L × L; returns the chain of φ and prints both acceptances.
fn joint_flow_hmc(l: usize, g: f64, n: usize, pf_steps: usize) -> Vec<f64> {
    let (flow, pf_flow) = trained_pair(l, g, 1500, pf_steps);
    let yukawa = model(l, g);
    let sampler = JointFlowHmcSampler {
        proposal: &flow,
        pf_flow: &pf_flow,
        model: &yukawa,
        cg: lft_action::PseudofermionCg::default(),
        params: hmc_params(),
        hmc_per_step: 1,
        seed: 23,
        flow_step: 0,
        inverse_check: Default::default(),
    };
    let mut chain = sampler.fresh(0);
    let (configs, records) = chain.run(n).unwrap();
    let flow_acc = records.iter().filter(|r| r.flow_accepted).count() as f64 / n as f64;
    let hmc_acc = records.iter().map(|r| r.hmc_accepted).sum::<usize>() as f64 / n as f64;
    eprintln!(
        "L = {l}, g = {g}: joint flow-HMC, flow acceptance {flow_acc:.3}, HMC acceptance {hmc_acc:.3}"
    );
    assert!(flow_acc > 0.05 && hmc_acc > 0.5, "{flow_acc} {hmc_acc}");
    configs
}

/// Flow-HMC on the joint target: each step a joint flow proposal of (φ, ϕ), then one
/// pseudofermion-HMC trajectory (CG only); agrees with exact-determinant HMC on 4 × 4.
#[test]
fn joint_flow_hmc_agrees_with_exact_hmc_on_4x4() {
    for g in [0.5, 1.0] {
        let exact = estimates(&exact_hmc(4, g, 4000), 16);
        let got = estimates(&[joint_flow_hmc(4, g, 4000, 300)], 16);
        compare(g, "joint flow-HMC", &exact, &got);
    }
}

/// Both on 8 × 8: a few minutes on 2 cores. Last run: all within 4σ; joint IMH accepts 0.25 /
/// 0.11 (g = 0.5 / 1), joint flow-HMC 0.24 / 0.07 of its flow moves. At g = 0.5 the HMC
/// reference's ⟨φ²⟩ = 0.164(14) has a large error because HMC cannot cross det D = 0 and its two
/// chains sit in different sectors; the two joint samplers, which can, give 0.1493(13) and
/// 0.1508(4).
/// `cargo test --release -p lft-sample --test joint -- --ignored`
#[test]
#[ignore]
fn joint_samplers_agree_with_exact_hmc_on_8x8() {
    for g in [0.5, 1.0] {
        let exact = estimates(&exact_hmc(8, g, 4000), 64);
        let joint = estimates(&[joint_imh(8, g, 8000, 1500, 400)], 64);
        let fhmc = estimates(&[joint_flow_hmc(8, g, 4000, 400)], 64);
        compare(g, "joint IMH", &exact, &joint);
        compare(g, "joint flow-HMC", &exact, &fhmc);
    }
}

/// At 16 × 16, g = 1, against pseudofermion HMC (the dense determinant is what these samplers
/// avoid). q(φ) here is trained by forward KL on an independent pseudofermion-HMC ensemble
/// (seed 90, 2 × 2000 configurations) from the Z₂ mixture prior, so that q(φ) = q(−φ) and an
/// ensemble that rarely tunnels trains both vacua: reverse KL from N(0, 1) gives a flow that the
/// exact-determinant IMH accepts 0.4 % of the time at this size, and from the mixture one that
/// never proposes the configurations between the vacua (docs/PHYSICS.md). The conditional flow
/// q(ϕ | φ) trains for 2000 steps. Joint IMH (one draw per estimate) runs 320 000 steps and
/// pseudo-marginal IMH (16 draws) 80 000. Both accept 0.2–1.4 % and stick for thousands of
/// steps on overestimated proposals (τ_int ≈ 2000–6000, docs/PERFORMANCE.md, third
/// measurement), so this is a check of exactness with a few dozen effective samples, not an
/// efficient sampler: the conditional flow's Var(log d̂et | φ) ≈ 20–40 per draw here is the
/// bottleneck. Last run (2026-12-04, 844 s on 2 cores beside another test): joint IMH accepted
/// 0.003 at Var(log d̂et) 26, τ_int ≈ 4800, ⟨|M|⟩/V 0.3373(72); pseudo-marginal IMH 0.010 at 4.8,
/// τ_int ≈ 5800, 0.351(17); pseudofermion HMC 0.3409(10).
/// `cargo test --release -p lft-sample --test joint -- --ignored 16x16 --nocapture`
#[test]
#[ignore = "16 × 16: about 12 minutes; run with --ignored"]
fn joint_and_pseudo_marginal_imh_agree_with_pseudofermion_hmc_on_16x16() {
    let (l, g) = (16, 1.0);
    let v = l * l;
    let reference = estimates(&pseudofermion_hmc(l, g, 4000), v);
    let data = pseudofermion_hmc_seeded(l, g, 2000, 90).concat();
    let flow = forward_kl_flow(
        lft_lattice::Lattice::new(&[l, l]).unwrap(),
        &data,
        PriorSpec::Z2Mixture { shift: 0.34 },
        3000,
        21,
    );
    let pf_flow = trained_pf_flow(&flow, l, g, 2000);
    for (label, draws, n) in [
        ("joint IMH", 1, 320_000),
        ("pseudo-marginal IMH", 16, 80_000),
    ] {
        let (chain, acceptance) = flow_estimator_imh(&flow, &pf_flow, l, g, draws, n);
        assert!(acceptance > 0.001, "{label}: acceptance {acceptance}");
        let got = estimates(&[chain], v);
        eprintln!(
            "{label}: tau_int {:.0} / {:.0} / {:.0} over {n} steps",
            got[0].tau_int, got[1].tau_int, got[2].tau_int
        );
        compare_with(g, "pseudofermion HMC", &reference, label, &got);
    }
}
