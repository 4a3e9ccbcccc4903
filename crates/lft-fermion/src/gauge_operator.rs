//! The staggered operator coupled to U(1) links (the Schwinger model, docs/PHYSICS.md):
//!
//!   D(θ)_{xy} = m δ_{xy} + Σ_μ (η_μ(x)/2) [ b_μ(x) U_μ(x) δ_{x+μ̂,y} − b_μ(x−μ̂) U_μ(x−μ̂)* δ_{x−μ̂,y} ]
//!
//! with U_μ(x) = e^{iθ_μ(x)}, link (μ, x) at μ·V + x, and the phases η and time-boundary signs b
//! of [`Staggered`]. K(θ) = D − m is anti-Hermitian and connects even with odd sites, so
//! D†D = D D† = m² − K² is block diagonal with equal determinants on the two parities and
//! det D = det(m² − K²)_ee = det(m² − K_eo K_oe) > 0. Under the gauge transformation
//! θ_μ(x) → θ_μ(x) + α(x) − α(x+μ̂), D → G D G† with G = diag(e^{iα(x)}).
//!
//! Even-site ("compact") vectors have V/2 components, one per even site in the order of
//! [`GaugeStaggered::even_sites`]; odd-site vectors likewise.

use crate::{FermionError, HermitianOperator, Staggered, TimeBoundary};
use faer::Mat;
use lft_lattice::{Lattice, Parity};
use num_complex::Complex64;

/// The geometry of the gauge-covariant operator on one 2D lattice: the staggered hop table
/// (antiperiodic time) and the even/odd site lists. Build once per lattice.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeStaggered {
    staggered: Staggered,
    even: Vec<u32>,
    odd: Vec<u32>,
    /// The position of each site in its parity's list.
    slot: Vec<u32>,
    /// Whether each site is even.
    is_even: Vec<bool>,
}

impl GaugeStaggered {
    /// The operator's geometry on `lattice` (every extent even; antiperiodic time).
    pub fn new(lattice: &Lattice) -> Result<Self, FermionError> {
        let staggered = Staggered::new(lattice, TimeBoundary::Antiperiodic)?;
        let list = |p| -> Vec<u32> {
            lattice
                .sites_of_parity(p)
                .into_iter()
                .map(|x| x as u32)
                .collect()
        };
        let (even, odd) = (list(Parity::Even), list(Parity::Odd));
        let mut slot = vec![0u32; lattice.volume()];
        for (i, &x) in even.iter().enumerate() {
            slot[x as usize] = i as u32;
        }
        for (i, &x) in odd.iter().enumerate() {
            slot[x as usize] = i as u32;
        }
        let is_even = (0..lattice.volume())
            .map(|x| lattice.parity(x) == Parity::Even)
            .collect();
        Ok(Self {
            staggered,
            even,
            odd,
            slot,
            is_even,
        })
    }

    pub fn lattice(&self) -> &Lattice {
        self.staggered.lattice()
    }

    pub fn staggered(&self) -> &Staggered {
        &self.staggered
    }

    pub fn volume(&self) -> usize {
        self.staggered.volume()
    }

    /// V/2, the length of an even- or odd-site vector.
    pub fn half_volume(&self) -> usize {
        self.even.len()
    }

    /// The even sites, in the order of even-site vectors.
    pub fn even_sites(&self) -> &[u32] {
        &self.even
    }

    /// The odd sites, in the order of odd-site vectors.
    pub fn odd_sites(&self) -> &[u32] {
        &self.odd
    }

    /// The position of site x in the list of its parity.
    pub fn slot(&self, x: usize) -> usize {
        self.slot[x] as usize
    }

    /// (slot, whether x is even): where site x lives among the half-lattice vectors.
    pub fn place(&self, x: usize) -> (usize, bool) {
        (self.slot[x] as usize, self.is_even[x])
    }

    /// D(θ) at bare mass m for the link angles θ (`[d·V]`).
    pub fn dirac(&self, mass: f64, theta: &[f64]) -> GaugeDirac<'_> {
        GaugeDirac::new(self, mass, theta)
    }
}

/// D(θ) = m + K(θ) for one link configuration, with the gauge-dressed hops K_{x,y} (the
/// staggered coefficient times U or U*) computed once.
#[derive(Debug, Clone)]
pub struct GaugeDirac<'a> {
    geometry: &'a GaugeStaggered,
    mass: f64,
    /// `[V, 2d]`: K_{x, nb_k(x)} in the order of the staggered hop table (forward hop in
    /// direction μ at k = 2μ, backward at k = 2μ + 1).
    hops: Vec<Complex64>,
}

