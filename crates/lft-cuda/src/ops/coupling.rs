//! Masked couplings on a batch (`kernels/coupling.cu`, `kernels/spline.cu`): the conditioner's
//! masked input, the Z₂ symmetrisation of its output, and the affine and rational-quadratic
//! spline transforms with their log-determinants and backward passes.

use super::conv::Float;
use crate::CudaError;
use crate::call::{Arg, BufId, KernelCall, int};
use crate::launch::{elementwise, per_configuration};

/// Maximum spline bins of the kernels (`LFT_MAX_BINS` in `kernels/spline.cu`).
pub const MAX_BINS: usize = 32;

/// A coupling's mask: `active` is a float64 buffer `[V]`, 1 on transformed sites.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mask {
    pub volume: usize,
    pub active: BufId,
}

/// The channel mirror of the Z₂-symmetric conditioner: `perm` (i32) and `sign` (f64) buffers of
/// the conditioner's `channels`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mirror {
    pub channels: usize,
    pub perm: BufId,
    pub sign: BufId,
}

/// The spline's shape (lft-flow's `RqSpline`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplineShape {
    pub bins: usize,
    pub bound: f64,
    pub min_width: f64,
    pub min_height: f64,
    pub min_derivative: f64,
}

impl From<&lft_flow::spline::RqSpline> for SplineShape {
    fn from(s: &lft_flow::spline::RqSpline) -> Self {
        Self {
            bins: s.bins,
            bound: s.bound,
            min_width: s.min_width,
            min_height: s.min_height,
            min_derivative: s.min_derivative,
        }
    }
}

impl SplineShape {
    pub fn check(&self) -> Result<(), CudaError> {
        if self.bins > MAX_BINS {
            return Err(CudaError::TooManyBins {
                bins: self.bins,
                max: MAX_BINS,
            });
        }
        Ok(())
    }

    fn args(&self) -> [Arg; 5] {
        [
            Arg::I32(self.bins as i32),
            Arg::F64(self.bound),
            Arg::F64(self.min_width),
            Arg::F64(self.min_height),
            Arg::F64(self.min_derivative),
        ]
    }
}

impl Mask {
    /// f = sign (1 − A) x as `float`, for n configurations.
    pub fn frozen_input(
        &self,
        n: usize,
        x: BufId,
        sign: f64,
        float: Float,
        f: BufId,
    ) -> Result<KernelCall, CudaError> {
        let count = n * self.volume;
        Ok(KernelCall {
            function: float.suffixed("mask_frozen"),
            launch: elementwise(count)?,
            args: vec![
                Arg::Buf(x),
                Arg::Buf(self.active),
                Arg::I32(int("volume", self.volume)?),
                Arg::I64(count as i64),
                Arg::F64(sign),
                Arg::Buf(f),
            ],
        })
    }

    /// gx += sign (1 − A) g_f.
    pub fn frozen_input_backward(
        &self,
        n: usize,
        g_f: BufId,
        sign: f64,
        float: Float,
        gx: BufId,
    ) -> Result<KernelCall, CudaError> {
        let count = n * self.volume;
        Ok(KernelCall {
            function: float.suffixed("mask_frozen_backward"),
            launch: elementwise(count)?,
            args: vec![
                Arg::Buf(g_f),
                Arg::Buf(self.active),
                Arg::I32(int("volume", self.volume)?),
                Arg::I64(count as i64),
                Arg::F64(sign),
                Arg::Buf(gx),
            ],
        })
    }

    /// out = h(in) or h⁻¹(in) of the affine coupling with θ = (s, t) `[n, 2, V]`;
    /// logdet[b] += ld_sign Σ_active s.
    #[allow(clippy::too_many_arguments)]
    pub fn affine(
        &self,
        n: usize,
        input: BufId,
        theta: BufId,
        inverse: bool,
        ld_sign: f64,
        out: BufId,
        logdet: BufId,
    ) -> Result<KernelCall, CudaError> {
        Ok(KernelCall {
            function: "affine_apply",
            launch: per_configuration(n, self.volume)?,
            args: vec![
                Arg::Buf(input),
                Arg::Buf(theta),
                Arg::Buf(self.active),
                Arg::I32(int("volume", self.volume)?),
                Arg::I32(inverse as i32),
                Arg::F64(ld_sign),
                Arg::Buf(out),
                Arg::Buf(logdet),
            ],
        })
    }

