//! `lft sample` with `sample.method = "nemcmc"`: chains of independence Metropolis over
//! out-of-equilibrium trajectories (lft-sample's `anneal::nemcmc`), the protocol from `[snf]`.
//! Trajectories start from the trained flow (`snf.start = "flow"`, its checkpoint or
//! `flow.init_from`) or from the flow's prior alone (`"prior"`, no training of the `[flow]`);
//! with `snf.block_layers` > 0 a flow block precedes each stage's moves, trained first by
//! [`crate::snf_train`] (a stochastic normalizing flow). They run `sample.batch` at a time in
//! parallel and go through the one pipeline: an interrupted run resumes exactly at a batch
//! boundary.

use crate::device::Choice;
use crate::pipeline::run_ensemble;
use crate::progress::RunProgress;
use crate::sample_summary::print_summary;
use crate::train::INIT_STREAM;
use crate::trained_flow::load_flow;
use anyhow::{Context, Result, bail};
use lft_config::{Config, SnfStart};
use lft_flow::Flow;
use lft_sample::anneal::{MoveKind, NeMcmcSampler, PathStart, Protocol, Snf, TrajectorySource};
use std::time::Instant;
use tracing::info;

/// Runs the NE-MCMC chains of `config`, then prints the summary.
pub fn run_config(
    config: &Config,
    choice: Choice,
    abort_after: Option<u64>,
    summary_style: crate::mode_report::Summary<'_>,
) -> Result<()> {
    if choice.device != lft_cuda::Device::Cpu {
        bail!("{choice}: NE-MCMC runs its trajectories on the CPU; leave the device out");
    }
    let s = config.sample()?;
    let snf = config.snf()?;
    let (flow, flow_step) = match snf.start {
        SnfStart::Flow => load_flow(config)?,
        SnfStart::Prior => {
            let spec = &config.flow()?.spec;
            let flow = Flow::new(config.lattice().clone(), spec, config.seed() ^ INIT_STREAM)
                .context("flow")?;
            (flow, 0)
        }
    };
    let action = config.field_action()?;
    let start = match snf.start {
        SnfStart::Flow => PathStart::Flow(&flow),
        SnfStart::Prior => PathStart::Prior(flow.prior()),
    };
    // With blocks: a stochastic normalizing flow, trained first (or read back trained).
    let trainer = match &snf.blocks {
        Some(b) => Some(crate::snf_train::train_snf(
            config,
            snf,
            b,
            flow.prior(),
            action.as_ref(),
            abort_after,
        )?),
        None => None,
    };
    // Blocks or Langevin stages: a stochastic normalizing flow; else annealing passes.
    let source: Box<dyn TrajectorySource + '_> = match (&trainer, snf.stages.kind) {
        (None, MoveKind::Hmc) => {
            Box::new(Protocol::new(start, action.as_ref(), snf.stages).context("snf")?)
        }
        (t, _) => {
            let blocks = t.as_ref().map_or(&[][..], |t| t.blocks());
            let snf = Snf::new(flow.prior(), action.as_ref(), snf.stages, blocks);
            Box::new(snf.context("snf")?)
        }
    };
    let flow_step = trainer.as_ref().map_or(flow_step, |t| t.steps());
    let sampler = NeMcmcSampler {
        protocol: source.as_ref(),
        batch: s.batch,
        seed: config.seed(),
        flow_step,
    };
    let st = snf.stages;
    info!(
        "NE-MCMC: {} chain(s) × {} configurations, trajectories from the {} through {} stages of {} move(s) each, {} at a time",
        s.chains,
        s.configs,
        match (snf.start, &trainer) {
            (SnfStart::Flow, _) => "trained flow",
            (SnfStart::Prior, None) => "flow's prior",
            (SnfStart::Prior, Some(_)) => "flow's prior, with trained SNF blocks,",
        },
        st.stages,
        st.steps,
        s.batch.max(2)
    );
    let plan = config.run_plan(s.chains, s.configs, s.save_every);
    let mut progress = RunProgress::new("configurations", abort_after);
    let start = Instant::now();
    let summary = run_ensemble(config, &sampler, &plan, "sample.configs", &mut progress)?.summary;
    if summary.steps > 0 {
        print_summary(
            config,
            s,
            &summary,
            start.elapsed().as_secs_f64(),
            None,
            summary_style,
        )?;
    }
    Ok(())
}
