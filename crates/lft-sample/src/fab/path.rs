//! The annealing path of FAB, in the flow's latent coordinates z (φ = f(z)):
//!   log π_β(z) = (1 − 2β) log r(z) + 2β log p̃(z),   log p̃(z) = −S(f(z)) + log|det ∂f/∂z|,
//! the pull-back of π_β(φ) ∝ q(φ)^{1−2β} e^{−2βS(φ)}: π_0 is the prior r (the flow q in φ), π_1
//! is p̃²/r (p²/q in φ). Annealing in z rather than in φ needs the flow only forwards (no
//! inverse, no ∇ log q), and its importance weights are the same (a change of variables
//! multiplies numerator and denominator by the same Jacobian). The incremental log weight of a
//! step β → β′ at z is (β′ − β) ∂_β log π_β = 2(β′ − β) [log p̃(z) − log r(z)]: twice the flow's
//! own importance log weight −(log q + S)(f(z)).
//!
//! For link angles (a uniform prior) z lives on the torus: the path wraps z into [−π, π) before
//! the flow sees it, and HMC canonicalises it after every trajectory.

use lft_action::Action;
use lft_flow::{Flow, Prior};
use lft_lattice::Lattice;

/// π_β of FAB's path (see the module documentation) as an [`Action`] on z, S_β = −log π_β, so
/// that HMC moves particles at fixed β.
pub struct FabPath<'a> {
    pub flow: &'a Flow,
    pub action: &'a dyn Action,
    pub beta: f64,
}

/// A latent configuration's values along the path: log r(z), φ = f(z), log|det ∂f/∂z| and S(φ).
pub struct PathPoint {
    pub log_prior: f64,
    pub phi: Vec<f64>,
    pub logdet: f64,
    pub action: f64,
}

impl PathPoint {
    /// log p̃(z) = −S(f(z)) + log|det ∂f/∂z|.
    pub fn log_target(&self) -> f64 {
        -self.action + self.logdet
    }

    /// log q(φ) = log r(z) − log|det ∂f/∂z| of the flow at φ = f(z).
    pub fn log_q(&self) -> f64 {
        self.log_prior - self.logdet
    }
}

impl FabPath<'_> {
    /// The links that the prior draws uniformly (0 for a scalar field).
    fn periodic_links(&self) -> usize {
        match self.flow.prior() {
            Prior::Uniform { links } => *links,
            _ => 0,
        }
    }

    /// z with its periodic components wrapped into [−π, π).
    fn wrapped(&self, z: &[f64]) -> Vec<f64> {
        let mut z = z.to_vec();
        for a in &mut z[..self.periodic_links()] {
            *a = lft_lattice::gauge::wrap_link(*a);
        }
        z
    }

    /// log r(z), φ = f(z) and log p̃(z) = −S(φ) + log|det ∂f/∂z|.
    pub fn point(&self, z: &[f64]) -> PathPoint {
        let z = self.wrapped(z);
        let mut phi = vec![0.0; z.len()];
        let logdet = self
            .flow
            .forward_with(&z, &mut phi, &mut self.flow.scratch());
        PathPoint {
            log_prior: self.flow.prior().log_prob(&z),
            action: self.action.action(&phi),
            logdet,
            phi,
        }
    }

    /// log π_β from a point's values (a term whose coefficient is 0 left out).
    pub fn log_density(&self, point: &PathPoint) -> f64 {
        let prior = if self.beta != 0.5 {
            (1.0 - 2.0 * self.beta) * point.log_prior
        } else {
            0.0
        };
        let target = if self.beta > 0.0 {
            2.0 * self.beta * point.log_target()
        } else {
            0.0
        };
        prior + target
    }
}

impl Action for FabPath<'_> {
    fn lattice(&self) -> &Lattice {
        self.flow.lattice()
    }

    fn state_len(&self) -> usize {
        self.flow.field_len()
    }

    fn field_len(&self) -> usize {
        self.flow.field_len()
    }

    fn canonicalize(&self, state: &mut [f64]) -> bool {
        let links = self.periodic_links();
        let mut changed = false;
        for a in &mut state[..links] {
            let w = lft_lattice::gauge::wrap_link(*a);
            changed |= w != *a;
            *a = w;
        }
        changed
    }

    /// −log π_β(z).
    fn action(&self, z: &[f64]) -> f64 {
        if self.beta == 0.0 {
            return -self.flow.prior().log_prob(&self.wrapped(z));
        }
        -self.log_density(&self.point(z))
    }

    /// −∇ log π_β = (1 − 2β) ∇(−log r) + 2β ∇(S∘f − log|det|), the second one backward pass
    /// of the flow with the cotangent (∇S(φ), −1).
    fn gradient(&self, z: &[f64], grad: &mut [f64]) {
        let z = self.wrapped(z);
        let mut prior = vec![0.0; z.len()];
        self.flow.prior().grad_neg_log_prob(&z, &mut prior);
        let a = 1.0 - 2.0 * self.beta;
        if self.beta == 0.0 {
            grad.copy_from_slice(&prior);
            return;
        }
        let mut scratch = self.flow.scratch();
        let mut phi = vec![0.0; z.len()];
        self.flow.forward_with(&z, &mut phi, &mut scratch);
        let mut g = vec![0.0; z.len()];
        self.action.gradient(&phi, &mut g);
        let mut unused = vec![0.0; self.flow.n_params()];
        self.flow
            .stack()
            .backward(&mut scratch, &mut g, -1.0, &mut unused);
        for ((out, p), t) in grad.iter_mut().zip(&prior).zip(&g) {
            *out = a * p + 2.0 * self.beta * t;
        }
    }
}
