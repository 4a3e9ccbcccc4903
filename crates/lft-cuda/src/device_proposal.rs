//! A trained flow drawing proposals on a device: lft-flow's [`Proposal`], so that every sampler
//! that corrects a flow (independence Metropolis, reweighting, flow-HMC) takes its proposals
//! from the GPU unchanged. The latent batch comes from the CPU generator (a GPU run proposes
//! what the CPU run would, to rounding); the forward pass and log q run on the device. log q of
//! given configurations and the round-trip check need the inverse pass, which runs on the CPU
//! copy of the flow.
//!
//! A device error does not stop sampling: that batch comes from the CPU copy (the same draws,
//! the same distribution) and the error is kept for the caller ([`DeviceProposal::take_error`]),
//! which reports it.

use crate::CudaError;
use crate::call::HostBuffer;
use crate::executor::Executor;
use crate::flow_program::FlowProgram;
use lft_flow::round_trip::RoundTrip;
use lft_flow::spec::FlowSpec;
use lft_flow::{Flow, FlowSample, Proposal};
use lft_lattice::Pcg64;
use std::collections::HashMap;
use std::sync::Mutex;

struct Inner<E> {
    exec: E,
    programs: HashMap<usize, FlowProgram>,
    error: Option<CudaError>,
}

/// A flow whose proposals are drawn on `E`.
pub struct DeviceProposal<E: Executor + Send> {
    cpu: Flow,
    spec: FlowSpec,
    inner: Mutex<Inner<E>>,
}

impl<E: Executor + Send> DeviceProposal<E> {
    /// The trained `flow` (architecture `spec`) on `exec`.
    pub fn new(exec: E, flow: Flow, spec: &FlowSpec) -> Result<Self, CudaError> {
        FlowProgram::check(spec)?;
        Ok(Self {
            cpu: flow,
            spec: spec.clone(),
            inner: Mutex::new(Inner {
                exec,
                programs: HashMap::new(),
                error: None,
            }),
        })
    }

    /// The first device error since the last call (those batches came from the CPU copy).
    pub fn take_error(&self) -> Option<CudaError> {
        self.inner.lock().expect("not poisoned").error.take()
    }

    fn device_draw(&self, inner: &mut Inner<E>, z: &[f64]) -> Result<FlowSample, CudaError> {
        let v = self.cpu.lattice().volume();
        let n = z.len() / v;
        if !inner.programs.contains_key(&n) {
            let limit = inner.exec.shared_limit();
            let p = FlowProgram::new(
                &self.spec,
                self.cpu.lattice(),
                n,
                self.cpu.params(),
                limit,
                &mut inner.exec,
            )?;
            inner.programs.insert(n, p);
        }
        let (p, exec) = (&inner.programs[&n], &mut inner.exec);
        exec.write(p.latent(), &HostBuffer::F64(z.to_vec()))?;
        exec.execute(&p.forward()?)?;
        Ok(FlowSample {
            phi: exec.read(p.output())?.to_f64(),
            log_q: exec.read(p.logq)?.to_f64(),
            latent: z.to_vec(),
        })
    }
}

impl<E: Executor + Send> Proposal for DeviceProposal<E> {
    fn volume(&self) -> usize {
        self.cpu.lattice().volume()
    }

    fn draw(&self, n: usize, rng: &mut Pcg64) -> FlowSample {
        let z = self.cpu.sample_latent(n, rng);
        let mut inner = self.inner.lock().expect("not poisoned");
        match self.device_draw(&mut inner, &z) {
            Ok(sample) => sample,
            Err(e) => {
                inner.error.get_or_insert(e);
                drop(inner);
                let v = self.cpu.lattice().volume();
                let (phi, logdet) = self.cpu.forward_batch(&z);
                let log_q = z
                    .chunks_exact(v)
                    .zip(logdet)
                    .map(|(zb, ld)| self.cpu.prior().log_prob(zb) - ld)
                    .collect();
                FlowSample {
                    phi,
                    log_q,
                    latent: z,
                }
            }
        }
    }

    fn log_q(&self, phis: &[f64]) -> Vec<f64> {
        self.cpu.log_q(phis)
    }

    fn log_q_one(&self, phi: &[f64]) -> f64 {
        self.cpu.log_q_one(phi)
    }

    fn round_trip(&self, sample: &FlowSample, i: usize) -> Option<RoundTrip> {
        self.cpu.round_trip(sample, i)
    }
}
