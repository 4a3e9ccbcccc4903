//! Geometry of the staggered hopping term K: phases, boundary signs and the hop table.
//!
//! With η_μ(x) = (−1)^{x_0 + … + x_{μ−1}} (so η_0 = 1 and, in 2D, η_1 = (−1)^{x_0}),
//!
//!   K_{xy} = Σ_μ (η_μ(x)/2) [ b_μ(x) δ_{x+μ̂,y} − b_μ(x−μ̂) δ_{x−μ̂,y} ],
//!
//! where b_μ(x) = −1 when the link x → x+μ̂ crosses the time boundary of an antiperiodic lattice
//! and +1 otherwise. K is real, antisymmetric, and connects only sites of opposite parity
//! ε(x) = (−1)^{Σ_μ x_μ}.

use crate::FermionError;
use lft_lattice::{Lattice, Parity};

/// Boundary condition of the fermions in direction 0 (time). Space is always periodic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBoundary {
    /// A hop across the time boundary gets a factor −1 (the physical choice: no zero modes).
    Antiperiodic,
    /// Periodic in time too; at m = 0 the free operator has exact zero modes.
    Periodic,
}

/// The hop table of K on one lattice: for every site, its 2d neighbours and the coefficient
/// K_{x,y} of each (forward hops first, then backward, direction by direction).
#[derive(Debug, Clone, PartialEq)]
pub struct Staggered {
    lattice: Lattice,
    boundary: TimeBoundary,
    /// `[V, 2d]` neighbour indices y.
    neighbours: Vec<u32>,
    /// `[V, 2d]` coefficients K_{x,y}.
    coefficients: Vec<f64>,
    /// ε(x) = ±1.
    epsilon: Vec<f64>,
}

impl Staggered {
    /// The staggered hopping term on `lattice` (every extent must be even, so that the even-odd
    /// structure and the staggered phases are consistent around the periodic directions).
    pub fn new(lattice: &Lattice, boundary: TimeBoundary) -> Result<Self, FermionError> {
        if let Some((axis, &extent)) = lattice
            .shape()
            .iter()
            .enumerate()
            .find(|&(_, &l)| l % 2 != 0)
        {
            return Err(FermionError::OddExtent { axis, extent });
        }
        let d = lattice.dim();
        let v = lattice.volume();
        let shape = lattice.shape();
        let mut neighbours = Vec::with_capacity(v * 2 * d);
        let mut coefficients = Vec::with_capacity(v * 2 * d);
        let mut epsilon = Vec::with_capacity(v);
        let mut x = vec![0usize; d];
        for site in 0..v {
            lattice.coords_into(site, &mut x);
            epsilon.push(parity_sign(lattice.parity(site)));
            for mu in 0..d {
                let eta = if x[..mu].iter().sum::<usize>() % 2 == 0 {
                    0.5
                } else {
                    -0.5
                };
                let twisted = mu == 0 && boundary == TimeBoundary::Antiperiodic;
                let b_fwd = if twisted && x[0] == shape[0] - 1 {
                    -1.0
                } else {
                    1.0
                };
                let b_bwd = if twisted && x[0] == 0 { -1.0 } else { 1.0 };
                neighbours.push(lattice.fwd(site, mu) as u32);
                coefficients.push(eta * b_fwd);
                neighbours.push(lattice.bwd(site, mu) as u32);
                coefficients.push(-eta * b_bwd);
            }
        }
        Ok(Self {
            lattice: lattice.clone(),
            boundary,
            neighbours,
            coefficients,
            epsilon,
        })
    }

    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    pub fn volume(&self) -> usize {
        self.lattice.volume()
    }

    pub fn boundary(&self) -> TimeBoundary {
        self.boundary
    }

    /// Hops per site, 2d.
    pub fn hops(&self) -> usize {
        2 * self.lattice.dim()
    }

    /// `(neighbours, coefficients)` of site x: K_{x, nb[k]} = c[k] (entries add when two hops
    /// reach the same site, as on an extent-2 axis).
    #[inline]
    pub fn hops_of(&self, x: usize) -> (&[u32], &[f64]) {
        let h = self.hops();
        (
            &self.neighbours[x * h..(x + 1) * h],
            &self.coefficients[x * h..(x + 1) * h],
        )
    }

    /// The whole `[V, 2d]` tables.
    pub fn tables(&self) -> (&[u32], &[f64]) {
        (&self.neighbours, &self.coefficients)
    }

    /// ε(x) = (−1)^{Σ_μ x_μ} for every site.
    pub fn epsilon(&self) -> &[f64] {
        &self.epsilon
    }
}

fn parity_sign(p: Parity) -> f64 {
    match p {
        Parity::Even => 1.0,
        Parity::Odd => -1.0,
    }
}
