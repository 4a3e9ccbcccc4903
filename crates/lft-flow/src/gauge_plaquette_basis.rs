//! The plaquette-basis layer of 2D U(1): every plaquette but one mapped by the same circle
//! transform H, exactly and all at once, through the plaquette coordinates of the maximal-tree
//! gauge. (In lft's flows H is a circular spline that `lft train` sets to the quantile map of
//! the Wilson plaquette marginal, [`crate::FlowSpec::init_plaquette_basis`]; training may refine
//! it.)
//!
//! On a periodic n₀ × n₁ lattice the plaquettes of a link field are independent angles but for
//! one constraint (Σ_x P_x ≡ 0 mod 2π), and the Wilson action depends on the links through them
//! only, so the 2D pure gauge target is a product of e^{β cos P_x} over plaquettes up to that
//! constraint. This layer makes each of the V − 1 plaquettes x ≠ x* = (n₀ − 1, n₁ − 1) follow
//! H's image of the Haar measure; the last one follows from the constraint. (It is exact for
//! this structure and nothing else: in more dimensions, or with fermions, plaquettes are not
//! independent, and the coupling layers of [`crate::gauge_coupling`] remain the general tool.)
//!
//! The link update that moves the plaquettes by δ (δ_{x*} unused) is the linear map M of the
//! maximal tree {θ_1(a, b): b < n₁ − 1} ∪ {θ_0(a, 0)} with δ going into the remaining links:
//!   (Mδ)_0(a, b) = −Σ_{b′ < b} δ(a, b′),
//!   (Mδ)_1(a, n₁ − 1) = Σ_{a′ < a} Σ_{b′} δ(a′, b′),   (Mδ)_1(a, b) = 0 for b < n₁ − 1,
//! so that D(θ + Mδ) = P + δ at every x ≠ x* (and P_{x*} moves by −Σ δ). The layer is
//!   θ′ = wrap(θ + M(H(P) − P)),   log|det ∂θ′/∂θ| = Σ_{x ≠ x*} log H′(P_x):
//! ∂θ′/∂θ = I + M(H′ − I)D and det(I + AB) = det(I + BA) with DM the identity off x* and
//! column x* of DM zero. The inverse reads P′ = Dθ′ and sets θ = wrap(θ′ − M(P′ − H⁻¹(P′))).
//! The update is a fixed shift of link angles computed from plaquettes, which are gauge
//! invariant, and U(1) is abelian: the layer commutes with every gauge transformation, and
//! its log det is gauge invariant.
//!
//! Backward (g = ∂L/∂θ′, γ = ∂L/∂ log det), with G = Mᵀg:
//!   ∂L/∂θ = g + Dᵀ[∂_P(G H(P) + γ log H′(P)) − G]   (over x ≠ x*),
//!   ∂L/∂(H's parameters) = Σ_{x ≠ x*} ∂_p(G_x H(P_x) + γ log H′(P_x)),
//! and through the inverse the same with H⁻¹'s gradients (inverse function theorem), where
//!   (Mᵀg)(a, b) = −Σ_{b″ > b} g_0(a, b″) + Σ_{a″ > a} g_1(a″, n₁ − 1).
//! H's parameters are shared by all plaquettes (the target is translation invariant); the
//! layer has exactly `params_per_site` parameters and no network, and its passes call the
//! transform's shared-parameter forms ([`ElementwiseTransform::forward_shared`]), so a spline
//! places its knots once per configuration.

use crate::bijection::{Bijection, Cotangent, LayerCache, Workspace};
use crate::gauge_plaquettes::PlaquetteMap;
use crate::transform::ElementwiseTransform;
use lft_lattice::Lattice;
use lft_lattice::gauge::wrap_link;

/// Why a lattice cannot carry a plaquette-basis layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the plaquette-basis layer is built for periodic 2D U(1) fields, not {0} dimensions")]
pub struct PlaquetteBasisError(pub usize);

/// The plaquette-basis layer with circle transform `T`.
#[derive(Debug, Clone)]
pub struct PlaquetteBasis<T> {
    plaquettes: PlaquetteMap,
    /// Site index of (a, b), row-major in a: `sites[a * n1 + b]`.
    sites: Vec<usize>,
    extents: [usize; 2],
    transform: T,
}

impl<T: ElementwiseTransform> PlaquetteBasis<T> {
    /// The layer on a 2D `lattice`.
    pub fn new(lattice: &Lattice, transform: T) -> Result<Self, PlaquetteBasisError> {
        if lattice.dim() != 2 {
            return Err(PlaquetteBasisError(lattice.dim()));
        }
        let [n0, n1] = [lattice.shape()[0], lattice.shape()[1]];
        let sites = (0..n0)
            .flat_map(|a| (0..n1).map(move |b| (a, b)))
            .map(|(a, b)| lattice.index(&[a, b]))
            .collect();
        Ok(Self {
            plaquettes: PlaquetteMap::new(lattice),
            sites,
            extents: [n0, n1],
            transform,
        })
    }

    fn site(&self, a: usize, b: usize) -> usize {
        self.sites[a * self.extents[1] + b]
    }

