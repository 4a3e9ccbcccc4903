//! Periodic convolutions of [`LANES`] configurations at once, computed directly (no patches):
//! fields are `[c, V]` of [`Lanes`], one vector register per site and channel, so every
//! multiply-add works on eight configurations and the neighbour x + δ_k is one whole-vector
//! load through the table [`KernelShifts`] keeps. For the small channel counts of coupling
//! conditioners this beats im2col and a matrix product several times over.
//!
//! The formulas are those of [`crate::conv`]:
//!   y[o, x] = b[o] + Σ_{i,k} W[o, i, k] h[i, x + δ_k],
//!   ∂L/∂W[o, i, k] = Σ_x g[o, x] h[i, x + δ_k] (summed over lanes too), ∂L/∂b[o] = Σ_x g[o, x],
//!   ∂L/∂h[i, z] = Σ_{o,k} W[o, i, k] g[o, z − δ_k]   (a convolution with the mirrored kernel,
//!   offset K − 1 − k being −δ_k).
//! With AVX-512 the sums use fused multiply-adds, so results agree with the one-configuration
//! path to rounding, not bit for bit.

use crate::conv::{KernelShifts, PeriodicConv};
use lft_lattice::{LANES, Lanes};

/// Whether the lane kernels run on vector instructions here (AVX-512), rather than on the
/// portable loops.
pub fn vectorised() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Output channels computed together (one accumulator register each).
const BLOCK: usize = 8;

/// Weight layouts of one call, reused from call to call (caller-owned).
#[derive(Debug, Clone, Default)]
pub struct LaneConvScratch {
    /// `[c_in, K, c_out]`.
    weights: Vec<f64>,
    /// `[c_in, K, c_out]` gradient before it is added to the parameters.
    dweights: Vec<f64>,
    zeros: Vec<f64>,
    /// The layouts of the float32 convolutions.
    pub(crate) f32: crate::lane_conv32::LaneConv32Scratch,
}

/// What one direct convolution reads: `y[o, x] = bias[o] + Σ_{i,k} w[(i·K + k)·c_out + o]
/// h[i, sites[k·V + x]]`.
struct Direct<'a> {
    c_in: usize,
    c_out: usize,
    kernel: usize,
    volume: usize,
    /// `[c_in, K, c_out]`.
    weights: &'a [f64],
    bias: &'a [f64],
    sites: &'a [u32],
}

impl Direct<'_> {
    fn run(&self, h: &[Lanes], y: &mut [Lanes]) {
        self.run_with(h, y, false)
    }

    /// [`Direct::run`], with the portable loops even where AVX-512 is available if `portable`.
    fn run_with(&self, h: &[Lanes], y: &mut [Lanes], portable: bool) {
        assert_eq!(h.len(), self.c_in * self.volume, "input channels");
        assert_eq!(y.len(), self.c_out * self.volume, "output channels");
        assert_eq!(self.sites.len(), self.kernel * self.volume, "kernel table");
        let mut o0 = 0;
        while o0 < self.c_out {
            let width = BLOCK.min(self.c_out - o0);
            match width {
                8 => self.block::<8>(o0, h, y, portable),
                7 => self.block::<7>(o0, h, y, portable),
                6 => self.block::<6>(o0, h, y, portable),
                5 => self.block::<5>(o0, h, y, portable),
                4 => self.block::<4>(o0, h, y, portable),
                3 => self.block::<3>(o0, h, y, portable),
                2 => self.block::<2>(o0, h, y, portable),
                _ => self.block::<1>(o0, h, y, portable),
            }
            o0 += width;
        }
    }

    /// Output channels o0 .. o0 + B.
    fn block<const B: usize>(&self, o0: usize, h: &[Lanes], y: &mut [Lanes], portable: bool) {
        #[cfg(target_arch = "x86_64")]
        if !portable && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; `run` checked the shapes, and the sites table of
            // a `KernelShifts` holds sites < V by construction.
            return unsafe { avx512::forward_block::<B>(self, o0, h, y) };
        }
        let v = self.volume;
        for x in 0..v {
            let mut acc: [Lanes; B] = std::array::from_fn(|b| [self.bias[o0 + b]; LANES]);
            for i in 0..self.c_in {
                for k in 0..self.kernel {
                    let hv = &h[i * v + self.sites[k * v + x] as usize];
                    let w = &self.weights[(i * self.kernel + k) * self.c_out + o0..];
                    for b in 0..B {
                        for l in 0..LANES {
                            acc[b][l] += w[b] * hv[l];
                        }
                    }
                }
            }
            for (b, a) in acc.iter().enumerate() {
                y[(o0 + b) * v + x] = *a;
            }
        }
    }
}

