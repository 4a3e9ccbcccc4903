//! The staggered Dirac operator D = K + m + gφ, matrix-free.
//!
//!   (D v)_x  = (m + g φ_x) v_x + Σ_y K_{xy} v_y
//!   (Dᵀ v)_x = (m + g φ_x) v_x − Σ_y K_{xy} v_y      (K is antisymmetric)
//!
//! and D Dᵀ = D (Dᵀ v). Real and complex vectors alike; sites in parallel on large lattices.

use crate::{FermionScalar, Staggered};
use faer::Mat;
use rayon::prelude::*;

/// Lattices with at least this many sites apply D in parallel over sites (below it the work
/// per call is a few microseconds and threads cost more than they give).
pub const PARALLEL_SITES: usize = 1 << 14;

/// D(φ) = K + m + gφ for one scalar configuration φ.
#[derive(Debug, Clone, Copy)]
pub struct Dirac<'a> {
    staggered: &'a Staggered,
    mass: f64,
    g: f64,
    phi: &'a [f64],
}

impl<'a> Dirac<'a> {
    /// The operator at scalar field `phi` (`[V]`), bare mass `mass` and Yukawa coupling `g`.
    pub fn new(staggered: &'a Staggered, mass: f64, g: f64, phi: &'a [f64]) -> Self {
        assert_eq!(
            phi.len(),
            staggered.volume(),
            "scalar field does not fit the lattice"
        );
        Self {
            staggered,
            mass,
            g,
            phi,
        }
    }

    pub fn staggered(&self) -> &'a Staggered {
        self.staggered
    }

    pub fn volume(&self) -> usize {
        self.staggered.volume()
    }

    pub fn mass(&self) -> f64 {
        self.mass
    }

    pub fn g(&self) -> f64 {
        self.g
    }

    pub fn phi(&self) -> &'a [f64] {
        self.phi
    }

    /// The diagonal M_x = m + g φ_x.
    #[inline]
    pub fn diagonal(&self, x: usize) -> f64 {
        self.mass + self.g * self.phi[x]
    }

    /// out = D v.
    pub fn apply<T: FermionScalar>(&self, v: &[T], out: &mut [T]) {
        self.apply_signed(v, out, 1.0);
    }

    /// out = Dᵀ v.
    pub fn apply_transpose<T: FermionScalar>(&self, v: &[T], out: &mut [T]) {
        self.apply_signed(v, out, -1.0);
    }

    /// out = D Dᵀ v, with `tmp` (`[V]`) as scratch.
    pub fn apply_ddt<T: FermionScalar>(&self, v: &[T], out: &mut [T], tmp: &mut [T]) {
        self.apply_transpose(v, tmp);
        self.apply(tmp, out);
    }

    /// out = (M + s K) v with s = ±1.
    fn apply_signed<T: FermionScalar>(&self, v: &[T], out: &mut [T], sign: f64) {
        let n = self.volume();
        assert!(
            v.len() == n && out.len() == n,
            "fermion vector does not fit the lattice"
        );
        if n >= PARALLEL_SITES {
            const CHUNK: usize = 1024;
            out.par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(c, out)| self.apply_range(v, out, c * CHUNK, sign));
        } else {
            self.apply_range(v, out, 0, sign);
        }
    }

    /// out[i] = ((M + s K) v)_{first + i}.
    #[inline]
    fn apply_range<T: FermionScalar>(&self, v: &[T], out: &mut [T], first: usize, sign: f64) {
        let hops = self.staggered.hops();
        let (nb, c) = self.staggered.tables();
        let nb = &nb[first * hops..(first + out.len()) * hops];
        let c = &c[first * hops..(first + out.len()) * hops];
        for (i, ((o, nb), c)) in out
            .iter_mut()
            .zip(nb.chunks_exact(hops))
            .zip(c.chunks_exact(hops))
            .enumerate()
        {
            let x = first + i;
            let mut hop = T::default();
            for (&y, &c) in nb.iter().zip(c) {
                hop += v[y as usize] * c;
            }
            *o = v[x] * self.diagonal(x) + hop * sign;
        }
    }

    /// The dense V×V matrix D (for small lattices: LU, eigenvalues, checks).
    pub fn dense(&self) -> Mat<f64> {
        let n = self.volume();
        let mut d = Mat::<f64>::zeros(n, n);
        for x in 0..n {
            d[(x, x)] += self.diagonal(x);
            let (nb, c) = self.staggered.hops_of(x);
            for (&y, &c) in nb.iter().zip(c) {
                d[(x, y as usize)] += c;
            }
        }
        d
    }
}

/// out_i = D(φ_i) v_i for every configuration of a batch: `phis`, `v` and `out` are `[n, V]`.
/// Parallel over configurations.
pub fn apply_batch<T: FermionScalar>(
    staggered: &Staggered,
    mass: f64,
    g: f64,
    phis: &[f64],
    v: &[T],
    out: &mut [T],
) {
    let n = staggered.volume();
    assert!(
        phis.len() == v.len() && v.len() == out.len() && v.len().is_multiple_of(n),
        "batch shape mismatch"
    );
    out.par_chunks_exact_mut(n)
        .zip(v.par_chunks_exact(n))
        .zip(phis.par_chunks_exact(n))
        .for_each(|((out, v), phi)| Dirac::new(staggered, mass, g, phi).apply(v, out));
}
