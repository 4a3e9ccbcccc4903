//! Periodic ("circular") convolutions on a lattice of dimension 1–4.
//!
//! y[o, x] = b[o] + Σ_i Σ_δ W[o, i, δ] h[i, x + δ], with δ over the k^d offsets of an odd kernel
//! (each component in −r … r, r = (k−1)/2) and x + δ taken periodically. Backward, with
//! g = ∂L/∂y:
//!   ∂L/∂b[o] = Σ_x g[o, x],  ∂L/∂W[o, i, δ] = Σ_x g[o, x] h[i, x + δ],
//!   ∂L/∂h[i, z] = Σ_o Σ_δ W[o, i, δ] g[o, z − δ].
//! Computed through patches (im2col): Pt[(i, δ), x] = h[i, x + δ] is gathered once, and every
//! pass is one register-blocked matrix product over contiguous rows (see `gemm`); ∂L/∂h is the
//! convolution of g with the mirrored kernel.

use crate::gemm::{LANES as GEMM_LANES, gemm_acc, gemm_nt_acc};
use lft_lattice::Lattice;

/// Temporaries of the convolutions, owned by the caller (one per thread, kept in the
/// [`crate::net::NetCache`] of a pass) and reused from call to call.
#[derive(Debug, Clone, Default)]
pub struct ConvScratch {
    patches: Vec<f64>,
    doubled: Vec<f64>,
    g_patches: Vec<f64>,
    w_mirror: Vec<f64>,
    g_transposed: Vec<f64>,
    dw_transposed: Vec<f64>,
}

/// `buf` resized to `len` and zeroed.
fn zeroed(buf: &mut Vec<f64>, len: usize) -> &mut [f64] {
    buf.clear();
    buf.resize(len, 0.0);
    buf
}

/// The first `len` entries of `buf` (grown if needed), with stale contents: for buffers that
/// are overwritten entirely.
fn sized(buf: &mut Vec<f64>, len: usize) -> &mut [f64] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// Kernel offsets of one lattice. Sites are laid out in lines along the last axis (length
/// `line`), so a shift δ maps line ℓ onto line `src_line[δ][ℓ]` rotated by `rotate[δ]`: the
/// patch rows are gathered as whole contiguous lines from a buffer that holds every line twice.
#[derive(Debug, Clone)]
pub struct KernelShifts {
    pub(crate) volume: usize,
    line: usize,
    /// `[K][V / line]`.
    src_line: Vec<Vec<u32>>,
    /// `[K]`: δ_last mod line.
    rotate: Vec<usize>,
    /// `[K][V]`: the site x + δ_k (for the lane-batched convolutions, [`crate::lane_conv`]).
    pub(crate) sites: Vec<u32>,
}

