//! The integrator error of a flow with integrated layers (continuous flows): their
//! log-determinant ℓ_N = ∫ ∇·v dt is accumulated by a fixed-step solver, so log q carries the
//! solver's error, and importance weights e^{−S}/q are off by e^{ε}. It is measured on fresh
//! latent draws as ε ≈ ℓ_N(z) − ℓ_{4N}(z), the same map integrated with 4× the steps (for a
//! fourth-order solver, ℓ_{4N} is 256× closer to the exact flow). A bias of the weights
//! matters when it is not far below their spread: [`IntegratorError::warning`] speaks above
//! min(0.01, 0.1 σ(log w)).

use crate::flow::{CHUNK, Flow};
use lft_lattice::Pcg64;
use rayon::prelude::*;

/// The refinement factor of the reference solve.
pub const REFINEMENT: usize = 4;

/// Absolute RMS error of log q above which [`IntegratorError::warning`] speaks.
pub const INTEGRATOR_TOLERANCE: f64 = 0.01;

/// The measured error of log q (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntegratorError {
    pub samples: usize,
    /// RMS and max over the samples of |ℓ_N − ℓ_{4N}|.
    pub rms: f64,
    pub max: f64,
}

impl IntegratorError {
    /// The warning when the RMS error is above min([`INTEGRATOR_TOLERANCE`], 0.1 σ), σ the
    /// standard deviation of the log weights.
    pub fn warning(&self, log_weight_sd: f64) -> Option<String> {
        let threshold = INTEGRATOR_TOLERANCE.min(0.1 * log_weight_sd);
        (self.rms > threshold || self.rms.is_nan()).then(|| {
            format!(
                "the continuous flow's integrator error in log q is {:.2e} (RMS; max {:.2e}, \
                 from {REFINEMENT}x the steps), above {threshold:.1e} (the smaller of \
                 {INTEGRATOR_TOLERANCE} and a tenth of the log weights' spread {log_weight_sd:.2e}): \
                 its weights are biased; raise flow.steps",
                self.rms, self.max
            )
        })
    }
}

impl Flow {
    /// The same flow with every integrated layer solved with `factor` × the steps; `None` for
    /// a flow without integrated layers.
    pub fn refined(&self, factor: usize) -> Option<Flow> {
        let stack = self.stack().refined(factor)?;
        Some(
            Flow::from_parts(self.lattice().clone(), self.prior().clone(), stack)
                .with_field_len(self.field_len()),
        )
    }

    /// The integrator error of log q on `samples` latent draws from `rng`; `None` for a flow
    /// without integrated layers.
    pub fn integrator_error(&self, samples: usize, rng: &mut Pcg64) -> Option<IntegratorError> {
        let fine = self.refined(REFINEMENT)?;
        let z = self.sample_latent(samples.max(1), rng);
        let v = self.field_len();
        let errors: Vec<f64> = z
            .par_chunks(CHUNK * v)
            .map_init(
                || (self.scratch(), fine.scratch(), vec![0.0; v]),
                |(coarse_s, fine_s, phi), zc| {
                    zc.chunks_exact(v)
                        .map(|zb| {
                            let coarse = self.forward_with(zb, phi, coarse_s);
                            let fine_ld = fine.forward_with(zb, phi, fine_s);
                            (coarse - fine_ld).abs()
                        })
                        .collect::<Vec<f64>>()
                },
            )
            .collect::<Vec<_>>()
            .concat();
        let n = errors.len() as f64;
        let nan_to_inf = |x: f64| if x.is_nan() { f64::INFINITY } else { x };
        Some(IntegratorError {
            samples: errors.len(),
            rms: nan_to_inf((errors.iter().map(|e| e * e).sum::<f64>() / n).sqrt()),
            max: errors.iter().copied().map(nan_to_inf).fold(0.0, f64::max),
        })
    }
}
