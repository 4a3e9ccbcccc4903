//! FAB (flow annealed importance sampling bootstrap): the α = 2 gradient estimator against
//! an independent estimate from exact draws of a Gaussian target on 2 × 2, an exact AIS whose
//! weights are all 1, and the prioritised replay buffer (draws in proportion to the weights,
//! weights corrected after a flow step as a recomputation gives them).

mod common;

use lft_action::{Action, HoppingParams, Phi4Hopping};
use lft_flow::{Activation, Adam, Flow, FlowSpec, TrainHooks, TrainOptions};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};
use lft_sample::fab::{FabSettings, FabTrainer, ReplayBuffer, fab_ais, fab_loss};
use lft_sample::{HmcParams, Integrator};

/// A Gaussian target on 2 × 2: φ⁴ in the hopping form with λ̃ = 0 and κ = 0.1, precision
/// matrix K = ∂²S (close to 2·1).
fn gaussian_target() -> Phi4Hopping {
    let lattice = Lattice::new(&[2, 2]).unwrap();
    Phi4Hopping::new(
        lattice,
        HoppingParams {
            kappa: 0.1,
            lambda_tilde: 0.0,
        },
    )
    .unwrap()
}

/// A small affine flow from the standard normal (not trained: q differs from p).
fn small_flow(lattice: &Lattice, seed: u64) -> Flow {
    let spec = FlowSpec::affine_transport(2, vec![4], 3, Activation::Tanh);
    Flow::new(lattice.clone(), &spec, seed).unwrap()
}

fn settings(batch: usize, buffer: usize) -> FabSettings {
    FabSettings {
        temperatures: 8,
        hmc: HmcParams {
            step_size: 0.25,
            n_steps: 6,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.5,
        },
        trajectories: 2,
        batch,
        buffer,
        reuse: 4,
        min_buffer: batch,
        weight_clip: 10.0,
        target_acceptance: None,
    }
}

/// Exact draws x = L⁻ᵀ ξ of the Gaussian e^{−S}, K = L Lᵀ (K from Hessian-vector products).
fn exact_draws(action: &dyn Action, n: usize, seed: u64) -> Vec<f64> {
    let v = action.lattice().volume();
    let zero = vec![0.0; v];
    let mut k = vec![0.0; v * v];
    for j in 0..v {
        let mut e = vec![0.0; v];
        e[j] = 1.0;
        let mut col = vec![0.0; v];
        assert!(action.hessian_vector(&zero, &e, &mut col));
        for i in 0..v {
            k[i * v + j] = col[i];
        }
    }
    // Cholesky K = L Lᵀ.
    let mut l = vec![0.0; v * v];
    for i in 0..v {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i * v + m] * l[j * v + m]).sum();
            l[i * v + j] = if i == j {
                (k[i * v + i] - s).sqrt()
            } else {
                (k[i * v + j] - s) / l[j * v + j]
            };
        }
    }
    let mut rng = stream_rng(seed, 0);
    let mut out = vec![0.0; n * v];
    let mut xi = vec![0.0; v];
    for x in out.chunks_exact_mut(v) {
        gaussian_fill(&mut rng, &mut xi);
        // Solve Lᵀ x = ξ by back substitution.
        for i in (0..v).rev() {
            let s: f64 = (i + 1..v).map(|m| l[m * v + i] * x[m]).sum();
            x[i] = (xi[i] - s) / l[i * v + i];
        }
    }
    out
}

/// Mean and standard error of each component over independent estimates.
fn mean_and_error(estimates: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let r = estimates.len() as f64;
    let n = estimates[0].len();
    let mean: Vec<f64> = (0..n)
        .map(|j| estimates.iter().map(|e| e[j]).sum::<f64>() / r)
        .collect();
    let error = (0..n)
        .map(|j| {
            let var = estimates
                .iter()
                .map(|e| (e[j] - mean[j]).powi(2))
                .sum::<f64>()
                / (r - 1.0);
            (var / r).sqrt()
        })
        .collect();
    (mean, error)
}

/// −∇_θ E_g[log q_θ], g ∝ p²/q, from exact draws of p: the self-normalised estimate with
/// weights p/q, −Σ_j (p/q)_j ∇ log q(x_j) / Σ_j (p/q)_j.
fn exact_draw_gradient(flow: &Flow, action: &dyn Action, xs: &[f64]) -> Vec<f64> {
    let log_q = flow.log_q(xs);
    let v = flow.field_len();
    let log_ratio: Vec<f64> = xs
        .chunks_exact(v)
        .zip(&log_q)
        .map(|(x, q)| -action.action(x) - q)
        .collect();
    let max = log_ratio.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_ratio.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = w.iter().sum();
    fab_loss(flow, xs, &|b, _| w[b] / total).2
}

