//! The annealing path between a normalised prior r and the target e^{−S}:
//!   log π_β(φ) = (1 − β) log r(φ) − β S(φ),   β ∈ [0, 1],
//! so π_0 = r (Z_0 = 1) and π_1 ∝ e^{−S} with Z_1 = ∫ e^{−S} dφ. The incremental log weight of
//! a particle moving from β to β′ is log π_β′(φ) − log π_β(φ) = (β′ − β)(−S(φ) − log r(φ)).

use crate::LaneTarget;
use lft_action::{Action, LaneAction};
use lft_flow::Prior;
use lft_flow::prior::log_cosh;
use lft_lattice::{LANES, Lanes, Lattice, lane_sum_of_squares};

/// The tempered action S_β(φ) = −log π_β(φ) = −(1 − β) log r(φ) + β S(φ), an [`Action`] so that
/// HMC moves particles at fixed β.
pub struct Tempered<'a> {
    pub prior: &'a Prior,
    pub action: &'a dyn Action,
    pub beta: f64,
}

impl Tempered<'_> {
    /// −S(φ) − log r(φ): the derivative of log π_β(φ) in β, whose multiple (β′ − β) is a
    /// particle's incremental log weight.
    pub fn log_ratio(&self, phi: &[f64]) -> f64 {
        -self.action.action(phi) - self.prior.log_prob(phi)
    }

    /// log π_β = (1 − β) log r − β S from the two values S and log r of a configuration (the
    /// term of a zero coefficient is left out, so that S = ∞ at β = 0 stays finite).
    pub fn log_density(&self, action: f64, log_prior: f64) -> f64 {
        tempered_log_density(self.beta, action, log_prior)
    }

    /// The same target on lane batches, where the action offers them (each lane
    /// bit-identical to [`Action`] on `self`, for either prior).
    pub fn lanes(&self) -> Option<TemperedLanes<'_>> {
        let action = self.action.lanes()?;
        let prior = match self.prior {
            // Uniform angles belong to gauge fields, which have no lane batches.
            Prior::Uniform { .. } => return None,
            Prior::StandardNormal => LanePrior::StandardNormal,
            Prior::FreeField { action, log_z, .. } => LanePrior::FreeField {
                action: action.as_ref(),
                m2: action.params().m2,
                log_z: *log_z,
            },
            &Prior::Z2Mixture { shift, volume } => LanePrior::Z2Mixture { shift, volume },
        };
        Some(TemperedLanes {
            action,
            prior,
            beta: self.beta,
        })
    }
}

/// log π_β of [`Tempered::log_density`].
/// The incremental log weight log π_to − log π_from of a particle (`after` − `before`), −∞
/// where either density is zero (action +∞): a particle of zero density at the new temperature
/// gets zero weight, and one of zero density at the old one had zero weight already and keeps
/// it (rather than −∞ + ∞ = NaN).
pub fn log_weight_increment(after: f64, before: f64) -> f64 {
    if after == f64::NEG_INFINITY || before == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else {
        after - before
    }
}

fn tempered_log_density(beta: f64, action: f64, log_prior: f64) -> f64 {
    let prior = if beta < 1.0 {
        (1.0 - beta) * log_prior
    } else {
        0.0
    };
    let target = if beta > 0.0 { beta * action } else { 0.0 };
    prior - target
}

/// [`Tempered`] on lane batches.
pub struct TemperedLanes<'a> {
    action: &'a dyn LaneAction,
    prior: LanePrior<'a>,
    beta: f64,
}

/// The prior r of [`TemperedLanes`].
enum LanePrior<'a> {
    /// log r = −½ Σ φ² − (V/2) log 2π.
    StandardNormal,
    /// log r = −S₀(φ) − log Z₀, S₀ the free-field action (φ⁴ with λ = 0).
    FreeField {
        action: &'a dyn LaneAction,
        m2: f64,
        log_z: f64,
    },
    /// log r = −½ Σ φ² − V a²/2 + log cosh(a M) − (V/2) log 2π, M = Σ_{x<V} φ_x.
    Z2Mixture { shift: f64, volume: usize },
}

/// M = Σ_{x<V} φ_x of every lane, summed in site order (as the scalar prior does).
fn lane_magnetisation(phi: &[Lanes], volume: usize) -> Lanes {
    let mut m = [0.0; LANES];
    for p in &phi[..volume] {
        m.iter_mut().zip(p).for_each(|(m, p)| *m += p);
    }
    m
}

impl LanePrior<'_> {
    /// log r of every lane, as `Prior::log_prob` of each.
    fn log_prob(&self, phi: &[Lanes]) -> Lanes {
        let normal = |phi: &[Lanes]| {
            let norm = 0.5 * phi.len() as f64 * (2.0 * std::f64::consts::PI).ln();
            lane_sum_of_squares(phi).map(|q| -0.5 * q - norm)
        };
        match self {
            LanePrior::StandardNormal => normal(phi),
            &LanePrior::Z2Mixture { shift, volume } => {
                let base = normal(phi);
                let m = lane_magnetisation(phi, volume);
                std::array::from_fn(|l| {
                    base[l] - 0.5 * volume as f64 * shift * shift + log_cosh(shift * m[l])
                })
            }
            LanePrior::FreeField { action, log_z, .. } => {
                action.lane_action(phi).map(|s0| -s0 - log_z)
            }
        }
    }
}

