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
use crate::pipeline::{check_belongs, run_ensemble};
use crate::progress::RunProgress;
use crate::pseudo_marginal::EstimatorReport;
use crate::train::INIT_STREAM;
use anyhow::{Context, Result, bail};
use lft_action::EstimateCounts;
use lft_config::{Config, Reuse, SampleMethod, SamplePlan};
use lft_flow::{Flow, Proposal};
use lft_io::checkpoint::read_checkpoint;
use lft_sample::{FlowHmcSampler, ImhSampler, JointFlowHmcSampler, ReweightSampler, RunSummary};
use std::time::Instant;
use tracing::info;

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    let choice = crate::device::choose(args.device, &config);
    run_config(&config, choice, args.abort_after, args.json)
}

/// The trained flow of `config` (from its checkpoint, or, before there is one, from the flow
/// of `flow.init_from` on another lattice) and the training steps it had.
pub(crate) fn load_flow(config: &Config) -> Result<(Flow, u64)> {
    let plan = config.flow()?;
    let checkpoint = &plan.train.checkpoint;
    let mut flow = Flow::new(
        config.lattice().clone(),
        &plan.spec,
        config.seed() ^ INIT_STREAM,
    )
    .context("flow")?;
    if let (false, Some(path)) = (checkpoint.exists(), &plan.init_from) {
        let from = crate::transfer::load_into(config, path, &mut flow)?;
        info!(
            "no {} yet: sampling with the flow of {} as it is ({} steps on {:?})",
            checkpoint.display(),
            path.display(),
            from.steps,
            from.shape
        );
        return Ok((flow, 0));
    }
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
    flow.set_params(ckpt.params)
        .with_context(|| format!("{}", checkpoint.display()))?;
    Ok((flow, ckpt.step))
}

