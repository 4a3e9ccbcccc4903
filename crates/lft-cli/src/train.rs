//! `lft train`: train the flow of a config by the reverse KL divergence, with checkpoints.
//!
//! The checkpoint holds the weights, the optimiser state, the generator state and the history,
//! so running the same command again continues exactly where it stopped (and raising
//! `train.steps` trains further).

use crate::cli::RunArgs;
use crate::device::Choice;
use crate::train_device::{Placement, TrainModel};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use lft_config::{Config, Reuse, TrainPlan};
use lft_flow::{Adam, Flow, Objective, StepRecord, TrainHooks, train_with};
use lft_io::checkpoint::{Checkpoint, read_checkpoint, write_checkpoint};
use lft_lattice::{RngState, stream_rng};
use std::io::IsTerminal;
use tracing::{info, warn};

/// Random stream of the initial weights and of the latent batches.
pub const INIT_STREAM: u64 = 1 << 32;
const LATENT_STREAM: u64 = (1 << 32) + 1;

/// `lft train`: the flow of a [flow] config, or the CRAFT flows of an [anneal] config.
pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    if config.anneal().is_ok() {
        return crate::anneal::train_only(&config, args.abort_after);
    }
    let choice = crate::device::choose(args.device, &config);
    let summary = crate::mode_report::Summary {
        json: args.json,
        reference: args.reference.as_deref(),
    };
    run_config(&config, choice, args.abort_after, summary)
}

