//! A learnable linear layer in momentum space: ỹ(p) = e^{c(p)} x̃(p).
//!
//! In position space this is a circular convolution y = K ⊛ x with a symmetric kernel
//! (K̃(p) = e^{c(p)} is real and even), so log|det ∂y/∂x| = Σ_p c(p), independent of x.
//! One parameter c is shared by every momentum of a class related by the lattice's
//! reflections p_μ → −p_μ and by permutations of axes of equal extent, so the layer keeps the
//! symmetries of the action.
//!
//! Why it exists: a checkerboard coupling with a field-independent scale s has the same
//! determinant on every pair of momenta (p, p + π) it mixes, whereas a free field needs
//! det C(p) ∝ 1/((p̂² + m²)(p̂'² + m²)), which varies with p. Stacks of affine couplings
//! therefore cannot represent a Gaussian with a free-field covariance exactly, and on the free
//! field their ESS stalls near 0.85; one spectral layer represents it exactly.

use crate::bijection::{Bijection, Cotangent, LayerCache, Workspace};
use lft_lattice::{Complex64, Lattice, LatticeFft};
use std::collections::BTreeMap;
use std::sync::Arc;

/// ỹ(p) = e^{c(class(p))} x̃(p); parameters: one c per momentum class, zero (identity) at
/// initialisation.
#[derive(Clone)]
pub struct SpectralScale {
    fft: Arc<LatticeFft>,
    /// Class of every momentum index.
    class: Vec<usize>,
    n_classes: usize,
}

impl std::fmt::Debug for SpectralScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpectralScale {{ classes: {} }}", self.n_classes)
    }
}

/// The class key of a momentum: per axis min(n, L − n), sorted within groups of axes of equal
/// extent.
fn class_key(lattice: &Lattice, k: usize) -> Vec<usize> {
    let shape = lattice.shape();
    let folded: Vec<usize> = lattice
        .coords(k)
        .iter()
        .zip(shape)
        .map(|(&n, &l)| n.min(l - n))
        .collect();
    let mut extents: Vec<usize> = shape.to_vec();
    extents.sort_unstable();
    extents.dedup();
    let mut key = Vec::with_capacity(2 * shape.len());
    for l in extents {
        let mut group: Vec<usize> = (0..shape.len())
            .filter(|&mu| shape[mu] == l)
            .map(|mu| folded[mu])
            .collect();
        group.sort_unstable();
        key.push(l);
        key.extend(group);
    }
    key
}

impl SpectralScale {
    pub fn new(lattice: &Lattice) -> Self {
        let mut ids = BTreeMap::new();
        let keys: Vec<Vec<usize>> = (0..lattice.volume())
            .map(|k| class_key(lattice, k))
            .collect();
        for key in &keys {
            let next = ids.len();
            ids.entry(key.clone()).or_insert(next);
        }
        let class = keys.iter().map(|key| ids[key]).collect();
        Self {
            fft: Arc::new(LatticeFft::new(lattice)),
            class,
            n_classes: ids.len(),
        }
    }

    /// The parameter (class) of momentum index `k`.
    pub fn class(&self, k: usize) -> usize {
        self.class[k]
    }

    /// log|det ∂y/∂x| = Σ_p c(class(p)).
    pub fn log_det(&self, params: &[f64]) -> f64 {
        self.class.iter().map(|&c| params[c]).sum()
    }

    fn transform(&self, field: &[f64]) -> Vec<Complex64> {
        self.fft.forward_real(field)
    }

    /// out = F⁻¹[e^{sign·c(p)} F x]: the layer for sign = 1, its inverse for sign = −1.
    pub(crate) fn apply(&self, params: &[f64], sign: f64, x: &[f64], out: &mut [f64]) {
        let mut c = self.transform(x);
        c.iter_mut()
            .zip(&self.class)
            .for_each(|(z, &k)| *z *= (sign * params[k]).exp());
        self.fft.inverse(&mut c);
        out.iter_mut().zip(&c).for_each(|(o, z)| *o = z.re);
    }

    /// The shared backward step for x̃ ↦ e^{sign·c} x̃ with g = ∂L/∂output: adds
    /// Σ_{p in class} [w(p) Re(x̃(p) g̃(p)*) / V + γ] to each class's gradient, with
    /// w = e^{c} for the forward map and −1 for the inverse (∂ỹ/∂c = sign · ỹ), and writes
    /// ∂L/∂x = F⁻¹[e^{sign·c} g̃] (the kernel is symmetric) into `out`. Three FFTs.
    pub(crate) fn backward_step(
        &self,
        params: &[f64],
        sign: f64,
        x: &[f64],
        up: Cotangent<'_>,
        dparams: &mut [f64],
        out: &mut [f64],
    ) {
        let (xt, mut gt) = (self.transform(x), self.transform(up.dy));
        let inv_v = 1.0 / x.len() as f64;
        for ((a, b), &k) in xt.iter().zip(gt.iter_mut()).zip(&self.class) {
            let w = if sign > 0.0 { params[k].exp() } else { -1.0 };
            dparams[k] += w * (a * b.conj()).re * inv_v + up.dlogdet;
            *b *= (sign * params[k]).exp();
        }
        self.fft.inverse(&mut gt);
        out.iter_mut().zip(&gt).for_each(|(o, z)| *o = z.re);
    }
}

impl Bijection for SpectralScale {
    fn n_params(&self) -> usize {
        self.n_classes
    }

    fn lanes(&self) -> Option<&dyn crate::LaneBijection> {
        Some(self)
    }

    /// y = f(x); returns log|det ∂y/∂x| and keeps x in `cache`.
    fn forward(
        &self,
        params: &[f64],
        x: &[f64],
        y: &mut [f64],
        cache: &mut LayerCache,
        _: &mut Workspace,
    ) -> f64 {
        self.apply(params, 1.0, x, y);
        cache.keep_input(x);
        self.log_det(params)
    }

    /// x = f⁻¹(y); returns the forward log det and keeps x in `cache`.
    fn inverse(
        &self,
        params: &[f64],
        y: &[f64],
        x: &mut [f64],
        cache: &mut LayerCache,
        _: &mut Workspace,
    ) -> f64 {
        self.apply(params, -1.0, y, x);
        cache.keep_input(x);
        self.log_det(params)
    }

    /// Backward through y = f(x) with g = ∂L/∂y, γ = ∂L/∂(log det):
    /// ∂L/∂c(p) = e^{c(p)} Re(x̃(p) g̃(p)*) / V + γ (summed over the class),
    /// ∂L/∂x = K ⊛ g (K is symmetric). Adds to `dparams`, writes `dx`.
    fn backward(
        &self,
        params: &[f64],
        cache: &LayerCache,
        up: Cotangent<'_>,
        dparams: &mut [f64],
        dx: &mut [f64],
        _: &mut Workspace,
    ) {
        self.backward_step(params, 1.0, &cache.input, up, dparams, dx);
    }

    /// Backward through x = f⁻¹(y) with g = ∂L/∂x, γ = ∂L/∂(forward log det):
    /// x̃ = e^{−c} ỹ gives ∂L/∂c(p) = −Re(x̃(p) g̃(p)*) / V + γ and ∂L/∂y = K⁻¹ ⊛ g.
    fn inverse_backward(
        &self,
        params: &[f64],
        cache: &LayerCache,
        up: Cotangent<'_>,
        dparams: &mut [f64],
        dy: &mut [f64],
        _: &mut Workspace,
    ) {
        self.backward_step(params, -1.0, &cache.input, up, dparams, dy);
    }
}