/// FAB's estimate of the α = 2 gradient, −Σ_i W̄_i ∇ log q(φ_i) over an AIS run from q to
/// p²/q, agrees with the one from exact draws of p, component by component within four
/// combined standard errors (each from independent repeats). The self-normalised bias, of
/// order 1/N, is far below either error at N = 1024.
#[test]
fn fab_gradient_matches_the_exact_draw_estimate() {
    let action = gaussian_target();
    let flow = small_flow(action.lattice(), 3);
    let s = settings(1024, 0);
    let mut rng = stream_rng(11, 0);
    let fab: Vec<Vec<f64>> = (0..24)
        .map(|_| {
            let batch = fab_ais(&flow, &action, &s, s.hmc.step_size, &mut rng);
            let max = batch
                .log_w
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = batch.log_w.iter().map(|l| (l - max).exp()).collect();
            let total: f64 = w.iter().sum();
            fab_loss(&flow, &batch.phi, &|b, _| w[b] / total).2
        })
        .collect();
    let exact: Vec<Vec<f64>> = (0..24)
        .map(|r| exact_draw_gradient(&flow, &action, &exact_draws(&action, 8192, 100 + r)))
        .collect();
    let (fab_mean, fab_err) = mean_and_error(&fab);
    let (ref_mean, ref_err) = mean_and_error(&exact);
    let mut worst = 0.0f64;
    for j in 0..fab_mean.len() {
        let sigma = (fab_err[j].powi(2) + ref_err[j].powi(2)).sqrt();
        let pull = (fab_mean[j] - ref_mean[j]) / sigma;
        worst = worst.max(pull.abs());
        assert!(
            pull.abs() < 4.0,
            "parameter {j}: FAB {} ± {}, exact draws {} ± {} ({pull:.2}σ)",
            fab_mean[j],
            fab_err[j],
            ref_mean[j],
            ref_err[j]
        );
    }
    // The gradient is not trivially zero: the untrained flow is far from p.
    let norm: f64 = ref_mean.iter().map(|g| g * g).sum::<f64>().sqrt();
    let err_norm: f64 = ref_err.iter().map(|e| e * e).sum::<f64>().sqrt();
    assert!(norm > 10.0 * err_norm, "|∇| = {norm}, error {err_norm}");
    eprintln!("worst pull {worst:.2}σ over {} parameters", fab_mean.len());
}

/// The flow's own density as the target, S = −log q_θ: then p²/q = q, and one AIS step from
/// q to it has every log weight 0 (to the rounding of the flow's round trip).
struct FlowDensity<'a>(&'a Flow);

impl Action for FlowDensity<'_> {
    fn lattice(&self) -> &Lattice {
        self.0.lattice()
    }
    fn action(&self, phi: &[f64]) -> f64 {
        -self.0.log_q(phi)[0]
    }
    fn gradient(&self, _phi: &[f64], _grad: &mut [f64]) {
        unreachable!("no HMC moves in this test")
    }
}

#[test]
fn exact_ais_has_unit_weights() {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let flow = small_flow(&lattice, 5);
    let target = FlowDensity(&flow);
    let mut s = settings(64, 0);
    s.temperatures = 1;
    s.trajectories = 0;
    let batch = fab_ais(&flow, &target, &s, 0.1, &mut stream_rng(2, 0));
    assert_eq!(batch.log_w.len(), 64);
    for lw in &batch.log_w {
        assert!(lw.abs() < 1e-9, "log w = {lw}");
    }
    // And log q of the final particles is the flow's (by its inverse).
    let inverse = flow.log_q(&batch.phi);
    for (a, b) in batch.log_q.iter().zip(&inverse) {
        assert!((a - b).abs() < 1e-9 * a.abs().max(1.0), "{a} vs {b}");
    }
}

