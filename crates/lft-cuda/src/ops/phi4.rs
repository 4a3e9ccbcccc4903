//! φ⁴ on a batch of n configurations `[n, V]` (`kernels/phi4.cu`), and the batched HMC of n
//! chains built on it (`kernels/hmc.cu`).

use crate::CudaError;
use crate::call::{Arg, BufId, KernelCall, int};
use crate::launch::{elementwise, per_configuration};
use crate::ops::{random, reduce};
use crate::philox::PhiloxKey;
use crate::schedule::{MdStep, schedule};
use crate::tables::NeighbourTables;
use lft_records::Integrator;

/// The action S = Σ_x [(2d + m²) φ_x² + λ φ_x⁴ − 2 φ_x Σ_μ φ_{x+μ̂}] on buffers `fwd`, `bwd`
/// holding [`NeighbourTables`] (i32).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phi4Batch {
    pub dim: usize,
    pub volume: usize,
    pub m2: f64,
    pub lambda: f64,
    pub fwd: BufId,
    pub bwd: BufId,
}

impl Phi4Batch {
    pub fn new(tables: &NeighbourTables, m2: f64, lambda: f64, fwd: BufId, bwd: BufId) -> Self {
        Self {
            dim: tables.dim,
            volume: tables.volume,
            m2,
            lambda,
            fwd,
            bwd,
        }
    }

    fn sizes(&self) -> Result<(i32, i32), CudaError> {
        Ok((int("dimension", self.dim)?, int("volume", self.volume)?))
    }

    /// grad[b, x] = ∂S/∂φ_x of configuration b.
    pub fn gradient(&self, n: usize, phi: BufId, grad: BufId) -> Result<KernelCall, CudaError> {
        let (d, v) = self.sizes()?;
        Ok(KernelCall {
            function: "phi4_gradient",
            launch: elementwise(n * self.volume)?,
            args: vec![
                Arg::Buf(phi),
                Arg::Buf(self.fwd),
                Arg::Buf(self.bwd),
                Arg::I32(d),
                Arg::I32(v),
                Arg::I32(int("batch", n)?),
                Arg::F64(self.m2),
                Arg::F64(self.lambda),
                Arg::Buf(grad),
            ],
        })
    }

    /// action[b] = S(φ_b).
    pub fn action(&self, n: usize, phi: BufId, action: BufId) -> Result<KernelCall, CudaError> {
        let (d, v) = self.sizes()?;
        Ok(KernelCall {
            function: "phi4_action",
            launch: per_configuration(n, self.volume)?,
            args: vec![
                Arg::Buf(phi),
                Arg::Buf(self.fwd),
                Arg::I32(d),
                Arg::I32(v),
                Arg::F64(self.m2),
                Arg::F64(self.lambda),
                Arg::Buf(action),
            ],
        })
    }
}

/// The work buffers of one HMC update: φ before the trajectory, both energies `[n]`, and the
/// acceptances (i32 `[n]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HmcWork {
    pub phi_old: BufId,
    pub h_old: BufId,
    pub h_new: BufId,
    pub accepted: BufId,
}

/// Batched HMC of n chains with target e^{−β S}: buffers φ, π `[n, V]`, and a copy of φ and
/// the energies for the Metropolis test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HmcBatch {
    pub action: Phi4Batch,
    pub chains: usize,
    /// β: 1 for the target itself, below 1 on an annealing ladder.
    pub beta: f64,
    pub phi: BufId,
    pub pi: BufId,
}

impl HmcBatch {
    /// π ← π − h β ∇S(φ), the gradient computed in the kick.
    pub fn kick(&self, h: f64) -> Result<KernelCall, CudaError> {
        let a = &self.action;
        let (d, v) = a.sizes()?;
        Ok(KernelCall {
            function: "hmc_kick",
            launch: elementwise(self.chains * a.volume)?,
            args: vec![
                Arg::Buf(self.phi),
                Arg::Buf(self.pi),
                Arg::Buf(a.fwd),
                Arg::Buf(a.bwd),
                Arg::I32(d),
                Arg::I32(v),
                Arg::I32(int("chains", self.chains)?),
                Arg::F64(a.m2),
                Arg::F64(a.lambda),
                Arg::F64(self.beta),
                Arg::F64(h),
            ],
        })
    }

