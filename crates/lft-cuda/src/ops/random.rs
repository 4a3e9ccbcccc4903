//! Draws on the device from Philox4x32-10 (`kernels/philox.cu`), the same numbers as the host
//! twin [`crate::philox::normal_fill`].

use crate::CudaError;
use crate::call::{Arg, BufId, KernelCall, int};
use crate::launch::{elementwise, per_configuration};
use crate::philox::PhiloxKey;

/// `count` standard normals into `out` from stream `stream` of `key`.
pub fn normal_fill(
    count: usize,
    out: BufId,
    key: PhiloxKey,
    stream: u64,
) -> Result<KernelCall, CudaError> {
    Ok(KernelCall {
        function: "normal_fill",
        launch: elementwise(count.div_ceil(2))?,
        args: vec![
            Arg::Buf(out),
            Arg::I64(count as i64),
            Arg::U32(key.0[0]),
            Arg::U32(key.0[1]),
            Arg::U32(stream as u32),
            Arg::U32((stream >> 32) as u32),
        ],
    })
}

/// logr[b] = −½ Σ_x z_{b,x}² − (V/2) log 2π for n configurations of `volume` sites.
pub fn normal_log_density(
    n: usize,
    volume: usize,
    z: BufId,
    logr: BufId,
) -> Result<KernelCall, CudaError> {
    Ok(KernelCall {
        function: "normal_log_density",
        launch: per_configuration(n, volume)?,
        args: vec![
            Arg::Buf(z),
            Arg::I32(int("volume", volume)?),
            Arg::Buf(logr),
        ],
    })
}
