//! Joint sampling of (φ, ϕ) for the Yukawa model (m² = −4, λ = 8, massless, g = 0.5 and 1) with
//! no determinant ever formed: a flow q(φ) trained with pseudofermion forces, a conditional
//! pseudofermion flow q(ϕ | φ) trained by reverse KL on the joint target, and independence
//! Metropolis with proposals q(φ) q(ϕ | φ) (on φ: pseudo-marginal IMH with the flow's
//! importance-sampling estimate of det(D Dᵀ)), and flow-HMC on the joint (that move, then a
//! pseudofermion-HMC trajectory). Their ⟨|M|⟩/V, ⟨M²⟩/V and ⟨φ²⟩ agree with exact-determinant
//! HMC within 4 combined standard errors on 4 × 4; behind `--ignored`, on 8 × 8 (with
//! pseudo-marginal IMH on the flow estimator of 8 draws too) and, against pseudofermion HMC,
//! on 16 × 16.

use lft_action::{EstimatedAction, FlowDetEstimator, PseudofermionFlow, YukawaEstimated};
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
    joint_flow_hmc_with(&flow, &pf_flow, l, g, n)
}

/// [`joint_flow_hmc`] with the flows `flow` and `pf_flow`.
fn joint_flow_hmc_with(
    flow: &Flow,
    pf_flow: &PseudofermionFlow,
    l: usize,
    g: f64,
    n: usize,
) -> Vec<f64> {
    let yukawa = model(l, g);
    let sampler = JointFlowHmcSampler {
        proposal: flow,
        pf_flow,
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

/// All three on 8 × 8: joint IMH (one draw), pseudo-marginal IMH with the flow estimator
/// (8 draws) and joint flow-HMC, on one pair of flows per coupling. q(φ) is trained as on
/// 16 × 16, by forward KL on an independent pseudofermion-HMC ensemble (no determinant), from
/// the Z₂ mixture shifted by the ensemble's ⟨|M|⟩/V. With the reverse-KL q(φ) of the 4 × 4
/// tests, joint IMH at g = 1 read ⟨|M|⟩/V = 0.3422(45) against 0.3201(32) from HMC (4.0σ), and
/// the ladder's pseudo-marginal IMH 0.3401(39), while exact-determinant IMH on a forward-KL
/// flow gave 0.3231(8) over 200 000 steps and four HMC chains, hot and cold, 0.3230(13). On the
/// forward-KL flow one draw still read 0.3354(44) and eight 0.3256(22) (50 000 steps each): the
/// fewer the draws, the more a finite chain under-weights the configurations whose estimate is
/// noisiest (their typical estimate is below its mean) until a rare overestimate holds it. The
/// error bars of the one-draw chain are the least trustworthy here. At g = 0.5 the HMC
/// reference's ⟨φ²⟩ = 0.164(14) has a large error because HMC cannot cross det D = 0 and its
/// two chains sit in different sectors; the joint samplers, which can, give about 0.150.
/// A few minutes on 2 cores.
/// `cargo test --release -p lft-sample --test joint -- --ignored 8x8 --nocapture`
#[test]
#[ignore]
fn joint_samplers_agree_with_exact_hmc_on_8x8() {
    let (l, v) = (8, 64);
    for g in [0.5, 1.0] {
        let exact = estimates(&exact_hmc(l, g, 4000), v);
        let flow = forward_kl_flow_on_pseudofermion_hmc(l, g);
        let pf_flow = trained_pf_flow(&flow, l, g, 400);
        let (joint, joint_acceptance) = flow_estimator_imh(&flow, &pf_flow, l, g, 1, 40_000);
        let (pm, pm_acceptance) = flow_estimator_imh(&flow, &pf_flow, l, g, 8, 40_000);
        assert!(
            joint_acceptance > 0.05 && pm_acceptance > 0.05,
            "g = {g}: acceptances {joint_acceptance} {pm_acceptance}"
        );
        let fhmc = joint_flow_hmc_with(&flow, &pf_flow, l, g, 4000);
        compare(g, "joint IMH", &exact, &estimates(&[joint], v));
        compare(
            g,
            "pseudo-marginal IMH (8 draws)",
            &exact,
            &estimates(&[pm], v),
        );
        compare(g, "joint flow-HMC", &exact, &estimates(&[fhmc], v));
    }
}

/// q(φ) on L × L at coupling g by forward KL (3000 steps) on 2 × 2000 configurations of
/// pseudofermion HMC (seed 90, independent of every reference chain), from the Z₂ mixture
/// ½ N(+a, 1) + ½ N(−a, 1) with a the ensemble's ⟨|M|⟩/V.
fn forward_kl_flow_on_pseudofermion_hmc(l: usize, g: f64) -> Flow {
    let v = l * l;
    let data = pseudofermion_hmc_seeded(l, g, 2000, 90).concat();
    let shift = data
        .chunks_exact(v)
        .map(|phi| phi.iter().sum::<f64>().abs() / v as f64)
        .sum::<f64>()
        / (data.len() / v) as f64;
    eprintln!("L = {l}, g = {g}: forward-KL training data <|M|>/V = {shift:.4}");
    forward_kl_flow(
        lft_lattice::Lattice::new(&[l, l]).unwrap(),
        &data,
        PriorSpec::Z2Mixture { shift },
        3000,
        21,
    )
}

/// At 16 × 16, g = 1, against pseudofermion HMC (the dense determinant is what these samplers
/// avoid). q(φ) here is trained by forward KL on an independent pseudofermion-HMC ensemble
/// ([`forward_kl_flow_on_pseudofermion_hmc`]), equivariant from a symmetric prior, so that
/// q(φ) = q(−φ) and an ensemble that rarely tunnels trains both vacua: reverse KL from N(0, 1) gives a flow that the
/// exact-determinant IMH accepts 0.4 % of the time at this size, and from the mixture one that
/// never proposes the configurations between the vacua (docs/PHYSICS.md). The conditional flow
/// q(ϕ | φ) trains for 2000 steps. Joint IMH (one draw per estimate) runs 320 000 steps and
/// pseudo-marginal IMH (16 draws) 80 000. Both accept 0.2–1.4 % and stick for hundreds to
/// thousands of steps on overestimated proposals (τ_int ≈ 900–6000, docs/PERFORMANCE.md, third
/// measurement), so this is a check of exactness with a few dozen effective samples, not an
/// efficient sampler: the conditional flow's Var(log d̂et | φ) ≈ 20–40 per draw here is the
/// bottleneck. Last run (2026-12-04, 497 s on 2 cores): joint IMH accepted 0.002 at
/// Var(log d̂et) 16, τ_int ≈ 3100, ⟨|M|⟩/V 0.3436(47); pseudo-marginal IMH 0.014 at 4.4,
/// τ_int ≈ 920, 0.3489(52) (1.5σ); pseudofermion HMC 0.3409(10).
/// `cargo test --release -p lft-sample --test joint -- --ignored 16x16 --nocapture`
#[test]
#[ignore = "16 × 16: about 8 minutes; run with --ignored"]
fn joint_and_pseudo_marginal_imh_agree_with_pseudofermion_hmc_on_16x16() {
    let (l, g) = (16, 1.0);
    let v = l * l;
    let reference = estimates(&pseudofermion_hmc(l, g, 4000), v);
    let flow = forward_kl_flow_on_pseudofermion_hmc(l, g);
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
