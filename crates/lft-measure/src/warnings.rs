//! What a measurement should not be trusted for: heavy-tailed flow weights (Pareto k̂ > 0.7),
//! and a chain that stays on one sign of M although the action is Z₂-symmetric.

use crate::results::{ObservableResult, SamplerSummary};
use lft_stats::{PARETO_K_UNRELIABLE, pareto_warning};

/// A fraction of configurations with M > 0 further than this from ½ (and further than three
/// standard errors) means the sampler does not visit both signs of M in equal measure.
pub const SIGN_BALANCE_TOLERANCE: f64 = 0.1;

/// The warnings of a measurement with these sampler statistics and sign balance.
pub(crate) fn warnings(
    sampler: Option<&SamplerSummary>,
    positive_fraction: Option<&ObservableResult>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(k) = sampler
        .and_then(|s| s.pareto_k)
        .filter(|k| *k > PARETO_K_UNRELIABLE)
    {
        out.push(format!("flow proposals: {}", pareto_warning(k)));
    }
    if let Some(f) = positive_fraction {
        let off = (f.value - 0.5).abs();
        if off > SIGN_BALANCE_TOLERANCE && off > 3.0 * f.error {
            out.push(format!(
                "{:.1} ± {:.1} % of the configurations have M > 0, but the action is \
                 Z₂-symmetric (½ expected): the sampler does not tunnel between the signs of M \
                 (or its flow dropped a mode), so results odd in M, such as ⟨M⟩ and χ₂, are \
                 biased; ⟨|M|⟩ and ⟨M²⟩ are not",
                100.0 * f.value,
                100.0 * f.error
            ));
        }
    }
    out
}
