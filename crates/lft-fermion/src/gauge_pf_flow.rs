//! A gauge-covariant conditional flow for the Schwinger model's even-site pseudofermion given
//! the links: ϕ = A(θ) ξ, ξ standard complex normal on the V/2 even sites, A linear in ξ, a
//! product of layers whose determinants are products of diagonals.
//!
//! - **Scale**: ϕ_x ← a_x ϕ_x, log a_x = w₀ + w₁ h(x), h(x) = ¼ Σ_{P ∋ x} (1 − cos θ_P) over
//!   the four plaquettes with a corner at x (gauge invariant). det_ℝ = Π_x a_x².
//! - **Lower** / **Upper**: ϕ ← (1 + N)ϕ, (Nϕ)_x = Σ_r c_r K_{x,z_r} K_{z_r,y_r} ϕ_{y_r} over
//!   the twelve non-backtracking two-hop routes r: x → z_r (odd) → y_r (even), keeping the
//!   routes whose end y_r comes before x (Lower) or after it (Upper) in the order of the even
//!   sites, one real c_r per route direction. Unit triangular: det = 1. The route products are
//!   the terms of K_eo K_oe, so M_ee = m² − K_eo K_oe has exactly this sparsity, and
//!   Scale · Lower · Upper has the shape of an incomplete Cholesky factor of it.
//! - **InverseLower** / **InverseUpper**: ϕ ← (1 + N)⁻¹ϕ by substitution in the sites' order,
//!   det = 1: sparse N, but a dense (1 + N)⁻¹ whose reach decays over the lattice, as M_ee's
//!   correlations do at small mass; local layers alone cannot give A the long-range part of
//!   M_ee^½.
//!
//! **Gauge covariance.** Under θ → g·θ, K_{x,z} K_{z,y} → g_x K_{x,z} K_{z,y} g_y* and h is
//! invariant, so A(g·θ) = G A(θ) G† with G = diag(g_x) on even sites: ϕ → Gϕ with ξ → Gξ,
//! which leaves ξ's density unchanged. q(ϕ | θ) therefore transforms exactly as the target
//! conditional p(ϕ | θ) ∝ e^{−ϕ†M_ee⁻¹ϕ} does.
//!
//! A acts on complex vectors with real parameters, so the real Jacobian of ξ ↦ ϕ is
//! |det A|² and
//!
//!   log q(ϕ | θ) = −(V/2) ln π − |ξ|² − L(θ),   L(θ) = log det_ℝ A = 2 Σ_scales Σ_x log a_x.
//!
//! The estimate and its loss are those of the Yukawa model's flow ([`crate::FlowDetEstimator`]):
//! d̂et = exp(|ξ|² − ϕ†M_ee⁻¹ϕ + L(θ)) is an unbiased, positive estimate of det M_ee = det D,
//! and ℓ = −log d̂et trains the flow (reverse KL on the joint target).

use crate::pf_flow_estimate::check_flow_draws;
use crate::{
    CgParams, CgScratch, Complex64, FermionError, FermionScalar, GaugeDirac, STAGNATION_FLOOR,
    norm_sqr, re_dot, solve_from_zero, standard_complex_normal,
};
use lft_lattice::Pcg64;
use lft_lattice::gauge::plaquette_angle;
use lft_stats::log_mean_exp;

/// Routes x → z → y of two hops without backtracking, in 2D: 4 first hops × 3 second hops.
pub const ROUTES: usize = 12;

/// One layer of a [`GaugePseudofermionFlow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaugePfLayer {
    /// Site-wise positive scale (w₀, w₁).
    Scale,
    /// Routes to earlier even sites (one c per route direction).
    Lower,
    /// Routes to later even sites.
    Upper,
    /// (1 + N_Lower)⁻¹ by forward substitution.
    InverseLower,
    /// (1 + N_Upper)⁻¹ by back substitution.
    InverseUpper,
}

impl GaugePfLayer {
    /// The layer's parameter count.
    pub fn params(self) -> usize {
        match self {
            GaugePfLayer::Scale => 2,
            _ => ROUTES,
        }
    }
}