impl KernelShifts {
    /// Offsets of an odd kernel of size `k` on `lattice` (k ≤ the smallest extent).
    pub fn new(lattice: &Lattice, k: usize) -> Self {
        assert!(k % 2 == 1, "kernel size must be odd");
        let d = lattice.dim();
        let r = (k / 2) as isize;
        let count = k.pow(d as u32);
        let mut offsets = Vec::with_capacity(count);
        for idx in 0..count {
            let mut rem = idx;
            let mut off = vec![0isize; d];
            for mu in (0..d).rev() {
                off[mu] = (rem % k) as isize - r;
                rem /= k;
            }
            offsets.push(off);
        }
        let shape = lattice.shape();
        let line = shape[d - 1] as isize;
        let n_lines = lattice.volume() / line as usize;
        let src_line = offsets
            .iter()
            .map(|off| {
                let mut c = vec![0usize; d];
                (0..n_lines)
                    .map(|l| {
                        lattice.coords_into(l * line as usize, &mut c);
                        for mu in 0..d - 1 {
                            let extent = shape[mu] as isize;
                            c[mu] = (c[mu] as isize + off[mu]).rem_euclid(extent) as usize;
                        }
                        (lattice.index(&c) / line as usize) as u32
                    })
                    .collect()
            })
            .collect();
        let rotate = offsets
            .iter()
            .map(|off| off[d - 1].rem_euclid(line) as usize)
            .collect();
        let mut c = vec![0usize; d];
        let sites = offsets
            .iter()
            .flat_map(|off| {
                (0..lattice.volume())
                    .map(|x| {
                        lattice.coords_into(x, &mut c);
                        for mu in 0..d {
                            let extent = shape[mu] as isize;
                            c[mu] = (c[mu] as isize + off[mu]).rem_euclid(extent) as usize;
                        }
                        lattice.index(&c) as u32
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        Self {
            volume: lattice.volume(),
            line: line as usize,
            src_line,
            rotate,
            sites,
        }
    }

    /// dst[x] += src[x + δ_k] for one row of V values (`doubled` is scratch).
    fn add_shifted(&self, k: usize, src: &[f64], doubled: &mut Vec<f64>, dst: &mut [f64]) {
        let len = self.line;
        doubled.resize(2 * self.volume, 0.0);
        for (twice, once) in doubled.chunks_exact_mut(2 * len).zip(src.chunks_exact(len)) {
            twice[..len].copy_from_slice(once);
            twice[len..].copy_from_slice(once);
        }
        let r = self.rotate[k];
        for (d, &l) in dst.chunks_exact_mut(len).zip(&self.src_line[k]) {
            let from = &doubled[2 * len * l as usize + r..][..len];
            d.iter_mut().zip(from).for_each(|(a, b)| *a += b);
        }
    }

    pub fn len(&self) -> usize {
        self.rotate.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rotate.is_empty()
    }
}

/// A periodic convolution with `c_in` input and `c_out` output channels. Parameters are laid
/// out as W `[c_out, c_in, K]` followed by b `[c_out]`.
#[derive(Debug, Clone)]
pub struct PeriodicConv {
    pub c_in: usize,
    pub c_out: usize,
    kernel: usize,
}

impl PeriodicConv {
    pub fn new(c_in: usize, c_out: usize, shifts: &KernelShifts) -> Self {
        Self {
            c_in,
            c_out,
            kernel: shifts.len(),
        }
    }

    /// Number of parameters: c_out·c_in·K + c_out.
    pub fn n_params(&self) -> usize {
        self.c_out * self.c_in * self.kernel + self.c_out
    }

    /// The patches of `h` `[c_in, V]`: Pt[i·K + k, x] = h[i, x + δ_k], written into `out`
    /// (`[c_in·K, V]`). Every later loop then runs over contiguous rows.
    pub fn patches(
        &self,
        shifts: &KernelShifts,
        h: &[f64],
        out: &mut Vec<f64>,
        scratch: &mut ConvScratch,
    ) {
        out.resize(self.c_in * self.kernel * shifts.volume, 0.0);
        self.patches_with(shifts, h, out, &mut scratch.doubled);
    }

    fn patches_with(
        &self,
        shifts: &KernelShifts,
        h: &[f64],
        out: &mut [f64],
        doubled: &mut Vec<f64>,
    ) {
        let (v, len) = (shifts.volume, shifts.line);
        // Every line of h twice in a row: a rotation by r is then the contiguous [r, r + len).
        doubled.resize(2 * self.c_in * v, 0.0);
        for (twice, once) in doubled.chunks_exact_mut(2 * len).zip(h.chunks_exact(len)) {
            twice[..len].copy_from_slice(once);
            twice[len..].copy_from_slice(once);
        }
        match len {
            4 => self.gather_lines::<4>(shifts, doubled, out),
            8 => self.gather_lines::<8>(shifts, doubled, out),
            16 => self.gather_lines::<16>(shifts, doubled, out),
            _ => self.gather_lines_any(shifts, doubled, out),
        }
    }

    /// Pt rows from the doubled lines, for lines of the compile-time length `N` (whole-line
    /// vector moves).
    fn gather_lines<const N: usize>(
        &self,
        shifts: &KernelShifts,
        doubled: &[f64],
        out: &mut [f64],
    ) {
        let v = shifts.volume;
        for i in 0..self.c_in {
            let lines = &doubled[2 * i * v..2 * (i + 1) * v];
            for (k, (src, &r)) in shifts.src_line.iter().zip(&shifts.rotate).enumerate() {
                let row = &mut out[(i * self.kernel + k) * v..][..v];
                for (dst, &l) in row.chunks_exact_mut(N).zip(src) {
                    let from: &[f64; N] = lines[2 * N * l as usize + r..][..N].try_into().unwrap();
                    let dst: &mut [f64; N] = dst.try_into().unwrap();
                    *dst = *from;
                }
            }
        }
    }

    fn gather_lines_any(&self, shifts: &KernelShifts, doubled: &[f64], out: &mut [f64]) {
        let (v, len) = (shifts.volume, shifts.line);
        let n_lines = v / len;
        for i in 0..self.c_in {
            let lines = &doubled[2 * i * v..2 * (i + 1) * v];
            for (k, (src, &r)) in shifts.src_line.iter().zip(&shifts.rotate).enumerate() {
                let row = &mut out[(i * self.kernel + k) * v..][..v];
                for (dst, &l) in row.chunks_exact_mut(len).zip(&src[..n_lines]) {
                    let from = &lines[2 * len * l as usize + r..][..len];
                    for (a, b) in dst.iter_mut().zip(from) {
                        *a = *b;
                    }
                }
            }
        }
    }

    /// y[o] = b[o] + Σ_j W[o, j] Pt[j] from the patches of the input (one matrix product).
    pub fn forward_patches(&self, params: &[f64], patches: &[f64], y: &mut [f64]) {
        let v = y.len() / self.c_out;
        let j_max = self.c_in * self.kernel;
        let (w, b) = params.split_at(self.c_out * j_max);
        for (yo, &bo) in y.chunks_exact_mut(v).zip(b) {
            yo.fill(bo);
        }
        gemm_acc(self.c_out, j_max, v, w, patches, y);
    }

    /// Backward from the patches: ∂L/∂W[o, j] += g[o]·Pt[j], ∂L/∂b[o] += Σ_x g[o, x], and
    /// (if `dh` is given) ∂L/∂h. The latter is the convolution of g with the mirrored kernel,
    /// ∂L/∂h[i, z] = Σ_{o, k} W[o, i, k̄] g[o, z + δ_k] with δ_k̄ = −δ_k, computed like the
    /// forward pass from the patches of g (a gather, not a scatter).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_patches(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        patches: &[f64],
        g: &[f64],
        dparams: &mut [f64],
        dh: Option<&mut [f64]>,
        scratch: &mut ConvScratch,
    ) {
        let v = shifts.volume;
        let j_max = self.c_in * self.kernel;
        let (dw, db) = dparams.split_at_mut(self.c_out * j_max);
        for (dbo, go) in db.iter_mut().zip(g.chunks_exact(v)) {
            *dbo += go.iter().sum::<f64>();
        }
        self.backward_with(shifts, params, patches, g, dw, dh, scratch);
    }

    #[allow(clippy::too_many_arguments)]
    fn backward_with(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        patches: &[f64],
        g: &[f64],
        dw: &mut [f64],
        dh: Option<&mut [f64]>,
        scratch: &mut ConvScratch,
    ) {
        let v = shifts.volume;
        let j_max = self.c_in * self.kernel;
        if self.c_out >= GEMM_LANES {
            // As ∂L/∂Wᵀ = Pt gᵀ, a product with a short inner dimension c_out (no reductions
            // across vector lanes).
            let gt = sized(&mut scratch.g_transposed, v * self.c_out);
            for (o, go) in g.chunks_exact(v).enumerate() {
                for (x, &gx) in go.iter().enumerate() {
                    gt[x * self.c_out + o] = gx;
                }
            }
            let dwt = zeroed(&mut scratch.dw_transposed, j_max * self.c_out);
            gemm_acc(j_max, v, self.c_out, patches, gt, dwt);
            for (j, row) in dwt.chunks_exact(self.c_out).enumerate() {
                for (o, d) in row.iter().enumerate() {
                    dw[o * j_max + j] += d;
                }
            }
        } else {
            gemm_nt_acc(self.c_out, j_max, v, g, patches, dw);
        }
        let Some(dh) = dh else { return };
        let kk = self.kernel;
        let w = &params[..self.c_out * j_max];
        if self.c_in < self.c_out {
            // Fewer input channels: ∂L/∂Pt = Wᵀ g first ([c_in·K, V]), then
            // ∂L/∂h[i, z] = Σ_k ∂L/∂Pt[(i, k), z − δ_k], K shifted rows per input channel.
            let wt = sized(&mut scratch.w_mirror, j_max * self.c_out);
            for o in 0..self.c_out {
                for jj in 0..j_max {
                    wt[jj * self.c_out + o] = w[o * j_max + jj];
                }
            }
            let dpt = zeroed(&mut scratch.g_patches, j_max * v);
            gemm_acc(j_max, self.c_out, v, wt, g, dpt);
            dh.fill(0.0);
            for (jj, row) in dpt.chunks_exact(v).enumerate() {
                let (i, k) = (jj / kk, jj % kk);
                shifts.add_shifted(kk - 1 - k, row, &mut scratch.doubled, &mut dh[i * v..][..v]);
            }
            return;
        }
        // W̄[i, (o, k)] = W[o, i, K − 1 − k]: offset K − 1 − k is −δ_k.
        let w_mirror = sized(&mut scratch.w_mirror, self.c_in * self.c_out * kk);
        for i in 0..self.c_in {
            for o in 0..self.c_out {
                for k in 0..kk {
                    w_mirror[(i * self.c_out + o) * kk + k] =
                        w[(o * self.c_in + i) * kk + kk - 1 - k];
                }
            }
        }
        let mirror = PeriodicConv::new(self.c_out, self.c_in, shifts);
        let g_patches = sized(&mut scratch.g_patches, self.c_out * kk * v);
        mirror.patches_with(shifts, g, g_patches, &mut scratch.doubled);
        dh.fill(0.0);
        gemm_acc(self.c_in, self.c_out * kk, v, w_mirror, g_patches, dh);
    }

    /// One configuration: `h` is `[c_in, V]`, `y` is `[c_out, V]`.
    pub fn forward(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        h: &[f64],
        y: &mut [f64],
        scratch: &mut ConvScratch,
    ) {
        let mut p = std::mem::take(&mut scratch.patches);
        self.patches(shifts, h, &mut p, scratch);
        self.forward_patches(params, &p, y);
        scratch.patches = p;
    }

    /// One configuration: given g = ∂L/∂y `[c_out, V]` and the input `h`, adds ∂L/∂params to
    /// `dparams` and writes ∂L/∂h `[c_in, V]` into `dh` (if given).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        h: &[f64],
        g: &[f64],
        dparams: &mut [f64],
        dh: Option<&mut [f64]>,
        scratch: &mut ConvScratch,
    ) {
        let mut p = std::mem::take(&mut scratch.patches);
        self.patches(shifts, h, &mut p, scratch);
        self.backward_patches(shifts, params, &p, g, dparams, dh, scratch);
        scratch.patches = p;
    }
}
