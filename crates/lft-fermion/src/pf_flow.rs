//! A conditional flow for the pseudofermion given the scalar field: ϕ = A(φ) ξ, ξ standard
//! complex normal, A real and linear in ξ, a product of layers in the even/odd basis whose
//! determinants are products of diagonals:
//!
//! - **Scale**: ϕ_x ← a_x ϕ_x, log a_x = w₀ + w₁ h₁(x) + w₂ h₂(x) with its own w on even and on
//!   odd sites, h₁ = ½ ln(1 + M_x²), h₂ = ½ ln(1 + M̄²_x), M_x = m + gφ_x the diagonal of D and
//!   M̄²_x = (1/2d) Σ_{y~x} M_y² its neighbours' mean square. det = Π_x a_x.
//! - **Shear(P)**: ϕ_x ← ϕ_x + Σ_{y~x} K_xy c_xy ϕ_y on the sites x of parity P, from the
//!   opposite parity, with the staggered hop K_xy and c_xy = v₀ + v₁M_x + v₂M_y + v₃M_xM_y,
//!   its own v for each of the 2d hops (±μ̂). Unit triangular in the (P, other) blocks:
//!   det = 1.
//!
//! - **Free**: ϕ ← (K + m̃) ϕ, the free staggered operator at an effective mass
//!   m̃² = e^{u₀} ⟨M²⟩ + e^{u₁} (⟨·⟩ the mean over sites): translation invariant, so its
//!   determinant is known in closed form, det_ℝ = Π_p (m̃² + s(p)²) (lft-fermion's `free`).
//!   It carries D's non-local part; the local layers after it correct for the field's
//!   inhomogeneity. Needs antiperiodic time (the closed form's momenta).
//!
//! A acts alike on the real and imaginary parts, so the real Jacobian of ξ ↦ ϕ is det(A)² and
//!
//!   log q(ϕ | φ) = −V ln π − |ξ|² − L(φ),   L(φ) = log det_ℝ A = 2 Σ_scales Σ_x log a_x.
//!
//! The shears carry D's structure: D = M + K connects even with odd sites, and
//! D Dᵀ = M² − K² + K M − M K, whose even–odd entries K_xy(M_y − M_x) the linear terms of c_xy
//! can match. A = D (covariance D Dᵀ, the exact conditional) is out of reach of a product of
//! local triangular factors, since log|det D| is not local; the flow is trained to come close
//! (reverse KL on the joint, `pf_flow_estimate`).

use crate::free::free_momenta_sin2;
use crate::{
    CgParams, CgScratch, Dirac, FermionScalar, STAGNATION_FLOOR, Staggered, TimeBoundary,
    accept_stagnated, re_dot, solve_ddt,
};
use lft_lattice::Parity;
use num_complex::Complex64;

/// One layer of a [`PseudofermionFlow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PfLayer {
    /// Site-wise positive scale (6 parameters: w₀, w₁, w₂ on even, then on odd sites).
    Scale,
    /// Sites of this parity get hops from the other parity (4 parameters v₀ … v₃ per hop).
    Shear(Parity),
    /// The free operator K + m̃ (2 parameters u₀, u₁).
    Free,
}

impl PfLayer {
    /// Parameters of the layer in `dim` dimensions.
    pub fn params(self, dim: usize) -> usize {
        match self {
            PfLayer::Scale => 6,
            PfLayer::Shear(_) => 4 * 2 * dim,
            PfLayer::Free => 2,
        }
    }
}

/// ϕ = A(φ) ξ (see the module doc). The parameters are translation invariant, so one flow
/// serves every lattice size of its dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct PseudofermionFlow {
    layers: Vec<PfLayer>,
    dim: usize,
    params: Vec<f64>,
}

/// The per-site inputs of the layers at one φ.
struct Features {
    /// M_x = m + gφ_x.
    m: Vec<f64>,
    /// h₁(x) = ½ ln(1 + M_x²).
    h1: Vec<f64>,
    /// h₂(x) = ½ ln(1 + M̄²_x).
    h2: Vec<f64>,
    /// 1 + M̄²_x.
    mbar: Vec<f64>,
    /// Parity of each site (true: even).
    even: Vec<bool>,
    /// ⟨M²⟩.
    mean_m2: f64,
    /// s(p)² of the free operator's momenta.
    s2: Vec<f64>,
}

