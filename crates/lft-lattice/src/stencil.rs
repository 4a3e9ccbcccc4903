//! Nearest-neighbour sums computed slice by slice with contiguous shifted adds.
//!
//! Along an axis of stride s and extent L, the forward neighbour of site x is x + s except in
//! the last layer, which wraps to x − (L−1)s. Within each block of L·s sites both cases are
//! contiguous runs, so a neighbour sum is a handful of vectorisable slice additions per axis
//! instead of a gather through index tables.

use crate::Lattice;

/// Which neighbours a sum includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// Σ_μ f(x + μ̂)
    Forward,
    /// Σ_μ (f(x + μ̂) + f(x − μ̂))
    Both,
}

#[inline]
fn add_assign(out: &mut [f64], a: &[f64]) {
    for (o, x) in out.iter_mut().zip(a) {
        *o += x;
    }
}

impl Lattice {
    /// Sites in one time slice (all sites with the same x₀): V / L₀.
    pub fn slice_volume(&self) -> usize {
        self.volume() / self.shape()[0]
    }

    /// Writes `out[i] = Σ_μ f(x + μ̂)` (or the sum over both directions) for the sites
    /// x = first_slice · V/L₀ + i, i < out.len(); `out` must cover whole time slices.
    pub fn neighbour_sum(&self, f: &[f64], out: &mut [f64], first_slice: usize, hop: Hop) {
        let sv = self.slice_volume();
        let l0 = self.shape()[0];
        assert_eq!(f.len(), self.volume(), "field does not fit the lattice");
        assert!(out.len().is_multiple_of(sv) && first_slice * sv + out.len() <= f.len());
        if self.dim() == 2 {
            return self.rows_2d(f, out, first_slice, hop, |_, hops| hops);
        }
        for (k, slice_out) in out.chunks_exact_mut(sv).enumerate() {
            let t = first_slice + k;
            let up = (t + 1) % l0;
            slice_out.copy_from_slice(&f[up * sv..(up + 1) * sv]);
            if hop == Hop::Both {
                let down = (t + l0 - 1) % l0;
                add_assign(slice_out, &f[down * sv..(down + 1) * sv]);
            }
            let slice_in = &f[t * sv..(t + 1) * sv];
            for mu in 1..self.dim() {
                self.axis_hops(slice_in, slice_out, mu, hop);
            }
        }
    }

