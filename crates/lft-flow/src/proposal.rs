//! The seam between a generative model and the samplers that correct it (independence
//! Metropolis, reweighting, flow-HMC, and later SMC): draw configurations with their log q,
//! and evaluate log q of configurations given. A GPU flow implements the same trait.

use crate::flow::{Flow, FlowSample};
use crate::integrator_error::IntegratorError;
use crate::round_trip::{INTEGRATED_ROUND_TRIP_TOLERANCE, ROUND_TRIP_TOLERANCE, RoundTrip};
use lft_lattice::Pcg64;

/// A normalized density q(φ) on configurations of `volume()` sites that can be sampled.
pub trait Proposal: Sync {
    /// Sites per configuration.
    fn volume(&self) -> usize;

    /// Draws `n` configurations `[n, V]` with their log q, from the stream `rng` only.
    fn draw(&self, n: usize, rng: &mut Pcg64) -> FlowSample;

    /// log q(φ) of every configuration of a batch `[n, V]`.
    fn log_q(&self, phis: &[f64]) -> Vec<f64>;

    /// log q(φ) of one configuration.
    fn log_q_one(&self, phi: &[f64]) -> f64 {
        self.log_q(phi)[0]
    }

    /// The numerical round trip of configuration `i` of a batch this proposal drew (the
    /// inverse map against the latent draw, see [`RoundTrip`]); `None` for proposals without
    /// a latent space (the default).
    fn round_trip(&self, sample: &FlowSample, i: usize) -> Option<RoundTrip> {
        let _ = (sample, i);
        None
    }

    /// The tolerance of [`Proposal::round_trip`]: [`ROUND_TRIP_TOLERANCE`] by default,
    /// [`INTEGRATED_ROUND_TRIP_TOLERANCE`] for flows with an ODE solver inside.
    fn round_trip_tolerance(&self) -> f64 {
        ROUND_TRIP_TOLERANCE
    }

    /// The error of log q left by an ODE solver inside, on `samples` fresh draws from `rng`
    /// ([`IntegratorError`]); `None` (the default) for proposals whose log q is exact.
    fn integrator_error(&self, samples: usize, rng: &mut Pcg64) -> Option<IntegratorError> {
        let _ = (samples, rng);
        None
    }
}

impl Proposal for Flow {
    fn volume(&self) -> usize {
        self.field_len()
    }

    fn draw(&self, n: usize, rng: &mut Pcg64) -> FlowSample {
        self.sample(n, rng)
    }

    fn log_q(&self, phis: &[f64]) -> Vec<f64> {
        Flow::log_q(self, phis)
    }

    fn log_q_one(&self, phi: &[f64]) -> f64 {
        self.inverse(phi, &mut vec![0.0; phi.len()])
    }

    fn round_trip_tolerance(&self) -> f64 {
        if self.stack().is_integrated() {
            INTEGRATED_ROUND_TRIP_TOLERANCE
        } else {
            ROUND_TRIP_TOLERANCE
        }
    }

    fn integrator_error(&self, samples: usize, rng: &mut Pcg64) -> Option<IntegratorError> {
        Flow::integrator_error(self, samples, rng)
    }

    fn round_trip(&self, sample: &FlowSample, i: usize) -> Option<RoundTrip> {
        let v = self.field_len();
        let rows = i * v..(i + 1) * v;
        let z = sample.latent.get(rows.clone())?;
        Some(self.round_trip_of(z, &sample.phi[rows], sample.log_q[i]))
    }
}