impl<'a> GaugeDirac<'a> {
    /// The operator at link angles `theta` (`[d·V]`, link (μ, x) at μ·V + x).
    pub fn new(geometry: &'a GaugeStaggered, mass: f64, theta: &[f64]) -> Self {
        let st = &geometry.staggered;
        let lattice = st.lattice();
        let (v, d) = (lattice.volume(), lattice.dim());
        assert_eq!(theta.len(), d * v, "link field does not fit the lattice");
        let h = st.hops();
        let (nb, c) = st.tables();
        // U on every link once; a backward hop takes the conjugate of its neighbour's link.
        let links: Vec<Complex64> = theta
            .iter()
            .map(|&t| Complex64::from_polar(1.0, t))
            .collect();
        let mut hops = Vec::with_capacity(v * h);
        for x in 0..v {
            for k in 0..h {
                let mu = k / 2;
                let u = if k % 2 == 0 {
                    links[mu * v + x]
                } else {
                    links[mu * v + nb[x * h + k] as usize].conj()
                };
                hops.push(u * c[x * h + k]);
            }
        }
        Self {
            geometry,
            mass,
            hops,
        }
    }

    pub fn geometry(&self) -> &'a GaugeStaggered {
        self.geometry
    }

    pub fn mass(&self) -> f64 {
        self.mass
    }

    pub fn volume(&self) -> usize {
        self.geometry.volume()
    }

    /// K_{x, x+μ̂} = (η_μ(x)/2) b_μ(x) U_μ(x), the forward hop of link (μ, x).
    #[inline]
    pub fn forward_hop(&self, x: usize, mu: usize) -> Complex64 {
        self.hops[x * self.geometry.staggered.hops() + 2 * mu]
    }

    /// K_{x, y} for the k-th hop of site x (y its k-th neighbour in the staggered hop table).
    #[inline]
    pub fn hop(&self, x: usize, k: usize) -> Complex64 {
        self.hops[x * self.geometry.staggered.hops() + k]
    }

    /// (K v)_x for a whole-lattice vector v.
    #[inline]
    fn hop_at(&self, v: &[Complex64], x: usize) -> Complex64 {
        let h = self.geometry.staggered.hops();
        let (nb, _) = self.geometry.staggered.hops_of(x);
        self.hops[x * h..(x + 1) * h]
            .iter()
            .zip(nb)
            .map(|(k, &y)| k * v[y as usize])
            .sum()
    }

    /// out = (m + s K) v on the whole lattice, s = ±1.
    fn apply_signed(&self, v: &[Complex64], out: &mut [Complex64], sign: f64) {
        let n = self.volume();
        assert!(
            v.len() == n && out.len() == n,
            "fermion vector does not fit the lattice"
        );
        for (x, o) in out.iter_mut().enumerate() {
            *o = v[x] * self.mass + self.hop_at(v, x) * sign;
        }
    }

    /// out = D v.
    pub fn apply(&self, v: &[Complex64], out: &mut [Complex64]) {
        self.apply_signed(v, out, 1.0);
    }

    /// out = D† v = (m − K) v.
    pub fn apply_dagger(&self, v: &[Complex64], out: &mut [Complex64]) {
        self.apply_signed(v, out, -1.0);
    }

    /// out = K_{from→to} v between parity blocks: `v` lives on the sites `from`, `out` on the
    /// sites `to` (even-site or odd-site vectors).
    fn hop_between(&self, to: &[u32], v: &[Complex64], out: &mut [Complex64]) {
        let h = self.geometry.staggered.hops();
        let slot = &self.geometry.slot;
        assert!(
            v.len() == to.len() && out.len() == to.len(),
            "half-lattice vector does not fit"
        );
        for (o, &x) in out.iter_mut().zip(to) {
            let x = x as usize;
            let (nb, _) = self.geometry.staggered.hops_of(x);
            *o = self.hops[x * h..(x + 1) * h]
                .iter()
                .zip(nb)
                .map(|(k, &y)| k * v[slot[y as usize] as usize])
                .sum();
        }
    }

    /// out = D†D v = (m² − K²) v on the whole lattice, `tmp` a whole-lattice scratch vector.
    pub fn apply_normal(&self, v: &[Complex64], out: &mut [Complex64], tmp: &mut [Complex64]) {
        self.apply(v, tmp);
        self.apply_dagger(tmp, out);
    }

    /// out_o = K_oe v_e: an even-site vector to an odd-site one.
    pub fn hop_even_to_odd(&self, v_even: &[Complex64], out_odd: &mut [Complex64]) {
        self.hop_between(&self.geometry.odd, v_even, out_odd);
    }

    /// out_e = K_eo v_o: an odd-site vector to an even-site one.
    pub fn hop_odd_to_even(&self, v_odd: &[Complex64], out_even: &mut [Complex64]) {
        self.hop_between(&self.geometry.even, v_odd, out_even);
    }

    /// out = (m² − K_eo K_oe) v on even sites, `tmp` an odd-site scratch vector.
    pub fn apply_normal_even(&self, v: &[Complex64], out: &mut [Complex64], tmp: &mut [Complex64]) {
        self.hop_even_to_odd(v, tmp);
        self.hop_odd_to_even(tmp, out);
        let m2 = self.mass * self.mass;
        for (o, &v) in out.iter_mut().zip(v) {
            *o = v * m2 - *o;
        }
    }

    /// The dense V×V matrix D(θ).
    pub fn dense(&self) -> Mat<Complex64> {
        let n = self.volume();
        let h = self.geometry.staggered.hops();
        let mut d = Mat::<Complex64>::zeros(n, n);
        for x in 0..n {
            d[(x, x)] += Complex64::new(self.mass, 0.0);
            let (nb, _) = self.geometry.staggered.hops_of(x);
            for (k, &y) in self.hops[x * h..(x + 1) * h].iter().zip(nb) {
                d[(x, y as usize)] += *k;
            }
        }
        d
    }

    /// The dense (V/2)×(V/2) K_oe (rows odd sites, columns even sites).
    pub fn dense_hop_even_to_odd(&self) -> Mat<Complex64> {
        let g = self.geometry;
        let h = g.staggered.hops();
        let half = g.half_volume();
        let mut k = Mat::<Complex64>::zeros(half, half);
        for (a, &x) in g.odd.iter().enumerate() {
            let x = x as usize;
            let (nb, _) = g.staggered.hops_of(x);
            for (c, &y) in self.hops[x * h..(x + 1) * h].iter().zip(nb) {
                k[(a, g.slot(y as usize))] += *c;
            }
        }
        k
    }

    /// The dense even-site normal operator M_ee = m² − K_eo K_oe (Hermitian positive definite
    /// for m ≠ 0): with K_eo = −K_oe†, (M_ee)_{ee′} = m² δ_{ee′} + Σ_o conj(K_{oe}) K_{oe′}, each
    /// odd site adding the (2d)² products of its hops. O(V) work on a zeroed (V/2)² matrix.
    pub fn dense_normal_even(&self) -> Mat<Complex64> {
        let g = self.geometry;
        let h = g.staggered.hops();
        let half = g.half_volume();
        let mut m = Mat::<Complex64>::zeros(half, half);
        for i in 0..half {
            m[(i, i)] = Complex64::new(self.mass * self.mass, 0.0);
        }
        for &x in &g.odd {
            let x = x as usize;
            let (nb, _) = g.staggered.hops_of(x);
            let hops = &self.hops[x * h..(x + 1) * h];
            for (&ka, &ya) in hops.iter().zip(nb) {
                let a = g.slot(ya as usize);
                for (&kb, &yb) in hops.iter().zip(nb) {
                    m[(a, g.slot(yb as usize))] += ka.conj() * kb;
                }
            }
        }
        m
    }

    /// Adds to `grad` (`[d·V]`), for every link (μ, x) with y = x + μ̂ and h = K_{x,y} its
    /// forward hop,
    ///
    ///   grad[μV + x] += 2 ε(x) Re(i h P(x, y)),
    ///
    /// the derivative −∂/∂θ_μ(x) of X†M_ee X at fixed X when P(x, y) = Z̄_x Z_y with
    /// Z = (X on even sites, K_oe X on odd sites): the pseudofermion force, ∂(ϕ†M_ee⁻¹ϕ) for
    /// X = M_ee⁻¹ϕ. With X X† replaced by M_ee⁻¹ it is ∂(−log det D) = −tr(M_ee⁻¹ ∂M_ee)
    /// ([`crate::EvenBlockInverse`]). `bilinear(x, y)` is called once per link.
    pub fn add_link_force(
        &self,
        grad: &mut [f64],
        mut bilinear: impl FnMut(usize, usize) -> Complex64,
    ) {
        let lattice = self.geometry.lattice();
        let (v, d) = (lattice.volume(), lattice.dim());
        assert_eq!(grad.len(), d * v, "force does not fit the links");
        let eps = self.geometry.staggered.epsilon();
        let i = Complex64::i();
        for mu in 0..d {
            for x in 0..v {
                let y = lattice.fwd(x, mu);
                let p = bilinear(x, y);
                grad[mu * v + x] += 2.0 * eps[x] * (i * self.forward_hop(x, mu) * p).re;
            }
        }
    }
}

