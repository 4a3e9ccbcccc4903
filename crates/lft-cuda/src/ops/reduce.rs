//! Reductions and vector updates (`kernels/reduce.cu`, `kernels/adam.cu`): the reverse-KL
//! summary of a batch, gradient norms, Adam, conversions.

use crate::CudaError;
use crate::call::{Arg, BufId, KernelCall, int};
use crate::launch::{Launch, REDUCTION_BLOCK, elementwise, single_block};

/// out[0..4] = (loss, log Σ e^{lw}, ESS/n, max lw) of a batch of n, lw = −S − log q.
pub fn kl_summary(
    n: usize,
    logq: BufId,
    action: BufId,
    out: BufId,
) -> Result<KernelCall, CudaError> {
    Ok(KernelCall {
        function: "kl_summary",
        launch: single_block(n),
        args: vec![
            Arg::Buf(logq),
            Arg::Buf(action),
            Arg::I32(int("batch", n)?),
            Arg::Buf(out),
        ],
    })
}

/// *out += Σ_i v_i² (out zeroed by the caller).
pub fn sum_squares(count: usize, v: BufId, out: BufId) -> Result<KernelCall, CudaError> {
    let blocks = count.div_ceil(REDUCTION_BLOCK as usize).clamp(1, 1024) as u32;
    Ok(KernelCall {
        function: "sum_squares",
        launch: Launch {
            grid: (blocks, 1, 1),
            block: (REDUCTION_BLOCK, 1, 1),
            shared_bytes: REDUCTION_BLOCK * 8,
        },
        args: vec![Arg::Buf(v), Arg::I64(count as i64), Arg::Buf(out)],
    })
}

/// y += a x.
pub fn scaled_add(count: usize, y: BufId, x: BufId, a: f64) -> Result<KernelCall, CudaError> {
    Ok(KernelCall {
        function: "scaled_add",
        launch: elementwise(count)?,
        args: vec![
            Arg::Buf(y),
            Arg::Buf(x),
            Arg::F64(a),
            Arg::I64(count as i64),
        ],
    })
}

/// y[b, j] += a[b] x[b, j] for rows of `stride`.
pub fn scaled_add_rows(
    count: usize,
    stride: usize,
    y: BufId,
    x: BufId,
    a: BufId,
) -> Result<KernelCall, CudaError> {
    Ok(KernelCall {
        function: "scaled_add_rows",
        launch: elementwise(count)?,
        args: vec![
            Arg::Buf(y),
            Arg::Buf(x),
            Arg::Buf(a),
            Arg::I32(int("row", stride)?),
            Arg::I64(count as i64),
        ],
    })
}

/// y = x (float64).
pub fn copy(count: usize, x: BufId, y: BufId) -> Result<KernelCall, CudaError> {
    Ok(KernelCall {
        function: "copy_values",
        launch: elementwise(count)?,
        args: vec![Arg::Buf(x), Arg::I64(count as i64), Arg::Buf(y)],
    })
}

/// y = value.
pub fn fill(count: usize, y: BufId, value: f64) -> Result<KernelCall, CudaError> {
    Ok(KernelCall {
        function: "fill_values",
        launch: elementwise(count)?,
        args: vec![Arg::Buf(y), Arg::I64(count as i64), Arg::F64(value)],
    })
}

/// y *= a.
pub fn scale(count: usize, y: BufId, a: f64) -> Result<KernelCall, CudaError> {
    Ok(KernelCall {
        function: "scale_values",
        launch: elementwise(count)?,
        args: vec![Arg::Buf(y), Arg::I64(count as i64), Arg::F64(a)],
    })
}

/// Float conversion: float64 → float32 (`to_f32`) or back.
pub fn convert(count: usize, x: BufId, y: BufId, to_f32: bool) -> Result<KernelCall, CudaError> {
    Ok(KernelCall {
        function: if to_f32 { "to_f32" } else { "to_f64" },
        launch: elementwise(count)?,
        args: vec![Arg::Buf(x), Arg::I64(count as i64), Arg::Buf(y)],
    })
}

/// Adam's hyper-parameters and step count, those of lft-flow's `Adam` (β₁ = 0.9, β₂ = 0.999,
/// ε = 10⁻⁸ there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// t ≥ 1, the step being taken.
    pub t: u64,
    /// The gradient's scale (global-norm clipping).
    pub scale: f64,
}

/// One Adam step on `count` parameters: moments m, v updated, θ moved.
pub fn adam_step(
    count: usize,
    params: BufId,
    grad: BufId,
    m: BufId,
    v: BufId,
    step: AdamStep,
) -> Result<KernelCall, CudaError> {
    let t = step.t as i32;
    let c1 = 1.0 - step.beta1.powi(t);
    let c2 = 1.0 - step.beta2.powi(t);
    Ok(KernelCall {
        function: "adam_step",
        launch: elementwise(count)?,
        args: vec![
            Arg::Buf(params),
            Arg::Buf(grad),
            Arg::Buf(m),
            Arg::Buf(v),
            Arg::I64(count as i64),
            Arg::F64(step.lr),
            Arg::F64(step.beta1),
            Arg::F64(step.beta2),
            Arg::F64(step.eps),
            Arg::F64(c1),
            Arg::F64(c2),
            Arg::F64(step.scale),
        ],
    })
}
