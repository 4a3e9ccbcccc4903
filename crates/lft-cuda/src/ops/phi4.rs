//! φ⁴ on a batch of n configurations `[n, V]` (`kernels/phi4.cu`), and the batched HMC of n
//! chains built on it (`kernels/hmc.cu`), on the action or on a tempered target of annealing.

use crate::CudaError;
use crate::call::{Arg, BufId, KernelCall, int};
use crate::launch::{elementwise, per_configuration};
use crate::tables::NeighbourTables;
use lft_action::Phi4Params;

/// The φ⁴ target of the device: couplings (m², λ) and the external field h of
/// S − h Σ_x φ_x (0: none). A `Phi4Params` converts with h = 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phi4Target {
    pub params: Phi4Params,
    pub h: f64,
}

impl From<Phi4Params> for Phi4Target {
    fn from(params: Phi4Params) -> Self {
        Self { params, h: 0.0 }
    }
}

/// The action S = Σ_x [(2d + m²) φ_x² + λ φ_x⁴ − 2 φ_x Σ_μ φ_{x+μ̂} − h φ_x] on buffers `fwd`,
/// `bwd` holding [`NeighbourTables`] (i32).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phi4Batch {
    pub dim: usize,
    pub volume: usize,
    pub m2: f64,
    pub lambda: f64,
    /// The external field h.
    pub h: f64,
    pub fwd: BufId,
    pub bwd: BufId,
}

impl Phi4Batch {
    /// φ⁴ with couplings (m², λ) and no external field.
    pub fn new(tables: &NeighbourTables, m2: f64, lambda: f64, fwd: BufId, bwd: BufId) -> Self {
        Self {
            dim: tables.dim,
            volume: tables.volume,
            m2,
            lambda,
            h: 0.0,
            fwd,
            bwd,
        }
    }

    /// φ⁴ of `target` (its external field included).
    pub fn of(tables: &NeighbourTables, target: Phi4Target, fwd: BufId, bwd: BufId) -> Self {
        let Phi4Params { m2, lambda } = target.params;
        Self {
            h: target.h,
            ..Self::new(tables, m2, lambda, fwd, bwd)
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
                Arg::F64(self.h),
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
                Arg::F64(self.h),
                Arg::Buf(action),
            ],
        })
    }
}

/// The prior of a tempered target: what P, its −log r up to a constant, is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PriorTerm {
    /// No prior term (plain HMC on S).
    None,
    /// The standard normal: P = ½ Σ φ².
    Normal,
    /// The free field of mass² `m2`: P = S₀.
    Free { m2: f64 },
}

impl PriorTerm {
    /// (kind, m₀²) as the kernels take them (`LFT_PRIOR_*` of `kernels/common.cuh`).
    pub(crate) fn args(self) -> (i32, f64) {
        match self {
            PriorTerm::None => (0, 0.0),
            PriorTerm::Normal => (1, 0.0),
            PriorTerm::Free { m2 } => (2, m2),
        }
    }
}

/// The target the HMC kernels sample, e^{−S_t} with S_t = a S + w P: the action itself
/// (a = 1, no prior), or a temperature β of an annealing path (a = β, w = 1 − β).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemperedTarget {
    pub a: f64,
    pub w: f64,
    pub prior: PriorTerm,
}

impl TemperedTarget {
    /// S itself.
    pub fn plain() -> Self {
        Self {
            a: 1.0,
            w: 0.0,
            prior: PriorTerm::None,
        }
    }

    /// −log π_β = β S − (1 − β) log r, up to a constant.
    pub fn tempered(beta: f64, prior: PriorTerm) -> Self {
        Self {
            a: beta,
            w: 1.0 - beta,
            prior,
        }
    }
}

/// The buffers of n HMC chains on a device: φ, π and φ before the trajectory `[n, V]`, both
/// energies `[2n]` (S_t, H), the per-chain stream table (i32 `[5n]`, `kernels/common.cuh`),
/// the step coefficients `[rows, n]` of a segment and its results `[k, 3n]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HmcBatch {
    pub action: Phi4Batch,
    pub chains: usize,
    pub target: TemperedTarget,
    pub phi: BufId,
    pub pi: BufId,
    pub phi_old: BufId,
    pub e_old: BufId,
    pub e_new: BufId,
    pub table: BufId,
    pub coefficients: BufId,
    pub results: BufId,
}

impl HmcBatch {
    fn target_args(&self) -> [Arg; 4] {
        let (kind, m0) = self.target.prior.args();
        [
            Arg::F64(self.target.a),
            Arg::F64(self.target.w),
            Arg::I32(kind),
            Arg::F64(m0),
        ]
    }