    /// Backward of the affine map (forward direction, or the inverse when `inverse`, `x` then
    /// being the inverse's output): from the output gradient and gld[b] = ∂L/∂logdet_b, the input
    /// gradient and gθ.
    #[allow(clippy::too_many_arguments)]
    pub fn affine_backward(
        &self,
        n: usize,
        inverse: bool,
        x: BufId,
        theta: BufId,
        g_out: BufId,
        gld: BufId,
        g_in: BufId,
        gtheta: BufId,
    ) -> Result<KernelCall, CudaError> {
        Ok(KernelCall {
            function: if inverse {
                "affine_inverse_backward"
            } else {
                "affine_backward"
            },
            launch: elementwise(n * self.volume)?,
            args: vec![
                Arg::Buf(x),
                Arg::Buf(theta),
                Arg::Buf(self.active),
                Arg::Buf(g_out),
                Arg::Buf(gld),
                Arg::I32(int("volume", self.volume)?),
                Arg::I32(int("batch", n)?),
                Arg::Buf(g_in),
                Arg::Buf(gtheta),
            ],
        })
    }

    /// out = spline(in) or its inverse with raw parameters `[n, 3K − 1, V]`;
    /// logdet[b] += ld_sign Σ_active log dy/dx.
    #[allow(clippy::too_many_arguments)]
    pub fn spline(
        &self,
        n: usize,
        shape: &SplineShape,
        input: BufId,
        raw: BufId,
        inverse: bool,
        ld_sign: f64,
        out: BufId,
        logdet: BufId,
    ) -> Result<KernelCall, CudaError> {
        shape.check()?;
        let mut args = vec![
            Arg::Buf(input),
            Arg::Buf(raw),
            Arg::Buf(self.active),
            Arg::I32(int("volume", self.volume)?),
        ];
        args.extend(shape.args());
        args.extend([
            Arg::I32(inverse as i32),
            Arg::F64(ld_sign),
            Arg::Buf(out),
            Arg::Buf(logdet),
        ]);
        Ok(KernelCall {
            function: "spline_apply",
            launch: per_configuration(n, self.volume)?,
            args,
        })
    }

    /// Backward of the forward spline map: gx and g_raw from gy and gld.
    #[allow(clippy::too_many_arguments)]
    pub fn spline_backward(
        &self,
        n: usize,
        shape: &SplineShape,
        x: BufId,
        raw: BufId,
        gy: BufId,
        gld: BufId,
        gx: BufId,
        graw: BufId,
    ) -> Result<KernelCall, CudaError> {
        shape.check()?;
        let mut args = vec![
            Arg::Buf(x),
            Arg::Buf(raw),
            Arg::Buf(self.active),
            Arg::Buf(gy),
            Arg::Buf(gld),
            Arg::I32(int("volume", self.volume)?),
            Arg::I32(int("batch", n)?),
        ];
        args.extend(shape.args());
        args.extend([Arg::Buf(gx), Arg::Buf(graw)]);
        Ok(KernelCall {
            function: "spline_backward",
            launch: elementwise(n * self.volume)?,
            args,
        })
    }
}

impl Mirror {
    /// θ = ½(o₊ + σ M o₋) (θ = o₊ without o₋), θ float64 `[n, C, V]`.
    pub fn combine(
        &self,
        n: usize,
        volume: usize,
        float: Float,
        o_plus: BufId,
        o_minus: Option<BufId>,
        theta: BufId,
    ) -> Result<KernelCall, CudaError> {
        let count = n * self.channels * volume;
        Ok(KernelCall {
            function: float.suffixed("mirror_combine"),
            launch: elementwise(count)?,
            args: vec![
                Arg::Buf(o_plus),
                super::optional(o_minus),
                Arg::Buf(self.perm),
                Arg::Buf(self.sign),
                Arg::I32(int("channels", self.channels)?),
                Arg::I32(int("volume", volume)?),
                Arg::I64(count as i64),
                Arg::Buf(theta),
            ],
        })
    }

    /// Its backward: g₊ = ½ g, g₋[π(c)] = ½ σ_c g[c] (g₊ = g without g₋).
    pub fn split(
        &self,
        n: usize,
        volume: usize,
        float: Float,
        g: BufId,
        g_plus: BufId,
        g_minus: Option<BufId>,
    ) -> Result<KernelCall, CudaError> {
        let count = n * self.channels * volume;
        Ok(KernelCall {
            function: float.suffixed("mirror_split"),
            launch: elementwise(count)?,
            args: vec![
                Arg::Buf(g),
                Arg::Buf(self.perm),
                Arg::Buf(self.sign),
                Arg::I32(int("channels", self.channels)?),
                Arg::I32(int("volume", volume)?),
                Arg::I64(count as i64),
                Arg::Buf(g_plus),
                super::optional(g_minus),
            ],
        })
    }
}
