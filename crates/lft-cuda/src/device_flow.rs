//! A flow that trains on a device: lft-flow's [`Trainable`] over an [`Executor`], so that
//! lft-flow's training loop (schedules, clipping, the divergence guard, checkpoints) drives
//! the GPU unchanged. Per step the host sends the parameters and the latent batch (drawn from
//! the CPU generator, so a GPU run reproduces a CPU run to rounding) and reads back the
//! per-sample log q + S and the gradient; Adam stays on the host, where the checkpoint is.
//!
//! The target is the φ⁴ action given at construction: the `action` argument of
//! [`Trainable::reverse_kl`] is checked against it on the first step's first sample (a named
//! error, not a silent mismatch). The path gradient and the forward KL run on the CPU copy.

use crate::CudaError;
use crate::call::HostBuffer;
use crate::executor::Executor;
use crate::flow_program::FlowProgram;
use crate::ops::phi4::Phi4Batch;
use crate::ops::phi4::Phi4Target;
use crate::tables::NeighbourTables;
use lft_action::Action;
use lft_flow::spec::FlowSpec;
use lft_flow::{Flow, Trainable};
use lft_lattice::Pcg64;
use std::collections::HashMap;

/// A flow whose reverse-KL passes run on `E`.
pub struct DeviceFlow<E: Executor> {
    exec: E,
    cpu: Flow,
    spec: FlowSpec,
    target: Phi4Batch,
    /// One program per batch size met (a batch schedule meets few).
    programs: HashMap<usize, FlowProgram>,
    checked_target: bool,
    /// The first device error, kept for the caller: the training loop sees a failed step.
    error: Option<CudaError>,
}

impl<E: Executor> DeviceFlow<E> {
    /// `flow` (its architecture `spec`, its current parameters) on `exec`, for the φ⁴ target
    /// with couplings `target`.
    pub fn new(
        mut exec: E,
        flow: Flow,
        spec: &FlowSpec,
        target: impl Into<Phi4Target>,
    ) -> Result<Self, CudaError> {
        let tables = NeighbourTables::new(flow.lattice());
        let fwd = exec.alloc_i32(&tables.fwd)?;
        let bwd = exec.alloc_i32(&tables.bwd)?;
        let target = Phi4Batch::of(&tables, target.into(), fwd, bwd);
        // Refuse an architecture the device cannot run now, not at the first step.
        FlowProgram::check(spec)?;
        Ok(Self {
            exec,
            cpu: flow,
            spec: spec.clone(),
            target,
            programs: HashMap::new(),
            checked_target: false,
            error: None,
        })
    }

    /// The flow, its parameters those of the last step.
    pub fn flow(&self) -> &Flow {
        &self.cpu
    }

    /// The first device error since the last call, if a step failed on the device.
    pub fn take_error(&mut self) -> Option<CudaError> {
        self.error.take()
    }

    /// Builds the program of batch `n` the first time it is met.
    fn ensure_program(&mut self, n: usize) -> Result<(), CudaError> {
        if !self.programs.contains_key(&n) {
            let limit = self.exec.shared_limit();
            let p = FlowProgram::new(
                &self.spec,
                self.cpu.lattice(),
                n,
                self.cpu.params(),
                limit,
                &mut self.exec,
            )?;
            self.programs.insert(n, p);
        }
        Ok(())
    }

    /// (L, per-sample log q + S, ∂L/∂θ) on the device.
    fn device_reverse_kl(
        &mut self,
        action: &dyn Action,
        z: &[f64],
    ) -> Result<(f64, Vec<f64>, Vec<f64>), CudaError> {
        let v = self.cpu.lattice().volume();
        let n = z.len() / v;
        self.ensure_program(n)?;
        let (p, exec) = (&self.programs[&n], &mut self.exec);
        exec.write(p.params, &HostBuffer::F64(self.cpu.params().to_vec()))?;
        exec.write(p.latent(), &HostBuffer::F64(z.to_vec()))?;
        exec.execute(&p.reverse_kl(&self.target)?)?;
        let logq = exec.read(p.logq)?.to_f64();
        let s = exec.read(p.action)?.to_f64();
        if !self.checked_target {
            let x = exec.read(p.output())?.to_f64();
            let want = action.action(&x[..v]);
            if (want - s[0]).abs() > 1e-8 * want.abs().max(1.0) {
                return Err(CudaError::TargetMismatch {
                    device: s[0],
                    host: want,
                });
            }
            self.checked_target = true;
        }
        let terms: Vec<f64> = logq.iter().zip(&s).map(|(q, s)| q + s).collect();
        let loss = exec.read(p.summary)?.to_f64()[0];
        let grad = exec.read(p.grad)?.to_f64();
        Ok((loss, terms, grad))
    }
}

impl<E: Executor> Trainable for DeviceFlow<E> {
    fn volume(&self) -> usize {
        self.cpu.lattice().volume()
    }
    fn params(&self) -> &[f64] {
        self.cpu.params()
    }
    fn params_mut(&mut self) -> &mut [f64] {
        self.cpu.params_mut()
    }
    fn sample_latent(&self, n: usize, rng: &mut Pcg64) -> Vec<f64> {
        self.cpu.sample_latent(n, rng)
    }
    /// On the device; a device error is kept ([`DeviceFlow::take_error`]) and the step
    /// reported as non-finite, which the training loop refuses to apply.
    fn reverse_kl(&mut self, action: &dyn Action, z: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        match self.device_reverse_kl(action, z) {
            Ok(r) => r,
            Err(e) => {
                self.error.get_or_insert(e);
                (f64::NAN, Vec::new(), vec![f64::NAN; self.cpu.n_params()])
            }
        }
    }
    fn reverse_kl_path(&mut self, action: &dyn Action, z: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        self.cpu.reverse_kl_path(action, z)
    }
    fn forward_kl(&mut self, phis: &[f64]) -> (f64, Vec<f64>) {
        self.cpu.forward_kl(phis)
    }
}
