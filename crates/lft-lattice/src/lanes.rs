//! Lane-interleaved fields: [`LANES`] configurations of one lattice stored site-major,
//! `[V][LANES]`, so that one vector register holds the same site of every configuration and a
//! neighbour sum is a handful of whole-vector loads through the neighbour tables, with no
//! boundary cases. Every lane gets the same operations in the same order as the
//! one-configuration stencil ([`Lattice::neighbour_map`]), so the results are bit-identical
//! lane by lane.

use crate::{Hop, Lattice};

/// Configurations per lane-interleaved batch (one AVX-512 register of f64).
pub const LANES: usize = 8;

/// One site of [`LANES`] configurations.
pub type Lanes = [f64; LANES];

/// `a[l] += b[l]` for every lane.
#[inline(always)]
fn add_lanes(a: &mut Lanes, b: &Lanes) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// `y[x][l] += a[l] · v[x][l]` for every site and lane (a separate multiply and add, no FMA:
/// each lane rounds as the one-configuration `y += a v` does).
pub fn lane_axpy(y: &mut [Lanes], a: &Lanes, v: &[Lanes]) {
    assert_eq!(y.len(), v.len(), "batches of different volumes");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { avx512::axpy(y, a, v) };
    }
    for (ys, vs) in y.iter_mut().zip(v) {
        for l in 0..LANES {
            ys[l] += a[l] * vs[l];
        }
    }
}

/// Σ_x f[x][l]² of every lane, summed over sites in order from −0 (as `Iterator::sum` does).
pub fn lane_sum_of_squares(f: &[Lanes]) -> Lanes {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { avx512::sum_of_squares(f) };
    }
    let mut total = [-0.0; LANES];
    for site in f {
        for l in 0..LANES {
            total[l] += site[l] * site[l];
        }
    }
    total
}

/// The lane loops written with AVX-512 intrinsics: the compiler's own vectoriser turns them
/// into gathers across sites instead of one register per site.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{LANES, Lanes};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub(super) fn axpy(y: &mut [Lanes], a: &Lanes, v: &[Lanes]) {
        // SAFETY: every pointer is to a whole [f64; 8] (unaligned loads and stores).
        unsafe {
            let a = _mm512_loadu_pd(a.as_ptr());
            for (ys, vs) in y.iter_mut().zip(v) {
                let r = _mm512_add_pd(
                    _mm512_loadu_pd(ys.as_ptr()),
                    _mm512_mul_pd(a, _mm512_loadu_pd(vs.as_ptr())),
                );
                _mm512_storeu_pd(ys.as_mut_ptr(), r);
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) fn sum_of_squares(f: &[Lanes]) -> Lanes {
        let mut out = [0.0; LANES];
        // SAFETY: as in `axpy`.
        unsafe {
            let mut total = _mm512_set1_pd(-0.0);
            for site in f {
                let x = _mm512_loadu_pd(site.as_ptr());
                total = _mm512_add_pd(total, _mm512_mul_pd(x, x));
            }
            _mm512_storeu_pd(out.as_mut_ptr(), total);
        }
        out
    }
}

/// Configuration `lane` of the batch `batch` written into `out` (`[V]`).
pub fn lane_gather(batch: &[Lanes], lane: usize, out: &mut [f64]) {
    assert_eq!(batch.len(), out.len(), "field does not fit the batch");
    for (o, site) in out.iter_mut().zip(batch) {
        *o = site[lane];
    }
}

/// `field` (`[V]`) written into lane `lane` of `batch`.
pub fn lane_scatter(field: &[f64], lane: usize, batch: &mut [Lanes]) {
    assert_eq!(batch.len(), field.len(), "field does not fit the batch");
    for (site, &x) in batch.iter_mut().zip(field) {
        site[lane] = x;
    }
}

