//! `lft sample`: sampling with the trained flow, into an ensemble: independence Metropolis
//! chains (`sample.method = "imh"`), independent importance-weighted samples (`"reweight"`),
//! or flow-HMC chains (`"flow_hmc"`: a flow proposal, then HMC trajectories, every step; with
//! pseudofermions and `pf_estimator = "flow"`, on the joint (φ, ϕ) with pseudofermion HMC);
//! `"nemcmc"` is [`crate::nemcmc`].
//!
//! All three go through the one pipeline ([`crate::pipeline`]): an interrupted run resumes
//! exactly (flow chains from their last complete batch of proposals, flow-HMC from any
//! stored step), and the finished file is rewritten canonically, like an HMC ensemble.

use crate::cli::RunArgs;
use crate::device::Choice;
use crate::pipeline::run_ensemble;
use crate::progress::RunProgress;
use crate::pseudo_marginal::{EstimatorReport, JointTarget};
use crate::sample_summary::print_summary;
use crate::trained_flow::load_flow;
use anyhow::{Result, bail};
use lft_action::EstimatedAction;
use lft_config::{Config, SampleMethod};
use lft_flow::Proposal;
use lft_sample::{FlowHmcSampler, ImhSampler, JointFlowHmcSampler, ReweightSampler};
use std::time::Instant;
use tracing::info;

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    let choice = crate::device::choose(args.device, &config);
    let summary = crate::mode_report::Summary {
        json: args.json,
        reference: args.reference.as_deref(),
    };
    run_config(&config, choice, args.abort_after, summary)
}

/// Samples, then prints the summary (one JSON object with `json`).
pub fn run_config(
    config: &Config,
    choice: Choice,
    abort_after: Option<u64>,
    summary_style: crate::mode_report::Summary<'_>,
) -> Result<()> {
    let s = config.sample()?;
    if s.method == SampleMethod::Nemcmc {
        return crate::nemcmc::run_config(config, choice, abort_after, summary_style);
    }
    let engine = crate::device::engine(choice, config)?;
    let (flow, flow_step) = load_flow(config)?;
    let device = match engine {
        Some(e) => Some(
            e.proposals(flow.clone(), &config.flow()?.spec)
                .map_err(|e| anyhow::anyhow!("{choice}: {e}"))?,
        ),
        None => None,
    };
    let proposal: &dyn Proposal = match &device {
        Some(d) => d.as_ref(),
        None => &flow,
    };
    // With pseudofermions: S_bosonic − log d̂et, exact in the mean (pseudo-marginal samplers);
    // with pf_estimator = "flow", d̂et from a conditional flow trained now (joint sampling).
    let (joint, conditional) = match config.joint_flow() {
        Some(_) => {
            let (target, trained) = crate::pseudo_marginal::joint_target(config, proposal)?;
            (Some(target), Some(trained))
        }
        None => (None, None),
    };
    let ladder = config.estimated_action();
    let estimated: Option<&dyn EstimatedAction> = match (&joint, &ladder) {
        (Some(j), _) => Some(j.target()),
        (None, Some(l)) => Some(l.as_ref()),
        (None, None) => None,
    };
    let boxed;
    let action: &dyn lft_action::Action = match estimated {
        Some(e) => e,
        None => {
            boxed = config.field_action()?;
            boxed.as_ref()
        }
    };
    let estimator = match estimated {
        Some(e) => Some(EstimatorReport {
            conditional,
            ..crate::pseudo_marginal::probe(proposal, e, config.seed())?
        }),
        None => None,
    };
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
                proposal,
                action,
                batch,
                seed,
                flow_step,
                inverse_check: s.inverse_check,
            };
            run_ensemble(config, &sampler, &plan, "sample.configs", &mut progress)?.summary
        }
        SampleMethod::Reweight => {
            info!(
                "drawing {} × {} weighted samples from the flow (batches of {batch})",
                s.chains, s.configs
            );
            let sampler = ReweightSampler {
                proposal,
                action,
                batch,
                seed,
                flow_step,
                inverse_check: s.inverse_check,
            };
            run_ensemble(config, &sampler, &plan, "sample.configs", &mut progress)?.summary
        }
        SampleMethod::FlowHmc if config.joint_flow().is_some() => {
            info!(
                "flow-HMC on the joint (φ, ϕ): {} chain(s) × {} steps, each a pseudofermion heat bath, a joint flow proposal and {} pseudofermion-HMC trajectories",
                s.chains, s.configs, s.hmc_per_step
            );
            let Some(JointTarget::Yukawa(target)) = joint.as_ref() else {
                unreachable!("the config refuses flow-HMC on other joint targets")
            };
            let lft_action::Estimator::Flow(estimator) = target.estimator() else {
                unreachable!("pf_estimator = \"flow\" builds the flow estimator")
            };
            let sampler = JointFlowHmcSampler {
                proposal,
                pf_flow: &estimator.flow,
                model: target.model(),
                cg: config.pseudofermion_cg().expect("a pseudofermion config"),
                params: s.hmc,
                hmc_per_step: s.hmc_per_step,
                seed,
                flow_step,
                inverse_check: s.inverse_check,
            };
            run_ensemble(config, &sampler, &plan, "sample.configs", &mut progress)?.summary
        }
        SampleMethod::Nemcmc => unreachable!("NE-MCMC returned above"),
        SampleMethod::FlowHmc => {
            info!(
                "flow-HMC: {} chain(s) × {} steps, each a flow proposal and {} trajectories",
                s.chains, s.configs, s.hmc_per_step
            );
            let sampler = FlowHmcSampler {
                proposal,
                action,
                params: s.hmc,
                hmc_per_step: s.hmc_per_step,
                seed,
                flow_step,
                inverse_check: s.inverse_check,
            };
            run_ensemble(config, &sampler, &plan, "sample.configs", &mut progress)?.summary
        }
    };
    if let Some(e) = device.as_ref().and_then(|d| d.take_error()) {
        bail!(
            "{choice}: {e} (the batches it failed on were drawn on the CPU; the ensemble is valid)"
        );
    }
    let counts = estimated.map(|e| {
        let c = e.counts();
        crate::pseudo_marginal::warn_about(&c, e);
        c
    });
    if summary.steps > 0 {
        let pm = estimator.zip(counts);
        let elapsed = start.elapsed().as_secs_f64();
        print_summary(config, s, &summary, elapsed, pm, summary_style)?;
    }
    Ok(())
}
