//! The target pulled back through a flow φ = f(z): the action of the latent variables
//!   S̃(z) = S(f(z)) − log|det ∂f/∂z| − log r(z),
//! whose density e^{−S̃} is the target's in latent coordinates. HMC on S̃ ("neural transport"
//! HMC: the flow's force, ∇S̃ = J_fᵀ ∇S − ∇ log|det J_f| − ∇ log r, enters every leapfrog step)
//! samples z, and f(z) samples e^{−S}; where the flow is good S̃ is nearly the prior's action and
//! the trajectories see a flat landscape. How smooth the flow is sets how well the leapfrog
//! conserves H: a C¹ flow has a force with jumps in its derivative, a C^∞ one does not.
//!
//! ∇S̃ is one backward pass of the stack with the cotangent (∇S(φ), ∂L/∂ log det = −1).

use lft_action::Action;
use lft_flow::Flow;
use lft_lattice::Lattice;

/// S̃ of a flow and a target action (see the module documentation).
pub struct PulledBack<'a> {
    pub flow: &'a Flow,
    pub action: &'a dyn Action,
}

impl PulledBack<'_> {
    /// φ = f(z) and S̃(z).
    pub fn map_and_action(&self, z: &[f64]) -> (Vec<f64>, f64) {
        let mut phi = vec![0.0; z.len()];
        let logdet = self
            .flow
            .forward_with(z, &mut phi, &mut self.flow.scratch());
        let s = self.action.action(&phi) - logdet;
        (phi, s)
    }
}

impl Action for PulledBack<'_> {
    fn lattice(&self) -> &Lattice {
        self.flow.lattice()
    }

    fn state_len(&self) -> usize {
        self.flow.field_len()
    }

    fn field_len(&self) -> usize {
        self.flow.field_len()
    }

    fn action(&self, z: &[f64]) -> f64 {
        self.map_and_action(z).1
    }

    fn gradient(&self, z: &[f64], grad: &mut [f64]) {
        let mut scratch = self.flow.scratch();
        let mut phi = vec![0.0; z.len()];
        self.flow.forward_with(z, &mut phi, &mut scratch);
        let mut g = vec![0.0; z.len()];
        self.action.gradient(&phi, &mut g);
        let mut unused = vec![0.0; self.flow.n_params()];
        self.flow
            .stack()
            .backward(&mut scratch, &mut g, -1.0, &mut unused);
        grad.copy_from_slice(&g);
    }
}
