//! The equivariant kernel vector field of a continuous normalizing flow for a scalar lattice
//! field (Gerdes, de Haan, Rainone, Bondesan, Cheng, arXiv:2207.00283; issue 39, first part):
//!   v_x(φ, t) = Σ_{δ ∈ B_r} [ Σ_k w_k(δ, t) sin(ω_k φ_{x+δ}) + u(δ, t) φ_{x+δ} ],
//! a convolution over the offsets δ of the box B_r = [−r, r]^d of learned site features: K
//! sines of learned frequencies ω_k and φ itself. Kernels depend on δ only through its orbit
//! under the hypercubic group (the sorted absolute values of its components), so v commutes
//! with translations, reflections and axis permutations; the features are odd in φ, so
//! v(−φ) = −v(φ) (Z₂). Time enters through a Fourier basis: w_k(δ, t) = Σ_f W[k, o(δ), f] b_f(t)
//! with b_0 = 1, b_{2m−1} = cos(2πmt), b_{2m} = sin(2πmt) (m = 1 … M), the same for u.
//!
//! The divergence is exact and cheap, because only the kernel's central element δ = 0 touches
//! a site's own features:
//!   ∇·v = Σ_x ∂v_x/∂φ_x = Σ_x [ Σ_k w_k(0, t) ω_k cos(ω_k φ_x) + u(0, t) ].
//!
//! Parameters, in this order: ω (K), W (K × orbits × F, last index fastest), U (orbits × F),
//! with F = 2M + 1 time-basis functions.

use lft_lattice::{Lattice, Pcg64, gaussian_fill};

/// The kernel vector field on one lattice: the offsets of its box, their orbits and the site
/// tables of the shifts.
#[derive(Debug, Clone)]
pub struct KernelField {
    volume: usize,
    frequencies: usize,
    time_modes: usize,
    orbits: usize,
    /// Orbit of every offset of the box.
    orbit_of: Vec<usize>,
    /// Orbit of δ = 0.
    center: usize,
    /// `neighbour[o][x]` = the site x + δ_o (periodic), offset by offset.
    neighbour: Vec<Vec<usize>>,
}

impl KernelField {
    /// The field with kernel radius `radius` (box side 2r + 1, at most the lattice's smallest
    /// extent), `frequencies` sine features and `time_modes` Fourier modes M of time.
    pub fn new(lattice: &Lattice, radius: usize, frequencies: usize, time_modes: usize) -> Self {
        let d = lattice.dim();
        let side = 2 * radius + 1;
        let mut offsets: Vec<Vec<isize>> = Vec::new();
        for i in 0..side.pow(d as u32) {
            let mut rest = i;
            let mut delta = vec![0isize; d];
            for c in delta.iter_mut().rev() {
                *c = (rest % side) as isize - radius as isize;
                rest /= side;
            }
            offsets.push(delta);
        }
        let orbit_key = |delta: &[isize]| {
            let mut a: Vec<usize> = delta.iter().map(|c| c.unsigned_abs()).collect();
            a.sort_unstable();
            a
        };
        let mut keys: Vec<Vec<usize>> = offsets.iter().map(|o| orbit_key(o)).collect();
        keys.sort();
        keys.dedup();
        let orbit_of: Vec<usize> = offsets
            .iter()
            .map(|o| keys.binary_search(&orbit_key(o)).expect("a key of the box"))
            .collect();
        let center = keys
            .binary_search(&vec![0; d])
            .expect("the box holds δ = 0");
        let shape = lattice.shape();
        let neighbour = offsets
            .iter()
            .map(|delta| {
                let shift: Vec<usize> = delta
                    .iter()
                    .zip(shape)
                    .map(|(&c, &l)| (c.rem_euclid(l as isize)) as usize)
                    .collect();
                (0..lattice.volume())
                    .map(|x| lattice.shifted(x, &shift))
                    .collect()
            })
            .collect();
        Self {
            volume: lattice.volume(),
            frequencies,
            time_modes,
            orbits: keys.len(),
            orbit_of,
            center,
            neighbour,
        }
    }

    /// F = 2M + 1 functions of time.
    pub fn time_basis_len(&self) -> usize {
        2 * self.time_modes + 1
    }

    /// Orbits of the box's offsets under the hypercubic group.
    pub fn orbits(&self) -> usize {
        self.orbits
    }

    pub fn n_params(&self) -> usize {
        let f = self.time_basis_len();
        self.frequencies + (self.frequencies + 1) * self.orbits * f
    }

    /// Initial parameters: frequencies spread over (0, 2] (k/K · 2 with a little noise), and
    /// kernel weights N(0, scale²).
    pub fn init_params(&self, rng: &mut Pcg64, scale: f64) -> Vec<f64> {
        let mut p = vec![0.0; self.n_params()];
        let k = self.frequencies;
        gaussian_fill(rng, &mut p);
        for (i, w) in p[..k].iter_mut().enumerate() {
            *w = 2.0 * (i as f64 + 1.0) / k as f64 + 0.05 * *w;
        }
        p[k..].iter_mut().for_each(|w| *w *= scale);
        p
    }

    /// b_f(t) for f = 0 … 2M.
    fn time_basis(&self, t: f64) -> Vec<f64> {
        let mut b = vec![1.0];
        for m in 1..=self.time_modes {
            let a = 2.0 * std::f64::consts::PI * m as f64 * t;
            b.push(a.cos());
            b.push(a.sin());
        }
        b
    }

