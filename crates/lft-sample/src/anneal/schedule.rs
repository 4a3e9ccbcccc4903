//! Annealing schedules 0 = β_0 < β_1 < … < β_K = 1: K equal steps, a given list, or adaptive
//! steps chosen so that the conditional ESS of the incremental weights equals a target
//! fraction (Zhou, Johansen, Aston 2016):
//!   CESS(β′) = (Σ_i W_i w_i)² / Σ_i W_i w_i²,   w_i = e^{(β′ − β) ℓ_i},
//! with W the normalised weights of the particles at β and ℓ_i = −S(φ_i) − log r(φ_i). CESS is 1
//! at β′ = β; the next β′ is found by bisection.

use thiserror::Error;

/// How the temperatures are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// β_k = k/K, k = 1 … K.
    Linear { steps: usize },
    /// β_1 < … < β_K = 1 as given (β_0 = 0 is implied).
    List(Vec<f64>),
    /// Each step keeps the conditional ESS at `target` (a fraction in (0, 1)).
    Adaptive { target: f64 },
}

/// A schedule that does not lead from 0 to 1.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScheduleError {
    #[error("a linear schedule needs at least 1 step")]
    NoSteps,
    #[error(
        "the temperatures must increase strictly within (0, 1]: β_{index} = {value} follows {previous}"
    )]
    NotIncreasing {
        index: usize,
        value: f64,
        previous: f64,
    },
    #[error("the schedule must end at β = 1, not {last}")]
    DoesNotEnd { last: f64 },
    #[error("the adaptive target must be a fraction in (0, 1), not {target}")]
    BadTarget { target: f64 },
}

impl Schedule {
    /// Checks that the schedule leads from β = 0 to β = 1.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            Schedule::Linear { steps: 0 } => Err(ScheduleError::NoSteps),
            Schedule::Linear { .. } => Ok(()),
            Schedule::List(betas) => {
                let mut previous = 0.0;
                for (index, &value) in betas.iter().enumerate() {
                    if !(value > previous && value <= 1.0) {
                        return Err(ScheduleError::NotIncreasing {
                            index: index + 1,
                            value,
                            previous,
                        });
                    }
                    previous = value;
                }
                match betas.last() {
                    Some(1.0) => Ok(()),
                    last => Err(ScheduleError::DoesNotEnd {
                        last: last.copied().unwrap_or(0.0),
                    }),
                }
            }
            Schedule::Adaptive { target } if *target > 0.0 && *target < 1.0 => Ok(()),
            Schedule::Adaptive { target } => Err(ScheduleError::BadTarget { target: *target }),
        }
    }

    /// β_1 … β_K of a fixed schedule; `None` for an adaptive one.
    pub fn betas(&self) -> Option<Vec<f64>> {
        match self {
            Schedule::Linear { steps } => Some(
                (1..=*steps)
                    .map(|k| {
                        if k == *steps {
                            1.0
                        } else {
                            k as f64 / *steps as f64
                        }
                    })
                    .collect(),
            ),
            Schedule::List(betas) => Some(betas.clone()),
            Schedule::Adaptive { .. } => None,
        }
    }
}

/// The conditional ESS fraction CESS(β + δ) ∈ [1/N, 1] for normalised weights `w` and log
/// ratios `ell`, computed with the exponents shifted by their maximum (ℓ = −∞, a particle of
/// zero density, counts as e^{δℓ} = 0 for every δ).
pub fn conditional_ess(w: &[f64], ell: &[f64], delta: f64) -> f64 {
    let exponent = |l: f64| if l == f64::NEG_INFINITY { l } else { delta * l };
    let max = ell
        .iter()
        .map(|&l| exponent(l))
        .fold(f64::NEG_INFINITY, f64::max);
    let (s1, s2) = w.iter().zip(ell).fold((0.0, 0.0), |(s1, s2), (wi, &l)| {
        let x = (exponent(l) - max).exp();
        (s1 + wi * x, s2 + wi * x * x)
    });
    s1 * s1 / s2
}

/// The next temperature after `beta` with CESS = `target` × CESS(0⁺) (bisection on the step to
/// a relative precision of 1e-12), or 1 if the whole remaining step keeps it. CESS(0⁺) = Σ W_i
/// over the particles of nonzero density (ℓ_i > −∞) is 1 unless some have action +∞; those
/// are lost at any step, so the schedule controls the loss among the others.
pub fn next_adaptive_beta(beta: f64, w: &[f64], ell: &[f64], target: f64) -> f64 {
    let remaining = 1.0 - beta;
    let ceiling: f64 = w
        .iter()
        .zip(ell)
        .filter(|(_, l)| **l > f64::NEG_INFINITY)
        .map(|(wi, _)| wi)
        .sum();
    let target = target * ceiling.min(1.0);
    if ceiling == 0.0 || conditional_ess(w, ell, remaining) >= target {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0, remaining);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if conditional_ess(w, ell, mid) >= target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    (beta + lo).min(1.0)
}
