//! `[pretrain]` in `lft train`: flow matching (or forward KL) on an ensemble before the
//! reverse KL, run while the training checkpoint does not exist yet.
//!
//! The stage has its own Adam state, schedule and random stream. Its result is the start of
//! the reverse-KL training and is first saved with that training's first checkpoint; an
//! interrupted pretraining starts again (it is short: at L = 32, 3000 flow-matching steps of a
//! whole-lattice continuous flow take about a minute).

use crate::train_device::TrainModel;
use anyhow::{Context, Result};
use lft_action::Action;
use lft_config::PretrainPlan;
use lft_flow::{Adam, FlowQuality, Objective, StepRecord, TrainHooks, train_with};
use lft_lattice::stream_rng;
use tracing::info;

/// Random stream of the pretraining's batches (data rows, latent draws, times).
const PRETRAIN_STREAM: u64 = (1 << 32) + 3;

/// What the stage did, for the summary.
pub struct Pretrained {
    pub objective: &'static str,
    pub ensemble: std::path::PathBuf,
    pub steps: usize,
    pub seconds: f64,
    /// The objective's loss averaged over the last tenth of the steps.
    pub final_loss: f64,
    /// The flow's quality after the stage, on the final estimate's latent draws.
    pub quality: Option<FlowQuality>,
}

/// Trains `model` by the stage's objective on its ensemble; `report_every` steps apart it logs
/// the loss, and afterwards estimates the flow's quality on `eval_samples` draws (0: none).
pub fn run(
    config: &lft_config::Config,
    plan: &PretrainPlan,
    model: &mut TrainModel,
    action: &dyn Action,
    report_every: usize,
    eval_samples: usize,
) -> Result<Pretrained> {
    let flow_matching = plan.flow_matching;
    let objective = crate::train_data::objective_name(flow_matching.is_some());
    let data = crate::train_data::load_data(
        &plan.data,
        config.lattice().shape(),
        "pretrain.ensemble",
        flow_matching.is_some(),
    )?;
    let steps = plan.options.steps;
    info!(
        "pretraining: {steps} steps of {objective}, batch {}",
        plan.options.batch
    );
    let mut adam = Adam::new(model.flow().n_params());
    let mut rng = stream_rng(config.seed(), PRETRAIN_STREAM);
    let mut losses = Vec::with_capacity(steps);
    let mut report = |r: &StepRecord| {
        losses.push(r.loss);
        if (r.step + 1).is_multiple_of(report_every) {
            info!(
                "pretrain step {}: {objective} loss {:.5}, lr {:.2e}",
                r.step + 1,
                r.loss,
                r.lr
            );
        }
    };
    let objective_data = match flow_matching {
        Some(path) => Objective::FlowMatching(&data, path),
        None => Objective::ForwardKl(&data),
    };
    let start = std::time::Instant::now();
    train_with(
        model.trainable(),
        objective_data,
        &plan.options,
        steps,
        &mut adam,
        &mut rng,
        TrainHooks {
            report: &mut report,
            stop: &|| crate::signals::STOP.requested(),
        },
    )
    .context("pretrain")?;
    if let Some(e) = model.take_error() {
        anyhow::bail!("pretrain: {e}");
    }
    crate::signals::check("the pretraining (not checkpointed: it starts again next time)")?;
    let seconds = start.elapsed().as_secs_f64();
    let tail = &losses[losses.len() - losses.len().div_ceil(10)..];
    let final_loss = tail.iter().sum::<f64>() / tail.len() as f64;
    info!("pretraining done in {seconds:.1} s: {objective} loss {final_loss:.5}");
    let quality = (eval_samples > 0).then(|| {
        crate::quality_report::estimate(model.flow(), action, eval_samples, config.seed())
    });
    if let Some(q) = &quality {
        info!(
            "after pretraining: loss {:.5} (variance {:.4}), ESS {:.4}, IMH acceptance {:.4}",
            q.loss, q.loss_variance, q.ess, q.acceptance
        );
    }
    Ok(Pretrained {
        objective,
        ensemble: plan.data.clone(),
        steps,
        seconds,
        final_loss,
        quality,
    })
}

impl Pretrained {
    /// The stage as printed in `lft train --json`'s `pretrain`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "objective": self.objective,
            "ensemble": self.ensemble,
            "steps": self.steps,
            "seconds": self.seconds,
            "final_loss": self.final_loss,
            "quality_after": self.quality.as_ref().map(crate::quality_report::quality_json),
        })
    }

    /// The stage's lines of `lft train`'s summary.
    pub fn print(&self) {
        println!(
            "  pretrained               {} steps of {} on {}, {:.1} s, final loss {:.5}",
            self.steps,
            self.objective,
            self.ensemble.display(),
            self.seconds,
            self.final_loss
        );
        if let Some(q) = &self.quality {
            println!(
                "  after pretraining        loss {:.5} (variance {:.4}), ESS {:.4}, IMH acceptance {:.4}",
                q.loss, q.loss_variance, q.ess, q.acceptance
            );
        }
    }
}
