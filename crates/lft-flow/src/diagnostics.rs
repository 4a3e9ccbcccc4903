//! How far to trust a flow, as `lft train`, `lft sample` and `lft measure` report it:
//! - [`FlowQuality`], from a large independent sample of the flow (not the last training
//!   batch): the Kish ESS of the importance weights w = e^{−S}/q, the acceptance and longest
//!   rejection run of an independence-Metropolis chain run through the sample, the Pareto k̂ of
//!   the log weights (PSIS: k̂ > 0.7 means the weights' variance is effectively infinite), and
//!   for Z₂-symmetric actions the fraction of proposals with M > 0 (½ for a flow that covers
//!   both modes), the importance-sampling estimate of log Z, and for gauge fields P(Q) of the
//!   proposals beside the reweighted P(Q);
//! - [`RoundTrip`] (in `round_trip.rs`): how far the inverse map lands from the latent draw; a
//!   flow whose inverse is numerically unstable gives wrong weights, and samplers stop on it.

use crate::integrator_error::IntegratorError;
use crate::proposal::Proposal;
pub use crate::round_trip::ROUND_TRIP_TOLERANCE;
use crate::round_trip::RoundTrip;
use lft_action::Action;
use lft_lattice::{Pcg64, uniform};
use lft_stats::{PARETO_K_UNRELIABLE, kish_ess, pareto_k_hat, pareto_warning};

/// A Z₂-symmetric target puts half its weight on M > 0; a proposal fraction further than this
/// from ½ means the flow under-samples one sign (a dropped mode).
pub const SIGN_BALANCE_TOLERANCE: f64 = 0.1;

/// Latent draws on which [`evaluate`] measures the integrator error (a 4× finer solve each).
pub const INTEGRATOR_SAMPLES: usize = 256;

/// Configurations drawn at a time by [`evaluate`].
const EVAL_CHUNK: usize = 1024;

/// The quality of a flow as a proposal for e^{−S}, from an independent sample (see the module
/// documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct FlowQuality {
    pub samples: usize,
    /// ⟨log q + S⟩ over the sample (the reverse KL up to log Z) and its variance.
    pub loss: f64,
    pub loss_variance: f64,
    /// Kish ESS per sample of log w = −(log q + S).
    pub ess: f64,
    /// Acceptance of an independence-Metropolis chain through the sample, in order.
    pub acceptance: f64,
    /// That chain's longest run of consecutive rejections.
    pub longest_rejection_run: usize,
    /// The Pareto k̂ of the log weights (`None` if it cannot be fitted, e.g. equal weights).
    pub pareto_k: Option<f64>,
    /// For scalar fields, the fraction of proposals with M = Σ_x φ_x > 0 (½ for a flow that
    /// covers both modes of a Z₂-symmetric action; with an external field the target's own
    /// fraction is [`FlowQuality::positive_reweighted`]).
    pub positive_fraction: Option<f64>,
    /// For scalar fields, the importance-weighted fraction with M > 0, Σ_{M>0} w / Σ w: what
    /// the corrected samplers converge to, as far as the proposals reach.
    pub positive_reweighted: Option<f64>,
    /// Whether the action is Z₂-symmetric (then ½ is expected of both fractions).
    pub z2_symmetric: bool,
    /// The importance-weighted weight of every mode the proposals reach, with its
    /// delta-method error: the sign of M (−1, +1) for scalar fields, Q for gauge fields. A
    /// mode the flow never proposes is absent (weight 0): compare with a reference population
    /// ([`lft_stats::check_modes`]) to see the mass it misses.
    pub modes: Vec<lft_stats::ModeWeight>,
    /// What `modes` are: "sign of M" or "Q" (`None` for neither).
    pub mode_indicator: Option<&'static str>,
    /// Proposals whose log weight is not finite (excluded from the statistics above).
    pub non_finite: usize,
    /// The worst round trip over the first configuration of every drawn chunk.
    pub round_trip: RoundTrip,
    /// The proposal's round-trip tolerance ([`Proposal::round_trip_tolerance`]).
    pub round_trip_tolerance: f64,
    /// For flows with an ODE solver inside (continuous flows), the error it leaves in log q
    /// ([`IntegratorError`], on up to [`INTEGRATOR_SAMPLES`] of the draws' latent variables).
    pub integrator_error: Option<IntegratorError>,
    /// The importance-sampling estimate of the model's log Z,
    /// log Ẑ = log[(1/N) Σ e^{−S − log q}] − [`Action::log_z_offset`], and its standard error
    /// by the delta method, √((N/ESS − 1)/N) with ESS = (Σw)²/Σw² (unreliable where Pareto k̂
    /// is above 0.7).
    pub log_z: f64,
    pub log_z_error: f64,
    /// For actions with a topological charge (2D U(1)): per charge, the fraction of the
    /// proposals and the importance-weighted fraction (what the corrected samplers converge
    /// to), in increasing Q.
    pub charges: Vec<ChargeFraction>,
}