/// ϕ = A(θ) ξ (see the module doc). The parameters are translation invariant, so one flow serves
/// every lattice size.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugePseudofermionFlow {
    layers: Vec<GaugePfLayer>,
    params: Vec<f64>,
}

/// One route of an even site: its direction r, its end's slot, and K_{x,z} K_{z,y}.
#[derive(Debug, Clone, Copy)]
struct Route {
    kind: usize,
    end: usize,
    transport: Complex64,
}

/// The layers' inputs at one link field: per even site (in slot order) h(x) and its routes.
#[derive(Debug, Clone)]
pub struct GaugePfInputs {
    h: Vec<f64>,
    routes: Vec<[Route; ROUTES]>,
}

impl GaugePfInputs {
    /// The inputs at the links `theta` of the operator `dirac`.
    pub fn new(dirac: &GaugeDirac, theta: &[f64]) -> Self {
        let geometry = dirac.geometry();
        let lattice = geometry.lattice();
        assert_eq!(
            lattice.dim(),
            2,
            "the gauge pseudofermion flow is two-dimensional"
        );
        let staggered = geometry.staggered();
        let hops = staggered.hops();
        let cos_p: Vec<f64> = (0..lattice.volume())
            .map(|x| plaquette_angle(lattice, theta, x, 0, 1).cos())
            .collect();
        let mut h = Vec::with_capacity(geometry.half_volume());
        let mut routes = Vec::with_capacity(geometry.half_volume());
        for &x in geometry.even_sites() {
            let x = x as usize;
            let (b0, b1) = (lattice.bwd(x, 0), lattice.bwd(x, 1));
            let corners = [x, b0, b1, lattice.bwd(b0, 1)];
            h.push(corners.iter().map(|&c| 1.0 - cos_p[c]).sum::<f64>() / 4.0);
            let mut mine = [Route {
                kind: 0,
                end: 0,
                transport: Complex64::default(),
            }; ROUTES];
            let mut r = 0;
            let (nb_x, _) = staggered.hops_of(x);
            for k1 in 0..hops {
                let z = nb_x[k1] as usize;
                let (nb_z, _) = staggered.hops_of(z);
                // The hop back from z to x is the reverse direction of k1 (k ^ 1).
                for k2 in (0..hops).filter(|&k2| k2 != (k1 ^ 1)) {
                    let y = nb_z[k2] as usize;
                    mine[r] = Route {
                        kind: r,
                        end: geometry.slot(y),
                        transport: dirac.hop(x, k1) * dirac.hop(z, k2),
                    };
                    r += 1;
                }
            }
            debug_assert_eq!(r, ROUTES);
            routes.push(mine);
        }
        Self { h, routes }
    }

    /// Even sites.
    pub fn len(&self) -> usize {
        self.h.len()
    }

    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }
}

/// Gradients of a scalar loss ℓ(ϕ, L) through the flow ([`GaugePseudofermionFlow::backward`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GaugePfGradient {
    /// ∂ℓ/∂(parameters).
    pub params: Vec<f64>,
    /// ∂ℓ/∂ξ (real and imaginary parts as one complex number).
    pub xi: Vec<Complex64>,
}

/// The loss ℓ = −log d̂et of one (θ, ξ) and its parameter gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugePfLoss {
    /// ℓ = ϕ†M_ee⁻¹ϕ − |ξ|² − L(θ).
    pub loss: f64,
    pub params: Vec<f64>,
    pub cg_iterations: usize,
}

impl GaugePseudofermionFlow {
    /// A flow of `layers` that starts as A = (m² + 1)^½ (the diagonal of M_ee, for the first
    /// Scale layer; the identity in every other layer).
    pub fn new(layers: Vec<GaugePfLayer>, mass: f64) -> Self {
        let mut params = Vec::new();
        let mut first_scale = true;
        for &layer in &layers {
            match layer {
                GaugePfLayer::Scale if first_scale => {
                    params.extend([0.5 * (mass * mass + 1.0).ln(), 0.0]);
                    first_scale = false;
                }
                _ => params.extend(std::iter::repeat_n(0.0, layer.params())),
            }
        }
        Self { layers, params }
    }

