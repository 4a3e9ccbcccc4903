//! Stochastic normalizing flows (lft-sample's `anneal::snf`): the Hessian-vector products that
//! backpropagation through HMC needs match finite differences of the gradients; the training
//! gradient of E[W] matches finite differences at fixed noise; without blocks, e^{−W} gives
//! the free field's log Z within 3 standard errors; training lowers E[W], and NE-MCMC over a
//! trained SNF agrees with HMC at E2.

use lft_action::{Action, FreeField, HoppingParams, Phi4, Phi4Hopping, Phi4Params};
use lft_flow::{Activation, BijectionStack, FlowSpec, Prior, PriorSpec};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};
use lft_sample::anneal::{MoveKind, NeMcmc, Snf, SnfTrainer, Stages, Tempered, TrajectorySource};

mod common;

fn e2(lat: &Lattice) -> Phi4 {
    common::e2_action(lat)
}

fn stages(stages: usize, steps: usize, step_size: f64, n_steps: usize) -> Stages {
    common::stages(MoveKind::Hmc, stages, steps, step_size, n_steps)
}

fn moves(kind: MoveKind, stages: usize, steps: usize, step_size: f64, n_steps: usize) -> Stages {
    common::stages(kind, stages, steps, step_size, n_steps)
}

/// ‖H v − (∇S(φ + hv) − ∇S(φ − hv))/2h‖ relative to ‖H v‖.
fn hessian_error(action: &dyn Action, phi: &[f64], v: &[f64]) -> f64 {
    let n = phi.len();
    let mut hv = vec![0.0; n];
    assert!(action.hessian_vector(phi, v, &mut hv));
    let h = 1e-5;
    let shifted = |s: f64| {
        let x: Vec<f64> = phi.iter().zip(v).map(|(p, v)| p + s * h * v).collect();
        let mut g = vec![0.0; n];
        action.gradient(&x, &mut g);
        g
    };
    let (up, down) = (shifted(1.0), shifted(-1.0));
    let err: f64 = (0..n)
        .map(|i| (hv[i] - (up[i] - down[i]) / (2.0 * h)).powi(2))
        .sum::<f64>()
        .sqrt();
    err / hv.iter().map(|x| x * x).sum::<f64>().sqrt()
}

#[test]
fn hessian_vector_products_match_finite_differences() {
    let lat = Lattice::new(&[6, 4]).unwrap();
    let (mut phi, mut v) = (vec![0.0; 24], vec![0.0; 24]);
    gaussian_fill(&mut stream_rng(1, 0), &mut phi);
    gaussian_fill(&mut stream_rng(2, 0), &mut v);
    let aks = e2(&lat);
    let hopping = Phi4Hopping::new(
        lat.clone(),
        HoppingParams {
            kappa: 0.27,
            lambda_tilde: 0.02,
        },
    )
    .unwrap();
    assert!(hessian_error(&aks, &phi, &v) < 1e-8);
    assert!(hessian_error(&hopping, &phi, &v) < 1e-8);
    for spec in [
        PriorSpec::StandardNormal,
        PriorSpec::FreeField { m2: 0.7 },
        PriorSpec::Z2Mixture { shift: 0.4 },
    ] {
        let prior = Prior::new(spec, &lat).unwrap();
        for beta in [0.0, 0.37, 1.0] {
            let tempered = Tempered {
                prior: &prior,
                action: &aks,
                beta,
            };
            let e = hessian_error(&tempered, &phi, &v);
            assert!(e < 1e-8, "{spec:?} at β = {beta}: {e}");
        }
    }
}

/// K affine blocks with parameters away from the identity.
fn blocks(lat: &Lattice, k: usize) -> Vec<BijectionStack> {
    let spec = FlowSpec::affine_transport(2, vec![4], 3, Activation::Tanh);
    let mut trainer = SnfTrainer::new(&spec, lat, k, 3);
    for (b, block) in trainer.blocks_mut().iter_mut().enumerate() {
        let n = block.n_params();
        let params = (0..n)
            .map(|i| 0.2 * ((i * 7 + b * 3) as f64 * 0.61).sin())
            .collect();
        block.set_params(params).unwrap();
    }
    trainer.blocks().to_vec()
}

#[test]
fn the_training_gradient_matches_finite_differences_at_fixed_noise() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = e2(&lat);
    let prior = Prior::new(PriorSpec::FreeField { m2: 0.8 }, &lat).unwrap();
    for st in [
        stages(3, 2, 0.15, 3),
        moves(MoveKind::Langevin, 3, 2, 0.02, 1),
    ] {
        gradient_matches_finite_differences(&lat, &action, &prior, st);
    }
}

