//! Periodic lattice geometry: site index <-> coordinates, neighbour tables, even/odd parity.

use thiserror::Error;

/// Largest supported number of dimensions.
pub const MAX_DIM: usize = 4;

/// Why a lattice shape was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LatticeError {
    #[error("lattice shape must have between 1 and {MAX_DIM} entries, got {0}")]
    BadDimension(usize),
    #[error("lattice shape entry {axis} is {extent}: every extent must be at least 2")]
    ExtentTooSmall { axis: usize, extent: usize },
    #[error("lattice volume overflows (shape {0:?})")]
    TooLarge(Vec<usize>),
}

/// Even or odd site: parity of Σ_μ x_μ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parity {
    Even,
    Odd,
}

/// A periodic hypercubic lattice of shape `[L0, ..., L_{d-1}]`.
///
/// Neighbour tables are built once: `fwd(x, μ)` is the site x + μ̂ and `bwd(x, μ)` is x − μ̂,
/// both with periodic wrap-around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lattice {
    shape: Vec<usize>,
    strides: Vec<usize>,
    volume: usize,
    fwd: Vec<u32>,
    bwd: Vec<u32>,
}

impl Lattice {
    /// A lattice of the given shape; 1 ≤ d ≤ 4 and every extent ≥ 2.
    pub fn new(shape: &[usize]) -> Result<Self, LatticeError> {
        if shape.is_empty() || shape.len() > MAX_DIM {
            return Err(LatticeError::BadDimension(shape.len()));
        }
        if let Some((axis, &extent)) = shape.iter().enumerate().find(|&(_, &l)| l < 2) {
            return Err(LatticeError::ExtentTooSmall { axis, extent });
        }
        let volume = shape
            .iter()
            .try_fold(1usize, |v, &l| v.checked_mul(l))
            .filter(|&v| v <= u32::MAX as usize)
            .ok_or_else(|| LatticeError::TooLarge(shape.to_vec()))?;
        let d = shape.len();
        let mut strides = vec![1usize; d];
        for mu in (0..d.saturating_sub(1)).rev() {
            strides[mu] = strides[mu + 1] * shape[mu + 1];
        }
        let mut fwd = vec![0u32; volume * d];
        let mut bwd = vec![0u32; volume * d];
        let mut coords = vec![0usize; d];
        for x in 0..volume {
            for mu in 0..d {
                let c = coords[mu];
                let up = if c + 1 == shape[mu] {
                    x - c * strides[mu]
                } else {
                    x + strides[mu]
                };
                let down = if c == 0 {
                    x + (shape[mu] - 1) * strides[mu]
                } else {
                    x - strides[mu]
                };
                fwd[x * d + mu] = up as u32;
                bwd[x * d + mu] = down as u32;
            }
            // Advance the lexicographic counter (last axis fastest).
            for mu in (0..d).rev() {
                coords[mu] += 1;
                if coords[mu] < shape[mu] {
                    break;
                }
                coords[mu] = 0;
            }
        }
        Ok(Self {
            shape: shape.to_vec(),
            strides,
            volume,
            fwd,
            bwd,
        })
    }

    /// Number of dimensions d.
    pub fn dim(&self) -> usize {
        self.shape.len()
    }

    /// Extents `[L0, ..., L_{d-1}]`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of sites V = Π_μ L_μ.
    pub fn volume(&self) -> usize {
        self.volume
    }

    /// Site index of coordinates: Σ_μ x_μ · stride_μ (coordinates are taken modulo L_μ).
    pub fn index(&self, coords: &[usize]) -> usize {
        debug_assert_eq!(coords.len(), self.dim());
        coords
            .iter()
            .zip(&self.shape)
            .zip(&self.strides)
            .map(|((&c, &l), &s)| (c % l) * s)
            .sum()
    }

    /// Coordinates of a site, written into `out` (length d).
    pub fn coords_into(&self, site: usize, out: &mut [usize]) {
        for mu in 0..self.dim() {
            out[mu] = (site / self.strides[mu]) % self.shape[mu];
        }
    }

    /// Coordinates of a site.
    pub fn coords(&self, site: usize) -> Vec<usize> {
        let mut c = vec![0; self.dim()];
        self.coords_into(site, &mut c);
        c
    }

    /// The site x + μ̂ (periodic).
    #[inline]
    pub fn fwd(&self, site: usize, mu: usize) -> usize {
        self.fwd[site * self.dim() + mu] as usize
    }

