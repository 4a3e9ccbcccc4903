//! The annealing path between a normalised prior r and the target e^{−S}:
//!   log π_β(φ) = (1 − β) log r(φ) − β S(φ),   β ∈ [0, 1],
//! so π_0 = r (Z_0 = 1) and π_1 ∝ e^{−S} with Z_1 = ∫ e^{−S} dφ. The incremental log weight of
//! a particle moving from β to β′ is log π_β′(φ) − log π_β(φ) = (β′ − β)(−S(φ) − log r(φ)).

use lft_action::Action;
use lft_flow::Prior;
use lft_lattice::Lattice;

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
        let prior = if self.beta < 1.0 {
            (1.0 - self.beta) * log_prior
        } else {
            0.0
        };
        let target = if self.beta > 0.0 {
            self.beta * action
        } else {
            0.0
        };
        prior - target
    }
}

impl Action for Tempered<'_> {
    fn lattice(&self) -> &Lattice {
        self.action.lattice()
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
            // ∂(−log r)/∂φ = φ: one pass of the action's own.
            Prior::StandardNormal => self.action.scaled_gradient(phi, grad, b, 1.0 - b),
            _ => {
                self.action.gradient(phi, grad);
                let mut prior = vec![0.0; phi.len()];
                self.prior.grad_neg_log_prob(phi, &mut prior);
                grad.iter_mut()
                    .zip(&prior)
                    .for_each(|(g, p)| *g = b * *g + (1.0 - b) * p);
            }
        }
    }
}
