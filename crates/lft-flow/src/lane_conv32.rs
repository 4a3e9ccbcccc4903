//! The periodic convolutions of [`crate::lane_conv`] in float32, for the conditioners of
//! `flow.precision = "f32"`: the formulas are the same,
//!   `y[o, x] = b[o] + Σ_{i,k} W[o, i, k] h[i, x + δ_k]`,
//!   `∂L/∂W[o, i, k] = Σ_{x, lanes} g[o, x] h[i, x + δ_k]`,  `∂L/∂b[o] = Σ_{x, lanes} g[o, x]`,
//!   ∂L/∂h = the convolution of g with the mirrored kernel,
//! but one AVX-512 register holds sixteen float32 values: the [`LANES`] configurations of a
//! lane batch for **two channels** ([`PairLanes`]). A multiply-add then does the work of two
//! float64 ones: the weights of two output channels side by side times the input of one
//! channel broadcast to both halves. Activations are `[pairs(c), V]` of [`PairLanes`]; an odd
//! channel count leaves the upper half of its last pair zero.
//!
//! Weight gradients are summed in float32 within one lane batch (8 configurations × V sites)
//! and added to the float64 gradient, so a batch of many lane batches accumulates in float64.

use crate::conv::{KernelShifts, PeriodicConv};
use lft_lattice::LANES;

/// Two channels 2p, 2p + 1 of one site, for every lane: `[c_2p lanes 0..8, c_2p+1 lanes 0..8]`.
pub type PairLanes = [f32; 2 * LANES];

/// Pairs that hold `c` channels.
pub fn pairs(c: usize) -> usize {
    c.div_ceil(2)
}

/// Output pairs computed together (one accumulator register per pair and site).
const BLOCK: usize = 4;

/// Float32 weight layouts of one call, reused from call to call (caller-owned).
#[derive(Debug, Clone, Default)]
pub struct LaneConv32Scratch {
    /// `[c_in, K, pairs(c_out)]`: W[2p, i, k] in the lower half, W[2p + 1, i, k] in the upper.
    weights: Vec<PairLanes>,
    /// `[pairs(c_out)]`.
    bias: Vec<PairLanes>,
    /// `[c_in, K, c_out]` gradient before it is added to the parameters.
    dweights: Vec<f64>,
}

/// Channel `i` of site `s` of a pair-layout field `[pairs, V]`: eight lanes.
#[inline(always)]
fn channel(h: &[PairLanes], v: usize, i: usize, s: usize) -> &[f32] {
    &h[(i / 2) * v + s][(i % 2) * LANES..][..LANES]
}

/// `[W[2p]; 8] ++ [W[2p + 1]; 8]` for the pair p of `w(o)`, zero past `c_out`.
fn pair_of(c_out: usize, p: usize, w: impl Fn(usize) -> f64) -> PairLanes {
    let value = |o: usize| if o < c_out { w(o) as f32 } else { 0.0 };
    let (lower, upper) = (value(2 * p), value(2 * p + 1));
    let mut pair = [lower; 2 * LANES];
    pair[LANES..].fill(upper);
    pair
}

/// What one direct convolution reads: `y[p, x] = bias[p] + Σ_{i,k} weights[(i·K + k)·P + p] ⊙
/// (h[i, sites[k·V + x]] in both halves)`, P = pairs(c_out).
struct Direct32<'a> {
    c_in: usize,
    c_out: usize,
    kernel: usize,
    volume: usize,
    weights: &'a [PairLanes],
    bias: &'a [PairLanes],
    sites: &'a [u32],
}