/// Draws pick sample i with probability w_i / Σ w: the counts over many draws pass a χ² test
/// against the expected ones (10 categories, the statistic below its 99.9 % point 27.9).
#[test]
fn buffer_draws_in_proportion_to_the_weights() {
    let mut buffer = ReplayBuffer::new(1, 10);
    let log_w: Vec<f64> = (0..10).map(|i| 0.3 * i as f64 - 1.0).collect();
    let phi: Vec<f64> = (0..10).map(|i| i as f64).collect();
    buffer.add(&phi, &log_w, &[0.0; 10]);
    let n = 200_000;
    let draws = buffer.sample(n, &mut stream_rng(9, 0));
    let mut counts = [0usize; 10];
    draws.iter().for_each(|&i| counts[i] += 1);
    let total: f64 = log_w.iter().map(|l| l.exp()).sum();
    let chi2: f64 = (0..10)
        .map(|i| {
            let expected = n as f64 * log_w[i].exp() / total;
            (counts[i] as f64 - expected).powi(2) / expected
        })
        .sum();
    assert!(chi2 < 27.9, "χ² = {chi2}, counts {counts:?}");
    // Full: the oldest sample goes first.
    buffer.add(&[42.0], &[5.0], &[0.0]);
    assert_eq!(buffer.len(), 10);
    assert_eq!(buffer.phi(0), &[42.0]);
    assert_eq!(buffer.log_w(0), 5.0);
}

/// After a FAB gradient step, every buffered sample drawn by the step carries log q of the new
/// flow (as recomputed by its inverse) and the weight log w_AIS + log q_insert − log q_new; the
/// others are untouched.
#[test]
fn buffer_weights_after_a_step_match_recomputation() {
    let action = gaussian_target();
    let mut flow = small_flow(action.lattice(), 7);
    let mut trainer = FabTrainer::new(settings(64, 256), flow.field_len());
    let mut rng = stream_rng(4, 0);
    trainer.run_ais(&flow, &action, &mut rng);
    let before = trainer.buffer.clone().unwrap();
    assert_eq!(before.len(), 64);
    let inserted: Vec<f64> = (0..64).map(|i| before.log_q(i)).collect();
    let all: Vec<usize> = (0..64).collect();
    let recomputed = flow.log_q(&before.gather(&all));
    for (a, b) in inserted.iter().zip(&recomputed) {
        assert!((a - b).abs() < 1e-9 * a.abs().max(1.0), "{a} vs {b}");
    }
    // Step 1 of reuse 4: no AIS run, one draw of 32 from the buffer.
    let mut adam = Adam::restore(vec![0.0; flow.n_params()], vec![0.0; flow.n_params()], 1);
    let options = TrainOptions {
        steps: 2,
        batch: 32,
        lr: 1e-2,
        ..TrainOptions::default()
    };
    let records = trainer
        .train(
            &mut flow,
            &action,
            &options,
            2,
            &mut adam,
            &mut rng,
            TrainHooks {
                report: &mut |_| {},
                stop: &|| false,
            },
        )
        .unwrap();
    assert_eq!(records.len(), 1);
    let after = trainer.buffer.as_ref().unwrap();
    assert_eq!(after.len(), 64, "no AIS run at step 1");
    let now = flow.log_q(&before.gather(&all));
    let mut adjusted = 0;
    for i in 0..64 {
        if after.log_q(i) == before.log_q(i) {
            assert_eq!(after.log_w(i), before.log_w(i));
            continue;
        }
        adjusted += 1;
        assert_eq!(after.log_q(i), now[i], "sample {i}");
        let want = before.log_w(i) + before.log_q(i) - now[i];
        assert!((after.log_w(i) - want).abs() < 1e-12 * want.abs().max(1.0));
    }
    assert!(
        (10..=32).contains(&adjusted),
        "{adjusted} samples corrected"
    );
}