/// One topological sector in [`FlowQuality::charges`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChargeFraction {
    pub q: i64,
    /// Fraction of the proposals with this charge.
    pub proposed: f64,
    /// Σ_{Q(φ) = q} w / Σ w, w = e^{−S}/q: P(Q) of the target as the sample estimates it.
    pub reweighted: f64,
}

/// P(Q) of the proposals and reweighted, from each proposal's (Q, log w).
fn charge_fractions(tally: &[(i64, f64)]) -> Vec<ChargeFraction> {
    let Some(max) = tally.iter().map(|t| t.1).reduce(f64::max) else {
        return Vec::new();
    };
    let mut by_q = std::collections::BTreeMap::<i64, (f64, f64)>::new();
    for &(q, lw) in tally {
        let e = by_q.entry(q).or_default();
        e.0 += 1.0;
        e.1 += (lw - max).exp();
    }
    let total_w: f64 = by_q.values().map(|v| v.1).sum();
    let n = tally.len() as f64;
    by_q.into_iter()
        .map(|(q, (count, w))| ChargeFraction {
            q,
            proposed: count / n,
            reweighted: w / total_w,
        })
        .collect()
}

/// The quality of `proposal` for e^{−S}, from `samples` fresh draws (at least 2), drawn
/// 1024 at a time from `rng`, which also drives the acceptance test of the chain.
pub fn evaluate(
    proposal: &dyn Proposal,
    action: &dyn Action,
    samples: usize,
    rng: &mut Pcg64,
) -> FlowQuality {
    let samples = samples.max(2);
    let v = proposal.volume();
    let symmetric = action.is_z2_symmetric();
    // A scalar field has one value per site; link fields have d ≥ 2 per site.
    let scalar = action.field_len() == action.lattice().volume();
    let mut mode_log_w = Vec::new();
    let mut terms = Vec::with_capacity(samples);
    let mut positive = 0usize;
    let mut round_trip = RoundTrip::default();
    let mut non_finite = 0usize;
    let mut chain = ImhTally::default();
    let mut charges = Vec::new();
    while terms.len() + non_finite < samples {
        let k = EVAL_CHUNK.min(samples - terms.len() - non_finite);
        let draw = proposal.draw(k, rng);
        let mut s = vec![0.0; k];
        action.action_batch(&draw.phi, &mut s);
        if let Some(rt) = proposal.round_trip(&draw, 0) {
            round_trip = round_trip.worst(rt);
        }
        for (i, phi) in draw.phi.chunks_exact(v).enumerate() {
            let term = draw.log_q[i] + s[i];
            if !term.is_finite() {
                non_finite += 1;
                continue;
            }
            chain.propose(-term, uniform(rng));
            terms.push(term);
            if let Some(q) = action.topological_charge(phi) {
                charges.push((q.round() as i64, -term));
                mode_log_w.push((q.round() as i64, -term));
            }
            if scalar {
                let up = phi[..action.field_len()].iter().sum::<f64>() > 0.0;
                positive += usize::from(up);
                mode_log_w.push((if up { 1 } else { -1 }, -term));
            }
        }
    }
    let n = terms.len().max(1) as f64;
    let loss = terms.iter().sum::<f64>() / n;
    let loss_variance = terms.iter().map(|t| (t - loss).powi(2)).sum::<f64>() / n;
    let log_w: Vec<f64> = terms.iter().map(|t| -t).collect();
    let modes = reweighted_modes(&mode_log_w);
    let integrator_error = proposal.integrator_error(samples.min(INTEGRATOR_SAMPLES), rng);
    FlowQuality {
        samples,
        loss,
        loss_variance,
        ess: kish_ess(&log_w),
        acceptance: chain.accepted as f64 / chain.proposed.saturating_sub(1).max(1) as f64,
        longest_rejection_run: chain.longest_rejection_run,
        pareto_k: pareto_k_hat(&log_w),
        positive_fraction: scalar.then_some(positive as f64 / n),
        positive_reweighted: scalar
            .then(|| modes.iter().find(|m| m.mode == 1).map_or(0.0, |m| m.weight)),
        z2_symmetric: symmetric,
        mode_indicator: if scalar {
            Some("sign of M")
        } else if charges.is_empty() {
            None
        } else {
            Some("Q")
        },
        modes,
        non_finite,
        round_trip,
        round_trip_tolerance: proposal.round_trip_tolerance(),
        integrator_error,
        charges: charge_fractions(&charges),
        log_z: lft_stats::log_mean_exp(&log_w) - action.log_z_offset(),
        log_z_error: {
            let ess = lft_stats::ess(&log_w).max(1.0);
            ((n / ess - 1.0).max(0.0) / n).sqrt()
        },
    }
}

