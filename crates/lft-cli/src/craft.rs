//! CRAFT training for `lft anneal`: the flows of every transition trained to
//! `anneal.iterations`, checkpointed every `anneal.checkpoint_every` iterations (and on
//! failure), continued exactly from an existing checkpoint of the same config.

use crate::pipeline::{check_belongs, human_seconds};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use lft_action::Action;
use lft_config::{AnnealPlan, Config, CraftPlan, Reuse};
use lft_flow::{CouplingSpec, Prior};
use lft_io::checkpoint::{Checkpoint, read_craft_checkpoint, write_craft_checkpoint};
use lft_lattice::RngState;
use lft_sample::anneal::{Craft, CraftIteration};
use std::io::IsTerminal;
use std::time::Instant;
use tracing::info;

/// Trains the CRAFT flows of `plan` to `cp.iterations`, continuing the checkpoint if there is
/// one; `abort_after` is a test hook (abort after the first checkpoint at or beyond it).
pub fn train_craft(
    config: &Config,
    plan: &AnnealPlan,
    cp: &CraftPlan,
    prior: &Prior,
    action: &dyn Action,
    abort_after: Option<u64>,
) -> Result<Craft> {
    let settings = &plan.settings;
    let transitions = settings
        .schedule
        .betas()
        .expect("CRAFT plans have fixed schedules")
        .len();
    let seed = config.seed();
    let mut craft = Craft::new(&cp.transport, config.lattice(), transitions, seed);
    let mut history: Vec<[f64; 7]> = Vec::new();
    // Fully trained flows are only read, so the tasks of a job array may share them; training
    // holds the lock (one trainer per checkpoint).
    let trained = cp.checkpoint.exists()
        && read_craft_checkpoint(&cp.checkpoint).is_ok_and(|c| c.step as usize == cp.iterations);
    let _lock = match trained {
        true => None,
        false => Some(lft_io::FileLock::acquire(&cp.checkpoint)?),
    };
    if cp.checkpoint.exists() {
        let ckpt = read_craft_checkpoint(&cp.checkpoint).with_context(|| {
            format!(
                "anneal.checkpoint {} exists but cannot be continued",
                cp.checkpoint.display()
            )
        })?;
        check_belongs(
            config,
            &ckpt.config_text,
            &cp.checkpoint,
            "anneal.checkpoint",
            Reuse::Craft,
        )?;
        if ckpt.step as usize > cp.iterations {
            bail!(
                "{}: already trained for {} iterations, more than anneal.iterations = {}",
                cp.checkpoint.display(),
                ckpt.step,
                cp.iterations
            );
        }
        craft = craft
            .restore(&ckpt.params, &ckpt.adam_m, &ckpt.adam_v, ckpt.step)
            .with_context(|| format!("{}", cp.checkpoint.display()))?;
        history = ckpt.history;
        if ckpt.step as usize == cp.iterations {
            info!(
                "CRAFT flows of {} are trained ({} iterations)",
                cp.checkpoint.display(),
                ckpt.step
            );
            return Ok(craft);
        }
        info!(
            "continuing {} from iteration {}",
            cp.checkpoint.display(),
            ckpt.step
        );
    }
    let n_params: usize = craft.flows().iter().map(|f| f.n_params()).sum();
    let flows = match cp.transport.coupling {
        CouplingSpec::Continuous(cnf) => format!(
            "continuous flows (kernel {}, {} frequencies, {} time modes, {} RK4 steps)",
            cp.transport.kernel, cnf.frequencies, cnf.time_modes, cnf.steps
        ),
        _ => format!(
            "flows of {} {} couplings (hidden {:?}, kernel {})",
            cp.transport.layers,
            cp.transport.coupling.name(),
            cp.transport.hidden,
            cp.transport.kernel
        ),
    };
    info!(
        "CRAFT: {transitions} {flows}, {n_params} parameters; {} iterations of {} particles",
        cp.iterations, settings.particles
    );
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(cp.iterations as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} iterations, eta {eta} {msg}",
            )
            .expect("valid template"),
        );
        bar.set_position(craft.iterations());
        bar
    });
    let start = Instant::now();
    let first = craft.iterations();
    let mut last_log = Instant::now();
    while (craft.iterations() as usize) < cp.iterations {
        let it = craft.train_iteration(prior, action, settings, cp.learning_rate, seed);
        let it = match it {
            Ok(it) => it,
            Err(e) => {
                save(config, cp, &craft, &history)?;
                return Err(anyhow::Error::new(e).context(format!(
                    "CRAFT training (iterations done so far are in {})",
                    cp.checkpoint.display()
                )));
            }
        };
        let row = history_row(craft.iterations() - 1, &it, cp.learning_rate);
        history.push(row);
        let message = format!(
            "log Z {:.4} min ESS {:.3} loss {:.4}",
            row[1], row[3], row[2]
        );
        match &bar {
            Some(b) => {
                b.set_position(craft.iterations());
                b.set_message(message);
            }
            None if last_log.elapsed().as_secs() >= 10 => {
                last_log = Instant::now();
                info!(
                    "iteration {}/{}: {message}",
                    craft.iterations(),
                    cp.iterations
                );
            }
            None => {}
        }
        let done = craft.iterations() as usize;
        let stopping = crate::signals::STOP.requested() && done < cp.iterations;
        if done.is_multiple_of(cp.checkpoint_every) || done == cp.iterations || stopping {
            save(config, cp, &craft, &history)?;
            if abort_after.is_some_and(|n| craft.iterations() >= n) {
                std::process::abort();
            }
        }
        if stopping {
            if let Some(b) = &bar {
                b.abandon();
            }
            crate::signals::check(format!("the CRAFT training in {}", cp.checkpoint.display()))?;
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let trained = craft.iterations() - first;
    if trained > 0 {
        let per = start.elapsed().as_secs_f64() / trained as f64;
        let last = history.last().expect("trained");
        println!(
            "lft anneal: CRAFT trained {} iterations ({trained} this run, {} each), checkpoint {}",
            craft.iterations(),
            human_seconds(per),
            cp.checkpoint.display()
        );
        println!(
            "  last training pass: log Z {:.6}, min ESS {:.4}, loss {:.6}",
            last[1], last[3], last[2]
        );
    }
    Ok(craft)
}

/// [iteration, log Ẑ of the training pass, Σ_k L_k, min ESS/N, mean acceptance, ‖∇‖, lr].
fn history_row(iteration: u64, it: &CraftIteration, lr: f64) -> [f64; 7] {
    let t = &it.pass.temperatures;
    [
        iteration as f64,
        it.pass.log_z,
        it.losses.iter().sum(),
        t.iter().map(|r| r.ess).fold(f64::INFINITY, f64::min),
        t.iter().map(|r| r.acceptance).sum::<f64>() / t.len().max(1) as f64,
        it.grad_norm,
        lr,
    ]
}

/// The checkpoint of a set of flows trained together (CRAFT's transports, an SNF's blocks):
/// every flow's parameters and Adam moments one after the other, the steps taken and the
/// history; no generator (each step draws from its own streams).
pub(crate) fn flow_set_checkpoint(
    config: &Config,
    flows: &lft_sample::anneal::TrainedFlows,
    history: &[[f64; 7]],
) -> Checkpoint {
    let (m, v) = flows.adam_moments();
    Checkpoint {
        lft_version: env!("CARGO_PKG_VERSION").to_string(),
        config_text: config.to_toml(),
        step: flows.steps(),
        params: flows.params(),
        adam_m: m,
        adam_v: v,
        rng: RngState {
            state: 0,
            stream: 0,
        },
        history: history.to_vec(),
    }
}

fn save(config: &Config, cp: &CraftPlan, craft: &Craft, history: &[[f64; 7]]) -> Result<()> {
    let ckpt = flow_set_checkpoint(config, craft.trained(), history);
    write_craft_checkpoint(&cp.checkpoint, &ckpt)
        .with_context(|| format!("anneal.checkpoint {}", cp.checkpoint.display()))
}