/// `dw[(i·K + k)·c_out + o] += Σ_{x, lanes} g[o, x] h[i, sites[k·V + x]]`.
fn weight_gradient(d: &Direct<'_>, h: &[Lanes], g: &[Lanes], dw: &mut [f64]) {
    weight_gradient_with(d, h, g, dw, false)
}

/// [`weight_gradient`], with the portable loops even where AVX-512 is available if `portable`.
fn weight_gradient_with(d: &Direct<'_>, h: &[Lanes], g: &[Lanes], dw: &mut [f64], portable: bool) {
    assert_eq!(h.len(), d.c_in * d.volume, "input channels");
    assert_eq!(g.len(), d.c_out * d.volume, "output channels");
    assert_eq!(dw.len(), d.c_in * d.kernel * d.c_out);
    #[cfg(target_arch = "x86_64")]
    if !portable && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; the sites were checked when the table was built and
        // the shapes above.
        return unsafe { avx512::weight_gradient(d, h, g, dw) };
    }
    let v = d.volume;
    for i in 0..d.c_in {
        for k in 0..d.kernel {
            let sites = &d.sites[k * v..(k + 1) * v];
            for o in 0..d.c_out {
                let mut acc = [0.0; LANES];
                for (x, &s) in sites.iter().enumerate() {
                    let (gv, hv) = (&g[o * v + x], &h[i * v + s as usize]);
                    for l in 0..LANES {
                        acc[l] += gv[l] * hv[l];
                    }
                }
                dw[(i * d.kernel + k) * d.c_out + o] += acc.iter().sum::<f64>();
            }
        }
    }
}

impl PeriodicConv {
    /// y `[c_out, V]` = the convolution of h `[c_in, V]`, every lane a configuration.
    pub fn forward_lanes(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        h: &[Lanes],
        y: &mut [Lanes],
        scratch: &mut LaneConvScratch,
    ) {
        let kk = shifts.len();
        assert_eq!(h.len(), self.c_in * shifts.volume, "input channels");
        let (w, b) = params.split_at(self.c_out * self.c_in * kk);
        let wt = &mut scratch.weights;
        wt.resize(w.len(), 0.0);
        for o in 0..self.c_out {
            for ik in 0..self.c_in * kk {
                wt[ik * self.c_out + o] = w[o * self.c_in * kk + ik];
            }
        }
        Direct {
            c_in: self.c_in,
            c_out: self.c_out,
            kernel: kk,
            volume: h.len() / self.c_in,
            weights: wt,
            bias: b,
            sites: &shifts.sites,
        }
        .run(h, y);
    }

    /// Given g = ∂L/∂y `[c_out, V]` and the input h of the forward pass: adds ∂L/∂params
    /// (summed over the lanes) to `dparams`, and writes ∂L/∂h `[c_in, V]` into `dh` if given.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_lanes(
        &self,
        shifts: &KernelShifts,
        params: &[f64],
        h: &[Lanes],
        g: &[Lanes],
        dparams: &mut [f64],
        dh: Option<&mut [Lanes]>,
        scratch: &mut LaneConvScratch,
    ) {
        let kk = shifts.len();
        let v = shifts.volume;
        assert_eq!(h.len(), self.c_in * v, "input channels");
        let n_w = self.c_out * self.c_in * kk;
        let (dw, db) = dparams.split_at_mut(n_w);
        for (o, dbo) in db.iter_mut().enumerate() {
            let mut per_lane = [0.0; LANES];
            for site in &g[o * v..(o + 1) * v] {
                for l in 0..LANES {
                    per_lane[l] += site[l];
                }
            }
            *dbo += per_lane.iter().sum::<f64>();
        }
        scratch.dweights.clear();
        scratch.dweights.resize(n_w, 0.0);
        scratch.zeros.clear();
        scratch.zeros.resize(self.c_out.max(self.c_in), 0.0);
        let forward = Direct {
            c_in: self.c_in,
            c_out: self.c_out,
            kernel: kk,
            volume: v,
            weights: &[],
            bias: &[],
            sites: &shifts.sites,
        };
        weight_gradient(&forward, h, g, &mut scratch.dweights);
        for o in 0..self.c_out {
            for ik in 0..self.c_in * kk {
                dw[o * self.c_in * kk + ik] += scratch.dweights[ik * self.c_out + o];
            }
        }
        let Some(dh) = dh else { return };
        // The mirrored kernel as a forward convolution from c_out to c_in channels:
        // W̄[(o·K + k)·c_in + i] = W[o, i, K − 1 − k].
        let w = &params[..n_w];
        let wt = &mut scratch.weights;
        wt.resize(n_w, 0.0);
        for o in 0..self.c_out {
            for i in 0..self.c_in {
                for k in 0..kk {
                    wt[(o * kk + k) * self.c_in + i] = w[(o * self.c_in + i) * kk + kk - 1 - k];
                }
            }
        }
        Direct {
            c_in: self.c_out,
            c_out: self.c_in,
            kernel: kk,
            volume: v,
            weights: wt,
            bias: &scratch.zeros[..self.c_in],
            sites: &shifts.sites,
        }
        .run(g, dh);
    }
}