impl Features {
    fn new(dirac: &Dirac) -> Self {
        let s = dirac.staggered();
        let v = dirac.volume();
        let m: Vec<f64> = (0..v).map(|x| dirac.diagonal(x)).collect();
        let hops = s.hops() as f64;
        let mbar: Vec<f64> = (0..v)
            .map(|x| {
                1.0 + s
                    .hops_of(x)
                    .0
                    .iter()
                    .map(|&y| m[y as usize].powi(2))
                    .sum::<f64>()
                    / hops
            })
            .collect();
        assert_eq!(
            s.boundary(),
            TimeBoundary::Antiperiodic,
            "the pseudofermion flow's free layer needs antiperiodic time"
        );
        Self {
            mean_m2: m.iter().map(|m| m * m).sum::<f64>() / v as f64,
            s2: free_momenta_sin2(s.lattice()),
            h1: m.iter().map(|m| 0.5 * (1.0 + m * m).ln()).collect(),
            h2: mbar.iter().map(|b| 0.5 * b.ln()).collect(),
            m,
            mbar,
            even: s.epsilon().iter().map(|&e| e > 0.0).collect(),
        }
    }

    /// m̃² = e^{u₀}⟨M²⟩ + e^{u₁} of a free layer.
    fn free_mass2(&self, u: &[f64]) -> f64 {
        u[0].exp() * self.mean_m2 + u[1].exp()
    }

    /// log det_ℝ (K + m̃) = Σ_p ln(m̃² + s(p)²).
    fn free_log_det(&self, mass2: f64) -> f64 {
        self.s2.iter().map(|s2| (mass2 + s2).ln()).sum()
    }

    /// The three scale weights of site x's parity.
    fn log_scale(&self, w: &[f64], x: usize) -> f64 {
        let w = if self.even[x] { &w[..3] } else { &w[3..] };
        w[0] + w[1] * self.h1[x] + w[2] * self.h2[x]
    }
}

/// c_xy = v₀ + v₁M_x + v₂M_y + v₃M_xM_y.
#[inline]
fn shear_coefficient(v: &[f64], mx: f64, my: f64) -> f64 {
    v[0] + v[1] * mx + v[2] * my + v[3] * mx * my
}

/// Gradients of a scalar loss ℓ(ϕ, L) through the flow ([`PseudofermionFlow::backward`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PfFlowGradient {
    /// ∂ℓ/∂θ over the flow's parameters.
    pub params: Vec<f64>,
    /// ∂ℓ/∂φ_x through A(φ) (at fixed ξ).
    pub phi: Vec<f64>,
    /// ∂ℓ/∂ξ (real and imaginary parts as one complex number).
    pub xi: Vec<Complex64>,
}

impl PseudofermionFlow {
    /// A flow of `layers` starting as the identity in every local layer and as K + ⟨M²⟩^½ in
    /// every free one (so A Aᵀ = ⟨M²⟩ + K Kᵀ: D Dᵀ of a constant field with the same mean
    /// square diagonal, up to e^{u₁} = e^{−10}).
    pub fn new(layers: Vec<PfLayer>, dim: usize) -> Self {
        let mut params = Vec::new();
        for &layer in &layers {
            match layer {
                PfLayer::Free => params.extend([0.0, -10.0]),
                _ => params.extend(std::iter::repeat_n(0.0, layer.params(dim))),
            }
        }
        Self {
            layers,
            dim,
            params,
        }
    }

    /// Free, then `blocks` times (Scale, Shear(odd), Shear(even)), then Scale, in `dim`
    /// dimensions.
    pub fn standard(blocks: usize, dim: usize) -> Self {
        let mut layers = vec![PfLayer::Free];
        for _ in 0..blocks {
            layers.extend([
                PfLayer::Scale,
                PfLayer::Shear(Parity::Odd),
                PfLayer::Shear(Parity::Even),
            ]);
        }
        layers.push(PfLayer::Scale);
        Self::new(layers, dim)
    }

