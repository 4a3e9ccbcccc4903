//! The determinant estimator of `lft sample` with pseudofermions: before the run, how often
//! flow proposals need a longer ladder than configured and the variance of its log estimate on
//! them; after it, what the run met.

use anyhow::Result;
use lft_action::{EstimateCounts, EstimatedAction, SchwingerEstimated, YukawaEstimated};
use lft_config::Config;
use lft_flow::Proposal;
use lft_lattice::stream_rng;
use lft_sample::{PfFlowStep, train_gauge_pf_flow, train_pf_flow};
use lft_stats::special::gamma_q;
use tracing::{info, warn};

/// Random stream of the probe proposals.
const PROBE_STREAM: u64 = (1 << 34) + 7;
/// Proposals checked against the variance condition.
const PROBES: usize = 32;
/// Of them, proposals whose estimate is repeated, and how often.
const VARIANCE_PROBES: usize = 8;
const REPEATS: usize = 4;

/// The estimator's variance on the flow's proposals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimatorReport {
    /// Mean over the probe proposals of the sample variance of their repeated log estimates.
    pub log_variance: f64,
    /// Its standard error over the probes.
    pub log_variance_error: f64,
    /// 2Φ(−σ/√2), σ² = `log_variance`: the factor by which log-normal estimator noise of that
    /// variance lowers the acceptance of independence Metropolis with a perfect flow.
    pub acceptance_factor: f64,
    /// With `pf_estimator = "flow"`: how the conditional flow's training went.
    pub conditional: Option<ConditionalTraining>,
}

/// The training of a conditional pseudofermion flow, in brief.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConditionalTraining {
    pub steps: usize,
    /// Mean Var(log d̂et | φ) over the first tenth of the steps.
    pub variance_start: f64,
    /// The same over the last tenth.
    pub variance_end: f64,
}