/// Two unequal modes on 4 × 4 (E5's m² = −4, λ = 5.113 with h = 0.1; the mode against h holds
/// about a quarter of the weight): the flow trained by reverse KL from a fixed seed collapses
/// onto the majority mode, and the mode-collapse check against an SMC population says so; the
/// same flow trained by FAB for as many steps puts the SMC weight on the minority mode, within
/// three combined standard errors, and the check stays quiet.
#[test]
fn fab_recovers_the_minority_mode_that_reverse_kl_drops() {
    use lft_action::{Phi4, Phi4Params};
    use lft_flow::diagnostics::evaluate;
    use lft_flow::{Prior, PriorSpec};
    use lft_sample::anneal::{Resampling, Schedule, SmcSettings, smc_pass};
    use lft_stats::{check_modes, sign_modes};

    let lattice = Lattice::new(&[4, 4]).unwrap();
    let action = Phi4::new(
        lattice.clone(),
        Phi4Params {
            m2: -4.0,
            lambda: 5.113,
        },
    )
    .unwrap()
    .with_external_field(0.1)
    .unwrap();

    // The reference: the weighted fraction with M > 0 of independent SMC passes.
    let prior = Prior::new(PriorSpec::StandardNormal, &lattice).unwrap();
    let smc = SmcSettings {
        particles: 1024,
        schedule: Schedule::Adaptive { target: 0.5 },
        resampling: Some(Resampling::Systematic),
        ess_threshold: 0.5,
        hmc: HmcParams {
            step_size: 0.15,
            n_steps: 8,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.5,
        },
        trajectories: 2,
        step_knots: Vec::new(),
        target_acceptance: Some(0.7),
    };
    let fractions: Vec<Vec<f64>> = (0..8)
        .map(|p| {
            let pass = smc_pass(&prior, &action, &smc, 21, p).unwrap();
            let max = pass
                .log_weights
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let (mut up, mut all) = (0.0, 0.0);
            for (phi, lw) in pass.particles.chunks_exact(16).zip(&pass.log_weights) {
                let w = (lw - max).exp();
                all += w;
                if phi.iter().sum::<f64>() > 0.0 {
                    up += w;
                }
            }
            vec![up / all]
        })
        .collect();
    let (smc_up, smc_err) = mean_and_error(&fractions);
    let reference = sign_modes(smc_up[0], smc_err[0]);
    let minority = 1.0 - smc_up[0];
    assert!(
        (0.1..0.4).contains(&minority),
        "the minority mode holds {minority}"
    );

    let spec = FlowSpec::affine_transport(8, vec![8], 3, Activation::LeakyRelu(0.01));
    let options = TrainOptions {
        steps: 400,
        batch: 64,
        lr: 3e-3,
        ..TrainOptions::default()
    };
    let mut ignore = |_: &lft_flow::StepRecord| {};
    let mut rkl = Flow::new(lattice.clone(), &spec, 8).unwrap();
    let mut adam = Adam::new(rkl.n_params());
    lft_flow::train_with(
        &mut rkl,
        lft_flow::Objective::ReverseKl(&action),
        &options,
        400,
        &mut adam,
        &mut stream_rng(8, 1),
        TrainHooks {
            report: &mut ignore,
            stop: &|| false,
        },
    )
    .unwrap();
    let mut fab = Flow::new(lattice.clone(), &spec, 8).unwrap();
    let mut adam = Adam::new(fab.n_params());
    let mut s = settings(64, 1024);
    s.target_acceptance = Some(0.65);
    let mut trainer = FabTrainer::new(s, 16);
    trainer
        .train(
            &mut fab,
            &action,
            &options,
            400,
            &mut adam,
            &mut stream_rng(8, 1),
            TrainHooks {
                report: &mut ignore,
                stop: &|| false,
            },
        )
        .unwrap();

    let check = |flow: &Flow| {
        let q = evaluate(flow, &action, 16384, &mut stream_rng(8, 2));
        assert_eq!(q.mode_indicator, Some("sign of M"));
        check_modes("sign of M", &q.modes, &reference)
    };
    let collapsed = check(&rkl);
    assert!(
        collapsed.collapsed() && collapsed.warning("the proposals").is_some(),
        "reverse KL: {collapsed:?}"
    );
    let covered = check(&fab);
    assert!(
        !covered.collapsed() && covered.warning("the proposals").is_none(),
        "FAB: {covered:?}"
    );
    let (_, fab_minority, fab_err, smc_minority, smc_err) = covered.modes[0];
    let pull = (fab_minority - smc_minority) / (fab_err.powi(2) + smc_err.powi(2)).sqrt();
    assert!(
        pull.abs() < 3.0,
        "FAB minority weight {fab_minority} ± {fab_err}, SMC {smc_minority} ± {smc_err}"
    );
    eprintln!(
        "minority mode: SMC {smc_minority:.4} ± {smc_err:.4}, FAB {fab_minority:.4} ± {fab_err:.4} \
         ({pull:.2}σ), reverse KL {:.4}",
        collapsed.modes[0].1
    );
}

/// A particle run on a lane batch (8 at once) and alone (a run of one) ends at the same
/// configuration with the same weight, to rounding: the lane path is the same algorithm.
#[test]
fn lane_and_single_particle_ais_agree() {
    let action = gaussian_target();
    let flow = small_flow(action.lattice(), 3);
    let mut s = settings(8, 0);
    s.temperatures = 3;
    s.trajectories = 1;
    let lanes = fab_ais(&flow, &action, &s, 0.25, &mut stream_rng(6, 0));
    s.batch = 1;
    let one = fab_ais(&flow, &action, &s, 0.25, &mut stream_rng(6, 0));
    assert!(
        (lanes.log_w[0] - one.log_w[0]).abs() < 1e-9,
        "{} vs {}",
        lanes.log_w[0],
        one.log_w[0]
    );
    assert!((lanes.log_q[0] - one.log_q[0]).abs() < 1e-9);
    for (a, b) in lanes.phi[..4].iter().zip(&one.phi) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}

