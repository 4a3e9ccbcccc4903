//! The flow model: a prior r(z) and a stack of bijections T, φ = T(z), with
//! log q(φ) = log r(z) − Σ_layers log|det J|, z = T⁻¹(φ).
//!
//! Batches are processed in parallel over fixed chunks of configurations (each worker reusing
//! one [`StackScratch`] for the chunks it takes), so results do not depend on the number of
//! threads. Single
//! configurations go through [`Flow::forward_with`] and [`Flow::log_q_with`] with a scratch the
//! caller keeps.

use crate::lane_stack::LaneStackScratch;
use crate::prior::Prior;
use crate::round_trip::RoundTrip;
use crate::spec::FlowSpec;
use crate::stack::{BijectionStack, ParamCountError, StackScratch};
use lft_lattice::{LANES, Lattice, Pcg64};
use rayon::prelude::*;

/// A normalizing flow for fields on one lattice.
#[derive(Debug, Clone)]
pub struct Flow {
    lattice: Lattice,
    /// Values per configuration: V for a scalar field, d·V for a link field.
    field_len: usize,
    prior: Prior,
    stack: BijectionStack,
}

/// Configurations per fixed work chunk of a batch: gradients are summed chunk by chunk in a
/// fixed order, so results do not depend on the number of threads. One chunk is one lane
/// batch.
pub(crate) const CHUNK: usize = LANES;

/// A batch drawn from the flow.
#[derive(Debug, Clone)]
pub struct FlowSample {
    /// `[n, V]`.
    pub phi: Vec<f64>,
    /// log q(φ) of each configuration.
    pub log_q: Vec<f64>,
    /// The latent draws z `[n, V]` with φ = f(z) (empty for proposals without a latent space):
    /// what a round-trip check inverts against.
    pub latent: Vec<f64>,
}

impl Flow {
    /// A flow with freshly initialised parameters drawn from stream (seed, 0). Fails only for
    /// a free-field prior with m² ≤ 0.
    pub fn new(
        lattice: Lattice,
        spec: &FlowSpec,
        seed: u64,
    ) -> Result<Self, lft_action::ActionError> {
        let prior = Prior::new(spec.prior, &lattice)?;
        let stack = spec.build_stack(&lattice, seed);
        let field_len = spec.field_len(&lattice);
        Ok(Self::from_parts(lattice, prior, stack).with_field_len(field_len))
    }

    /// The flow of any prior and stack on `lattice`, for scalar fields (V values per
    /// configuration; see [`Flow::with_field_len`]).
    pub fn from_parts(lattice: Lattice, prior: Prior, stack: BijectionStack) -> Self {
        Self {
            field_len: lattice.volume(),
            lattice,
            prior,
            stack,
        }
    }

    /// The same flow on configurations of `field_len` values (d·V for a link field).
    pub fn with_field_len(mut self, field_len: usize) -> Self {
        self.field_len = field_len;
        self
    }

    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    /// Values per configuration: V for a scalar field, d·V for a link field.
    pub fn field_len(&self) -> usize {
        self.field_len
    }

    pub fn prior(&self) -> &Prior {
        &self.prior
    }

    /// The bijections without the prior: a map φ = T(z) on its own.
    pub fn stack(&self) -> &BijectionStack {
        &self.stack
    }

    pub fn n_params(&self) -> usize {
        self.stack.n_params()
    }

    /// All parameters, layer after layer (the order of every gradient the flow returns).
    pub fn params(&self) -> &[f64] {
        self.stack.params()
    }

    /// The parameters, for an optimiser step or a finite-difference check.
    pub fn params_mut(&mut self) -> &mut [f64] {
        self.stack.params_mut()
    }

    /// Replaces every parameter (from a checkpoint); refuses a vector of the wrong length.
    pub fn set_params(&mut self, params: Vec<f64>) -> Result<(), ParamCountError> {
        self.stack.set_params(params)
    }

    /// Buffers for [`Flow::forward_with`] and [`Flow::log_q_with`]: make once, reuse.
    pub fn scratch(&self) -> StackScratch {
        self.stack.scratch(self.field_len)
    }

    /// φ = T(z) for one configuration; returns Σ log|det J|.
    pub fn forward_with(&self, z: &[f64], phi: &mut [f64], scratch: &mut StackScratch) -> f64 {
        self.stack.forward(z, phi, scratch)
    }

    /// z = T⁻¹(φ) for one configuration; returns log q(φ) = log r(z) − Σ log|det J|.
    pub fn log_q_with(&self, phi: &[f64], z: &mut [f64], scratch: &mut StackScratch) -> f64 {
        let logdet = self.stack.inverse(phi, z, scratch);
        self.prior.log_prob(z) - logdet
    }