    /// `out[i] = term(f(x), n(x))` with n(x) the neighbour sum of [`Lattice::neighbour_sum`]
    /// over the same sites; in two dimensions fused into one pass per row (time slice),
    /// adding in the same order as the general path (up, down, right, left), so the values
    /// are bit-identical to `neighbour_sum` followed by the map.
    pub fn neighbour_map(
        &self,
        f: &[f64],
        out: &mut [f64],
        first_slice: usize,
        hop: Hop,
        term: impl Fn(f64, f64) -> f64,
    ) {
        let sv = self.slice_volume();
        if self.dim() != 2 {
            self.neighbour_sum(f, out, first_slice, hop);
            let base = first_slice * sv;
            for (o, &x) in out.iter_mut().zip(&f[base..]) {
                *o = term(x, *o);
            }
            return;
        }
        assert_eq!(f.len(), self.volume(), "field does not fit the lattice");
        assert!(out.len().is_multiple_of(sv) && first_slice * sv + out.len() <= f.len());
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                return unsafe { self.rows_2d_avx512(f, out, first_slice, hop, term) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                return unsafe { self.rows_2d_avx2(f, out, first_slice, hop, term) };
            }
        }
        self.rows_2d(f, out, first_slice, hop, term);
    }

    /// [`Lattice::rows_2d`] compiled for AVX-512 (wider vectors, the same operations in the
    /// same order: no fused multiply-adds, so the results are bit-identical).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_2d_avx512(
        &self,
        f: &[f64],
        out: &mut [f64],
        first_slice: usize,
        hop: Hop,
        term: impl Fn(f64, f64) -> f64,
    ) {
        self.rows_2d(f, out, first_slice, hop, term)
    }

    /// [`Lattice::rows_2d`] compiled for AVX2 (bit-identical, as above).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn rows_2d_avx2(
        &self,
        f: &[f64],
        out: &mut [f64],
        first_slice: usize,
        hop: Hop,
        term: impl Fn(f64, f64) -> f64,
    ) {
        self.rows_2d(f, out, first_slice, hop, term)
    }

    /// The two-dimensional neighbour sums (mapped by `term`). Rows whose up and down
    /// neighbours do not wrap (1 … L₀−2) go in one contiguous pass over all their sites, the
    /// two ends of each such row are then redone with their wrapped left/right neighbours, and
    /// the rows 0 and L₀−1 go row by row.
    #[inline(always)]
    fn rows_2d(
        &self,
        f: &[f64],
        out: &mut [f64],
        first_slice: usize,
        hop: Hop,
        term: impl Fn(f64, f64) -> f64,
    ) {
        let n = self.slice_volume();
        let l0 = self.shape()[0];
        let rows = out.len() / n;
        let (t0, t1) = (first_slice.max(1), (first_slice + rows).min(l0 - 1));
        if t1 > t0 {
            let (a, b) = (t0 * n, t1 * n);
            let off = first_slice * n;
            let o = &mut out[a - off..b - off];
            match hop {
                Hop::Both => {
                    let it = o
                        .iter_mut()
                        .zip(&f[a..b])
                        .zip(&f[a + n..b + n])
                        .zip(&f[a - n..b - n])
                        .zip(&f[a + 1..b + 1])
                        .zip(&f[a - 1..b - 1]);
                    for (((((o, &x), u), d), r), l) in it {
                        *o = term(x, u + d + r + l);
                    }
                }
                Hop::Forward => {
                    let it = o
                        .iter_mut()
                        .zip(&f[a..b])
                        .zip(&f[a + n..b + n])
                        .zip(&f[a + 1..b + 1]);
                    for (((o, &x), u), r) in it {
                        *o = term(x, u + r);
                    }
                }
            }
            for t in t0..t1 {
                let (s0, s1) = (t * n, t * n + n - 1);
                let (first, last) = (s0 - off, s1 - off);
                match hop {
                    Hop::Both => {
                        out[first] = term(f[s0], f[s0 + n] + f[s0 - n] + f[s0 + 1] + f[s1]);
                        out[last] = term(f[s1], f[s1 + n] + f[s1 - n] + f[s0] + f[s1 - 1]);
                    }
                    Hop::Forward => out[last] = term(f[s1], f[s1 + n] + f[s0]),
                }
            }
        }
        for t in [0, l0 - 1] {
            if (first_slice..first_slice + rows).contains(&t) {
                let o = &mut out[(t - first_slice) * n..(t - first_slice + 1) * n];
                self.row_2d(f, o, t, hop, &term);
            }
        }
    }

    /// One row t of [`Lattice::rows_2d`], with wrapped up and down neighbours.
    #[inline(always)]
    fn row_2d(
        &self,
        f: &[f64],
        o: &mut [f64],
        t: usize,
        hop: Hop,
        term: &impl Fn(f64, f64) -> f64,
    ) {
        let n = self.slice_volume();
        let l0 = self.shape()[0];
        let row_of = |t: usize| &f[t * n..(t + 1) * n];
        let up = row_of(if t + 1 == l0 { 0 } else { t + 1 });
        let row = row_of(t);
        match hop {
            Hop::Both => {
                let down = row_of(if t == 0 { l0 - 1 } else { t - 1 });
                let interior = o[1..n - 1]
                    .iter_mut()
                    .zip(&row[1..n - 1])
                    .zip(&up[1..n - 1])
                    .zip(&down[1..n - 1])
                    .zip(&row[2..])
                    .zip(&row[..n - 2]);
                for (((((o, &x), u), d), r), l) in interior {
                    *o = term(x, u + d + r + l);
                }
                o[0] = term(row[0], up[0] + down[0] + row[1] + row[n - 1]);
                o[n - 1] = term(row[n - 1], up[n - 1] + down[n - 1] + row[0] + row[n - 2]);
            }
            Hop::Forward => {
                let interior = o[..n - 1]
                    .iter_mut()
                    .zip(&row[..n - 1])
                    .zip(&up[..n - 1])
                    .zip(&row[1..]);
                for (((o, &x), u), r) in interior {
                    *o = term(x, u + r);
                }
                o[n - 1] = term(row[n - 1], up[n - 1] + row[0]);
            }
        }
    }

    /// Adds the neighbours along axis μ ≥ 1 within one time slice.
    fn axis_hops(&self, f: &[f64], out: &mut [f64], mu: usize, hop: Hop) {
        let l = self.shape()[mu];
        let s: usize = self.shape()[mu + 1..].iter().product();
        let block = l * s;
        let inner = (l - 1) * s;
        for (fb, ob) in f.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
            // Forward: x + s inside the block, the last layer wraps to the first.
            add_assign(&mut ob[..inner], &fb[s..]);
            add_assign(&mut ob[inner..], &fb[..s]);
            if hop == Hop::Both {
                // Backward: x − s inside the block, the first layer wraps to the last.
                add_assign(&mut ob[s..], &fb[..inner]);
                add_assign(&mut ob[..s], &fb[inner..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The stencil equals the sum through the neighbour tables, for any shape and any
        /// slice-aligned range.
        #[test]
        fn stencil_matches_neighbour_tables(
            shape in prop::collection::vec(2usize..6, 1..=4),
            seed in 0u64..1000,
            split in 0usize..6,
        ) {
            let lat = Lattice::new(&shape).unwrap();
            let v = lat.volume();
            let f: Vec<f64> = (0..v).map(|i| ((i as u64 * 2654435761 + seed) % 1000) as f64 / 7.0).collect();
            let d = lat.dim();
            for hop in [Hop::Forward, Hop::Both] {
                let expect: Vec<f64> = (0..v)
                    .map(|x| (0..d).map(|mu| {
                        f[lat.fwd(x, mu)] + if hop == Hop::Both { f[lat.bwd(x, mu)] } else { 0.0 }
                    }).sum())
                    .collect();
                let l0 = shape[0];
                let cut = split.min(l0) * lat.slice_volume();
                let mut out = vec![f64::NAN; v];
                let (a, b) = out.split_at_mut(cut);
                lat.neighbour_sum(&f, a, 0, hop);
                lat.neighbour_sum(&f, b, split.min(l0), hop);
                for x in 0..v {
                    prop_assert!((out[x] - expect[x]).abs() < 1e-9, "site {} {:?}", x, hop);
                }
                // The fused map equals the sum followed by the map, bit for bit.
                let term = |p: f64, n: f64| p * (1.5 + p * p) - 2.0 * n;
                let mut mapped = vec![f64::NAN; v];
                lat.neighbour_map(&f, &mut mapped, 0, hop, term);
                let direct: Vec<f64> = (0..v).map(|x| term(f[x], out[x])).collect();
                prop_assert_eq!(mapped, direct);
            }
        }
    }
}
