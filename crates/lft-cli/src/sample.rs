//! `lft sample`: sampling with the trained flow, into an ensemble: independence Metropolis
//! chains (`sample.method = "imh"`), independent importance-weighted samples (`"reweight"`),
//! or flow-HMC chains (`"flow_hmc"`: a flow proposal, then HMC trajectories, every step).
//!
//! All three go through the one pipeline ([`crate::pipeline`]): an interrupted run resumes
//! exactly (flow chains from their last complete batch of proposals, flow-HMC from any
//! stored step), and the finished file is rewritten canonically, like an HMC ensemble.

use crate::cli::RunArgs;
use crate::pipeline::{check_belongs, run_ensemble};
use crate::progress::RunProgress;
use crate::train::INIT_STREAM;
use anyhow::{Context, Result};
use lft_config::{Config, Reuse, SampleMethod, SamplePlan};
use lft_flow::Flow;
use lft_io::EnsembleReader;
use lft_io::checkpoint::read_checkpoint;
use lft_sample::{FlowHmcSampler, ImhSampler, ReweightSampler, RunSummary};
use std::time::Instant;
use tracing::info;

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    run_config(&config, args.abort_after)
}

/// The trained flow of `config` (from its checkpoint) and the training steps it had.
pub(crate) fn load_flow(config: &Config) -> Result<(Flow, u64)> {
    let plan = config.flow()?;
    let checkpoint = &plan.train.checkpoint;
    let ckpt = read_checkpoint(checkpoint).with_context(|| {
        format!(
            "train.checkpoint {}: train the flow first (lft train CONFIG)",
            checkpoint.display()
        )
    })?;
    check_belongs(
        config,
        &ckpt.config_text,
        checkpoint,
        "train.checkpoint",
        Reuse::Sampling,
    )?;
    let mut flow = Flow::new(
        config.lattice().clone(),
        &plan.spec,
        config.seed() ^ INIT_STREAM,
    )
    .context("flow")?;
    flow.set_params(ckpt.params)
        .with_context(|| format!("{}", checkpoint.display()))?;
    Ok((flow, ckpt.step))
}

pub fn run_config(config: &Config, abort_after: Option<u64>) -> Result<()> {
    let s = config.sample()?;
    let action = config.field_action()?;
    let action = action.as_ref();
    let (flow, flow_step) = load_flow(config)?;
    let plan = config.run_plan(s.chains, s.configs, s.save_every);
    let mut progress = RunProgress::new("configurations", abort_after);
    let start = Instant::now();
    let (seed, batch) = (config.seed(), s.batch);
    let summary = match s.method {
        SampleMethod::Imh => {
            info!(
                "sampling {} chain(s) × {} configurations from the flow (batches of {batch})",
                s.chains, s.configs
            );
            let sampler = ImhSampler {
                proposal: &flow,
                action,
                batch,
                seed,
                flow_step,
            };
            run_ensemble(config, &sampler, &plan, "sample.configs", &mut progress)?.summary
        }
        SampleMethod::Reweight => {
            info!(
                "drawing {} × {} weighted samples from the flow (batches of {batch})",
                s.chains, s.configs
            );
            let sampler = ReweightSampler {
                proposal: &flow,
                action,
                batch,
                seed,
                flow_step,
            };
            run_ensemble(config, &sampler, &plan, "sample.configs", &mut progress)?.summary
        }
        SampleMethod::FlowHmc => {
            info!(
                "flow-HMC: {} chain(s) × {} steps, each a flow proposal and {} trajectories",
                s.chains, s.configs, s.hmc_per_step
            );
            let sampler = FlowHmcSampler {
                proposal: &flow,
                action,
                params: s.hmc,
                hmc_per_step: s.hmc_per_step,
                seed,
                flow_step,
            };
            run_ensemble(config, &sampler, &plan, "sample.configs", &mut progress)?.summary
        }
    };
    if summary.steps > 0 {
        print_summary(config, s, &summary, start.elapsed().as_secs_f64())?;
    }
    Ok(())
}

fn print_summary(config: &Config, s: &SamplePlan, run: &RunSummary, elapsed: f64) -> Result<()> {
    let path = &config.output().path;
    let per_step = 1e3 * elapsed / run.steps.max(1) as f64;
    if s.method == SampleMethod::FlowHmc {
        println!(
            "lft sample (flow-HMC): {} chain(s) × {} steps, {}",
            s.chains,
            s.configs,
            path.display()
        );
        println!("  flow acceptance (this run)  {:.4}", run.acceptance());
        println!(
            "  HMC acceptance (this run)   {:.4}",
            run.inner_acceptance()
        );
        println!("  time per step               {per_step:.3} ms (wall clock, chains in parallel)");
        print_tau_int(path, 16);
        return Ok(());
    }
    let reader = EnsembleReader::open(path)?;
    let mut proposals = Vec::new();
    let mut longest = 0;
    for c in 0..reader.meta().n_chains {
        proposals.extend(reader.read_f64_records(c, "proposal_log_weight")?);
        let mut streak = 0;
        for a in reader.read_accepted(c)? {
            streak = if a { 0 } else { streak + 1 };
            longest = longest.max(streak);
        }
    }
    println!(
        "lft sample: {} chain(s) × {} configurations, {}",
        s.chains,
        s.configs,
        path.display()
    );
    let ess = lft_stats::kish_ess(&proposals);
    if s.method == SampleMethod::Reweight {
        println!(
            "  importance-weighted samples: ESS (Kish) {ess:.4}, N·ESS = {:.0}",
            ess * proposals.len() as f64
        );
    } else {
        println!("  acceptance (this run)    {:.4}", run.acceptance());
        println!("  ESS of the proposals     {ess:.4}");
        println!("  longest rejection run    {longest}");
    }
    println!("  time per configuration   {per_step:.3} ms");
    if s.method == SampleMethod::Imh {
        // Autocorrelation of the chain (Γ-method): what the rejections cost.
        print_tau_int(path, 14);
    }
    Ok(())
}

/// Prints τ_int of |M| and χ₂ (Γ-method) of a measured chain, labels padded to `width`.
fn print_tau_int(path: &std::path::PathBuf, width: usize) {
    let Ok(m) = lft_measure::measure_files(std::slice::from_ref(path), &Default::default()) else {
        return;
    };
    for (key, label) in [("abs_mag", "|M|"), ("chi2", "chi_2")] {
        let o = &m.observables[key];
        println!(
            "  tau_int of {label:<width$} {:.2} ± {:.2}",
            o.tau_int, o.tau_int_error
        );
    }
}