/// Draws [`PROBES`] proposals, counts those whose ladder must be extended past
/// `pf_twist_max` for a finite variance (each extra rung costs two solves per draw), and
/// measures the log-estimate variance on [`VARIANCE_PROBES`] of them.
pub fn probe(
    proposal: &dyn Proposal,
    target: &dyn EstimatedAction,
    seed: u64,
) -> Result<EstimatorReport> {
    let v = proposal.volume();
    let sample = proposal.draw(PROBES, &mut stream_rng(seed, PROBE_STREAM));
    warn_extended_ladders(target, &sample.phi, v);
    let variances: Vec<f64> = sample
        .phi
        .chunks_exact(v)
        .take(VARIANCE_PROBES)
        .map(|phi| {
            let logs = target.repeated_log_det(phi, REPEATS)?;
            let mean = logs.iter().sum::<f64>() / REPEATS as f64;
            Ok(logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (REPEATS - 1) as f64)
        })
        .collect::<Result<_>>()?;
    let n = variances.len() as f64;
    let log_variance = variances.iter().sum::<f64>() / n;
    let spread = variances
        .iter()
        .map(|x| (x - log_variance).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    let report = EstimatorReport {
        log_variance,
        log_variance_error: (spread / n).sqrt(),
        // 2Φ(−σ/√2) = erfc(σ/2) = Q(½, σ²/4).
        acceptance_factor: gamma_q(0.5, log_variance / 4.0),
        conditional: None,
    };
    info!(
        "determinant estimator ({}): Var(log estimate) = {:.2} ± {:.2} on {VARIANCE_PROBES} proposals; it lowers the acceptance by about {:.2}",
        target.describe(),
        report.log_variance,
        report.log_variance_error,
        report.acceptance_factor
    );
    Ok(report)
}

/// Stream key of the conditional flow's training under the run seed.
const PF_FLOW_SEED: u64 = 0x5046_464C_4F57; // "PFFLOW"

/// The joint target of `pf_estimator = "flow"`: the model's estimated action with the trained
/// conditional flow's estimate.
pub enum JointTarget {
    Yukawa(YukawaEstimated),
    Schwinger(SchwingerEstimated),
}

impl JointTarget {
    pub fn target(&self) -> &dyn EstimatedAction {
        match self {
            JointTarget::Yukawa(t) => t,
            JointTarget::Schwinger(t) => t,
        }
    }
}

/// For `pf_estimator = "flow"`: trains the conditional pseudofermion flow on proposals of
/// `proposal` (deterministic under the run seed, so a resumed run trains the same flow),
/// logs its progress, and returns the joint target.
pub fn joint_target(
    config: &Config,
    proposal: &dyn Proposal,
) -> Result<(JointTarget, ConditionalTraining)> {
    let joint = config
        .joint_flow()
        .expect("called for pf_estimator = \"flow\"");
    let cg = config.pseudofermion_cg().expect("a pseudofermion config");
    let settings = joint.training(cg.action, config.seed() ^ PF_FLOW_SEED);
    let every = (settings.steps / 5).max(1);
    let mut report = |s: &PfFlowStep| {
        if (s.step + 1).is_multiple_of(every) {
            info!(
                "  step {}: loss {:.3}, Var(log d̂et | field) {:.3}",
                s.step + 1,
                s.loss,
                s.log_det_variance
            );
        }
        if s.failed > 0 {
            warn!(
                "  step {}: {} of the batch's solves failed and were left out (raise action.cg_max_iterations if this recurs)",
                s.step + 1,
                s.failed
            );
        }
    };
    let announce = |params: usize, kind: &str| {
        info!(
            "training the {kind} conditional pseudofermion flow ({params} parameters): {} steps of {} proposals × 2 draws",
            settings.steps, settings.batch
        );
    };
    let (target, history) = if let Some(model) = config.schwinger_model() {
        let mut pf_flow = joint.untrained_gauge(model.mass());
        announce(pf_flow.params().len(), "gauge-covariant");
        let history = train_gauge_pf_flow(&mut pf_flow, proposal, &model, &settings, &mut report)?;
        let target = config
            .gauge_joint_action(pf_flow)
            .expect("a Schwinger pseudofermion config with pf_estimator = \"flow\"");
        (JointTarget::Schwinger(target), history)
    } else {
        let model = config
            .pseudofermion_model()
            .expect("a pseudofermion config");
        let mut pf_flow = joint.untrained(config.lattice().dim());
        announce(pf_flow.params().len(), "Yukawa");
        let history = train_pf_flow(&mut pf_flow, proposal, &model, &settings, &mut report)?;
        let target = config
            .joint_action(pf_flow)
            .expect("a pseudofermion config with pf_estimator = \"flow\"");
        (JointTarget::Yukawa(target), history)
    };
    let tenth = (history.len() / 10).max(1);
    let mean =
        |r: &[PfFlowStep]| r.iter().map(|s| s.log_det_variance).sum::<f64>() / r.len() as f64;
    let trained = ConditionalTraining {
        steps: history.len(),
        variance_start: mean(&history[..tenth]),
        variance_end: mean(&history[history.len() - tenth..]),
    };
    info!(
        "conditional flow trained: Var(log d̂et | field) {:.3} over the first tenth of the steps, {:.3} over the last",
        trained.variance_start, trained.variance_end
    );
    Ok((target, trained))
}

/// Warns about failed solves (their proposals were rejected).
pub fn warn_about(counts: &EstimateCounts, target: &dyn EstimatedAction) {
    if let Some(e) = target.take_error() {
        warn!(
            "{} estimates failed and their proposals were rejected (first: {e}); raise action.cg_max_iterations",
            counts.failures
        );
    }
}

/// Warns when flow proposals need ladders past `pf_twist_max` (each extra rung costs two solves
/// per draw; only the Yukawa ladder extends itself).
fn warn_extended_ladders(target: &dyn EstimatedAction, fields: &[f64], v: usize) {
    let extensions: Vec<(f64, usize)> = fields
        .chunks_exact(v)
        .filter_map(|field| target.ladder_extension(field))
        .collect();
    let extended = extensions.iter().filter(|(_, extra)| *extra > 0).count();
    if extended > 0 {
        let longest = extensions
            .iter()
            .map(|(_, extra)| *extra)
            .max()
            .unwrap_or(0);
        warn!(
            "{extended} of {PROBES} flow proposals need twists above action.pf_twist_max = {} for the determinant estimator's variance condition (docs/PHYSICS.md): their ladders grow by up to {longest} rungs; raise pf_twist_max if this is common",
            extensions[0].0
        );
    }
}