/// M_ee = m² − K_eo K_oe as the operator CG inverts.
impl HermitianOperator<Complex64> for GaugeDirac<'_> {
    fn dim(&self) -> usize {
        self.geometry.half_volume()
    }

    fn apply(&self, v: &[Complex64], out: &mut [Complex64], tmp: &mut [Complex64]) {
        self.apply_normal_even(v, out, tmp);
    }
}

/// out_i = D(θ_i) v_i for every configuration of a batch: `thetas` is `[n, d·V]`, `v` and
/// `out` are `[n, V]`. Parallel over configurations.
pub fn apply_gauge_batch(
    geometry: &GaugeStaggered,
    mass: f64,
    thetas: &[f64],
    v: &[Complex64],
    out: &mut [Complex64],
) {
    use rayon::prelude::*;
    let n = geometry.volume();
    let links = geometry.lattice().dim() * n;
    assert!(
        v.len() == out.len() && v.len().is_multiple_of(n) && thetas.len() == (v.len() / n) * links,
        "batch shape mismatch"
    );
    out.par_chunks_exact_mut(n)
        .zip(v.par_chunks_exact(n))
        .zip(thetas.par_chunks_exact(links))
        .for_each(|((out, v), theta)| geometry.dirac(mass, theta).apply(v, out));
}
