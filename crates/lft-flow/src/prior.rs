//! Prior distributions r(z) of the flow's latent variables.

use lft_action::{Action, FreeField, Phi4, Phi4Params};
use lft_lattice::{Complex64, Lattice, LatticeFft, Pcg64, gaussian_fill, p_hat_squared};
use std::sync::Arc;

/// Which prior a flow starts from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PriorSpec {
    /// Independent N(0, 1) variables.
    StandardNormal,
    /// The free field of mass² `m2` (AKS normalisation), sampled exactly.
    FreeField { m2: f64 },
}

/// A prior, ready to sample and evaluate.
#[derive(Clone)]
pub enum Prior {
    /// log r(z) = −½ Σ_x z_x² − (V/2) log 2π.
    StandardNormal,
    /// r(φ) = e^{−S₀(φ)} / Z₀ with S₀ = Σ_x [Σ_μ (φ_{x+μ̂} − φ_x)² + m² φ_x²]: sampled as
    /// φ = F⁻¹ [ σ_p · F η ], η ~ N(0, 1)^V, σ_p = (2(p̂² + m²))^{−1/2}, so that
    /// ⟨φ̃(p) φ̃(−p)⟩ = V / (2(p̂² + m²)) exactly.
    FreeField {
        action: Arc<Phi4>,
        fft: Arc<LatticeFft>,
        sigma: Arc<Vec<f64>>,
        log_z: f64,
    },
}

impl std::fmt::Debug for Prior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Prior::StandardNormal => write!(f, "StandardNormal"),
            Prior::FreeField { action, .. } => {
                write!(f, "FreeField {{ m2: {} }}", action.params().m2)
            }
        }
    }
}

impl Prior {
    /// The prior of `spec` on `lattice` (m² must be > 0 for the free field).
    pub fn new(spec: PriorSpec, lattice: &Lattice) -> Result<Self, lft_action::ActionError> {
        Ok(match spec {
            PriorSpec::StandardNormal => Prior::StandardNormal,
            PriorSpec::FreeField { m2 } => {
                let free = FreeField::new(lattice.clone(), m2)?;
                let sigma = (0..lattice.volume())
                    .map(|k| (0.5 / (p_hat_squared(lattice, k) + m2)).sqrt())
                    .collect();
                Prior::FreeField {
                    action: Arc::new(Phi4::new(lattice.clone(), Phi4Params { m2, lambda: 0.0 })?),
                    fft: Arc::new(LatticeFft::new(lattice)),
                    sigma: Arc::new(sigma),
                    log_z: free.log_z(),
                }
            }
        })
    }

    /// Draws one configuration.
    pub fn sample(&self, rng: &mut Pcg64, z: &mut [f64]) {
        gaussian_fill(rng, z);
        if let Prior::FreeField { fft, sigma, .. } = self {
            let mut c: Vec<Complex64> = z.iter().map(|&x| Complex64::new(x, 0.0)).collect();
            fft.forward(&mut c);
            c.iter_mut().zip(sigma.iter()).for_each(|(c, s)| *c *= s);
            fft.inverse(&mut c);
            z.iter_mut().zip(&c).for_each(|(z, c)| *z = c.re);
        }
    }

    /// log r(z).
    pub fn log_prob(&self, z: &[f64]) -> f64 {
        match self {
            Prior::StandardNormal => {
                -0.5 * z.iter().map(|x| x * x).sum::<f64>()
                    - 0.5 * z.len() as f64 * (2.0 * std::f64::consts::PI).ln()
            }
            Prior::FreeField { action, log_z, .. } => -action.action(z) - log_z,
        }
    }

    /// out = ∂(−log r)/∂z: z for the standard normal, ∇S₀(z) for the free field.
    pub fn grad_neg_log_prob(&self, z: &[f64], out: &mut [f64]) {
        match self {
            Prior::StandardNormal => out.copy_from_slice(z),
            Prior::FreeField { action, .. } => action.gradient(z, out),
        }
    }
}