/// Trains, then prints the summary (one JSON object with `json`); `abort_after` is a test
/// hook: abort (as a crash would) after the first checkpoint at or beyond that many steps.
pub fn run_config(
    config: &Config,
    choice: Choice,
    abort_after: Option<u64>,
    summary: crate::mode_report::Summary<'_>,
) -> Result<()> {
    let json = summary.json;
    // Measured first: a reference that cannot be read is refused before any training.
    let reference = summary.reference()?;
    let plan = config.flow()?;
    let placement = Placement::new(choice, config, plan)?;
    let (spec, t) = (&plan.spec, &plan.train);
    let steps = t.options.steps;
    let action = config.training_action()?;
    let action = action.as_ref();
    if config.pf_estimator().is_some() {
        info!(
            "pseudofermions: the flow trains on the stochastic pseudofermion force (one CG solve per configuration); the loss, ESS and acceptance below use a cheap determinant estimate (one draw per rung, ladder ratio at least 1.5) and are noisy: judge the flow by lft sample"
        );
    }
    let mut flow = Flow::new(config.lattice().clone(), spec, config.seed() ^ INIT_STREAM)
        .context("flow.prior_m2")?;
    let mut adam = Adam::new(flow.n_params());
    let mut rng = stream_rng(config.seed(), LATENT_STREAM);
    let mut history: Vec<[f64; 7]> = Vec::new();
    // One trainer per checkpoint: a second is refused before it trains anything.
    let _lock = lft_io::FileLock::acquire(&t.checkpoint)?;
    if t.checkpoint.exists() {
        let ckpt = read_checkpoint(&t.checkpoint).with_context(|| {
            format!(
                "train.checkpoint {} exists but cannot be continued",
                t.checkpoint.display()
            )
        })?;
        crate::pipeline::check_belongs(
            config,
            &ckpt.config_text,
            &t.checkpoint,
            "train.checkpoint",
            Reuse::Training,
        )?;
        if ckpt.step as usize > steps {
            bail!(
                "{}: already trained for {} steps, more than train.steps = {steps}",
                t.checkpoint.display(),
                ckpt.step,
            );
        }
        flow.set_params(ckpt.params)
            .with_context(|| format!("{}", t.checkpoint.display()))?;
        adam = Adam::restore(ckpt.adam_m, ckpt.adam_v, ckpt.step);
        rng = RngState::restore(&ckpt.rng);
        history = ckpt.history;
        info!(
            "continuing {} from step {}",
            t.checkpoint.display(),
            ckpt.step
        );
    }
    // Volume transfer: a fresh checkpoint starts from a flow trained on another lattice, whose
    // quality here is estimated first (on the latent draws of the final estimate, so the two
    // compare pairwise).
    let mut transfer = None;
    if let (false, Some(path)) = (t.checkpoint.exists(), &plan.init_from) {
        let from = crate::transfer::load_into(config, path, &mut flow)?;
        info!(
            "starting from {} ({} steps on {:?})",
            path.display(),
            from.steps,
            from.shape
        );
        let before = (t.eval_samples > 0)
            .then(|| crate::quality_report::estimate(&flow, action, t.eval_samples, config.seed()));
        transfer = Some((path.clone(), from, before));
    }
    // A fresh plaquette-basis layer starts as the Wilson plaquette marginal's quantile map
    // (for the Schwinger model that of its gauge action: training adds the determinant).
    let basis = match (*config.model(), t.checkpoint.exists() || transfer.is_some()) {
        (
            lft_config::Model::U1 { beta } | lft_config::Model::Schwinger { beta, .. },
            false,
        ) => spec
            .init_plaquette_basis(beta, flow.params_mut())
            .inspect(|kl| {
                info!(
                    "plaquette basis: spline set to the quantile map of exp(beta cos theta), KL {kl:.2e} per plaquette"
                );
            }),
        _ => None,
    };
    match spec.coupling {
        lft_flow::CouplingSpec::Continuous(c) => info!(
            "flow: continuous, kernel radius {}, {} frequencies, {} time modes, {} RK4 steps, {} parameters; training {steps} steps of batch {}",
            c.radius,
            c.frequencies,
            c.time_modes,
            c.steps,
            flow.n_params(),
            t.options.batch
        ),
        _ => info!(
            "flow: {} {} couplings, hidden {:?}, kernel {}, {} parameters; training {steps} steps of batch {}",
            spec.layers,
            spec.coupling.name(),
            spec.hidden,
            spec.kernel,
            flow.n_params(),
            t.options.batch
        ),
    }
    let mut model = TrainModel::new(flow, placement, plan)?;
    let data = match &t.data {
        Some(path) => Some(crate::train_data::load_data(
            path,
            config.lattice().shape(),
            "train.data",
            t.flow_matching.is_some(),
        )?),
        None => None,
    };
    // A fresh checkpoint starts from the flow pretrained on an ensemble, if asked.
    let pretrained = match (&plan.pretrain, t.checkpoint.exists()) {
        (Some(p), false) => Some(crate::pretrain::run(
            config,
            p,
            &mut model,
            action,
            t.report_every,
            t.eval_samples,
        )?),
        _ => None,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} steps, eta {eta} {msg}",
            )
            .expect("valid template"),
        );
        bar.set_position(adam.steps());
        bar
    });
    let mut fab = t.fab.clone().map(|settings| {
        if adam.steps() > 0 && (adam.steps() as usize) < steps {
            info!("FAB continues with a fresh replay buffer (the buffer is not checkpointed)");
        }
        lft_sample::fab::FabTrainer::new(settings, model.flow().field_len())
    });
    let start = std::time::Instant::now();
    let first_step = adam.steps();
    while (adam.steps() as usize) < steps {
        let until = ((adam.steps() as usize / t.checkpoint_every) + 1) * t.checkpoint_every;
        let mut report = |r: &StepRecord| {
            history.push([
                r.step as f64,
                r.loss,
                r.loss_variance,
                r.ess,
                r.acceptance,
                r.grad_norm,
                r.lr,
            ]);
            match &bar {
                Some(b) => {
                    b.set_position(r.step as u64 + 1);
                    b.set_message(format!(
                        "loss {:.4} ess {:.3} acc {:.3}",
                        r.loss, r.ess, r.acceptance
                    ));
                }
                None if (r.step + 1).is_multiple_of(t.report_every) => info!(
                    "step {}: loss {:.5} (var {:.4}), ESS {:.3}, acceptance {:.3}, lr {:.2e}",
                    r.step + 1,
                    r.loss,
                    r.loss_variance,
                    r.ess,
                    r.acceptance,
                    r.lr
                ),
                None => {}
            }
        };
        // Segment boundaries do not change the result: the schedule uses the global step.
        let objective = match (&data, t.flow_matching) {
            (Some(d), Some(path)) => Objective::FlowMatching(d, path),
            (Some(d), None) => Objective::ForwardKl(d),
            (None, _) => Objective::ReverseKl(action),
        };
        let hooks = TrainHooks {
            report: &mut report,
            stop: &|| crate::signals::STOP.requested(),
        };
        let result = match fab.as_mut() {
            Some(fab) => {
                let flow = model.cpu_flow_mut().expect("FAB is refused on a device");
                let records =
                    fab.train(flow, action, &t.options, until, &mut adam, &mut rng, hooks);
                if let Some(r) = fab.last {
                    info!(
                        "FAB: AIS run {}: ESS {:.3} of {} samples for p²/q, HMC acceptance {:.2} at step size {:.3}; buffer {}",
                        r.runs,
                        r.ais_ess,
                        fab.settings.batch,
                        r.acceptance,
                        r.step_size,
                        r.buffer_len
                    );
                }
                records
            }
            None => train_with(
                model.trainable(),
                objective,
                &t.options,
                until,
                &mut adam,
                &mut rng,
                hooks,
            ),
        };
        let saved = save(config, model.flow(), &adam, &rng, &history, t);
        if let Some(e) = model.take_error() {
            saved?;
            bail!("{choice}: {e}");
        }
        result.context("train")?;
        saved?;
        if abort_after.is_some_and(|n| adam.steps() >= n) {
            std::process::abort();
        }
        if (adam.steps() as usize) < steps {
            if let Some(b) = &bar {
                b.abandon();
            }
            crate::signals::check(format!("the training in {}", t.checkpoint.display()))?;
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    // train.steps = 0 keeps the initial flow (a plaquette basis as set above) as checkpoint.
    if !t.checkpoint.exists() {
        save(config, model.flow(), &adam, &rng, &history, t)?;
    }
    let elapsed = start.elapsed();
    let ran = adam.steps() - first_step;
    let ms_per_step = (ran > 0).then(|| 1e3 * elapsed.as_secs_f64() / ran as f64);
    // Quality on fresh samples of their own stream, so training is not disturbed.
    let quality = (t.eval_samples > 0).then(|| {
        info!(
            "estimating the flow's quality on {} fresh samples",
            t.eval_samples
        );
        crate::quality_report::estimate(model.flow(), action, t.eval_samples, config.seed())
    });
    let mut warnings = quality.as_ref().map(|q| q.warnings()).unwrap_or_default();
    let mode_check = match (&reference, &quality) {
        (Some(r), Some(q)) => {
            let indicator = q.mode_indicator.unwrap_or("none");
            let check = r.check(indicator, &q.modes)?;
            warnings.extend(check.warning("the flow's reweighted proposals"));
            Some(check)
        }
        (Some(_), None) => bail!("--reference needs the quality estimate: train.eval_samples > 0"),
        _ => None,
    };
    for w in &warnings {
        warn!("{w}");
    }
    if json {
        let summary = serde_json::json!({
            "command": "train",
            "steps": adam.steps(),
            "steps_this_run": ran,
            "checkpoint": t.checkpoint,
            "ms_per_step": ms_per_step,
            "quality": quality.as_ref().map(crate::quality_report::quality_json),
            "mode_check": mode_check.as_ref().zip(reference.as_ref())
                .map(|(c, r)| crate::mode_report::json(c, &r.path)),
            "plaquette_basis_kl": basis,
            "pretrain": pretrained.as_ref().map(|p| p.json()),
            "transfer": transfer.as_ref().map(|(path, from, before)| serde_json::json!({
                "init_from": path,
                "shape": from.shape,
                "steps": from.steps,
                "quality_before": before.as_ref().map(crate::quality_report::quality_json),
            })),
            "warnings": warnings,
        });
        println!("{summary}");
        return Ok(());
    }
    println!(
        "lft train: {} steps ({ran} this run), checkpoint {}",
        adam.steps(),
        t.checkpoint.display()
    );
    if let Some(ms) = ms_per_step {
        println!("  time per step            {ms:.2} ms");
    }
    if let Some(kl) = basis {
        println!("  plaquette basis KL       {kl:.2e} per plaquette (initial spline)");
    }
    if let Some((path, from, before)) = &transfer {
        println!(
            "  started from             {} ({} steps on {:?})",
            path.display(),
            from.steps,
            from.shape
        );
        if let Some(b) = before {
            println!(
                "  before fine-tuning       loss {:.5}, ESS {:.4}, IMH acceptance {:.4}",
                b.loss, b.ess, b.acceptance
            );
        }
    }
    if let Some(p) = &pretrained {
        p.print();
    }
    if let Some(q) = &quality {
        crate::quality_report::print_quality(q);
    }
    if let Some(c) = &mode_check {
        crate::mode_report::print(c, "the flow's reweighted proposals");
    }
    Ok(())
}

fn save(
    config: &Config,
    flow: &Flow,
    adam: &Adam,
    rng: &lft_lattice::Pcg64,
    history: &[[f64; 7]],
    t: &TrainPlan,
) -> Result<()> {
    let (m, v) = adam.moments();
    let ckpt = Checkpoint {
        lft_version: env!("CARGO_PKG_VERSION").to_string(),
        config_text: config.to_toml(),
        step: adam.steps(),
        params: flow.params().to_vec(),
        adam_m: m.to_vec(),
        adam_v: v.to_vec(),
        rng: RngState::of(rng),
        history: history.to_vec(),
    };
    write_checkpoint(&t.checkpoint, &ckpt)
        .with_context(|| format!("train.checkpoint {}", t.checkpoint.display()))
}