    /// z = f⁻¹(φ) for one configuration, and log q(φ) (with a scratch of its own).
    pub fn inverse(&self, phi: &[f64], z: &mut [f64]) -> f64 {
        self.log_q_with(phi, z, &mut self.scratch())
    }

    /// Draws `n` configurations with their log q, from the stream `rng`.
    pub fn sample(&self, n: usize, rng: &mut Pcg64) -> FlowSample {
        let z = self.sample_latent(n, rng);
        let v = self.field_len;
        let mut phi = vec![0.0; n * v];
        let log_q = phi
            .par_chunks_mut(CHUNK * v)
            .zip(z.par_chunks(CHUNK * v))
            .map_init(
                || (self.scratch(), LaneStackScratch::default()),
                |(scratch, lane_scratch), (pc, zc)| {
                    let logdet = self.forward_chunk(zc, pc, scratch, lane_scratch);
                    zc.chunks_exact(v)
                        .zip(logdet)
                        .map(|(zb, ld)| self.prior.log_prob(zb) - ld)
                        .collect::<Vec<f64>>()
                },
            )
            .collect::<Vec<_>>()
            .concat();
        FlowSample {
            phi,
            log_q,
            latent: z,
        }
    }

    /// The numerical round trip of one drawn configuration: z′ = f⁻¹(φ) for φ = f(z) drawn
    /// with log q, against z and that log q (see [`RoundTrip`]).
    /// Latent angles (the uniform prior of link fields) are compared modulo 2π: an angle
    /// drawn next to −π may come back next to +π.
    pub fn round_trip_of(&self, z: &[f64], phi: &[f64], log_q: f64) -> RoundTrip {
        let mut z_back = vec![0.0; z.len()];
        let log_q_back = self.inverse(phi, &mut z_back);
        if let Prior::Uniform { .. } = self.prior {
            z_back
                .iter_mut()
                .zip(z)
                .for_each(|(b, a)| *b = a + lft_lattice::gauge::wrap_link(*b - a));
        }
        RoundTrip::between(z, &z_back, log_q, log_q_back)
    }

    /// log q(φ) of every configuration of a batch `[n, V]`.
    pub fn log_q(&self, phis: &[f64]) -> Vec<f64> {
        let v = self.field_len;
        phis.par_chunks(CHUNK * v)
            .map_init(
                || (self.scratch(), vec![0.0; v]),
                |(scratch, z), pc| {
                    pc.chunks_exact(v)
                        .map(|phi| self.log_q_with(phi, z, scratch))
                        .collect::<Vec<f64>>()
                },
            )
            .collect::<Vec<_>>()
            .concat()
    }

    /// φ = f(z) and Σ log|det J| for a batch of latent configurations.
    pub fn forward_batch(&self, z: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let v = self.field_len;
        let mut phi = vec![0.0; z.len()];
        let logdet = phi
            .par_chunks_mut(CHUNK * v)
            .zip(z.par_chunks(CHUNK * v))
            .map_init(
                || (self.scratch(), LaneStackScratch::default()),
                |(scratch, lane_scratch), (pc, zc)| {
                    self.forward_chunk(zc, pc, scratch, lane_scratch)
                },
            )
            .collect::<Vec<_>>()
            .concat();
        (phi, logdet)
    }

    /// φ = T(z) of one work chunk `zc` `[≤ CHUNK, V]` into `pc`: on lanes where the chunk is
    /// full and the stack prefers them ([`BijectionStack::prefers_lanes`]), else one
    /// configuration at a time. Returns the
    /// log|det J| of every configuration.
    fn forward_chunk(
        &self,
        zc: &[f64],
        pc: &mut [f64],
        scratch: &mut StackScratch,
        lane_scratch: &mut LaneStackScratch,
    ) -> Vec<f64> {
        let v = self.field_len;
        if zc.len() == LANES * v && self.stack.prefers_lanes() {
            return self.forward_lanes_chunk(zc, pc, lane_scratch);
        }
        pc.chunks_exact_mut(v)
            .zip(zc.chunks_exact(v))
            .map(|(p, zb)| self.forward_with(zb, p, scratch))
            .collect()
    }

    /// Draws a latent batch `[n, V]` from the prior.
    pub fn sample_latent(&self, n: usize, rng: &mut Pcg64) -> Vec<f64> {
        let v = self.field_len;
        let mut z = vec![0.0; n * v];
        for zb in z.chunks_exact_mut(v) {
            self.prior.sample(rng, zb);
        }
        z
    }
}