/// On link angles with the Haar-measure flow (no layers, q = uniform), p²/q ∝ e^{−2S} is the
/// Wilson action at 2β: FAB's AIS, with HMC on the torus of latent angles, reweights to its
/// exact plaquette (4 × 4, β = 1 → 2) within four standard errors of independent runs. And with a
/// trained gauge flow as its own target every log weight is 0 (the latent angles are wrapped
/// before the flow sees them).
#[test]
fn fab_ais_on_link_angles() {
    use lft_action::{U1Exact, U1Wilson};
    use lft_flow::{CircleSpec, PriorSpec};
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let action = U1Wilson::new(lattice.clone(), 1.0).unwrap();
    let mut spec = FlowSpec::gauge(0, vec![8], CircleSpec::Ncp { components: 2 }, false);
    spec.prior = PriorSpec::Uniform;
    let haar = Flow::new(lattice.clone(), &spec, 1).unwrap();
    let mut s = settings(512, 0);
    s.temperatures = 8;
    s.trajectories = 2;
    s.hmc.n_steps = 8;
    let mut rng = stream_rng(17, 0);
    let estimates: Vec<Vec<f64>> = (0..12)
        .map(|_| {
            let batch = fab_ais(&haar, &action, &s, 0.3, &mut rng);
            let max = batch
                .log_w
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let (mut num, mut den) = (0.0, 0.0);
            for (theta, lw) in batch.phi.chunks_exact(32).zip(&batch.log_w) {
                let w = (lw - max).exp();
                num += w * common::gauge::observables(&lattice, theta)[0];
                den += w;
            }
            vec![num / den]
        })
        .collect();
    let (mean, error) = mean_and_error(&estimates);
    let exact = U1Exact::new(2.0, 16).unwrap().plaquette();
    eprintln!("plaquette {} ± {}, exact at 2β {exact}", mean[0], error[0]);
    assert!(
        ((mean[0] - exact) / error[0]).abs() < 4.0,
        "plaquette {} ± {} against the exact {exact} at 2β",
        mean[0],
        error[0]
    );

    let flow = common::gauge::trained_gauge_flow(&lattice, &action, 2, 20, 3);
    let target = FlowDensity(&flow);
    let mut s = settings(16, 0);
    s.temperatures = 1;
    s.trajectories = 0;
    let batch = fab_ais(&flow, &target, &s, 0.1, &mut stream_rng(2, 0));
    for lw in &batch.log_w {
        assert!(lw.abs() < 1e-9, "log w = {lw}");
    }
}

/// A target whose action is never finite.
struct NotANumber(Lattice);

impl Action for NotANumber {
    fn lattice(&self) -> &Lattice {
        &self.0
    }
    fn action(&self, _phi: &[f64]) -> f64 {
        f64::NAN
    }
    fn gradient(&self, _phi: &[f64], grad: &mut [f64]) {
        grad.fill(f64::NAN);
    }
}

/// AIS runs without a single finite weight stop FAB with a named error (with a buffer, whose
/// filling would otherwise never end, and without).
#[test]
fn fab_without_finite_weights_is_a_named_error() {
    let lattice = Lattice::new(&[2, 2]).unwrap();
    let target = NotANumber(lattice.clone());
    for buffer in [64, 0] {
        let mut flow = small_flow(&lattice, 1);
        let mut s = settings(16, buffer);
        if buffer == 0 {
            s.reuse = 1;
        }
        let mut trainer = FabTrainer::new(s, flow.field_len());
        let mut adam = Adam::new(flow.n_params());
        let options = TrainOptions {
            steps: 3,
            batch: 8,
            ..TrainOptions::default()
        };
        let e = trainer
            .train(
                &mut flow,
                &target,
                &options,
                3,
                &mut adam,
                &mut stream_rng(1, 0),
                TrainHooks {
                    report: &mut |_| {},
                    stop: &|| false,
                },
            )
            .unwrap_err();
        assert!(e.to_string().contains("no sample of finite weight"), "{e}");
    }
}
