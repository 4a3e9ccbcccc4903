//! The index tables the kernels read, built on the host once per lattice: neighbours for the
//! φ⁴ action and HMC, and the shifted sites of a convolution kernel. Their layouts are the
//! kernels' contract (`kernels/common.cuh`, `kernels/conv.cu`), tested here without a GPU.

use lft_lattice::Lattice;

/// Neighbour tables `[d][V]`, μ-major (so that a warp reading one μ reads contiguous entries):
/// `fwd[μ·V + x]` = x + μ̂ and `bwd[μ·V + x]` = x − μ̂, periodic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourTables {
    pub dim: usize,
    pub volume: usize,
    pub fwd: Vec<i32>,
    pub bwd: Vec<i32>,
}

impl NeighbourTables {
    pub fn new(lattice: &Lattice) -> Self {
        let (d, v) = (lattice.dim(), lattice.volume());
        let table = |hop: fn(&Lattice, usize, usize) -> usize| {
            (0..d)
                .flat_map(|mu| (0..v).map(move |x| (mu, x)))
                .map(|(mu, x)| hop(lattice, x, mu) as i32)
                .collect()
        };
        Self {
            dim: d,
            volume: v,
            fwd: table(Lattice::fwd),
            bwd: table(Lattice::bwd),
        }
    }
}

/// The offsets δ of an odd convolution kernel of size k in lft-flow's order: index
/// j = Σ_μ (δ_μ + r) k^{d−1−μ} (the last axis fastest), r = (k − 1)/2. Index K − 1 − j is −δ,
/// which the input-gradient kernel relies on.
pub fn kernel_offsets(dim: usize, k: usize) -> Vec<Vec<isize>> {
    assert!(k % 2 == 1, "kernel size must be odd");
    let r = (k / 2) as isize;
    (0..k.pow(dim as u32))
        .map(|idx| {
            let mut rem = idx;
            let mut off = vec![0isize; dim];
            for mu in (0..dim).rev() {
                off[mu] = (rem % k) as isize - r;
                rem /= k;
            }
            off
        })
        .collect()
}

/// `sites[j·V + x]` = x + δ_j (periodic), `[K][V]`: the table of `kernels/conv.cu`.
pub fn conv_sites(lattice: &Lattice, k: usize) -> Vec<i32> {
    let shape = lattice.shape();
    let mut shift = vec![0usize; lattice.dim()];
    kernel_offsets(lattice.dim(), k)
        .iter()
        .flat_map(|off| {
            for (mu, s) in shift.iter_mut().enumerate() {
                *s = off[mu].rem_euclid(shape[mu] as isize) as usize;
            }
            (0..lattice.volume())
                .map(|x| lattice.shifted(x, &shift) as i32)
                .collect::<Vec<_>>()
        })
        .collect()
}