    /// Fresh momenta of trajectory `j` of the segment from every running chain's stream, and
    /// φ_old = φ.
    pub fn refresh(&self, j: usize) -> Result<KernelCall, CudaError> {
        let v = self.action.volume;
        Ok(KernelCall {
            function: "hmc_refresh",
            launch: elementwise(self.chains * v.div_ceil(2))?,
            args: vec![
                Arg::Buf(self.phi),
                Arg::Buf(self.phi_old),
                Arg::Buf(self.pi),
                Arg::Buf(self.table),
                Arg::I32(int("volume", v)?),
                Arg::I32(int("chains", self.chains)?),
                Arg::I32(int("trajectory of a segment", j)?),
            ],
        })
    }

    /// π ← π − h_b ∇S_t(φ) with the coefficients of row `row` (the gradient computed in the
    /// kick).
    pub fn kick(&self, row: usize) -> Result<KernelCall, CudaError> {
        let a = &self.action;
        let (d, v) = a.sizes()?;
        let mut args = vec![
            Arg::Buf(self.phi),
            Arg::Buf(self.pi),
            Arg::Buf(a.fwd),
            Arg::Buf(a.bwd),
            Arg::I32(d),
            Arg::I32(v),
            Arg::I32(int("chains", self.chains)?),
            Arg::F64(a.m2),
            Arg::F64(a.lambda),
            Arg::F64(a.h),
        ];
        args.extend(self.target_args());
        args.push(Arg::BufAt(self.coefficients, row * self.chains));
        Ok(KernelCall {
            function: "hmc_kick",
            launch: elementwise(self.chains * a.volume)?,
            args,
        })
    }

    /// φ ← φ + h_b π with the coefficients of row `row`.
    pub fn drift(&self, row: usize) -> Result<KernelCall, CudaError> {
        let v = self.action.volume;
        Ok(KernelCall {
            function: "hmc_drift",
            launch: elementwise(self.chains * v)?,
            args: vec![
                Arg::Buf(self.phi),
                Arg::Buf(self.pi),
                Arg::I32(int("volume", v)?),
                Arg::I32(int("chains", self.chains)?),
                Arg::BufAt(self.coefficients, row * self.chains),
            ],
        })
    }

    /// energy[2b] = S_t(φ_b), energy[2b + 1] = S_t(φ_b) + ½ Σ_x π_{b,x}².
    pub fn hamiltonian(&self, energy: BufId) -> Result<KernelCall, CudaError> {
        let a = &self.action;
        let (d, v) = a.sizes()?;
        let mut args = vec![
            Arg::Buf(self.phi),
            Arg::Buf(self.pi),
            Arg::Buf(a.fwd),
            Arg::I32(d),
            Arg::I32(v),
            Arg::F64(a.m2),
            Arg::F64(a.lambda),
            Arg::F64(a.h),
        ];
        args.extend(self.target_args());
        args.push(Arg::Buf(energy));
        Ok(KernelCall {
            function: "hmc_hamiltonian",
            launch: per_configuration(self.chains, a.volume)?,
            args,
        })
    }

    /// The Metropolis test of trajectory `j` of the segment: results (S_t, ΔH, accepted) of
    /// every chain into rows `[3n]` number j of `results`; a rejected chain gets φ_old back.
    pub fn accept(&self, j: usize) -> Result<KernelCall, CudaError> {
        let v = self.action.volume;
        Ok(KernelCall {
            function: "hmc_accept",
            launch: per_configuration(self.chains, v)?,
            args: vec![
                Arg::Buf(self.phi),
                Arg::Buf(self.phi_old),
                Arg::Buf(self.e_old),
                Arg::Buf(self.e_new),
                Arg::Buf(self.table),
                Arg::I32(int("volume", v)?),
                Arg::I32(int("trajectory of a segment", j)?),
                Arg::BufAt(self.results, j * 3 * self.chains),
            ],
        })
    }

    /// Trajectory `j` of a segment whose step coefficients are rows `first .. first + rows`
    /// (alternately kicks and drifts, [`crate::schedule::BatchSchedule`]): momenta, the
    /// energy before, the molecular dynamics, the energy after, the Metropolis test.
    pub fn trajectory(
        &self,
        j: usize,
        first: usize,
        rows: usize,
    ) -> Result<Vec<KernelCall>, CudaError> {
        let mut calls = vec![self.refresh(j)?, self.hamiltonian(self.e_old)?];
        for r in 0..rows {
            calls.push(if r % 2 == 0 {
                self.kick(first + r)?
            } else {
                self.drift(first + r)?
            });
        }
        calls.push(self.hamiltonian(self.e_new)?);
        calls.push(self.accept(j)?);
        Ok(calls)
    }
}