    /// The site x − μ̂ (periodic).
    #[inline]
    pub fn bwd(&self, site: usize, mu: usize) -> usize {
        self.bwd[site * self.dim() + mu] as usize
    }

    /// Forward neighbour table, `[V, d]` row-major: entry `x*d + μ` is x + μ̂.
    pub fn fwd_table(&self) -> &[u32] {
        &self.fwd
    }

    /// Backward neighbour table, `[V, d]` row-major: entry `x*d + μ` is x − μ̂.
    pub fn bwd_table(&self) -> &[u32] {
        &self.bwd
    }

    /// Parity of Σ_μ x_μ.
    pub fn parity(&self, site: usize) -> Parity {
        let s: usize = (0..self.dim())
            .map(|mu| (site / self.strides[mu]) % self.shape[mu])
            .sum();
        if s.is_multiple_of(2) {
            Parity::Even
        } else {
            Parity::Odd
        }
    }

    /// All sites of one parity, in increasing order.
    pub fn sites_of_parity(&self, parity: Parity) -> Vec<usize> {
        (0..self.volume)
            .filter(|&x| self.parity(x) == parity)
            .collect()
    }

    /// The site reached from `site` by the displacement `shift` (periodic): x + Σ_μ shift_μ μ̂.
    pub fn shifted(&self, site: usize, shift: &[usize]) -> usize {
        let mut c = self.coords(site);
        for (ci, (&s, &l)) in c.iter_mut().zip(shift.iter().zip(&self.shape)) {
            *ci = (*ci + s) % l;
        }
        self.index(&c)
    }

    /// The site −x (periodic): every coordinate c_μ ↦ (L_μ − c_μ) mod L_μ. For a momentum
    /// index laid out like a site, the index of −p.
    pub fn negated(&self, site: usize) -> usize {
        let mut c = self.coords(site);
        for (ci, &l) in c.iter_mut().zip(&self.shape) {
            *ci = (l - *ci) % l;
        }
        self.index(&c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// −x shifted by x is the origin, and −(−x) = x.
    #[test]
    fn negation_is_the_periodic_inverse() {
        let lat = Lattice::new(&[3, 4, 2]).unwrap();
        for x in 0..lat.volume() {
            let minus = lat.negated(x);
            assert_eq!(lat.shifted(minus, &lat.coords(x)), 0);
            assert_eq!(lat.negated(minus), x);
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        assert_eq!(Lattice::new(&[]), Err(LatticeError::BadDimension(0)));
        assert_eq!(Lattice::new(&[4; 5]), Err(LatticeError::BadDimension(5)));
        assert_eq!(
            Lattice::new(&[4, 1]),
            Err(LatticeError::ExtentTooSmall { axis: 1, extent: 1 })
        );
    }

    #[test]
    fn lexicographic_last_axis_fastest() {
        let lat = Lattice::new(&[3, 4, 5]).unwrap();
        assert_eq!(lat.index(&[0, 0, 1]), 1);
        assert_eq!(lat.index(&[0, 1, 0]), 5);
        assert_eq!(lat.index(&[1, 0, 0]), 20);
        assert_eq!(lat.coords(20 + 5 + 1), vec![1, 1, 1]);
    }

    #[test]
    fn parity_counts_and_neighbours_flip_parity() {
        let lat = Lattice::new(&[4, 6]).unwrap();
        let even = lat.sites_of_parity(Parity::Even);
        assert_eq!(even.len(), 12);
        for &x in &even {
            for mu in 0..2 {
                assert_eq!(lat.parity(lat.fwd(x, mu)), Parity::Odd);
            }
        }
    }

    proptest! {
        #[test]
        fn index_coords_round_trip_and_neighbours(
            shape in prop::collection::vec(2usize..6, 1..=4),
            seed in 0usize..10_000,
        ) {
            let lat = Lattice::new(&shape).unwrap();
            let x = seed % lat.volume();
            let c = lat.coords(x);
            prop_assert_eq!(lat.index(&c), x);
            for mu in 0..lat.dim() {
                let up = lat.fwd(x, mu);
                prop_assert_eq!(lat.bwd(up, mu), x);
                let mut cu = c.clone();
                cu[mu] = (cu[mu] + 1) % shape[mu];
                prop_assert_eq!(lat.coords(up), cu);
                let mut e = vec![0; lat.dim()];
                e[mu] = 1;
                prop_assert_eq!(lat.shifted(x, &e), up);
            }
        }
    }
}