    /// x* = (n₀ − 1, n₁ − 1), the plaquette the constraint fixes.
    pub fn constrained_site(&self) -> usize {
        self.site(self.extents[0] - 1, self.extents[1] - 1)
    }

    /// The link shifts Mδ that move every plaquette x ≠ x* by δ_x (see the module
    /// documentation).
    pub fn link_shifts(&self, delta: &[f64]) -> Vec<f64> {
        let [n0, n1] = self.extents;
        let v = self.plaquettes.volume();
        let mut out = vec![0.0; 2 * v];
        let mut below = 0.0;
        for a in 0..n0 {
            let mut column = 0.0;
            for b in 0..n1 {
                let x = self.site(a, b);
                out[x] = -column;
                column += delta[x];
            }
            out[v + self.site(a, n1 - 1)] = below;
            if a + 1 < n0 {
                below += column;
            }
        }
        out
    }

    /// Mᵀg (zero at x*).
    pub fn link_shifts_transpose(&self, g: &[f64]) -> Vec<f64> {
        let [n0, n1] = self.extents;
        let v = self.plaquettes.volume();
        let mut out = vec![0.0; v];
        let mut right = 0.0;
        for a in (0..n0).rev() {
            let mut above = 0.0;
            for b in (0..n1).rev() {
                let x = self.site(a, b);
                out[x] = -above + right;
                above += g[x];
            }
            right += g[v + self.site(a, n1 - 1)];
        }
        out
    }

    /// Copies `from` into `to` moved by M(map(P) − P) over x ≠ x*, with (map(P), log slope) =
    /// `map`(all P) (H forward, H⁻¹ inverse, with the parameters shared); returns Σ log slope.
    fn shift_links(
        &self,
        from: &[f64],
        to: &mut [f64],
        map: impl Fn(&[f64], &mut [(f64, f64)]),
    ) -> f64 {
        let p = self.plaquettes.plaquettes(from);
        let skip = self.constrained_site();
        let mut mapped = vec![(0.0, 0.0); p.len()];
        map(&p, &mut mapped);
        let mut delta = vec![0.0; p.len()];
        let mut logdet = 0.0;
        for (x, ((d, &px), &(m, log_slope))) in delta.iter_mut().zip(&p).zip(&mapped).enumerate() {
            if x != skip {
                *d = m - px;
                logdet += log_slope;
            }
        }
        let shifts = self.link_shifts(&delta);
        for ((t, f), s) in to.iter_mut().zip(from).zip(&shifts) {
            *t = wrap_link(f + s);
        }
        logdet
    }

    /// The shared backward: `site(P_x, G_x, γ, dθ)` is ∂L/∂(the plaquette on the upstream
    /// side) through H or H⁻¹ at the x-side plaquette P_x.
    fn backward_with(
        &self,
        cache: &LayerCache,
        upstream: Cotangent<'_>,
        d_in: &mut [f64],
        mut site: impl FnMut(f64, f64, f64) -> f64,
    ) {
        let (g, gamma) = (upstream.dy, upstream.dlogdet);
        let p = self.plaquettes.plaquettes(&cache.input);
        let gm = self.link_shifts_transpose(g);
        let skip = self.constrained_site();
        let dp: Vec<f64> = (0..p.len())
            .map(|x| {
                if x == skip {
                    0.0
                } else {
                    site(p[x], gm[x], gamma) - gm[x]
                }
            })
            .collect();
        d_in.copy_from_slice(g);
        self.plaquettes.add_transpose(&dp, d_in);
    }
}

impl<T: ElementwiseTransform> Bijection for PlaquetteBasis<T> {
    fn n_params(&self) -> usize {
        self.transform.params_per_site()
    }

    fn forward(
        &self,
        params: &[f64],
        x: &[f64],
        y: &mut [f64],
        cache: &mut LayerCache,
        _ws: &mut Workspace,
    ) -> f64 {
        cache.keep_input(x);
        self.shift_links(x, y, |p, out| self.transform.forward_shared(p, params, out))
    }

    fn inverse(
        &self,
        params: &[f64],
        y: &[f64],
        x: &mut [f64],
        cache: &mut LayerCache,
        _ws: &mut Workspace,
    ) -> f64 {
        // x = y − M(P′ − H⁻¹(P′)) = y + M(H⁻¹(P′) − P′): the forward shift with H⁻¹.
        let logdet = self.shift_links(y, x, |p, out| self.transform.inverse_shared(p, params, out));
        cache.keep_input(x);
        logdet
    }

    fn backward(
        &self,
        params: &[f64],
        cache: &LayerCache,
        upstream: Cotangent<'_>,
        dparams: &mut [f64],
        dx: &mut [f64],
        _ws: &mut Workspace,
    ) {
        self.backward_with(cache, upstream, dx, |p, g, gamma| {
            self.transform.backward(p, params, g, gamma, dparams)
        });
    }

    fn inverse_backward(
        &self,
        params: &[f64],
        cache: &LayerCache,
        upstream: Cotangent<'_>,
        dparams: &mut [f64],
        dy: &mut [f64],
        _ws: &mut Workspace,
    ) {
        self.backward_with(cache, upstream, dy, |p, g, gamma| {
            self.transform
                .inverse_backward(p, params, g, gamma, dparams)
        });
    }
}
