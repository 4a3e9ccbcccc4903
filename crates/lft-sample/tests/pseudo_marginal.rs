//! Pseudo-marginal flow sampling of the Yukawa model (m² = −4, λ = 8, massless, g = 0.5 and 1),
//! with no determinant ever formed:
//!
//! - the reverse-KL gradient with pseudofermion forces ([`YukawaEstimated`]) is unbiased for the
//!   exact one, along fixed directions in parameter space, within 4 standard errors;
//! - independence Metropolis with a flow trained on those forces and accepted with unbiased
//!   determinant estimates agrees with exact-determinant HMC on ⟨|M|⟩/V, ⟨M²⟩/V and ⟨φ²⟩
//!   within 4 combined standard errors on 4 × 4 (8 × 8 behind `--ignored`, see below).

use lft_action::{Action, EstimatedAction, YukawaExact};
use lft_flow::{Activation, CouplingSpec, Flow, FlowSpec, Precision, PriorSpec};
use lft_lattice::{gaussian_fill, stream_rng};
use lft_sample::FlowImh;

mod common;
use common::trained_flow;
use common::yukawa::{
    NAMES, assert_agree, compare, estimated, estimates, exact_hmc, geometric, log_det_variance,
    model, training_target,
};

/// The gradient's projections on the exact gradient's direction and on three random unit
/// directions: over 300 run seeds their means agree with the exact gradient's within 4σ.
#[test]
fn the_reverse_kl_gradient_with_pseudofermion_forces_is_unbiased() {
    let g = 1.0;
    let spec = FlowSpec {
        layers: 4,
        hidden: vec![8],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: false,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision: Precision::F64,
    };
    let exact_action = YukawaExact::new(model(4, g));
    let flow = Flow::new(exact_action.lattice().clone(), &spec, 5).unwrap();
    let mut z = vec![0.0; 16 * 16];
    gaussian_fill(&mut stream_rng(6, 0), &mut z);
    let (_, _, exact) = flow.reverse_kl(&exact_action, &z);
    let norm = exact.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut directions = vec![exact.iter().map(|x| x / norm).collect::<Vec<_>>()];
    for k in 0..3 {
        let mut u = vec![0.0; exact.len()];
        gaussian_fill(&mut stream_rng(7, k), &mut u);
        let n = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        directions.push(u.iter().map(|x| x / n).collect());
    }
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let samples: Vec<Vec<f64>> = (0..300)
        .map(|s| {
            let (_, _, grad) = flow.reverse_kl(&training_target(4, g, 100 + s), &z);
            directions.iter().map(|u| dot(&grad, u)).collect()
        })
        .collect();
    let mut se_exact_direction = 0.0;
    for (k, u) in directions.iter().enumerate() {
        let col: Vec<f64> = samples.iter().map(|p| p[k]).collect();
        let n = col.len() as f64;
        let mean = col.iter().sum::<f64>() / n;
        let se = (col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
        let want = dot(&exact, u);
        eprintln!("direction {k}: stochastic {mean:.5} ± {se:.5}, exact {want:.5}");
        if k == 0 {
            se_exact_direction = se;
        }
        assert!(
            (mean - want).abs() < 4.0 * se,
            "direction {k}: {mean} ± {se} vs exact {want}"
        );
    }
    // The fermion force is not negligible: without it the projection on the exact direction
    // is far off.
    let (_, _, bosonic) = flow.reverse_kl(model(4, g).phi4(), &z);
    assert!(
        (dot(&bosonic, &directions[0]) - norm).abs() > 10.0 * se_exact_direction,
        "the test cannot see the fermion force"
    );
}

/// Pseudo-marginal IMH on L × L at coupling g: a flow trained with pseudofermion forces, then
/// `n` proposals accepted with the estimator (twists 0.01 … 3 at ratio `ratio`, `draws` per
/// rung). Returns the chain and prints the acceptance and the log-estimate variance.
fn pseudo_marginal_imh(l: usize, g: f64, n: usize, ratio: f64, draws: usize) -> Vec<f64> {
    pseudo_marginal_and_exact_imh(l, g, n, ratio, draws, false).0
}

/// [`pseudo_marginal_imh`], and with `exact_too` also IMH with the exact determinant on the
/// same flow and proposal stream (what the estimator's noise alone changes).
fn pseudo_marginal_and_exact_imh(
    l: usize,
    g: f64,
    n: usize,
    ratio: f64,
    draws: usize,
    exact_too: bool,
) -> (Vec<f64>, Option<Vec<f64>>) {
    let flow = trained_flow(&training_target(l, g, 31), 1500, 21);
    let exact_imh = exact_too.then(|| {
        let action = YukawaExact::new(model(l, g));
        let (configs, records) = FlowImh::new(&flow, &action, 256, stream_rng(22, 0))
            .run(n)
            .unwrap();
        let acceptance = records.iter().filter(|r| r.accepted).count() as f64 / n as f64;
        eprintln!("L = {l}, g = {g}: exact-determinant IMH acceptance {acceptance:.3}");
        configs
    });
    let target = estimated(l, g, geometric(0.01, 3.0, ratio), draws, 32);
    let (configs, records) = FlowImh::new(&flow, &target, 256, stream_rng(22, 0))
        .run(n)
        .unwrap();
    let acceptance = records.iter().filter(|r| r.accepted).count() as f64 / n as f64;
    let var = log_det_variance(&target, &configs, l * l, 4);
    let c = target.counts();
    eprintln!(
        "L = {l}, g = {g}: pseudo-marginal acceptance {acceptance:.3}, Var(log estimate) {var:.2}, \
         {} of {} ladders extended for the variance condition, {:.0} CG iterations per estimate",
        c.extended,
        c.estimates,
        c.cg_iterations as f64 / c.estimates as f64
    );
    assert!(acceptance > 0.05, "g = {g}: acceptance {acceptance}");
    (configs, exact_imh)
}

#[test]
fn pseudo_marginal_imh_agrees_with_exact_hmc_on_4x4() {
    for g in [0.5, 1.0] {
        let exact = estimates(&exact_hmc(4, g, 4000), 16);
        let pm = estimates(&[pseudo_marginal_imh(4, g, 12_000, 1.15, 2)], 16);
        compare(g, "pseudo-marginal IMH", &exact, &pm);
    }
}

/// The same on 8 × 8, where the ladder needs many more draws (its log variance grows with the
/// volume), beside exact-determinant IMH on the same flow and proposals, to tell the flow's
/// shortfall from the estimator's. **Open: it fails.** Last run (2026-12-04, 40 000 steps,
/// 8 draws per rung at ratio 1.1, ~30 000 CG iterations per estimate, 1595 s on 2 cores beside
/// another test): at g = 0.5 it passed, ⟨|M|⟩/V 0.1073(30) against 0.1163(22) from
/// exact-determinant IMH and 0.1169(16) from HMC, but ⟨M²⟩/V was 3.9σ low; at g = 1
/// ⟨|M|⟩/V 0.3401(39) against 0.3289(78) and 0.3201(32), ⟨φ²⟩ 4.6σ high, acceptance 0.18,
/// Var(log estimate) 2.6. With 8000 steps g = 1 passed and g = 0.5 was 4.1σ off. The
/// exact-determinant IMH on the same flow agrees, and the estimator is unbiased on 4 × 4 and
/// 6 × 6 (lft-fermion's tests), so the likely cause is the chain, not the estimator: with this
/// much estimator noise it sticks on overestimated proposals for longer than its Γ-method
/// window sees, so the errors are too small. Pseudo-marginal IMH with the conditional flow's
/// estimator (Var ≈ 0.1–0.5 at 8 draws here) passes on 8 × 8 (tests/joint.rs), and is what
/// to use beyond 4 × 4.
/// `cargo test --release -p lft-sample --test pseudo_marginal -- --ignored`
#[test]
#[ignore = "open: fails on 8 × 8 (see the doc comment); about 27 minutes"]
fn pseudo_marginal_imh_agrees_with_exact_hmc_on_8x8() {
    for g in [0.5, 1.0] {
        let exact = estimates(&exact_hmc(8, g, 4000), 64);
        let (pm, exact_imh) = pseudo_marginal_and_exact_imh(8, g, 40_000, 1.1, 8, true);
        let pm = estimates(&[pm], 64);
        let exact_imh = estimates(&[exact_imh.unwrap()], 64);
        for k in 0..3 {
            eprintln!(
                "g = {g} {}: exact HMC {:.4} ± {:.4}, exact-determinant IMH {:.4} ± {:.4}, pseudo-marginal IMH {:.4} ± {:.4}",
                NAMES[k],
                exact[k].value,
                exact[k].error,
                exact_imh[k].value,
                exact_imh[k].error,
                pm[k].value,
                pm[k].error
            );
            assert_agree(&format!("g={g} {}", NAMES[k]), &exact[k], &pm[k]);
        }
    }
}