    /// φ ← φ + h π.
    pub fn drift(&self, h: f64) -> Result<KernelCall, CudaError> {
        let count = self.chains * self.action.volume;
        Ok(KernelCall {
            function: "hmc_drift",
            launch: elementwise(count)?,
            args: vec![
                Arg::Buf(self.phi),
                Arg::Buf(self.pi),
                Arg::I64(count as i64),
                Arg::F64(h),
            ],
        })
    }

    /// The molecular dynamics of one trajectory: the integrator's kicks and drifts.
    pub fn trajectory(
        &self,
        integrator: Integrator,
        eps: f64,
        n_steps: usize,
    ) -> Result<Vec<KernelCall>, CudaError> {
        schedule(integrator, eps, n_steps)
            .into_iter()
            .map(|op| match op {
                MdStep::Kick(h) => self.kick(h),
                MdStep::Drift(h) => self.drift(h),
            })
            .collect()
    }

    /// energy[b] = β S(φ_b) + ½ Σ_x π_{b,x}².
    pub fn hamiltonian(&self, energy: BufId) -> Result<KernelCall, CudaError> {
        let a = &self.action;
        let (d, v) = a.sizes()?;
        Ok(KernelCall {
            function: "hmc_hamiltonian",
            launch: per_configuration(self.chains, a.volume)?,
            args: vec![
                Arg::Buf(self.phi),
                Arg::Buf(self.pi),
                Arg::Buf(a.fwd),
                Arg::I32(d),
                Arg::I32(v),
                Arg::F64(a.m2),
                Arg::F64(a.lambda),
                Arg::F64(self.beta),
                Arg::Buf(energy),
            ],
        })
    }

    /// One whole HMC update of every chain, trajectory `t` of the run: momenta from Philox
    /// stream 2t, the trajectory, the Metropolis test with stream 2t + 1. Nothing leaves the
    /// device but what the caller reads afterwards (the acceptances).
    pub fn update(
        &self,
        work: &HmcWork,
        integrator: Integrator,
        eps: f64,
        n_steps: usize,
        key: PhiloxKey,
        t: u64,
    ) -> Result<Vec<KernelCall>, CudaError> {
        let count = self.chains * self.action.volume;
        let mut calls = vec![
            random::normal_fill(count, self.pi, key, 2 * t)?,
            reduce::copy(count, self.phi, work.phi_old)?,
            self.hamiltonian(work.h_old)?,
        ];
        calls.extend(self.trajectory(integrator, eps, n_steps)?);
        calls.push(self.hamiltonian(work.h_new)?);
        calls.push(self.accept(
            work.phi_old,
            work.h_old,
            work.h_new,
            key,
            2 * t + 1,
            work.accepted,
        )?);
        Ok(calls)
    }

    /// The Metropolis test of every chain (uniform from Philox stream `stream`): a rejected
    /// chain's φ is restored from `phi_old`; `accepted[b]` (i32) is 1 or 0.
    pub fn accept(
        &self,
        phi_old: BufId,
        h_old: BufId,
        h_new: BufId,
        key: PhiloxKey,
        stream: u64,
        accepted: BufId,
    ) -> Result<KernelCall, CudaError> {
        let v = self.action.volume;
        Ok(KernelCall {
            function: "hmc_accept",
            launch: per_configuration(self.chains, v)?,
            args: vec![
                Arg::Buf(self.phi),
                Arg::Buf(phi_old),
                Arg::Buf(h_old),
                Arg::Buf(h_new),
                Arg::I32(int("volume", v)?),
                Arg::U32(key.0[0]),
                Arg::U32(key.0[1]),
                Arg::U32(stream as u32),
                Arg::U32((stream >> 32) as u32),
                Arg::Buf(accepted),
            ],
        })
    }
}