/// The kernels with AVX-512 intrinsics (the compiler's vectoriser would gather across sites
/// instead of keeping one register per site).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Direct;
    use lft_lattice::Lanes;
    use std::arch::x86_64::*;

    /// Output channels o0 .. o0 + B, sites in groups of X = 16 / B (at most 8) sharing each
    /// weight broadcast, the rest one by one.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `h`, `y` and the sites table fit `d` (checked by `Direct::run`).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn forward_block<const B: usize>(
        d: &Direct<'_>,
        o0: usize,
        h: &[Lanes],
        y: &mut [Lanes],
    ) {
        let v = d.volume;
        let mut x = 0;
        // SAFETY: as for this function.
        unsafe {
            match B {
                1 | 2 => {
                    while x + 8 <= v {
                        forward_sites::<B, 8>(d, o0, x, h, y);
                        x += 8;
                    }
                }
                3 | 4 => {
                    while x + 4 <= v {
                        forward_sites::<B, 4>(d, o0, x, h, y);
                        x += 4;
                    }
                }
                _ => {
                    while x + 2 <= v {
                        forward_sites::<B, 2>(d, o0, x, h, y);
                        x += 2;
                    }
                }
            }
            for x in x..v {
                forward_sites::<B, 1>(d, o0, x, h, y);
            }
        }
    }

    /// Outputs o0 .. o0 + B at the sites x0 .. x0 + X: B·X accumulators in registers.
    ///
    /// # Safety
    /// As for [`forward_block`], and x0 + X ≤ V.
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_sites<const B: usize, const X: usize>(
        d: &Direct<'_>,
        o0: usize,
        x0: usize,
        h: &[Lanes],
        y: &mut [Lanes],
    ) {
        let v = d.volume;
        let (hp, yp) = (h.as_ptr() as *const f64, y.as_mut_ptr() as *mut f64);
        unsafe {
            let mut acc: [[__m512d; B]; X] =
                [std::array::from_fn(|b| _mm512_set1_pd(*d.bias.get_unchecked(o0 + b))); X];
            for i in 0..d.c_in {
                let hi = hp.add(i * v * 8);
                for k in 0..d.kernel {
                    let sites = d.sites.as_ptr().add(k * v + x0);
                    let hv: [__m512d; X] = std::array::from_fn(|j| {
                        _mm512_loadu_pd(hi.add(*sites.add(j) as usize * 8))
                    });
                    let w = d.weights.as_ptr().add((i * d.kernel + k) * d.c_out + o0);
                    for b in 0..B {
                        let wb = _mm512_set1_pd(*w.add(b));
                        for j in 0..X {
                            acc[j][b] = _mm512_fmadd_pd(wb, hv[j], acc[j][b]);
                        }
                    }
                }
            }
            for (j, row) in acc.iter().enumerate() {
                for (b, a) in row.iter().enumerate() {
                    _mm512_storeu_pd(yp.add(((o0 + b) * v + x0 + j) * 8), *a);
                }
            }
        }
    }

    /// # Safety
    /// The CPU has AVX-512F; the shapes were checked by the caller.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn weight_gradient(d: &Direct<'_>, h: &[Lanes], g: &[Lanes], dw: &mut [f64]) {
        for i in 0..d.c_in {
            let mut k0 = 0;
            while k0 < d.kernel {
                let kc = 9.min(d.kernel - k0);
                let mut o0 = 0;
                while o0 < d.c_out {
                    let oc = 2.min(d.c_out - o0);
                    // SAFETY: as for this function.
                    unsafe {
                        match (oc, kc) {
                            (2, 9) => weight_block::<2, 9>(d, i, o0, k0, h, g, dw),
                            (1, 9) => weight_block::<1, 9>(d, i, o0, k0, h, g, dw),
                            (2, 8) => weight_block::<2, 8>(d, i, o0, k0, h, g, dw),
                            (1, 8) => weight_block::<1, 8>(d, i, o0, k0, h, g, dw),
                            (2, 7) => weight_block::<2, 7>(d, i, o0, k0, h, g, dw),
                            (1, 7) => weight_block::<1, 7>(d, i, o0, k0, h, g, dw),
                            (2, 6) => weight_block::<2, 6>(d, i, o0, k0, h, g, dw),
                            (1, 6) => weight_block::<1, 6>(d, i, o0, k0, h, g, dw),
                            (2, 5) => weight_block::<2, 5>(d, i, o0, k0, h, g, dw),
                            (1, 5) => weight_block::<1, 5>(d, i, o0, k0, h, g, dw),
                            (2, 4) => weight_block::<2, 4>(d, i, o0, k0, h, g, dw),
                            (1, 4) => weight_block::<1, 4>(d, i, o0, k0, h, g, dw),
                            (2, 3) => weight_block::<2, 3>(d, i, o0, k0, h, g, dw),
                            (1, 3) => weight_block::<1, 3>(d, i, o0, k0, h, g, dw),
                            (2, 2) => weight_block::<2, 2>(d, i, o0, k0, h, g, dw),
                            (1, 2) => weight_block::<1, 2>(d, i, o0, k0, h, g, dw),
                            (2, _) => weight_block::<2, 1>(d, i, o0, k0, h, g, dw),
                            _ => weight_block::<1, 1>(d, i, o0, k0, h, g, dw),
                        }
                    }
                    o0 += oc;
                }
                k0 += kc;
            }
        }
    }

    /// Outputs o0 .. o0 + O and offsets k0 .. k0 + K of input channel i, O·K accumulators in
    /// registers: per site O loads of g and K of h for O·K multiply-adds.
    ///
    /// # Safety
    /// As for [`weight_gradient`].
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn weight_block<const O: usize, const K: usize>(
        d: &Direct<'_>,
        i: usize,
        o0: usize,
        k0: usize,
        h: &[Lanes],
        g: &[Lanes],
        dw: &mut [f64],
    ) {
        let v = d.volume;
        let (hp, gp) = (h.as_ptr() as *const f64, g.as_ptr() as *const f64);
        let mut acc = [[_mm512_setzero_pd(); K]; O];
        unsafe {
            let hi = hp.add(i * v * 8);
            for x in 0..v {
                let gv: [__m512d; O] =
                    std::array::from_fn(|b| _mm512_loadu_pd(gp.add(((o0 + b) * v + x) * 8)));
                for k in 0..K {
                    let s = *d.sites.get_unchecked((k0 + k) * v + x) as usize;
                    let hv = _mm512_loadu_pd(hi.add(s * 8));
                    for b in 0..O {
                        acc[b][k] = _mm512_fmadd_pd(gv[b], hv, acc[b][k]);
                    }
                }
            }
        }
        for (b, row) in acc.iter().enumerate() {
            for (k, a) in row.iter().enumerate() {
                dw[(i * d.kernel + k0 + k) * d.c_out + o0 + b] += _mm512_reduce_add_pd(*a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lft_lattice::{Lattice, gaussian_fill, stream_rng};

    /// The AVX-512 kernels (where the CPU has them) and the portable loops agree to rounding,
    /// for channel counts that exercise every block width and a 3D kernel of 27 offsets.
    #[test]
    fn vector_kernels_match_the_portable_loops() {
        for (shape, c_in, c_out) in [(vec![6, 5], 3, 11), (vec![4, 3, 5], 2, 3)] {
            let lat = Lattice::new(&shape).unwrap();
            let shifts = KernelShifts::new(&lat, 3);
            let (v, kk) = (lat.volume(), shifts.len());
            let mut rng = stream_rng(2, 0);
            let mut draw = |n: usize| {
                let mut x = vec![0.0; n];
                gaussian_fill(&mut rng, &mut x);
                x
            };
            let weights = draw(c_in * kk * c_out);
            let bias = draw(c_out);
            let to_lanes = |x: Vec<f64>| -> Vec<Lanes> {
                x.chunks_exact(LANES)
                    .map(|c| c.try_into().unwrap())
                    .collect()
            };
            let h = to_lanes(draw(c_in * v * LANES));
            let g = to_lanes(draw(c_out * v * LANES));
            let d = Direct {
                c_in,
                c_out,
                kernel: kk,
                volume: v,
                weights: &weights,
                bias: &bias,
                sites: &shifts.sites,
            };
            let (mut fast, mut slow) =
                (vec![[0.0; LANES]; c_out * v], vec![[0.0; LANES]; c_out * v]);
            d.run_with(&h, &mut fast, false);
            d.run_with(&h, &mut slow, true);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + a.abs());
            let same = fast
                .iter()
                .flatten()
                .zip(slow.iter().flatten())
                .all(|(a, b)| close(*a, *b));
            assert!(same, "{shape:?}: forward");
            let (mut dw_fast, mut dw_slow) = (vec![0.0; weights.len()], vec![0.0; weights.len()]);
            weight_gradient_with(&d, &h, &g, &mut dw_fast, false);
            weight_gradient_with(&d, &h, &g, &mut dw_slow, true);
            assert!(
                dw_fast.iter().zip(&dw_slow).all(|(a, b)| close(*a, *b)),
                "{shape:?}: dW"
            );
            assert!(
                dw_slow.iter().any(|x| x.abs() > 1.0),
                "a non-trivial gradient"
            );
        }
    }
}