    /// The kernels at time t: w[k][o] for the sine features and u[o] for φ itself.
    fn kernels(&self, params: &[f64], t: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
        let b = self.time_basis(t);
        let f = b.len();
        let k = self.frequencies;
        let at = |start: usize| -> f64 { (0..f).map(|j| params[start + j] * b[j]).sum() };
        let w = (0..k)
            .map(|ki| {
                (0..self.orbits)
                    .map(|o| at(k + (ki * self.orbits + o) * f))
                    .collect()
            })
            .collect();
        let u_start = k + k * self.orbits * f;
        let u = (0..self.orbits).map(|o| at(u_start + o * f)).collect();
        (w, u)
    }

    /// v(φ, t) into `out`; returns the divergence ∇·v (module documentation).
    pub fn velocity(&self, params: &[f64], phi: &[f64], t: f64, out: &mut [f64]) -> f64 {
        assert_eq!(params.len(), self.n_params(), "parameter count");
        assert_eq!(phi.len(), self.volume, "field size");
        let (w, u) = self.kernels(params, t);
        let omegas = &params[..self.frequencies];
        // Site features: sin(ω_k φ_y) for every k, then φ_y.
        let features: Vec<Vec<f64>> = omegas
            .iter()
            .map(|om| phi.iter().map(|p| (om * p).sin()).collect())
            .collect();
        out.fill(0.0);
        for (off, sites) in self.neighbour.iter().enumerate() {
            let o = self.orbit_of[off];
            for (x, &y) in sites.iter().enumerate() {
                let mut v = u[o] * phi[y];
                for (ki, f) in features.iter().enumerate() {
                    v += w[ki][o] * f[y];
                }
                out[x] += v;
            }
        }
        let c = self.center;
        phi.iter()
            .map(|p| {
                u[c] + omegas
                    .iter()
                    .zip(&w)
                    .map(|(om, wk)| wk[c] * om * (om * p).cos())
                    .sum::<f64>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lft_lattice::stream_rng;

    fn field(shape: &[usize]) -> (Lattice, KernelField, Vec<f64>) {
        let lattice = Lattice::new(shape).unwrap();
        let f = KernelField::new(&lattice, 1, 3, 2);
        let params = f.init_params(&mut stream_rng(1, 0), 0.3);
        (lattice, f, params)
    }

    #[test]
    fn the_box_of_radius_one_has_three_orbits_in_2d() {
        let (_, f, _) = field(&[4, 6]);
        // (0,0), (0,1) and (1,1).
        assert_eq!(f.orbits(), 3);
        assert_eq!(f.n_params(), 3 + 4 * 3 * 5);
    }

    /// ∇·v against the trace of the Jacobian by central differences.
    #[test]
    fn the_divergence_is_the_trace_of_the_jacobian() {
        let (lattice, f, params) = field(&[4, 6]);
        let v = lattice.volume();
        let mut phi = vec![0.0; v];
        gaussian_fill(&mut stream_rng(2, 0), &mut phi);
        let mut out = vec![0.0; v];
        let t = 0.37;
        let div = f.velocity(&params, &phi, t, &mut out);
        let h = 1e-6;
        let mut trace = 0.0;
        let (mut up, mut down) = (vec![0.0; v], vec![0.0; v]);
        for x in 0..v {
            let p0 = phi[x];
            phi[x] = p0 + h;
            f.velocity(&params, &phi, t, &mut up);
            phi[x] = p0 - h;
            f.velocity(&params, &phi, t, &mut down);
            phi[x] = p0;
            trace += (up[x] - down[x]) / (2.0 * h);
        }
        assert!(
            (div - trace).abs() < 1e-7 * trace.abs().max(1.0),
            "{div} vs {trace}"
        );
    }

    /// v commutes with translations, reflections and the axis swap, and is odd in φ.
    #[test]
    fn the_field_is_equivariant() {
        let (lattice, f, params) = field(&[6, 6]);
        let v = lattice.volume();
        let mut phi = vec![0.0; v];
        gaussian_fill(&mut stream_rng(3, 0), &mut phi);
        let mut base = vec![0.0; v];
        let t = 0.8;
        f.velocity(&params, &phi, t, &mut base);
        let maps: Vec<Box<dyn Fn(usize) -> usize>> = vec![
            Box::new(|x| lattice.shifted(x, &[1, 2])),
            Box::new(|x| {
                let c = lattice.coords(x);
                lattice.index(&[(6 - c[0]) % 6, c[1]])
            }),
            Box::new(|x| {
                let c = lattice.coords(x);
                lattice.index(&[c[1], c[0]])
            }),
        ];
        for (i, g) in maps.iter().enumerate() {
            // (g φ)_{g(x)} = φ_x, and then v(g φ)_{g(x)} must be v(φ)_x.
            let mut moved = vec![0.0; v];
            (0..v).for_each(|x| moved[g(x)] = phi[x]);
            let mut out = vec![0.0; v];
            f.velocity(&params, &moved, t, &mut out);
            for x in 0..v {
                assert!((out[g(x)] - base[x]).abs() < 1e-12, "map {i}, site {x}");
            }
        }
        let neg: Vec<f64> = phi.iter().map(|p| -p).collect();
        let mut out = vec![0.0; v];
        f.velocity(&params, &neg, t, &mut out);
        for x in 0..v {
            assert!((out[x] + base[x]).abs() < 1e-12);
        }
    }
}
