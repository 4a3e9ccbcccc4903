//! Observables of one configuration.

use lft_lattice::{Complex64, Lattice, LatticeFft};

/// Primary observables of one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigObservables {
    /// M = Σ_x φ_x.
    pub magnetization: f64,
    /// (1/V) Σ_x φ_x².
    pub phi2: f64,
    /// (1/(V d)) Σ_x Σ_μ φ_x φ_{x+μ̂}: the average nearest-neighbour product.
    pub link: f64,
    /// c(t) = (1/V) Σ_{t₀} Φ(t₀) Φ(t₀ + t), Φ(t) = Σ_{x⃗} φ(t, x⃗), for t = 0 … L₀−1.
    /// Then C(t) = ⟨c(t)⟩ − (V/L₀)⟨φ⟩² is the zero-momentum connected correlator.
    pub slice_correlator: Vec<f64>,
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
    let sv = lattice.slice_volume();
    let slices: Vec<f64> = phi.chunks_exact(sv).map(|s| s.iter().sum()).collect();
    let l0 = slices.len();
    let slice_correlator = (0..l0)
        .map(|t| {
            (0..l0)
                .map(|t0| slices[t0] * slices[(t0 + t) % l0])
                .sum::<f64>()
                / v
        })
        .collect();
    ConfigObservables {
        magnetization: m,
        phi2: p2 / v,
        link: link / (v * d as f64),
        slice_correlator,
    }
}

/// g(x) = (1/V) Σ_y φ_y φ_{y+x} for every displacement x (laid out like a site index), through
/// FFTs: Σ_y φ_y φ_{y+x} = (1/V) Σ_p e^{ipx} |φ̃(p)|². `scratch` must have length V.
pub fn two_point(fft: &LatticeFft, phi: &[f64], scratch: &mut [Complex64], out: &mut [f64]) {
    for (z, &p) in scratch.iter_mut().zip(phi) {
        *z = Complex64::new(p, 0.0);
    }
    fft.forward(scratch);
    for z in scratch.iter_mut() {
        *z = Complex64::new(z.norm_sqr(), 0.0);
    }
    fft.inverse(scratch);
    let inv_v = 1.0 / phi.len() as f64;
    for (o, z) in out.iter_mut().zip(scratch.iter()) {
        *o = z.re * inv_v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_two_point_and_slice_correlator_match_direct_sums() {
        let lat = Lattice::new(&[6, 4]).unwrap();
        let v = lat.volume();
        let phi: Vec<f64> = (0..v).map(|i| ((i * 13 + 5) % 7) as f64 - 3.0).collect();
        let fft = LatticeFft::new(&lat);
        let mut scratch = vec![Complex64::default(); v];
        let mut g = vec![0.0; v];
        two_point(&fft, &phi, &mut scratch, &mut g);
        for x in 0..v {
            let shift = lat.coords(x);
            let direct: f64 = (0..v)
                .map(|y| phi[y] * phi[lat.shifted(y, &shift)])
                .sum::<f64>()
                / v as f64;
            assert!((g[x] - direct).abs() < 1e-12, "x = {x}");
        }
        // Σ_{x⃗} g(t, x⃗) is the slice correlator c(t).
        let o = config_observables(&lat, &phi);
        for t in 0..6 {
            let from_g: f64 = g[t * 4..(t + 1) * 4].iter().sum();
            assert!((o.slice_correlator[t] - from_g).abs() < 1e-12);
        }
        let m: f64 = phi.iter().sum();
        assert!((o.slice_correlator.iter().sum::<f64>() - m * m / v as f64).abs() < 1e-12);
    }
}
