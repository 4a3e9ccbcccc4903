//! The plaquette map D of 2D U(1) link fields and its transpose, shared by the
//! gauge-equivariant layers: with links θ_μ(x) at index μ·V + x,
//!   (Dθ)_x = P_x = θ_0(x) + θ_1(x + 0̂) − θ_0(x + 1̂) − θ_1(x)   (not wrapped),
//! and Dᵀ carries ∂L/∂P back to the links.

use lft_lattice::Lattice;

/// D and Dᵀ on one lattice (the forward neighbours x + 0̂, x + 1̂ of every site, tabulated).
#[derive(Debug, Clone, PartialEq)]
pub struct PlaquetteMap {
    fwd: [Vec<usize>; 2],
}

impl PlaquetteMap {
    pub fn new(lattice: &Lattice) -> Self {
        let v = lattice.volume();
        Self {
            fwd: [0, 1].map(|mu| (0..v).map(|x| lattice.fwd(x, mu)).collect()),
        }
    }

    pub fn volume(&self) -> usize {
        self.fwd[0].len()
    }

    /// x + μ̂.
    pub fn fwd(&self, mu: usize, x: usize) -> usize {
        self.fwd[mu][x]
    }

    /// P = Dθ, not wrapped.
    pub fn plaquettes(&self, links: &[f64]) -> Vec<f64> {
        let v = self.volume();
        (0..v)
            .map(|x| links[x] + links[v + self.fwd[0][x]] - links[self.fwd[1][x]] - links[v + x])
            .collect()
    }

    /// dlinks += Dᵀ dp.
    pub fn add_transpose(&self, dp: &[f64], dlinks: &mut [f64]) {
        let v = self.volume();
        for (x, &d) in dp.iter().enumerate() {
            dlinks[x] += d;
            dlinks[v + self.fwd[0][x]] += d;
            dlinks[self.fwd[1][x]] -= d;
            dlinks[v + x] -= d;
        }
    }
}
