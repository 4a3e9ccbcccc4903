//! Launch geometry of every kernel: grid, block and dynamic shared memory, computed on the host
//! (and tested there) from the batch's sizes. The kernels' index arithmetic assumes what these
//! functions guarantee: reduction blocks are powers of two, element grids cover every entry,
//! shared memory stays within the 48 KiB a block gets without opting in.

use crate::error::CudaError;

/// Threads per block of the elementwise kernels.
pub const ELEMENTWISE_BLOCK: u32 = 256;
/// The most threads of a per-configuration reduction block.
pub const REDUCTION_BLOCK: u32 = 256;
/// Sites per block of the convolutions.
pub const CONV_TILE: u32 = 128;
/// Dynamic shared memory a block may use without `cudaFuncSetAttribute`.
pub const SHARED_LIMIT: usize = 48 * 1024;
/// Slices of the batch that the weight-gradient reduction spreads over (its grid's y).
pub const WEIGHT_GRAD_SLICES: u32 = 32;

/// One launch: grid and block (x, y, z) and dynamic shared bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launch {
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
    pub shared_bytes: u32,
}

fn blocks_for(count: usize, per_block: u32) -> Result<u32, CudaError> {
    let blocks = count.div_ceil(per_block as usize).max(1);
    u32::try_from(blocks)
        .ok()
        .filter(|&b| b < i32::MAX as u32)
        .ok_or(CudaError::TooLarge {
            what: "elementwise grid",
            size: count,
        })
}

/// One thread per entry of `count`.
pub fn elementwise(count: usize) -> Result<Launch, CudaError> {
    Ok(Launch {
        grid: (blocks_for(count, ELEMENTWISE_BLOCK)?, 1, 1),
        block: (ELEMENTWISE_BLOCK, 1, 1),
        shared_bytes: 0,
    })
}

/// The smallest power of two ≥ `n`, at most [`REDUCTION_BLOCK`] (at least 32, a warp).
pub fn reduction_width(n: usize) -> u32 {
    (n.next_power_of_two() as u32).clamp(32, REDUCTION_BLOCK)
}

/// One block per configuration, reducing over its `volume` sites (`block_sum` in
/// `kernels/common.cuh`: a power-of-two block with as many doubles of shared memory).
pub fn per_configuration(n: usize, volume: usize) -> Result<Launch, CudaError> {
    let width = reduction_width(volume);
    Ok(Launch {
        grid: (blocks_for(n, 1)?, 1, 1),
        block: (width, 1, 1),
        shared_bytes: width * 8,
    })
}

/// One block reducing a whole batch of `n` values (`kl_summary`).
pub fn single_block(n: usize) -> Launch {
    let width = reduction_width(n);
    Launch {
        grid: (1, 1, 1),
        block: (width, 1, 1),
        shared_bytes: width * 8,
    }
}

/// A convolution pass on `n` configurations of `volume` sites whose parameters (`n_params`,
/// each `bytes_per_weight` in shared memory) the block holds; `shared_limit` is what a block
/// may use ([`SHARED_LIMIT`], or the device's opt-in maximum once the runtime raised it).
pub fn conv_tiles(
    n: usize,
    volume: usize,
    n_params: usize,
    bytes_per_weight: usize,
    shared_limit: usize,
) -> Result<Launch, CudaError> {
    let shared = n_params * bytes_per_weight;
    if shared > shared_limit {
        return Err(CudaError::TooLarge {
            what: "convolution weights in shared memory (bytes)",
            size: shared,
        });
    }
    let y = u32::try_from(n)
        .ok()
        .filter(|&y| y <= 65_535)
        .ok_or(CudaError::TooLarge {
            what: "batch of a convolution launch (grid y ≤ 65535)",
            size: n,
        })?;
    // A tile of at most CONV_TILE sites, whole warps, no more than the lattice has.
    let tile = (volume.div_ceil(32) * 32).min(CONV_TILE as usize) as u32;
    Ok(Launch {
        grid: (blocks_for(volume, tile)?, y.max(1), 1),
        block: (tile, 1, 1),
        shared_bytes: shared as u32,
    })
}

/// The weight-gradient reduction: block (j, s) sums parameter j over the sites of the
/// configurations s, s + slices, … (a block as wide as [`reduction_width`] of the volume).
pub fn weight_gradient(n_params: usize, n: usize, volume: usize) -> Result<Launch, CudaError> {
    let width = reduction_width(volume);
    Ok(Launch {
        grid: (
            blocks_for(n_params, 1)?,
            (n as u32).clamp(1, WEIGHT_GRAD_SLICES),
            1,
        ),
        block: (width, 1, 1),
        shared_bytes: width * 8,
    })
}