/// Samples, then prints the summary (one JSON object with `json`).
pub fn run_config(
    config: &Config,
    choice: Choice,
    abort_after: Option<u64>,
    json: bool,
) -> Result<()> {
    let s = config.sample()?;
    if s.method == SampleMethod::Nemcmc {
        return crate::nemcmc::run_config(config, choice, abort_after, json);
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
    // With pseudofermions: S_φ⁴ − log d̂et, exact in the mean (pseudo-marginal samplers); with
    // pf_estimator = "flow", d̂et from a conditional flow trained now (joint sampling).
    let (estimated, conditional) = match config.joint_flow() {
        Some(_) => {
            let (target, trained) = crate::pseudo_marginal::joint_target(config, proposal)?;
            (Some(target), Some(trained))
        }
        None => (config.estimated_action(), None),
    };
    let boxed;
    let action: &dyn lft_action::Action = match &estimated {
        Some(e) => e,
        None => {
            boxed = config.field_action()?;
            boxed.as_ref()
        }
    };
    let estimator = match &estimated {
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
            let target = estimated.as_ref().expect("the joint target");
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
    let counts = estimated.as_ref().map(|e| {
        let c = e.counts();
        crate::pseudo_marginal::warn_about(&c, e);
        c
    });
    if summary.steps > 0 {
        let pm = estimator.zip(counts);
        print_summary(config, s, &summary, start.elapsed().as_secs_f64(), pm, json)?;
    }
    Ok(())
}

/// The run's summary, with the diagnostics of the whole ensemble file (lft-measure): the
/// proposals' ESS and Pareto k̂, the longest rejection run, τ_int, the sign balance, and the
/// warnings.
pub(crate) fn print_summary(
    config: &Config,
    s: &SamplePlan,
    run: &RunSummary,
    elapsed: f64,
    pseudo_marginal: Option<(EstimatorReport, EstimateCounts)>,
    json: bool,
) -> Result<()> {
    let path = &config.output().path;
    let per_step = 1e3 * elapsed / run.steps.max(1) as f64;
    let measured = lft_measure::measure(std::slice::from_ref(path), &Default::default())
        .with_context(|| format!("measuring {}", path.display()))?;
    let m = Diagnostics::of(&measured);
    for w in m.warnings {
        tracing::warn!("{w}");
    }
    let sampler = m.sampler;
    let tau = |key: &str| m.observables.get(key).map(|o| (o.tau_int, o.tau_int_error));
    if json {
        let summary = serde_json::json!({
            "command": "sample",
            "method": s.method,
            "output": path,
            "chains": s.chains,
            "configs": s.configs,
            "acceptance_this_run": run.acceptance(),
            "inner_acceptance_this_run": (s.method == SampleMethod::FlowHmc)
                .then(|| run.inner_acceptance()),
            "ms_per_step": per_step,
            "sampler": sampler,
            "positive_fraction": m.positive_fraction,
            "tau_int_abs_mag": tau("abs_mag"),
            "tau_int_chi2": tau("chi2"),
            "tau_int_topological_charge": tau("topological_charge"),
            "tau_int_plaquette": tau("plaquette"),
            "warnings": m.warnings,
            "pf_log_estimate_variance": pseudo_marginal.map(|p| p.0.log_variance),
            "pf_log_estimate_variance_error": pseudo_marginal.map(|p| p.0.log_variance_error),
            "pf_acceptance_factor": pseudo_marginal.map(|p| p.0.acceptance_factor),
            "pf_cg_iterations_per_estimate": pseudo_marginal
                .map(|p| p.1.cg_iterations as f64 / p.1.estimates.max(1) as f64),
            "pf_extended_ladders": pseudo_marginal.map(|p| p.1.extended),
            "pf_flow_training": pseudo_marginal.and_then(|p| p.0.conditional).map(|c| serde_json::json!({
                "steps": c.steps,
                "log_det_variance_start": c.variance_start,
                "log_det_variance_end": c.variance_end,
            })),
        });
        println!("{summary}");
        return Ok(());
    }
    let label = match s.method {
        SampleMethod::FlowHmc => "lft sample (flow-HMC)",
        SampleMethod::Nemcmc => "lft sample (NE-MCMC)",
        _ => "lft sample",
    };
    println!(
        "{label}: {} chain(s) × {} {}, {}",
        s.chains,
        s.configs,
        if s.method == SampleMethod::FlowHmc {
            "steps"
        } else {
            "configurations"
        },
        path.display()
    );
    let row = |name: &str, value: String| println!("  {name:<28}{value}");
    match s.method {
        SampleMethod::Reweight => {
            if let Some(ess) = sampler.and_then(|x| x.ess) {
                row(
                    "importance-weighted ESS",
                    format!("{ess:.4} (Kish), N·ESS = {:.0}", ess * m.n_configs as f64),
                );
            }
        }
        SampleMethod::Imh | SampleMethod::FlowHmc | SampleMethod::Nemcmc => {
            let label = match s.method {
                SampleMethod::FlowHmc => "flow acceptance (this run)",
                _ => "acceptance (this run)",
            };
            row(label, format!("{:.4}", run.acceptance()));
            if s.method == SampleMethod::FlowHmc {
                row(
                    "HMC acceptance (this run)",
                    format!("{:.4}", run.inner_acceptance()),
                );
            }
            if let Some(ess) = sampler.and_then(|x| x.ess) {
                let what = match s.method {
                    SampleMethod::Nemcmc => "ESS of the trajectories",
                    _ => "ESS of the proposals",
                };
                row(what, format!("{ess:.4}"));
            }
            if let Some(x) = sampler {
                row("longest rejection run", x.longest_rejection_run.to_string());
            }
        }
    }
    if let Some(k) = sampler.and_then(|x| x.pareto_k) {
        row("Pareto k-hat", format!("{k:.3} (above 0.7: unreliable)"));
    }
    if let Some(f) = &m.positive_fraction {
        row(
            "configurations with M > 0",
            format!("{:.4} ± {:.4} (1/2 expected)", f.value, f.error),
        );
    }
    if let Some((r, c)) = pseudo_marginal {
        if let Some(t) = r.conditional {
            row(
                "conditional pf flow",
                format!(
                    "{} training steps: Var(log d̂et | φ) {:.3} → {:.3}",
                    t.steps, t.variance_start, t.variance_end
                ),
            );
        }
        row(
            "Var(log det estimate)",
            format!(
                "{:.2} ± {:.2} on the flow's proposals (lowers the acceptance by about {:.2})",
                r.log_variance, r.log_variance_error, r.acceptance_factor
            ),
        );
        row(
            "CG per det estimate",
            format!(
                "{:.0} iterations ({} estimates, {} with the ladder extended)",
                c.cg_iterations as f64 / c.estimates.max(1) as f64,
                c.estimates,
                c.extended
            ),
        );
    }
    row("time per step", format!("{per_step:.3} ms"));
    if s.method != SampleMethod::Reweight {
        let keys = [
            ("abs_mag", "|M|"),
            ("chi2", "chi_2"),
            ("plaquette", "the plaquette"),
            ("topological_charge", "Q"),
        ];
        for (key, label) in keys {
            if let Some((t, e)) = tau(key) {
                row(&format!("tau_int of {label}"), format!("{t:.2} ± {e:.2}"));
            }
        }
    }
    Ok(())
}

/// What the summary of a sampling run reads from the measurement of its file, scalar or gauge.
struct Diagnostics<'a> {
    warnings: &'a [String],
    sampler: Option<&'a lft_measure::SamplerSummary>,
    positive_fraction: Option<&'a lft_measure::ObservableResult>,
    n_configs: usize,
    observables: &'a std::collections::BTreeMap<String, lft_measure::ObservableResult>,
}

impl<'a> Diagnostics<'a> {
    fn of(measured: &'a lft_measure::Measured) -> Self {
        match measured {
            lft_measure::Measured::Scalar(m) => Self {
                warnings: &m.warnings,
                sampler: m.sampler.as_ref(),
                positive_fraction: m.positive_fraction.as_ref(),
                n_configs: m.n_configs,
                observables: &m.observables,
            },
            lft_measure::Measured::Gauge(g) => Self {
                warnings: &[],
                sampler: g.sampler.as_ref(),
                positive_fraction: None,
                n_configs: g.n_configs,
                observables: &g.observables,
            },
        }
    }
}