impl LaneTarget for TemperedLanes<'_> {
    /// −log π_β of every lane, as [`Tempered`]'s `Action::action`.
    fn action(&self, phi: &[Lanes]) -> Lanes {
        let s = if self.beta > 0.0 {
            self.action.lane_action(phi)
        } else {
            [0.0; LANES]
        };
        let lr = if self.beta < 1.0 {
            self.prior.log_prob(phi)
        } else {
            [0.0; LANES]
        };
        std::array::from_fn(|l| -tempered_log_density(self.beta, s[l], lr[l]))
    }

    /// β ∂S/∂φ + (1 − β) ∂(−log r)/∂φ in one pass: ∂(−log r)/∂φ = φ for the standard normal,
    /// ∂S₀/∂φ for the free field.
    fn gradient(&self, phi: &[Lanes], grad: &mut [Lanes]) {
        let b = self.beta;
        match self.prior {
            LanePrior::StandardNormal => self.action.lane_scaled_gradient(phi, grad, b, 1.0 - b),
            LanePrior::FreeField { m2, .. } => {
                self.action
                    .lane_free_scaled_gradient(phi, grad, b, 1.0 - b, m2)
            }
            LanePrior::Z2Mixture { shift, volume } => {
                self.action.lane_scaled_gradient(phi, grad, b, 1.0 - b);
                let m = lane_magnetisation(phi, volume);
                let pull: Lanes =
                    std::array::from_fn(|l| (1.0 - b) * shift * (shift * m[l]).tanh());
                for g in &mut grad[..volume] {
                    g.iter_mut().zip(&pull).for_each(|(g, p)| *g -= p);
                }
            }
        }
    }
}

impl Action for Tempered<'_> {
    fn lattice(&self) -> &Lattice {
        self.action.lattice()
    }

    fn state_len(&self) -> usize {
        self.action.state_len()
    }

    fn canonicalize(&self, state: &mut [f64]) -> bool {
        self.action.canonicalize(state)
    }

    /// −log π_β(φ) = −(1 − β) log r(φ) + β S(φ); a term whose coefficient is zero is not
    /// evaluated.
    fn action(&self, phi: &[f64]) -> f64 {
        let s = if self.beta > 0.0 {
            self.action.action(phi)
        } else {
            0.0
        };
        let lr = if self.beta < 1.0 {
            self.prior.log_prob(phi)
        } else {
            0.0
        };
        -self.log_density(s, lr)
    }

    /// (1 − β) ∂(−log r)/∂φ + β ∂S/∂φ.
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        let b = self.beta;
        match self.prior {
            // Uniform angles have no gradient; the components past the links (a joint
            // target's pseudofermion) have the standard normal's, x itself.
            &Prior::Uniform { links } => {
                self.action.gradient(phi, grad);
                let (angles, rest) = grad.split_at_mut(links.min(phi.len()));
                angles.iter_mut().for_each(|g| *g *= b);
                rest.iter_mut()
                    .zip(&phi[angles.len()..])
                    .for_each(|(g, x)| *g = b * *g + (1.0 - b) * x);
            }
            // ∂(−log r)/∂φ = φ: one pass of the action's own.
            Prior::StandardNormal => self.action.scaled_gradient(phi, grad, b, 1.0 - b),
            Prior::FreeField { action: free, .. } => {
                self.action
                    .free_scaled_gradient(phi, grad, b, 1.0 - b, free.params().m2)
            }
            // ∂(−log r)/∂φ_x = φ_x − a tanh(a M) on the V sites: the normal's pass, then the
            // mixture's uniform pull.
            &Prior::Z2Mixture { shift, volume } => {
                self.action.scaled_gradient(phi, grad, b, 1.0 - b);
                let m: f64 = phi[..volume].iter().sum();
                let pull = (1.0 - b) * shift * (shift * m).tanh();
                grad[..volume].iter_mut().for_each(|g| *g -= pull);
            }
        }
    }

    /// H_β v = β ∂²S v + (1 − β) ∂²(−log r) v; `false` where S has no Hessian.
    fn hessian_vector(&self, phi: &[f64], v: &[f64], out: &mut [f64]) -> bool {
        let b = self.beta;
        if b > 0.0 {
            if !self.action.hessian_vector(phi, v, out) {
                return false;
            }
        } else {
            out.fill(0.0);
        }
        // The prior's term only where it enters (β < 1): no buffer at the target.
        if b < 1.0 {
            let mut prior = vec![0.0; v.len()];
            self.prior.hessian_vector(phi, v, &mut prior);
            for (o, p) in out.iter_mut().zip(&prior) {
                *o = b * *o + (1.0 - b) * p;
            }
        }
        true
    }
}