impl Direct32<'_> {
    /// The shapes of a pass from `h` to an output of `y_len` pairs; with the weight table if
    /// `weights` (the weight gradient reads none).
    fn check(&self, h: &[PairLanes], y_len: usize, weights: bool) {
        let v = self.volume;
        assert_eq!(h.len(), pairs(self.c_in) * v, "input channels");
        assert_eq!(y_len, pairs(self.c_out) * v, "output channels");
        assert_eq!(self.sites.len(), self.kernel * v, "kernel table");
        if weights {
            let n = self.c_in * self.kernel * pairs(self.c_out);
            assert!(self.weights.len() == n && self.bias.len() == pairs(self.c_out));
        }
        // The sites table of a `KernelShifts` holds sites < V by construction.
    }

    fn run(&self, h: &[PairLanes], y: &mut [PairLanes]) {
        self.run_with(h, y, false)
    }

    /// [`Direct32::run`], with the portable loops even where AVX-512 is available if
    /// `portable`.
    fn run_with(&self, h: &[PairLanes], y: &mut [PairLanes], portable: bool) {
        self.check(h, y.len(), true);
        #[cfg(target_arch = "x86_64")]
        if !portable && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, `check` verified the shapes, and the sites of a
            // `KernelShifts` are < V.
            return unsafe { avx512::forward(self, h, y) };
        }
        let (v, kk, np) = (self.volume, self.kernel, pairs(self.c_out));
        for p in 0..np {
            for x in 0..v {
                let mut acc = self.bias[p];
                for i in 0..self.c_in {
                    for k in 0..kk {
                        let hv = channel(h, v, i, self.sites[k * v + x] as usize);
                        let w = &self.weights[(i * kk + k) * np + p];
                        for j in 0..2 * LANES {
                            acc[j] += w[j] * hv[j % LANES];
                        }
                    }
                }
                y[p * v + x] = acc;
            }
        }
    }

    /// `dw[(i·K + k)·c_out + o] += Σ_{x, lanes} g[o, x] h[i, sites[k·V + x]]`.
    fn weight_gradient(&self, h: &[PairLanes], g: &[PairLanes], dw: &mut [f64]) {
        self.weight_gradient_with(h, g, dw, false)
    }

    fn weight_gradient_with(
        &self,
        h: &[PairLanes],
        g: &[PairLanes],
        dw: &mut [f64],
        portable: bool,
    ) {
        self.check(h, g.len(), false);
        assert_eq!(dw.len(), self.c_in * self.kernel * self.c_out);
        #[cfg(target_arch = "x86_64")]
        if !portable && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: as in `run_with`.
            return unsafe { avx512::weight_gradient(self, h, g, dw) };
        }
        let (v, kk) = (self.volume, self.kernel);
        for i in 0..self.c_in {
            for k in 0..kk {
                for p in 0..pairs(self.c_out) {
                    let mut acc = [0.0f32; 2 * LANES];
                    for x in 0..v {
                        let hv = channel(h, v, i, self.sites[k * v + x] as usize);
                        let gv = &g[p * v + x];
                        for j in 0..2 * LANES {
                            acc[j] += gv[j] * hv[j % LANES];
                        }
                    }
                    self.add_pair(&acc, i, k, p, dw);
                }
            }
        }
    }

    /// Adds the lane sums of a pair accumulator to dW of its (one or two) output channels.
    fn add_pair(&self, acc: &[f32], i: usize, k: usize, p: usize, dw: &mut [f64]) {
        for (half, lanes) in acc.chunks_exact(LANES).enumerate() {
            let o = 2 * p + half;
            if o < self.c_out {
                dw[(i * self.kernel + k) * self.c_out + o] += lanes.iter().sum::<f32>() as f64;
            }
        }
    }
}

impl PeriodicConv {
    /// y `[pairs(c_out), V]` = the convolution of h `[pairs(c_in), V]` in float32.
    pub fn forward_lanes_f32(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        h: &[PairLanes],
        y: &mut [PairLanes],
        scratch: &mut LaneConv32Scratch,
    ) {
        let kk = shifts.len();
        let (c_in, c_out) = (self.c_in, self.c_out);
        let np = pairs(c_out);
        let (w, b) = params.split_at(c_out * c_in * kk);
        scratch.weights.clear();
        for ik in 0..c_in * kk {
            for p in 0..np {
                let pair = pair_of(c_out, p, |o| w[o * c_in * kk + ik]);
                scratch.weights.push(pair);
            }
        }
        scratch.bias.clear();
        scratch
            .bias
            .extend((0..np).map(|p| pair_of(c_out, p, |o| b[o])));
        Direct32 {
            c_in,
            c_out,
            kernel: kk,
            volume: shifts.volume,
            weights: &scratch.weights,
            bias: &scratch.bias,
            sites: &shifts.sites,
        }
        .run(h, y);
    }

