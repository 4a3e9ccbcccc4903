//! The summary `lft sample` prints after sampling (flow chains, reweighting, flow-HMC and
//! NE-MCMC alike): acceptance, the proposals' ESS and Pareto k̂, τ_int and warnings, read back
//! from the finished ensemble by lft-measure; `--json` gives one object.

use crate::pseudo_marginal::EstimatorReport;
use anyhow::{Context, Result};
use lft_action::EstimateCounts;
use lft_config::{Config, SampleMethod, SamplePlan};
use lft_sample::RunSummary;

/// The run's summary, with the diagnostics of the whole ensemble file (lft-measure): the
/// proposals' ESS and Pareto k̂, the longest rejection run, τ_int, the sign balance, and the
/// warnings.
pub(crate) fn print_summary(
    config: &Config,
    s: &SamplePlan,
    run: &RunSummary,
    elapsed: f64,
    pseudo_marginal: Option<(EstimatorReport, EstimateCounts)>,
    style: crate::mode_report::Summary<'_>,
) -> Result<()> {
    let json = style.json;
    let path = &config.output().path;
    let per_step = 1e3 * elapsed / run.steps.max(1) as f64;
    let measured = lft_measure::measure(std::slice::from_ref(path), &Default::default())
        .with_context(|| format!("measuring {}", path.display()))?;
    let m = Diagnostics::of(&measured);
    let mode_check = match style.reference()? {
        Some(r) => {
            let (indicator, modes) =
                lft_measure::mode_weights(&measured).expect("a measured ensemble has mode weights");
            Some((r.check(indicator, &modes)?, r.path))
        }
        None => None,
    };
    let mut all_warnings = m.warnings.to_vec();
    all_warnings.extend(
        mode_check
            .as_ref()
            .and_then(|(c, _)| c.warning("the sampled ensemble's configurations")),
    );
    for w in &all_warnings {
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
            "warnings": all_warnings,
            "mode_check": mode_check.as_ref().map(|(c, p)| crate::mode_report::json(c, p)),
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
            format!(
                "{:.4} ± {:.4}{}",
                f.value,
                f.error,
                if m.z2_symmetric {
                    " (1/2 expected)"
                } else {
                    ""
                }
            ),
        );
    }
    if let Some((r, c)) = pseudo_marginal {
        if let Some(t) = r.conditional {
            row(
                "conditional pf flow",
                format!(
                    "{} training steps: Var(log d̂et | field) {:.3} → {:.3}",
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
    z2_symmetric: bool,
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
                z2_symmetric: m.z2_symmetric,
                n_configs: m.n_configs,
                observables: &m.observables,
            },
            lft_measure::Measured::Gauge(g) => Self {
                warnings: &[],
                sampler: g.sampler.as_ref(),
                positive_fraction: None,
                z2_symmetric: false,
                n_configs: g.n_configs,
                observables: &g.observables,
            },
        }
    }
}