impl Lattice {
    /// `out[x][l] = term(f[x][l], n[x][l])` for every site and lane, with n the neighbour sum
    /// of [`Lattice::neighbour_sum`] (Σ_μ f(x + μ̂), or Σ_μ (f(x + μ̂) + f(x − μ̂))), added in
    /// its order (x + 0̂, x − 0̂, x + 1̂, x − 1̂, …): each lane equals
    /// [`Lattice::neighbour_map`] on that configuration bit for bit. `out` covers the sites
    /// `first_site .. first_site + out.len()`.
    pub fn lane_neighbour_map(
        &self,
        f: &[Lanes],
        out: &mut [Lanes],
        first_site: usize,
        hop: Hop,
        term: impl Fn(f64, f64) -> f64,
    ) {
        assert_eq!(f.len(), self.volume(), "field does not fit the lattice");
        assert!(first_site + out.len() <= f.len(), "sites out of range");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { self.lane_map_avx512(f, out, first_site, hop, term) };
        }
        self.lane_map(f, out, first_site, hop, term)
    }

    /// [`Lattice::lane_map`] compiled for AVX-512 (no fused multiply-adds: bit-identical).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn lane_map_avx512(
        &self,
        f: &[Lanes],
        out: &mut [Lanes],
        first_site: usize,
        hop: Hop,
        term: impl Fn(f64, f64) -> f64,
    ) {
        self.lane_map(f, out, first_site, hop, term)
    }

    /// Dispatches to the loop compiled for this dimension and hop.
    #[inline(always)]
    fn lane_map(
        &self,
        f: &[Lanes],
        out: &mut [Lanes],
        first_site: usize,
        hop: Hop,
        term: impl Fn(f64, f64) -> f64,
    ) {
        match (self.dim(), hop) {
            (1, Hop::Forward) => self.lane_map_d::<1, false>(f, out, first_site, term),
            (1, Hop::Both) => self.lane_map_d::<1, true>(f, out, first_site, term),
            (2, Hop::Forward) => self.lane_map_d::<2, false>(f, out, first_site, term),
            (2, Hop::Both) => self.lane_map_d::<2, true>(f, out, first_site, term),
            (3, Hop::Forward) => self.lane_map_d::<3, false>(f, out, first_site, term),
            (3, Hop::Both) => self.lane_map_d::<3, true>(f, out, first_site, term),
            (4, Hop::Forward) => self.lane_map_d::<4, false>(f, out, first_site, term),
            (4, Hop::Both) => self.lane_map_d::<4, true>(f, out, first_site, term),
            (d, _) => unreachable!("a lattice has 1 to 4 dimensions, not {d}"),
        }
    }

    /// The site loop for dimension `D`, with the backward neighbours if `BOTH`.
    #[inline(always)]
    fn lane_map_d<const D: usize, const BOTH: bool>(
        &self,
        f: &[Lanes],
        out: &mut [Lanes],
        first_site: usize,
        term: impl Fn(f64, f64) -> f64,
    ) {
        let sites = first_site * D..(first_site + out.len()) * D;
        let fwd = &self.fwd_table()[sites.clone()];
        let bwd = &self.bwd_table()[sites];
        // SAFETY: the neighbour tables hold sites < V, and `f` has V entries (asserted by the
        // caller), so every unchecked index is in bounds.
        let at = |x: u32| unsafe { f.get_unchecked(x as usize) };
        let sites = out
            .iter_mut()
            .zip(fwd.chunks_exact(D).zip(bwd.chunks_exact(D)));
        for (i, (o, (fw, bw))) in sites.enumerate() {
            let mut n = *at(fw[0]);
            if BOTH {
                add_lanes(&mut n, at(bw[0]));
            }
            for mu in 1..D {
                add_lanes(&mut n, at(fw[mu]));
                if BOTH {
                    add_lanes(&mut n, at(bw[mu]));
                }
            }
            let p = &f[first_site + i];
            for l in 0..LANES {
                o[l] = term(p[l], n[l]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{gaussian_fill, stream_rng};

    /// Every lane of the lane stencil equals the one-configuration stencil bit for bit, in
    /// every dimension and for both hops.
    #[test]
    fn lanes_match_the_stencil_bitwise() {
        for shape in [
            vec![6],
            vec![14, 14],
            vec![4, 3, 5],
            vec![3, 2, 4, 3],
            vec![2, 7],
        ] {
            let lat = Lattice::new(&shape).unwrap();
            let v = lat.volume();
            let mut rng = stream_rng(7, v as u64);
            let fields: Vec<Vec<f64>> = (0..LANES)
                .map(|_| {
                    let mut f = vec![0.0; v];
                    gaussian_fill(&mut rng, &mut f);
                    f
                })
                .collect();
            let mut batch = vec![[0.0; LANES]; v];
            for (l, f) in fields.iter().enumerate() {
                lane_scatter(f, l, &mut batch);
            }
            let term = |p: f64, n: f64| p * (3.0 + p * p) - 2.0 * n;
            for hop in [Hop::Forward, Hop::Both] {
                let mut lanes = vec![[0.0; LANES]; v];
                lat.lane_neighbour_map(&batch, &mut lanes, 0, hop, term);
                for (l, f) in fields.iter().enumerate() {
                    let mut want = vec![0.0; v];
                    lat.neighbour_map(f, &mut want, 0, hop, term);
                    let mut got = vec![0.0; v];
                    lane_gather(&lanes, l, &mut got);
                    let same = want
                        .iter()
                        .zip(&got)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "shape {shape:?}, {hop:?}, lane {l}");
                }
            }
        }
    }
}
