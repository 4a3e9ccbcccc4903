//! The determinant estimator of `lft sample` with pseudofermions: before the run, how often
//! flow proposals need a longer ladder than configured and the variance of its log estimate on
//! them; after it, what the run met.

use anyhow::Result;
use lft_action::{DetEstimator, EstimateCounts, YukawaEstimated};
use lft_flow::Proposal;
use lft_lattice::stream_rng;
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
}

/// Draws [`PROBES`] proposals, counts those whose ladder must be extended past
/// `pf_twist_max` for a finite variance (each extra rung costs two solves per draw), and
/// measures the log-estimate variance on [`VARIANCE_PROBES`] of them.
pub fn probe(
    proposal: &dyn Proposal,
    target: &YukawaEstimated,
    seed: u64,
) -> Result<EstimatorReport> {
    let v = proposal.volume();
    let sample = proposal.draw(PROBES, &mut stream_rng(seed, PROBE_STREAM));
    if let Some(estimator) = target.ladder() {
        warn_extended_ladders(estimator, target, &sample.phi, v);
    }
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
    };
    info!(
        "determinant estimator ({}): Var(log estimate) = {:.2} ± {:.2} on {VARIANCE_PROBES} proposals; it lowers the acceptance by about {:.2}",
        target.estimator().describe(),
        report.log_variance,
        report.log_variance_error,
        report.acceptance_factor
    );
    Ok(report)
}

/// Warns about failed solves (their proposals were rejected).
pub fn warn_about(counts: &EstimateCounts, target: &YukawaEstimated) {
    if let Some(e) = target.take_error() {
        warn!(
            "{} estimates failed and their proposals were rejected (first: {e}); raise action.cg_max_iterations",
            counts.failures
        );
    }
}

/// Warns when flow proposals need ladders past `pf_twist_max` (each extra rung costs two solves
/// per draw).
fn warn_extended_ladders(
    estimator: &DetEstimator,
    target: &YukawaEstimated,
    phis: &[f64],
    v: usize,
) {
    let rungs = estimator.twists().len();
    let ladders: Vec<usize> = phis
        .chunks_exact(v)
        .map(|phi| estimator.twists_for(&target.model().dirac(phi)).len())
        .collect();
    let extended = ladders.iter().filter(|&&n| n > rungs).count();
    if extended > 0 {
        let longest = ladders.iter().max().copied().unwrap_or(rungs);
        warn!(
            "{extended} of {PROBES} flow proposals need twists above action.pf_twist_max = {} for the determinant estimator's variance condition (docs/PHYSICS.md): their ladders grow by up to {} rungs; raise pf_twist_max if this is common",
            estimator.twists()[rungs - 1],
            longest - rungs
        );
    }
}