/// The self-normalised weight p_k = Σ_{i∈k} w_i / Σ_i w_i of every mode k over (mode, log w)
/// pairs, with the delta-method error
///   σ²(p_k) = Σ_i w_i² (1_{i∈k} − p_k)² / (Σ_i w_i)²,
/// in increasing k.
pub fn reweighted_modes(tally: &[(i64, f64)]) -> Vec<lft_stats::ModeWeight> {
    let max = tally.iter().map(|t| t.1).fold(f64::NEG_INFINITY, f64::max);
    let mut by_mode = std::collections::BTreeMap::<i64, (f64, f64)>::new();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &(k, lw) in tally {
        let w = (lw - max).exp();
        let e = by_mode.entry(k).or_default();
        e.0 += w;
        e.1 += w * w;
        s1 += w;
        s2 += w * w;
    }
    by_mode
        .into_iter()
        .map(|(mode, (w1, w2))| {
            let p = w1 / s1;
            let var = (w2 * (1.0 - p).powi(2) + (s2 - w2) * p * p) / (s1 * s1);
            lft_stats::ModeWeight {
                mode,
                weight: p,
                error: var.sqrt(),
            }
        })
        .collect()
}

/// An independence-Metropolis chain run through a sequence of log weights.
#[derive(Default)]
struct ImhTally {
    current: Option<f64>,
    proposed: usize,
    /// Acceptances after the first proposal (which starts the chain).
    accepted: usize,
    rejection_run: usize,
    longest_rejection_run: usize,
}

impl ImhTally {
    fn propose(&mut self, log_w: f64, u: f64) {
        self.proposed += 1;
        match self.current {
            None => self.current = Some(log_w),
            Some(cur) if u < (log_w - cur).exp() => {
                self.current = Some(log_w);
                self.accepted += 1;
                self.rejection_run = 0;
            }
            Some(_) => {
                self.rejection_run += 1;
                self.longest_rejection_run = self.longest_rejection_run.max(self.rejection_run);
            }
        }
    }
}

impl FlowQuality {
    /// What a user should not ignore: heavy-tailed weights (k̂ > 0.7), a dropped mode of a
    /// Z₂-symmetric target, non-finite weights, a round trip above the proposal's tolerance,
    /// and an integrator error not far below the spread of the log weights.
    pub fn warnings(&self) -> Vec<String> {
        let tolerance = self.round_trip_tolerance;
        let mut out = Vec::new();
        if let Some(k) = self.pareto_k.filter(|k| *k > PARETO_K_UNRELIABLE) {
            out.push(pareto_warning(k));
        }
        if let Some(f) = self.positive_fraction.filter(|_| self.z2_symmetric) {
            out.extend(sign_balance_warning(f, "of the proposals"));
        }
        if self.non_finite > 0 {
            out.push(format!(
                "{} of {} proposals have a non-finite weight (log q or S is not a number)",
                self.non_finite, self.samples
            ));
        }
        if self.round_trip.exceeds(tolerance) {
            out.push(round_trip_warning(&self.round_trip, tolerance));
        }
        if let Some(e) = &self.integrator_error {
            out.extend(e.warning(self.loss_variance.sqrt()));
        }
        out
    }
}

/// The warning for a fraction `f` of configurations with M > 0 under a Z₂-symmetric action,
/// if it is further than [`SIGN_BALANCE_TOLERANCE`] from ½; `which` names them.
pub fn sign_balance_warning(f: f64, which: &str) -> Option<String> {
    ((f - 0.5).abs() > SIGN_BALANCE_TOLERANCE).then(|| {
        format!(
            "{:.1} % {which} have M > 0, but the action is Z₂-symmetric (½ expected): the flow \
             under-samples one sign of M (a dropped mode), so chains rarely tunnel and results odd \
             in M are biased; train with flow.equivariant = true",
            100.0 * f
        )
    })
}

/// The warning for a round trip above `tolerance`.
pub fn round_trip_warning(rt: &RoundTrip, tolerance: f64) -> String {
    format!(
        "the flow's inverse is numerically unstable: max |f⁻¹(f(z)) − z| = {:.2e}, relative \
         change of log q {:.2e} (tolerance {tolerance:.0e}), so its weights cannot be trusted",
        rt.latent_error, rt.log_q_error
    )
}