    /// Given g = ∂L/∂y `[pairs(c_out), V]` and the input h of the forward pass: adds ∂L/∂params
    /// (summed over the lanes in float32, then in float64) to `dparams`, and writes ∂L/∂h
    /// `[pairs(c_in), V]` into `dh` if given.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_lanes_f32(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        h: &[PairLanes],
        g: &[PairLanes],
        dparams: &mut [f64],
        dh: Option<&mut [PairLanes]>,
        scratch: &mut LaneConv32Scratch,
    ) {
        let kk = shifts.len();
        let v = shifts.volume;
        let (c_in, c_out) = (self.c_in, self.c_out);
        let n_w = c_out * c_in * kk;
        let (dw, db) = dparams.split_at_mut(n_w);
        for (p, pair) in g.chunks_exact(v).enumerate() {
            let mut per_lane = [0.0f32; 2 * LANES];
            for site in pair {
                for j in 0..2 * LANES {
                    per_lane[j] += site[j];
                }
            }
            for (half, lanes) in per_lane.chunks_exact(LANES).enumerate() {
                if let Some(d) = db.get_mut(2 * p + half) {
                    *d += lanes.iter().sum::<f32>() as f64;
                }
            }
        }
        scratch.dweights.clear();
        scratch.dweights.resize(n_w, 0.0);
        let forward = Direct32 {
            c_in,
            c_out,
            kernel: kk,
            volume: v,
            weights: &[],
            bias: &[],
            sites: &shifts.sites,
        };
        forward.weight_gradient(h, g, &mut scratch.dweights);
        for o in 0..c_out {
            for ik in 0..c_in * kk {
                dw[o * c_in * kk + ik] += scratch.dweights[ik * c_out + o];
            }
        }
        let Some(dh) = dh else { return };
        let mut weights = std::mem::take(&mut scratch.weights);
        // The mirrored kernel as a forward convolution from c_out to c_in channels:
        // W̄[i, o, k] = W[o, i, K − 1 − k], pairs over i.
        let np = pairs(c_in);
        let w = &params[..n_w];
        weights.clear();
        for o in 0..c_out {
            for k in 0..kk {
                for p in 0..np {
                    let pair = pair_of(c_in, p, |i| w[(o * c_in + i) * kk + kk - 1 - k]);
                    weights.push(pair);
                }
            }
        }
        scratch.bias.clear();
        scratch.bias.resize(np, [0.0; 2 * LANES]);
        Direct32 {
            c_in: c_out,
            c_out: c_in,
            kernel: kk,
            volume: v,
            weights: &weights,
            bias: &scratch.bias,
            sites: &shifts.sites,
        }
        .run(g, dh);
        scratch.weights = weights;
    }
}