    /// Scale, then `blocks` times (Lower, Upper, InverseLower, InverseUpper, Scale).
    pub fn standard(blocks: usize, mass: f64) -> Self {
        let mut layers = vec![GaugePfLayer::Scale];
        for _ in 0..blocks {
            layers.extend([
                GaugePfLayer::Lower,
                GaugePfLayer::Upper,
                GaugePfLayer::InverseLower,
                GaugePfLayer::InverseUpper,
                GaugePfLayer::Scale,
            ]);
        }
        Self::new(layers, mass)
    }

    pub fn layers(&self) -> &[GaugePfLayer] {
        &self.layers
    }

    pub fn params(&self) -> &[f64] {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut [f64] {
        &mut self.params
    }

    /// Replaces the parameters; `None` if the count is wrong.
    pub fn with_params(mut self, params: Vec<f64>) -> Option<Self> {
        (params.len() == self.params.len()).then(|| {
            self.params = params;
            self
        })
    }

    /// The layers with their parameter slices.
    fn layer_params(&self) -> impl Iterator<Item = (GaugePfLayer, &[f64])> {
        let mut offset = 0;
        self.layers.iter().map(move |&l| {
            let p = &self.params[offset..offset + l.params()];
            offset += l.params();
            (l, p)
        })
    }

    /// ϕ = A(θ) ξ; returns L(θ) = log det_ℝ A.
    pub fn forward(&self, inputs: &GaugePfInputs, xi: &[Complex64], phi: &mut [Complex64]) -> f64 {
        phi.copy_from_slice(xi);
        self.layer_params()
            .map(|(layer, p)| apply_layer(layer, p, inputs, phi, false))
            .sum()
    }

    /// ξ = A(θ)⁻¹ ϕ; returns L(θ).
    pub fn inverse(&self, inputs: &GaugePfInputs, phi: &[Complex64], xi: &mut [Complex64]) -> f64 {
        xi.copy_from_slice(phi);
        let layers: Vec<_> = self.layer_params().collect();
        layers
            .iter()
            .rev()
            .map(|&(layer, p)| apply_layer(layer, p, inputs, xi, true))
            .sum()
    }

    /// Gradients of ℓ = Re(G†ϕ) + ω L(θ), ϕ = A(θ) ξ, for a fixed G = `grad_out`, with respect
    /// to the parameters and to ξ.
    pub fn backward(
        &self,
        inputs: &GaugePfInputs,
        xi: &[Complex64],
        grad_out: &[Complex64],
        omega: f64,
    ) -> GaugePfGradient {
        let layers: Vec<_> = self.layer_params().collect();
        let mut layer_inputs = Vec::with_capacity(layers.len());
        let mut v = xi.to_vec();
        for &(layer, p) in &layers {
            layer_inputs.push(v.clone());
            apply_layer(layer, p, inputs, &mut v, false);
        }
        let mut params = vec![0.0; self.params.len()];
        let mut g = grad_out.to_vec();
        let mut offset = self.params.len();
        for (l, &(layer, p)) in layers.iter().enumerate().rev() {
            offset -= layer.params();
            let gp = &mut params[offset..offset + layer.params()];
            let input = &layer_inputs[l];
            match layer {
                GaugePfLayer::Scale => {
                    for (x, (gx, inx)) in g.iter_mut().zip(input).enumerate() {
                        let a = (p[0] + p[1] * inputs.h[x]).exp();
                        // ∂ℓ/∂(log a_x): from the output a_x·input_x, and 2ω from L.
                        let r = gx.re_dot(inx * a) + 2.0 * omega;
                        gp[0] += r;
                        gp[1] += r * inputs.h[x];
                        *gx *= a;
                    }
                }
                _ => {
                    let (lower, solve) = triangle(layer);
                    let keep = route_filter(lower);
                    if !solve {
                        // out = (1 + N) in: ∂ℓ/∂c_r = Re(g_x* T_r in_y), ∂ℓ/∂in = (1 + N)† g.
                        let g_out = g.clone();
                        for (x, routes) in inputs.routes.iter().enumerate() {
                            let gx = g_out[x];
                            for route in routes.iter().filter(|r| keep(r.end, x)) {
                                gp[route.kind] += gx.re_dot(route.transport * input[route.end]);
                                g[route.end] += route.transport.conj() * gx * p[route.kind];
                            }
                        }
                    } else {
                        // out = (1 + N)⁻¹ in: u = (1 + N)^{−†} g, ∂ℓ/∂in = u and
                        // ∂ℓ/∂c_r = −Re(u_x* T_r out_y). (1 + N†) u = g by substitution
                        // against the order of the forward one, scattering each final u_x.
                        let mut out = input.clone();
                        apply_layer(layer, p, inputs, &mut out, false);
                        let n = g.len();
                        let order: Box<dyn Iterator<Item = usize>> = if lower {
                            Box::new((0..n).rev())
                        } else {
                            Box::new(0..n)
                        };
                        for x in order {
                            let ux = g[x];
                            for route in inputs.routes[x].iter().filter(|r| keep(r.end, x)) {
                                gp[route.kind] -= ux.re_dot(route.transport * out[route.end]);
                                g[route.end] -= route.transport.conj() * ux * p[route.kind];
                            }
                        }
                    }
                }
            }
        }
        GaugePfGradient { params, xi: g }
    }

    /// log d̂et = |ξ|² − ϕ†M_ee⁻¹ϕ + L(θ) of one draw ξ.
    fn log_det_draw(
        &self,
        dirac: &GaugeDirac,
        inputs: &GaugePfInputs,
        xi: &[Complex64],
        cg: CgParams,
        scratch: &mut CgScratch<Complex64>,
    ) -> Result<(f64, usize), FermionError> {
        let mut phi = vec![Complex64::default(); xi.len()];
        let log_jac = self.forward(inputs, xi, &mut phi);
        let mut x = vec![Complex64::default(); xi.len()];
        let stats = solve_from_zero(dirac, &phi, &mut x, cg, STAGNATION_FLOOR, scratch)?;
        Ok((norm_sqr(xi) - re_dot(&phi, &x) + log_jac, stats.iterations))
    }

    /// An unbiased estimate of det D(θ) from `draws` ≥ 1 draws of ξ: the mean of their d̂et
    /// (in logs), with the CG iterations spent.
    pub fn estimate_log_det(
        &self,
        dirac: &GaugeDirac,
        theta: &[f64],
        draws: usize,
        cg: CgParams,
        rng: &mut Pcg64,
    ) -> Result<(f64, usize), FermionError> {
        let inputs = GaugePfInputs::new(dirac, theta);
        check_flow_draws(draws)?;
        let half = inputs.len();
        let mut scratch = CgScratch::new(half);
        let mut xi = vec![Complex64::default(); half];
        let mut logs = Vec::with_capacity(draws);
        let mut iterations = 0;
        for _ in 0..draws {
            standard_complex_normal(rng, &mut xi);
            let (l, it) = self.log_det_draw(dirac, &inputs, &xi, cg, &mut scratch)?;
            logs.push(l);
            iterations += it;
        }
        Ok((log_mean_exp(&logs), iterations))
    }

    /// ℓ = −log d̂et at (θ, ξ) and its parameter gradient: one forward pass, one CG solve, one
    /// backward pass.
    pub fn loss(
        &self,
        dirac: &GaugeDirac,
        theta: &[f64],
        xi: &[Complex64],
        cg: CgParams,
    ) -> Result<GaugePfLoss, FermionError> {
        let inputs = GaugePfInputs::new(dirac, theta);
        let half = xi.len();
        let mut phi = vec![Complex64::default(); half];
        let log_jac = self.forward(&inputs, xi, &mut phi);
        let mut x = vec![Complex64::default(); half];
        let stats = solve_from_zero(
            dirac,
            &phi,
            &mut x,
            cg,
            STAGNATION_FLOOR,
            &mut CgScratch::new(half),
        )?;
        let loss = re_dot(&phi, &x) - norm_sqr(xi) - log_jac;
        let two_x: Vec<Complex64> = x.iter().map(|z| z * 2.0).collect();
        let grad = self.backward(&inputs, xi, &two_x, -1.0);
        Ok(GaugePfLoss {
            loss,
            params: grad.params,
            cg_iterations: stats.iterations,
        })
    }
}

/// (lower, solve) of a triangular layer: whether N points to earlier sites, and whether the
/// layer applies (1 + N)⁻¹ rather than 1 + N.
fn triangle(layer: GaugePfLayer) -> (bool, bool) {
    match layer {
        GaugePfLayer::Lower => (true, false),
        GaugePfLayer::Upper => (false, false),
        GaugePfLayer::InverseLower => (true, true),
        GaugePfLayer::InverseUpper => (false, true),
        GaugePfLayer::Scale => unreachable!("a scale layer is diagonal"),
    }
}

/// Which route ends N keeps at site slot x: earlier sites for a lower N, later for an upper.
fn route_filter(lower: bool) -> fn(usize, usize) -> bool {
    if lower {
        |end, x| end < x
    } else {
        |end, x| end > x
    }
}

/// Applies one layer (or its inverse) to `v` in place; returns the forward map's log det_ℝ.
fn apply_layer(
    layer: GaugePfLayer,
    p: &[f64],
    inputs: &GaugePfInputs,
    v: &mut [Complex64],
    inverse: bool,
) -> f64 {
    match layer {
        GaugePfLayer::Scale => {
            let mut log_det = 0.0;
            for (z, &h) in v.iter_mut().zip(&inputs.h) {
                let la = p[0] + p[1] * h;
                log_det += 2.0 * la;
                *z *= if inverse { (-la).exp() } else { la.exp() };
            }
            log_det
        }
        _ => {
            let (lower, solve) = triangle(layer);
            let keep = route_filter(lower);
            let hop = |v: &[Complex64], x: usize| -> Complex64 {
                inputs.routes[x]
                    .iter()
                    .filter(|r| keep(r.end, x))
                    .map(|r| r.transport * v[r.end] * p[r.kind])
                    .sum()
            };
            let n = v.len();
            if solve == inverse {
                // v ← (1 + N) v, from a copy of the input.
                let input = v.to_vec();
                for (x, z) in v.iter_mut().enumerate() {
                    *z += hop(&input, x);
                }
            } else if lower {
                // v ← (1 + N)⁻¹ v: v_x −= (N v)_x in increasing x, the earlier v_y already final.
                for x in 0..n {
                    let h = hop(v, x);
                    v[x] -= h;
                }
            } else {
                for x in (0..n).rev() {
                    let h = hop(v, x);
                    v[x] -= h;
                }
            }
            0.0
        }
    }
}

/// The flow's estimate as a determinant estimator: `draws` draws per estimate, solved to `cg`.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeFlowDetEstimator {
    pub flow: GaugePseudofermionFlow,
    pub draws: usize,
    pub cg: CgParams,
}

impl GaugeFlowDetEstimator {
    /// Refuses zero draws.
    pub fn new(
        flow: GaugePseudofermionFlow,
        draws: usize,
        cg: CgParams,
    ) -> Result<Self, FermionError> {
        check_flow_draws(draws)?;
        Ok(Self { flow, draws, cg })
    }

    /// One unbiased estimate of log det D(θ) and its CG iterations.
    pub fn estimate(
        &self,
        dirac: &GaugeDirac,
        theta: &[f64],
        rng: &mut Pcg64,
    ) -> Result<(f64, usize), FermionError> {
        self.flow
            .estimate_log_det(dirac, theta, self.draws, self.cg, rng)
    }
}
