//! Observables of one configuration.

use lft_lattice::Lattice;

/// Primary observables of one configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfigObservables {
    /// M = Σ_x φ_x.
    pub magnetization: f64,
    /// (1/V) Σ_x φ_x².
    pub phi2: f64,
    /// (1/(V d)) Σ_x Σ_μ φ_x φ_{x+μ̂}: the average nearest-neighbour product.
    pub link: f64,
}

/// Computes the primary observables of `phi` on `lattice`.
pub fn config_observables(lattice: &Lattice, phi: &[f64]) -> ConfigObservables {
    let d = lattice.dim();
    let fwd = lattice.fwd_table();
    let (mut m, mut p2, mut link) = (0.0, 0.0, 0.0);
    for (x, &p) in phi.iter().enumerate() {
        m += p;
        p2 += p * p;
        link += p * fwd[x * d..x * d + d]
            .iter()
            .map(|&y| phi[y as usize])
            .sum::<f64>();
    }
    let v = phi.len() as f64;
    ConfigObservables {
        magnetization: m,
        phi2: p2 / v,
        link: link / (v * d as f64),
    }
}
