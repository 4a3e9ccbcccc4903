//! Prior distributions r(z) of the flow's latent variables.

use lft_lattice::{Pcg64, gaussian_fill};

/// Independent standard normal variables: log r(z) = −½ Σ_x z_x² − (V/2) log 2π.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StandardNormal;

impl StandardNormal {
    /// Draws one configuration.
    pub fn sample(&self, rng: &mut Pcg64, z: &mut [f64]) {
        gaussian_fill(rng, z);
    }

    pub fn log_prob(&self, z: &[f64]) -> f64 {
        -0.5 * z.iter().map(|x| x * x).sum::<f64>()
            - 0.5 * z.len() as f64 * (2.0 * std::f64::consts::PI).ln()
    }
}