    pub fn layers(&self) -> &[PfLayer] {
        &self.layers
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn params(&self) -> &[f64] {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut [f64] {
        &mut self.params
    }

    /// Replaces the parameters (for restoring a trained flow); `None` if the count is wrong.
    pub fn with_params(mut self, params: Vec<f64>) -> Option<Self> {
        (params.len() == self.params.len()).then(|| {
            self.params = params;
            self
        })
    }

    /// The layers' inputs at the field of `dirac`, whose lattice must have the flow's dimension.
    fn features(&self, dirac: &Dirac) -> Features {
        assert_eq!(
            dirac.staggered().lattice().dim(),
            self.dim,
            "the pseudofermion flow was built for another dimension"
        );
        Features::new(dirac)
    }

    /// The layers with their parameter slices.
    fn layer_params(&self) -> impl Iterator<Item = (PfLayer, &[f64])> {
        let mut offset = 0;
        self.layers.iter().map(move |&l| {
            let n = l.params(self.dim);
            let p = &self.params[offset..offset + n];
            offset += n;
            (l, p)
        })
    }

    /// ϕ = A(φ) ξ; returns L(φ) = log det_ℝ A.
    pub fn forward(&self, dirac: &Dirac, xi: &[Complex64], phi_out: &mut [Complex64]) -> f64 {
        phi_out.copy_from_slice(xi);
        let f = self.features(dirac);
        let mut log_det = 0.0;
        for (layer, p) in self.layer_params() {
            log_det += apply_layer(layer, p, &f, dirac.staggered(), phi_out, false);
        }
        log_det
    }

    /// ξ = A(φ)⁻¹ ϕ; returns L(φ) = log det_ℝ A.
    pub fn inverse(&self, dirac: &Dirac, phi: &[Complex64], xi_out: &mut [Complex64]) -> f64 {
        xi_out.copy_from_slice(phi);
        let f = self.features(dirac);
        let layers: Vec<_> = self.layer_params().collect();
        let mut log_det = 0.0;
        for &(layer, p) in layers.iter().rev() {
            log_det += apply_layer(layer, p, &f, dirac.staggered(), xi_out, true);
        }
        log_det
    }

    /// Gradients of ℓ = Re(G† ϕ) + ω L(φ), ϕ = A(φ) ξ, for a fixed `grad_out` = G = ∂ℓ/∂ϕ
    /// (real and imaginary parts as one complex number) and weight `omega` = ω: with respect to
    /// the parameters, to φ and to ξ (one forward pass to keep the layers' inputs, one
    /// backward).
    pub fn backward(
        &self,
        dirac: &Dirac,
        xi: &[Complex64],
        grad_out: &[Complex64],
        omega: f64,
    ) -> PfFlowGradient {
        let f = self.features(dirac);
        let s = dirac.staggered();
        let layers: Vec<_> = self.layer_params().collect();
        // inputs[l] is the input of layer l.
        let mut inputs = Vec::with_capacity(layers.len());
        let mut v = xi.to_vec();
        for &(layer, p) in &layers {
            inputs.push(v.clone());
            apply_layer(layer, p, &f, s, &mut v, false);
        }
        let coupling = dirac.g();
        let mut out = PfFlowGradient {
            params: vec![0.0; self.params.len()],
            phi: vec![0.0; xi.len()],
            xi: grad_out.to_vec(),
        };
        let g = &mut out.xi;
        let mut offset = self.params.len();
        for (l, &(layer, p)) in layers.iter().enumerate().rev() {
            offset -= layer.params(self.dim);
            let gp = &mut out.params[offset..offset + layer.params(self.dim)];
            let input = &inputs[l];
            match layer {
                PfLayer::Scale => {
                    let hops = s.hops() as f64;
                    for x in 0..g.len() {
                        let a = f.log_scale(p, x).exp();
                        // ∂ℓ/∂(log a_x): the output a_x·input_x, and 2ω from L.
                        let r = g[x].re_dot(input[x] * a) + 2.0 * omega;
                        let (w, gw) = if f.even[x] {
                            (&p[..3], &mut gp[..3])
                        } else {
                            (&p[3..], &mut gp[3..])
                        };
                        gw[0] += r;
                        gw[1] += r * f.h1[x];
                        gw[2] += r * f.h2[x];
                        // ∂h₁(x)/∂φ_x = g M_x/(1 + M_x²); ∂h₂(x)/∂φ_y = g M_y/(2d (1 + M̄²_x)).
                        out.phi[x] += r * w[1] * coupling * f.m[x] / (1.0 + f.m[x] * f.m[x]);
                        let c2 = r * w[2] * coupling / (hops * f.mbar[x]);
                        for &y in s.hops_of(x).0 {
                            out.phi[y as usize] += c2 * f.m[y as usize];
                        }
                        g[x] *= a;
                    }
                }
                PfLayer::Free => {
                    let mass2 = f.free_mass2(p);
                    let mass = mass2.sqrt();
                    // ∂ℓ/∂m̃² from the output (K + m̃)x and from ω L.
                    let trace: f64 = f.s2.iter().map(|s2| 1.0 / (mass2 + s2)).sum();
                    let r = re_dot(g, input) / (2.0 * mass) + omega * trace;
                    gp[0] += r * p[0].exp() * f.mean_m2;
                    gp[1] += r * p[1].exp();
                    let c = r * p[0].exp() * 2.0 * coupling / g.len() as f64;
                    for (o, m) in out.phi.iter_mut().zip(&f.m) {
                        *o += c * m;
                    }
                    // The input's gradient (K + m̃)ᵀ g = (m̃ − K) g.
                    let mut gin = vec![Complex64::default(); g.len()];
                    apply_free(s, mass, -1.0, g, &mut gin);
                    g.copy_from_slice(&gin);
                }
                PfLayer::Shear(parity) => {
                    let target = parity == Parity::Even;
                    for x in (0..g.len()).filter(|&x| f.even[x] == target) {
                        let gx = g[x];
                        let (nb, k) = s.hops_of(x);
                        for (h, (&y, &k)) in nb.iter().zip(k).enumerate() {
                            let y = y as usize;
                            let (mx, my) = (f.m[x], f.m[y]);
                            let (v, gv) = (&p[4 * h..4 * h + 4], &mut gp[4 * h..4 * h + 4]);
                            let r = k * gx.re_dot(input[y]);
                            gv[0] += r;
                            gv[1] += r * mx;
                            gv[2] += r * my;
                            gv[3] += r * mx * my;
                            out.phi[x] += r * coupling * (v[1] + v[3] * my);
                            out.phi[y] += r * coupling * (v[2] + v[3] * mx);
                            g[y] += gx * (k * shear_coefficient(v, mx, my));
                        }
                    }
                }
            }
        }
        out
    }
}

/// Applies one layer (or its inverse) to `v` in place; returns its log det_ℝ (the forward
/// map's, whichever way it runs).
fn apply_layer(
    layer: PfLayer,
    p: &[f64],
    f: &Features,
    s: &Staggered,
    v: &mut [Complex64],
    inverse: bool,
) -> f64 {
    match layer {
        PfLayer::Scale => {
            let mut log_det = 0.0;
            for (x, z) in v.iter_mut().enumerate() {
                let la = f.log_scale(p, x);
                log_det += 2.0 * la;
                *z *= if inverse { (-la).exp() } else { la.exp() };
            }
            log_det
        }
        PfLayer::Free => {
            let mass2 = f.free_mass2(p);
            let mass = mass2.sqrt();
            let input = v.to_vec();
            if inverse {
                // (K + m̃)⁻¹ = (K + m̃)ᵀ ((K + m̃)(K + m̃)ᵀ)⁻¹, by CG on the free operator.
                let zeros = vec![0.0; v.len()];
                let free = Dirac::new(s, mass, 0.0, &zeros);
                let mut z = vec![Complex64::default(); v.len()];
                let cg = CgParams {
                    tolerance: 1e-13,
                    max_iterations: 100_000,
                };
                let solved = solve_ddt(&free, &input, &mut z, cg, &mut CgScratch::new(v.len()));
                accept_stagnated(solved, STAGNATION_FLOOR)
                    .expect("the free operator at antiperiodic time is invertible");
                apply_free(s, mass, -1.0, &z, v);
            } else {
                apply_free(s, mass, 1.0, &input, v);
            }
            f.free_log_det(mass2)
        }
        PfLayer::Shear(parity) => {
            let target = parity == Parity::Even;
            let sign = if inverse { -1.0 } else { 1.0 };
            for x in (0..v.len()).filter(|&x| f.even[x] == target) {
                let (nb, k) = s.hops_of(x);
                let mut hop = Complex64::default();
                for (h, (&y, &k)) in nb.iter().zip(k).enumerate() {
                    let y = y as usize;
                    let c = shear_coefficient(&p[4 * h..4 * h + 4], f.m[x], f.m[y]);
                    hop += v[y] * (k * c);
                }
                // The sources have the other parity, so they are untouched in this pass.
                v[x] += hop * sign;
            }
            0.0
        }
    }
}

/// out = (m̃ + σK) v with σ = ±1 (σ = −1: the transpose).
fn apply_free(s: &Staggered, mass: f64, sign: f64, v: &[Complex64], out: &mut [Complex64]) {
    for (x, o) in out.iter_mut().enumerate() {
        let (nb, k) = s.hops_of(x);
        let hop: Complex64 = nb.iter().zip(k).map(|(&y, &k)| v[y as usize] * k).sum();
        *o = v[x] * mass + hop * sign;
    }
}
