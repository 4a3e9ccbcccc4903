//! Mode coverage: how much of a reference distribution's weight over discrete modes (the sign of
//! M of a scalar field, the topological charge Q of a gauge field) a candidate estimate misses.
//! A flow that collapsed onto some modes gives importance-reweighted mode weights of 0 where the
//! target has mass (no proposal ever lands there, so no weight can correct it): its missing mass
//!   m = Σ_k max(0, p_ref(k) − p_cand(k))
//! is the weight of the dropped modes (Nicoli et al., arXiv:2302.14082, "Detecting and
//! mitigating mode-collapse for flow-based sampling of lattice field theories"). Its error adds
//! both estimates' errors in quadrature over the modes that contribute.

/// One mode's weight with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModeWeight {
    pub mode: i64,
    pub weight: f64,
    pub error: f64,
}

/// A candidate's mode weights against a reference's.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeCheck {
    /// What the modes are ("sign of M", "Q").
    pub indicator: &'static str,
    /// Per mode of either: (mode, candidate weight, its error, reference weight, its error);
    /// a mode absent from one has weight 0 and error 0 there.
    pub modes: Vec<(i64, f64, f64, f64, f64)>,
    /// Σ_k max(0, p_ref(k) − p_cand(k)).
    pub missing_mass: f64,
    /// The standard error of `missing_mass`.
    pub missing_error: f64,
}

/// Missing mass below this is not reported as a collapse, however significant.
pub const MISSING_MASS_TOLERANCE: f64 = 0.01;

/// Standard errors the missing mass must exceed to be reported.
pub const MISSING_MASS_SIGMAS: f64 = 3.0;

/// Compares `candidate` with `reference` (see the module documentation).
pub fn check_modes(
    indicator: &'static str,
    candidate: &[ModeWeight],
    reference: &[ModeWeight],
) -> ModeCheck {
    let mut all: Vec<i64> = candidate.iter().chain(reference).map(|m| m.mode).collect();
    all.sort_unstable();
    all.dedup();
    let find = |list: &[ModeWeight], k: i64| {
        list.iter()
            .find(|m| m.mode == k)
            .map_or((0.0, 0.0), |m| (m.weight, m.error))
    };
    let (mut missing, mut variance) = (0.0, 0.0);
    let modes = all
        .into_iter()
        .map(|k| {
            let (c, ce) = find(candidate, k);
            let (r, re) = find(reference, k);
            if r > c {
                missing += r - c;
                variance += ce * ce + re * re;
            }
            (k, c, ce, r, re)
        })
        .collect();
    ModeCheck {
        indicator,
        modes,
        missing_mass: missing,
        missing_error: variance.sqrt(),
    }
}

impl ModeCheck {
    /// Whether the candidate misses mass: more than [`MISSING_MASS_TOLERANCE`] and more than
    /// [`MISSING_MASS_SIGMAS`] standard errors.
    pub fn collapsed(&self) -> bool {
        self.missing_mass > MISSING_MASS_TOLERANCE
            && self.missing_mass > MISSING_MASS_SIGMAS * self.missing_error
    }

    /// The warning of a collapse; `what` names the candidate ("the flow's proposals").
    pub fn warning(&self, what: &str) -> Option<String> {
        self.collapsed().then(|| {
            let lacking: Vec<String> = self
                .modes
                .iter()
                .filter(|m| m.3 > m.1 + MISSING_MASS_SIGMAS * (m.2 * m.2 + m.4 * m.4).sqrt())
                .map(|m| {
                    format!(
                        "{} = {}: {:.4} against {:.4}",
                        self.indicator, m.0, m.1, m.3
                    )
                })
                .collect();
            format!(
                "mode collapse: {what} miss {:.1} ± {:.1} % of the reference's weight ({}); \
                 results are biased towards the modes the flow covers; train with a \
                 mass-covering objective (train.objective = \"fab\", or forward_kl on the \
                 reference) or sample with flow_hmc",
                100.0 * self.missing_mass,
                100.0 * self.missing_error,
                lacking.join("; ")
            )
        })
    }
}

/// The weights of the two signs of M (−1 and +1) from the fraction f with M > 0 and its error.
pub fn sign_modes(positive: f64, error: f64) -> Vec<ModeWeight> {
    vec![
        ModeWeight {
            mode: -1,
            weight: 1.0 - positive,
            error,
        },
        ModeWeight {
            mode: 1,
            weight: positive,
            error,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_mode_is_missing_mass() {
        let reference = sign_modes(0.9, 0.005);
        let collapsed = sign_modes(1.0, 0.0);
        let c = check_modes("sign of M", &collapsed, &reference);
        assert!((c.missing_mass - 0.1).abs() < 1e-12);
        assert!((c.missing_error - 0.005).abs() < 1e-12);
        assert!(c.collapsed());
        assert!(c.warning("the proposals").unwrap().contains("10.0 ± 0.5 %"));
        let covering = sign_modes(0.905, 0.01);
        let c = check_modes("sign of M", &covering, &reference);
        assert!((c.missing_mass - 0.005).abs() < 1e-12);
        assert!(!c.collapsed());
        // A mode only the reference has counts fully.
        let q = |mode, weight| ModeWeight {
            mode,
            weight,
            error: 0.01,
        };
        let c = check_modes("Q", &[q(0, 1.0)], &[q(-1, 0.2), q(0, 0.6), q(1, 0.2)]);
        assert!((c.missing_mass - 0.4).abs() < 1e-12);
        assert_eq!(c.modes.len(), 3);
    }
}
