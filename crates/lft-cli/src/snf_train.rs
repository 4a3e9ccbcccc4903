//! Training the blocks of a stochastic normalizing flow (`[snf] block_layers` > 0) before
//! NE-MCMC samples with it: `snf.train_steps` Adam steps on E[W], checkpointed every
//! `snf.checkpoint_every` steps (and on failure or Ctrl-C), continued exactly from an existing
//! checkpoint of the same config.

use crate::pipeline::{check_belongs, human_seconds};
use anyhow::{Context, Result, bail};
use lft_action::Action;
use lft_config::{Config, Reuse, SnfBlocks, SnfPlan};
use lft_flow::Prior;
use lft_io::checkpoint::{read_snf_checkpoint, write_snf_checkpoint};
use lft_sample::anneal::{SnfStep, SnfTrainer};
use std::time::Instant;
use tracing::info;

/// Trains the blocks of `plan` to `blocks.train_steps`, continuing the checkpoint if there is
/// one; `abort_after` is a test hook (abort after the first checkpoint at or beyond it).
pub fn train_snf(
    config: &Config,
    plan: &SnfPlan,
    blocks: &SnfBlocks,
    prior: &Prior,
    action: &dyn Action,
    abort_after: Option<u64>,
) -> Result<SnfTrainer> {
    let seed = config.seed();
    let path = &blocks.checkpoint;
    let stages = plan.stages.stages;
    let mut trainer = SnfTrainer::new(&blocks.transport, config.lattice(), stages, seed);
    let mut history: Vec<[f64; 7]> = Vec::new();
    let trained = path.exists()
        && read_snf_checkpoint(path).is_ok_and(|c| c.step as usize == blocks.train_steps);
    // Trained blocks are only read (the tasks of an array may share them); training holds the
    // lock.
    let _lock = match trained {
        true => None,
        false => Some(lft_io::FileLock::acquire(path)?),
    };
    if path.exists() {
        let ckpt = read_snf_checkpoint(path).with_context(|| {
            format!(
                "snf.checkpoint {} exists but cannot be continued",
                path.display()
            )
        })?;
        check_belongs(
            config,
            &ckpt.config_text,
            path,
            "snf.checkpoint",
            Reuse::Snf,
        )?;
        if ckpt.step as usize > blocks.train_steps {
            bail!(
                "{}: already trained for {} steps, more than snf.train_steps = {}",
                path.display(),
                ckpt.step,
                blocks.train_steps
            );
        }
        trainer = trainer
            .restore(&ckpt.params, &ckpt.adam_m, &ckpt.adam_v, ckpt.step)
            .with_context(|| format!("{}", path.display()))?;
        history = ckpt.history;
        if trained {
            info!(
                "SNF blocks of {} are trained ({} steps)",
                path.display(),
                ckpt.step
            );
            return Ok(trainer);
        }
        info!("continuing {} from step {}", path.display(), ckpt.step);
    }
    let n_params = trainer.params().len();
    info!(
        "SNF: {stages} blocks of {} affine couplings (hidden {:?}), {n_params} parameters; {} steps of {} trajectories",
        blocks.transport.layers, blocks.transport.hidden, blocks.train_steps, blocks.train_batch
    );
    let start = Instant::now();
    let first = trainer.steps();
    let mut last_log = Instant::now();
    while (trainer.steps() as usize) < blocks.train_steps {
        let step = trainer.train_step(
            prior,
            action,
            plan.stages,
            blocks.train_batch,
            blocks.learning_rate,
            seed,
        );
        let step = match step {
            Ok(s) => s,
            Err(e) => {
                save(config, blocks, &trainer, &history)?;
                return Err(anyhow::Error::new(e).context(format!(
                    "SNF training (the steps done so far are in {})",
                    path.display()
                )));
            }
        };
        history.push(history_row(
            trainer.steps() - 1,
            &step,
            blocks.learning_rate,
        ));
        let done = trainer.steps() as usize;
        if last_log.elapsed().as_secs() >= 10 || done == blocks.train_steps {
            last_log = Instant::now();
            info!(
                "step {done}/{}: E[W] {:.4}, Var W {:.3}, ESS {:.3}, move acceptance {:.3}",
                blocks.train_steps,
                step.mean_work,
                step.work_variance,
                step.ess,
                step.move_acceptance
            );
        }
        let stopping = crate::signals::STOP.requested() && done < blocks.train_steps;
        if done.is_multiple_of(blocks.checkpoint_every) || done == blocks.train_steps || stopping {
            save(config, blocks, &trainer, &history)?;
            if abort_after.is_some_and(|n| trainer.steps() >= n) {
                std::process::abort();
            }
        }
        if stopping {
            crate::signals::check(format!("the SNF training in {}", path.display()))?;
        }
    }
    let trained = trainer.steps() - first;
    if trained > 0 {
        let per = start.elapsed().as_secs_f64() / trained as f64;
        println!(
            "lft sample: SNF blocks trained {} steps ({trained} this run, {} each), checkpoint {}",
            trainer.steps(),
            human_seconds(per),
            path.display()
        );
    }
    Ok(trainer)
}

/// [step, mean W, Var W, ESS/N, move acceptance, ‖∇‖, lr].
fn history_row(step: u64, s: &SnfStep, lr: f64) -> [f64; 7] {
    [
        step as f64,
        s.mean_work,
        s.work_variance,
        s.ess,
        s.move_acceptance,
        s.grad_norm,
        lr,
    ]
}

fn save(
    config: &Config,
    blocks: &SnfBlocks,
    trainer: &SnfTrainer,
    history: &[[f64; 7]],
) -> Result<()> {
    let ckpt = crate::craft::flow_set_checkpoint(config, trainer.trained(), history);
    write_snf_checkpoint(&blocks.checkpoint, &ckpt)
        .with_context(|| format!("snf.checkpoint {}", blocks.checkpoint.display()))
}
