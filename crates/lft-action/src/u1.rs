//! Compact U(1) lattice gauge theory with the Wilson action on link angles (docs/PHYSICS.md):
//!   S(θ) = −β Σ_x Σ_{μ<ν} cos θ_μν(x),
//!   ∂S/∂θ_μ(x) = β Σ_{P ∋ (x,μ)} ± sin θ_P   (+ where the link enters P forwards),
//! over a state of d·V angles, link (μ, x) at μ·V + x (lft-lattice's `gauge`). The action is
//! periodic in every angle: [`Action::canonicalize`] wraps a state into [−π, π), the range
//! ensembles store.

use crate::{Action, ActionError};
use lft_lattice::gauge::{planes, plaquette_angle, wrap_link};
use lft_lattice::{Lattice, Pcg64, uniform};
use std::f64::consts::PI;

/// The Wilson action at coupling β on the links of a lattice of dimension d ≥ 2.
#[derive(Debug, Clone)]
pub struct U1Wilson {
    lattice: Lattice,
    beta: f64,
}

impl U1Wilson {
    /// β > 0 (finite) on a lattice of dimension at least 2.
    pub fn new(lattice: Lattice, beta: f64) -> Result<Self, ActionError> {
        if !(beta > 0.0 && beta.is_finite()) {
            return Err(ActionError {
                name: "beta",
                value: beta,
                reason: "must be positive and finite",
            });
        }
        if lattice.dim() < 2 {
            return Err(ActionError {
                name: "dimension",
                value: lattice.dim() as f64,
                reason: "a gauge field needs at least two dimensions (plaquettes)",
            });
        }
        Ok(Self { lattice, beta })
    }

    pub fn beta(&self) -> f64 {
        self.beta
    }
}

impl Action for U1Wilson {
    fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    /// d·V link angles.
    fn state_len(&self) -> usize {
        self.lattice.dim() * self.lattice.volume()
    }

    /// Every link is stored: d·V angles.
    fn field_len(&self) -> usize {
        self.state_len()
    }

    /// d·V log 2π: log Z is that of the normalised Haar measure, Π_l dθ_l/2π.
    fn log_z_offset(&self) -> f64 {
        self.state_len() as f64 * (2.0 * PI).ln()
    }

    /// The geometric charge of a 2D field ([`lft_lattice::gauge::topological_charge`]).
    fn topological_charge(&self, theta: &[f64]) -> Option<f64> {
        (self.lattice.dim() == 2)
            .then(|| lft_lattice::gauge::topological_charge(&self.lattice, theta))
    }

    fn action(&self, theta: &[f64]) -> f64 {
        let l = &self.lattice;
        let sum: f64 = planes(l.dim())
            .map(|(mu, nu)| {
                (0..l.volume())
                    .map(|x| plaquette_angle(l, theta, x, mu, nu).cos())
                    .sum::<f64>()
            })
            .sum();
        -self.beta * sum
    }

    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        let l = &self.lattice;
        let v = l.volume();
        grad.fill(0.0);
        for (mu, nu) in planes(l.dim()) {
            for x in 0..v {
                let s = self.beta * plaquette_angle(l, theta, x, mu, nu).sin();
                grad[mu * v + x] += s;
                grad[nu * v + l.fwd(x, mu)] += s;
                grad[mu * v + l.fwd(x, nu)] -= s;
                grad[nu * v + x] -= s;
            }
        }
    }

    /// Every angle into [−π, π).
    fn canonicalize(&self, theta: &mut [f64]) -> bool {
        let mut changed = false;
        for t in theta.iter_mut() {
            if !(-PI..PI).contains(t) {
                *t = wrap_link(*t);
                changed = true;
            }
        }
        changed
    }

    /// Uniform angles in [−π, π): the Haar measure, a hot start of a gauge field.
    fn hot_start(&self, rng: &mut Pcg64, theta: &mut [f64]) {
        for t in theta.iter_mut() {
            *t = wrap_link(PI * (2.0 * uniform(rng) - 1.0));
        }
    }
}