fn gradient_matches_finite_differences(lat: &Lattice, action: &Phi4, prior: &Prior, st: Stages) {
    let (prior, action) = (prior, action);
    let mut blocks = blocks(lat, 3);
    let (n, seed, base) = (6, 4, 100);
    let grads = Snf::new(prior, action, st, &blocks)
        .unwrap()
        .work_gradient(n, seed, base)
        .unwrap()
        .grads;
    let h = 1e-6;
    let mut checked = 0;
    for b in 0..3 {
        let n_params = blocks[b].n_params();
        for j in (0..n_params).step_by(n_params / 7 + 1) {
            let theta = blocks[b].params()[j];
            let mut at = |x: f64| {
                blocks[b].params_mut()[j] = x;
                Snf::new(prior, action, st, &blocks)
                    .unwrap()
                    .work_gradient(n, seed, base)
                    .unwrap()
                    .mean()
            };
            let numeric = (at(theta + h) - at(theta - h)) / (2.0 * h);
            blocks[b].params_mut()[j] = theta;
            let analytic = grads[b][j];
            assert!(
                (analytic - numeric).abs() < 1e-5 * numeric.abs().max(1.0),
                "{:?}: block {b}, parameter {j}: {analytic} against {numeric}",
                st.kind
            );
            checked += 1;
        }
    }
    assert!(checked >= 12);
}

#[test]
fn without_blocks_the_work_gives_the_free_fields_log_z() {
    let lat = Lattice::new(&[6, 6]).unwrap();
    let m2 = 0.3;
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let exact = FreeField::new(lat.clone(), m2).unwrap().log_z();
    let prior = Prior::new(PriorSpec::FreeField { m2: 1.0 }, &lat).unwrap();
    for st in [
        stages(10, 1, 0.3, 5),
        moves(MoveKind::Langevin, 50, 2, 0.03, 1),
    ] {
        free_field_log_z(&prior, &action, st, exact);
    }
}

fn free_field_log_z(prior: &Prior, action: &Phi4, st: Stages, exact: f64) {
    let snf = Snf::new(prior, action, st, &[]).unwrap();
    let t = snf.run(4000, 17, 0).unwrap();
    let shift = t.work.iter().cloned().fold(f64::INFINITY, f64::min);
    let e: Vec<f64> = t.work.iter().map(|w| (shift - w).exp()).collect();
    let n = e.len() as f64;
    let mean = e.iter().sum::<f64>() / n;
    let var = e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let (log_z, error) = (mean.ln() - shift, (var / n).sqrt() / mean);
    eprintln!(
        "SNF ({:?}) free field log Z: {log_z} ± {error} (exact {exact})",
        st.kind
    );
    assert!(
        error < 0.05,
        "the protocol is too poor to test: error {error}"
    );
    assert!(
        (log_z - exact).abs() < 3.0 * error,
        "{log_z} ± {error} vs {exact}"
    );
}

/// The works of `n` trajectories on the streams (seed, 1 + i).
fn works(snf: &Snf<'_>, n: usize, seed: u64) -> Vec<f64> {
    snf.run(n, seed, 0).unwrap().work
}

#[test]
fn training_lowers_the_work_and_nemcmc_over_the_trained_snf_agrees_with_hmc() {
    let lat = Lattice::new(&[6, 6]).unwrap();
    let action = e2(&lat);
    let prior = Prior::new(PriorSpec::FreeField { m2: 0.8 }, &lat).unwrap();
    let st = stages(2, 1, 0.15, 4);
    let spec = FlowSpec::affine_transport(4, vec![8, 8], 3, Activation::Tanh);
    let mut trainer = SnfTrainer::new(&spec, &lat, 2, 5);
    let n = 2000;
    let before = works(
        &Snf::new(&prior, &action, st, trainer.blocks()).unwrap(),
        n,
        9,
    );
    for _ in 0..2000 {
        trainer
            .train_step(&prior, &action, st, 32, 3e-3, 6)
            .unwrap();
    }
    let snf = Snf::new(&prior, &action, st, trainer.blocks()).unwrap();
    let after = works(&snf, n, 9);
    // Paired on the same noise: the mean change of W and its standard error.
    let d: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let mean = d.iter().sum::<f64>() / n as f64;
    let se =
        (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0) / n as f64).sqrt();
    eprintln!("E[W] changed by {mean:.4} ± {se:.4} in 2000 training steps");
    assert!(mean < -4.0 * se, "E[W] changed by {mean} ± {se}");
    // NE-MCMC over the trained SNF against HMC: χ₂ = ⟨M²⟩/V.
    let v = lat.volume() as f64;
    let mut series = vec![Vec::new(); 4];
    let mut accepted = 0;
    for (c, s) in series.iter_mut().enumerate() {
        let mut chain = NeMcmc::new(&snf, 200, stream_rng(31, c as u64));
        for _ in 0..10 {
            for step in chain.next_batch(200).unwrap() {
                accepted += step.accepted as usize;
                let m: f64 = step.config.iter().sum();
                s.push(m * m / v);
            }
        }
    }
    let nemcmc = common::mean_of(&series);
    let hmc = common::hmc_reference_series(&action, 32, 5000, |phi| {
        let m: f64 = phi.iter().sum();
        [m * m / v]
    });
    let hmc = common::mean_of(&hmc[0]);
    let acceptance = accepted as f64 / 8000.0;
    eprintln!(
        "E2 6×6 χ₂: NE-MCMC over the SNF {nemcmc:?} (acceptance {acceptance:.3}), HMC {hmc:?}"
    );
    let pull = (nemcmc.value - hmc.value) / nemcmc.error.hypot(hmc.error);
    assert!(pull.abs() < 4.0, "{pull:.2}σ");
    let _ = snf.field_len();
}