/// The kernels with AVX-512 intrinsics.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{BLOCK, Direct32, PairLanes, pairs};
    use std::arch::x86_64::*;

    /// The eight lanes of one channel at `ptr`, broadcast to both halves of a register.
    ///
    /// # Safety
    /// `ptr` points to eight readable f32.
    #[inline(always)]
    unsafe fn both_halves(ptr: *const f32) -> __m512 {
        unsafe { _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd(ptr as *const f64))) }
    }

    /// # Safety
    /// The CPU has AVX-512F; `Direct32::check` passed for `h` and `y`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn forward(d: &Direct32<'_>, h: &[PairLanes], y: &mut [PairLanes]) {
        let np = pairs(d.c_out);
        let mut p0 = 0;
        while p0 < np {
            let width = BLOCK.min(np - p0);
            // SAFETY: as for this function.
            unsafe {
                match width {
                    4 => forward_block::<4, 4>(d, p0, h, y),
                    3 => forward_block::<3, 4>(d, p0, h, y),
                    2 => forward_block::<2, 8>(d, p0, h, y),
                    _ => forward_block::<1, 8>(d, p0, h, y),
                }
            }
            p0 += width;
        }
    }

    /// Pairs p0 .. p0 + B over all sites, X sites at a time, then the rest one by one.
    ///
    /// # Safety
    /// As for [`forward`].
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_block<const B: usize, const X: usize>(
        d: &Direct32<'_>,
        p0: usize,
        h: &[PairLanes],
        y: &mut [PairLanes],
    ) {
        let v = d.volume;
        let mut x = 0;
        unsafe {
            while x + X <= v {
                forward_sites::<B, X>(d, p0, x, h, y);
                x += X;
            }
            for x in x..v {
                forward_sites::<B, 1>(d, p0, x, h, y);
            }
        }
    }

    /// Pairs p0 .. p0 + B at sites x0 .. x0 + X: B·X accumulators in registers.
    ///
    /// # Safety
    /// As for [`forward`], and x0 + X ≤ V.
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_sites<const B: usize, const X: usize>(
        d: &Direct32<'_>,
        p0: usize,
        x0: usize,
        h: &[PairLanes],
        y: &mut [PairLanes],
    ) {
        let (v, np, kk) = (d.volume, pairs(d.c_out), d.kernel);
        let (hp, yp) = (h.as_ptr() as *const f32, y.as_mut_ptr() as *mut f32);
        let (wp, bp) = (
            d.weights.as_ptr() as *const f32,
            d.bias.as_ptr() as *const f32,
        );
        unsafe {
            let mut acc: [[__m512; B]; X] =
                [std::array::from_fn(|b| _mm512_loadu_ps(bp.add((p0 + b) * 16))); X];
            for i in 0..d.c_in {
                let hi = hp.add((i / 2) * v * 16 + (i % 2) * 8);
                for k in 0..kk {
                    let sites = d.sites.as_ptr().add(k * v + x0);
                    let hv: [__m512; X] =
                        std::array::from_fn(|j| both_halves(hi.add(*sites.add(j) as usize * 16)));
                    let w = wp.add(((i * kk + k) * np + p0) * 16);
                    for b in 0..B {
                        let wb = _mm512_loadu_ps(w.add(b * 16));
                        for j in 0..X {
                            acc[j][b] = _mm512_fmadd_ps(wb, hv[j], acc[j][b]);
                        }
                    }
                }
            }
            for (j, row) in acc.iter().enumerate() {
                for (b, a) in row.iter().enumerate() {
                    _mm512_storeu_ps(yp.add(((p0 + b) * v + x0 + j) * 16), *a);
                }
            }
        }
    }

    /// # Safety
    /// The CPU has AVX-512F; `Direct32::check` passed for `h` and `g`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn weight_gradient(
        d: &Direct32<'_>,
        h: &[PairLanes],
        g: &[PairLanes],
        dw: &mut [f64],
    ) {
        let np = pairs(d.c_out);
        for i in 0..d.c_in {
            let mut k0 = 0;
            while k0 < d.kernel {
                let kc = 9.min(d.kernel - k0);
                let mut p0 = 0;
                while p0 < np {
                    let pc = 2.min(np - p0);
                    // SAFETY: as for this function.
                    unsafe {
                        match (pc, kc) {
                            (2, 9) => weight_block::<2, 9>(d, i, p0, k0, h, g, dw),
                            (1, 9) => weight_block::<1, 9>(d, i, p0, k0, h, g, dw),
                            (2, 8) => weight_block::<2, 8>(d, i, p0, k0, h, g, dw),
                            (1, 8) => weight_block::<1, 8>(d, i, p0, k0, h, g, dw),
                            (2, 7) => weight_block::<2, 7>(d, i, p0, k0, h, g, dw),
                            (1, 7) => weight_block::<1, 7>(d, i, p0, k0, h, g, dw),
                            (2, 6) => weight_block::<2, 6>(d, i, p0, k0, h, g, dw),
                            (1, 6) => weight_block::<1, 6>(d, i, p0, k0, h, g, dw),
                            (2, 5) => weight_block::<2, 5>(d, i, p0, k0, h, g, dw),
                            (1, 5) => weight_block::<1, 5>(d, i, p0, k0, h, g, dw),
                            (2, 4) => weight_block::<2, 4>(d, i, p0, k0, h, g, dw),
                            (1, 4) => weight_block::<1, 4>(d, i, p0, k0, h, g, dw),
                            (2, 3) => weight_block::<2, 3>(d, i, p0, k0, h, g, dw),
                            (1, 3) => weight_block::<1, 3>(d, i, p0, k0, h, g, dw),
                            (2, 2) => weight_block::<2, 2>(d, i, p0, k0, h, g, dw),
                            (1, 2) => weight_block::<1, 2>(d, i, p0, k0, h, g, dw),
                            (2, _) => weight_block::<2, 1>(d, i, p0, k0, h, g, dw),
                            _ => weight_block::<1, 1>(d, i, p0, k0, h, g, dw),
                        }
                    }
                    p0 += pc;
                }
                k0 += kc;
            }
        }
    }

    /// Pairs p0 .. p0 + O and offsets k0 .. k0 + K of input channel i: O·K accumulators, per
    /// site O loads of g and K broadcasts of h for O·K multiply-adds.
    ///
    /// # Safety
    /// As for [`weight_gradient`].
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn weight_block<const O: usize, const K: usize>(
        d: &Direct32<'_>,
        i: usize,
        p0: usize,
        k0: usize,
        h: &[PairLanes],
        g: &[PairLanes],
        dw: &mut [f64],
    ) {
        let v = d.volume;
        let (hp, gp) = (h.as_ptr() as *const f32, g.as_ptr() as *const f32);
        let mut acc = [[_mm512_setzero_ps(); K]; O];
        unsafe {
            let hi = hp.add((i / 2) * v * 16 + (i % 2) * 8);
            for x in 0..v {
                let gv: [__m512; O] =
                    std::array::from_fn(|b| _mm512_loadu_ps(gp.add(((p0 + b) * v + x) * 16)));
                for k in 0..K {
                    let s = *d.sites.get_unchecked((k0 + k) * v + x) as usize;
                    let hv = both_halves(hi.add(s * 16));
                    for b in 0..O {
                        acc[b][k] = _mm512_fmadd_ps(gv[b], hv, acc[b][k]);
                    }
                }
            }
        }
        let mut lanes = [0.0f32; 16];
        for (b, row) in acc.iter().enumerate() {
            for (k, a) in row.iter().enumerate() {
                // SAFETY: 16 writable f32.
                unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), *a) };
                d.add_pair(&lanes, i, k0 + k, p0 + b, dw);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lft_lattice::{Lattice, gaussian_fill, stream_rng};

    /// The AVX-512 kernels (where the CPU has them) and the portable loops agree to float32
    /// rounding, for channel counts that exercise every block width, odd counts and a 3D
    /// kernel of 27 offsets.
    #[test]
    fn vector_kernels_match_the_portable_loops() {
        for (shape, c_in, c_out) in [
            (vec![6, 5], 3, 11),
            (vec![4, 3, 5], 2, 3),
            (vec![4, 4], 8, 8),
        ] {
            let lat = Lattice::new(&shape).unwrap();
            let shifts = KernelShifts::new(&lat, 3);
            let (v, kk) = (lat.volume(), shifts.len());
            let mut rng = stream_rng(2, 0);
            let mut draw = |n: usize| {
                let mut x = vec![0.0; n];
                gaussian_fill(&mut rng, &mut x);
                x.iter().map(|&x| x as f32).collect::<Vec<f32>>()
            };
            let to_pairs = |x: Vec<f32>| -> Vec<PairLanes> {
                x.chunks_exact(2 * LANES)
                    .map(|c| c.try_into().unwrap())
                    .collect()
            };
            let weights = to_pairs(draw(c_in * kk * pairs(c_out) * 2 * LANES));
            let bias = to_pairs(draw(pairs(c_out) * 2 * LANES));
            let h = to_pairs(draw(pairs(c_in) * v * 2 * LANES));
            let g = to_pairs(draw(pairs(c_out) * v * 2 * LANES));
            let d = Direct32 {
                c_in,
                c_out,
                kernel: kk,
                volume: v,
                weights: &weights,
                bias: &bias,
                sites: &shifts.sites,
            };
            let zero = [0.0f32; 2 * LANES];
            let (mut fast, mut slow) = (vec![zero; pairs(c_out) * v], vec![zero; pairs(c_out) * v]);
            d.run_with(&h, &mut fast, false);
            d.run_with(&h, &mut slow, true);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + a.abs());
            let same = fast
                .iter()
                .flatten()
                .zip(slow.iter().flatten())
                .all(|(a, b)| close(*a as f64, *b as f64));
            assert!(same, "{shape:?}: forward");
            let n_w = c_in * kk * c_out;
            let (mut dw_fast, mut dw_slow) = (vec![0.0; n_w], vec![0.0; n_w]);
            d.weight_gradient_with(&h, &g, &mut dw_fast, false);
            d.weight_gradient_with(&h, &g, &mut dw_slow, true);
            let scale = dw_slow.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(
                dw_fast
                    .iter()
                    .zip(&dw_slow)
                    .all(|(a, b)| close(*a / scale, *b / scale)),
                "{shape:?}: dW"
            );
            assert!(scale > 1.0, "a non-trivial gradient");
        }
    }
}
