//! Training that stays on the device: latent batches from Philox, the loss and gradient, the
//! gradient norm and Adam all run there, and a step reads back five scalars (the loss summary
//! and |g|²) — the benchmark's loop, and the fast path for long runs. The same seed gives the
//! same run on any device (and on the host emulator, which its test uses).

use crate::CudaError;
use crate::call::HostBuffer;
use crate::executor::Executor;
use crate::flow_program::{FlowProgram, clip_scale};
use crate::ops::phi4::Phi4Batch;
use crate::ops::phi4::Phi4Target;
use crate::philox::PhiloxKey;
use crate::tables::NeighbourTables;
use lft_flow::spec::FlowSpec;
use lft_lattice::Lattice;

/// What one step measured (from the five scalars it reads).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResidentStep {
    /// The step's number, from 1.
    pub t: u64,
    pub loss: f64,
    /// Kish ESS / n of the batch.
    pub ess: f64,
    /// |g| before clipping.
    pub grad_norm: f64,
    /// Whether Adam was applied (not for a non-finite loss or gradient).
    pub applied: bool,
}

/// A flow training on `E` with its parameters and Adam state resident there.
pub struct ResidentTrainer<E: Executor> {
    exec: E,
    program: FlowProgram,
    target: Phi4Batch,
    key: PhiloxKey,
    t: u64,
    /// Clip the gradient to this global norm.
    pub grad_clip: Option<f64>,
}

impl<E: Executor> ResidentTrainer<E> {
    /// The flow `spec` with parameters `params` on `lattice`, batches of `n`, target φ⁴ with
    /// `target`, latents from Philox key `seed`; Adam starts fresh (step 0).
    pub fn new(
        mut exec: E,
        spec: &FlowSpec,
        lattice: &Lattice,
        n: usize,
        params: &[f64],
        target: impl Into<Phi4Target>,
        seed: u64,
    ) -> Result<Self, CudaError> {
        let tables = NeighbourTables::new(lattice);
        let fwd = exec.alloc_i32(&tables.fwd)?;
        let bwd = exec.alloc_i32(&tables.bwd)?;
        let target = Phi4Batch::of(&tables, target.into(), fwd, bwd);
        let limit = exec.shared_limit();
        let program = FlowProgram::new(spec, lattice, n, params, limit, &mut exec)?;
        Ok(Self {
            exec,
            program,
            target,
            key: PhiloxKey::from_seed(seed),
            t: 0,
            grad_clip: None,
        })
    }

    /// One step at learning rate `lr`: latent stream t, loss and gradient, clipping, Adam.
    pub fn step(&mut self, lr: f64) -> Result<ResidentStep, CudaError> {
        let t = self.t + 1;
        let p = &self.program;
        let mut calls = vec![p.draw_latent(self.key, t)?];
        calls.extend(p.reverse_kl(&self.target)?);
        self.exec.execute(&calls)?;
        let summary = self.exec.read(p.summary)?.to_f64();
        let norm2 = self.exec.read(p.grad_norm2)?.to_f64()[0];
        let (loss, ess) = (summary[0], summary[2]);
        let applied = loss.is_finite() && norm2.is_finite();
        if applied {
            let scale = clip_scale(norm2, self.grad_clip);
            let adam = self.program.adam(lr, t, scale)?;
            self.exec.execute(&[adam])?;
            self.t = t;
        }
        Ok(ResidentStep {
            t,
            loss,
            ess,
            grad_norm: norm2.sqrt(),
            applied,
        })
    }

    /// Steps taken (Adam's t).
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// The parameters, copied back.
    pub fn params(&mut self) -> Result<Vec<f64>, CudaError> {
        Ok(self.exec.read(self.program.params)?.to_f64())
    }

    /// Adam's moments (m, v), copied back (for a checkpoint).
    pub fn moments(&mut self) -> Result<(Vec<f64>, Vec<f64>), CudaError> {
        let m = self.exec.read(self.program.adam_m)?.to_f64();
        let v = self.exec.read(self.program.adam_v)?.to_f64();
        Ok((m, v))
    }

    /// Continues from a checkpoint's moments after `steps` steps.
    pub fn restore(&mut self, m: &[f64], v: &[f64], steps: u64) -> Result<(), CudaError> {
        self.exec
            .write(self.program.adam_m, &HostBuffer::F64(m.to_vec()))?;
        self.exec
            .write(self.program.adam_v, &HostBuffer::F64(v.to_vec()))?;
        self.t = steps;
        Ok(())
    }

    /// The device program (for benchmarks: its forward pass alone is sampling).
    pub fn program(&self) -> &FlowProgram {
        &self.program
    }

    pub fn executor(&mut self) -> &mut E {
        &mut self.exec
    }
}
