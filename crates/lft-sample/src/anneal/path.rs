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
}

impl Action for Tempered<'_> {
    fn lattice(&self) -> &Lattice {
        self.action.lattice()
    }

    /// −(1 − β) log r(φ) + β S(φ).
    fn action(&self, phi: &[f64]) -> f64 {
        let prior = if self.beta < 1.0 {
            -(1.0 - self.beta) * self.prior.log_prob(phi)
        } else {
            0.0
        };
        let target = if self.beta > 0.0 {
            self.beta * self.action.action(phi)
        } else {
            0.0
        };
        prior + target
    }

    /// (1 − β) ∂(−log r)/∂φ + β ∂S/∂φ.
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        let mut other = vec![0.0; phi.len()];
        self.prior.grad_neg_log_prob(phi, grad);
        self.action.gradient(phi, &mut other);
        let b = self.beta;
        grad.iter_mut()
            .zip(&other)
            .for_each(|(g, s)| *g = (1.0 - b) * *g + b * s);
    }
}
