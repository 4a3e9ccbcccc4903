//! The flow model: a prior, an optional spectral scale and a stack of coupling layers,
//! φ = f(z), with
//! log q(φ) = log r(z) − Σ_layers log|det J|.

use crate::activation::Activation;
use crate::affine::{AffineCoupling, Cotangent, CouplingCache};
use crate::conv::KernelShifts;
use crate::mask::checkerboard;
use crate::net::ConvNet;
use crate::prior::{Prior, PriorSpec};
use crate::spectral::SpectralScale;
use crate::spline::RqSpline;
use crate::spline_coupling::SplineCoupling;
use lft_action::Action;
use lft_lattice::{Lattice, Parity, Pcg64, stream_rng};
use rayon::prelude::*;

/// Which coupling layers a flow stacks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CouplingSpec {
    /// RealNVP affine couplings (the conditioner outputs s and t).
    Affine,
    /// Rational-quadratic splines with `bins` bins on [−tail_bound, tail_bound].
    Spline { bins: usize, tail_bound: f64 },
}

impl CouplingSpec {
    /// "affine" or "spline", as in the config.
    pub fn name(&self) -> &'static str {
        match self {
            CouplingSpec::Affine => "affine",
            CouplingSpec::Spline { .. } => "spline",
        }
    }
}

/// Parameters that do not fit the architecture of a flow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{found} parameters, but the flow's architecture has {expected}")]
pub struct ParamCountError {
    pub expected: usize,
    pub found: usize,
}

/// One layer of the stack: a coupling of either kind, or the spectral scale.
#[derive(Debug, Clone)]
enum Layer {
    Affine(AffineCoupling),
    Spline(SplineCoupling),
    Spectral(SpectralScale),
}

impl Layer {
    fn n_params(&self) -> usize {
        match self {
            Layer::Affine(c) => c.n_params(),
            Layer::Spline(c) => c.n_params(),
            Layer::Spectral(c) => c.n_params(),
        }
    }

    fn forward(
        &self,
        sh: &KernelShifts,
        p: &[f64],
        x: &[f64],
        y: &mut [f64],
        cache: &mut CouplingCache,
    ) -> f64 {
        match self {
            Layer::Affine(c) => c.forward(sh, p, x, y, cache),
            Layer::Spline(c) => c.forward(sh, p, x, y, cache),
            Layer::Spectral(c) => c.forward(p, x, y, cache),
        }
    }

    fn inverse_cached(
        &self,
        sh: &KernelShifts,
        p: &[f64],
        y: &[f64],
        x: &mut [f64],
        cache: &mut CouplingCache,
    ) -> f64 {
        match self {
            Layer::Affine(c) => c.inverse_cached(sh, p, y, x, cache),
            Layer::Spline(c) => c.inverse_cached(sh, p, y, x, cache),
            Layer::Spectral(c) => c.inverse_cached(p, y, x, cache),
        }
    }

    fn inverse_backward(
        &self,
        sh: &KernelShifts,
        p: &[f64],
        cache: &CouplingCache,
        up: Cotangent<'_>,
        dp: &mut [f64],
        dy: &mut [f64],
    ) {
        match self {
            Layer::Affine(c) => c.inverse_backward(sh, p, cache, up, dp, dy),
            Layer::Spline(c) => c.inverse_backward(sh, p, cache, up, dp, dy),
            Layer::Spectral(c) => c.inverse_backward(p, cache, up, dp, dy),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        sh: &KernelShifts,
        p: &[f64],
        cache: &CouplingCache,
        up: Cotangent<'_>,
        dp: &mut [f64],
        dx: &mut [f64],
    ) {
        match self {
            Layer::Affine(c) => c.backward(sh, p, cache, up, dp, dx),
            Layer::Spline(c) => c.backward(sh, p, cache, up, dp, dx),
            Layer::Spectral(c) => c.backward(p, cache, up, dp, dx),
        }
    }
}

/// Architecture of a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSpec {
    /// Number of coupling layers (masks alternate between even and odd sites).
    pub layers: usize,
    /// Hidden channels of each conditioner, e.g. [8, 8].
    pub hidden: Vec<usize>,
    /// Odd kernel size of the convolutions.
    pub kernel: usize,
    /// Hidden activation.
    pub activation: Activation,
    /// Activation of the conditioner output (tanh keeps s and t bounded).
    pub final_activation: Activation,
    /// Symmetrise every conditioner under φ → −φ (then q(−φ) = q(φ) for an even prior).
    pub equivariant: bool,
    pub coupling: CouplingSpec,
    pub prior: PriorSpec,
    /// Start with a learnable momentum-space scale ỹ(p) = e^{c(p)} z̃(p) (see
    /// [`SpectralScale`]); it represents free-field covariances exactly.
    pub spectral: bool,
}

/// A normalizing flow for fields on one lattice.
#[derive(Debug, Clone)]
pub struct Flow {
    lattice: Lattice,
    shifts: KernelShifts,
    layers: Vec<Layer>,
    /// Start of each layer's parameters in `params`.
    offsets: Vec<usize>,
    /// All parameters, layer after layer.
    params: Vec<f64>,
    prior: Prior,
}

thread_local! {
    /// Layer caches reused by the passes that keep nothing for a backward pass (sampling,
    /// log q), so they allocate nothing per configuration.
    static PASS_CACHES: std::cell::RefCell<Vec<CouplingCache>> = Default::default();
}

/// Configurations per fixed work chunk of a batch: gradients are summed chunk by chunk in a
/// fixed order, so results do not depend on the number of threads.
const CHUNK: usize = 8;

/// A batch drawn from the flow.
#[derive(Debug, Clone)]
pub struct FlowSample {
    /// `[n, V]`.
    pub phi: Vec<f64>,
    /// log q(φ) of each configuration.
    pub log_q: Vec<f64>,
}

impl Flow {
    /// A flow with freshly initialised parameters drawn from stream (seed, 0). Fails only for
    /// a free-field prior with m² ≤ 0.
    pub fn new(
        lattice: Lattice,
        spec: &FlowSpec,
        seed: u64,
    ) -> Result<Self, lft_action::ActionError> {
        let prior = Prior::new(spec.prior, &lattice)?;
        let shifts = KernelShifts::new(&lattice, spec.kernel);
        let v = lattice.volume();
        let mut channels = vec![1];
        channels.extend_from_slice(&spec.hidden);
        let spline = match spec.coupling {
            CouplingSpec::Affine => None,
            CouplingSpec::Spline { bins, tail_bound } => Some(RqSpline {
                bins,
                bound: tail_bound,
                min_width: 1e-3,
                min_height: 1e-3,
                min_derivative: 1e-3,
            }),
        };
        channels.push(spline.map_or(2, |s| s.params_per_site()));
        let mut rng = stream_rng(seed, 0);
        let mut layers = Vec::with_capacity(spec.layers + 1);
        let mut offsets = Vec::with_capacity(spec.layers + 1);
        let mut params = Vec::new();
        if spec.spectral {
            let layer = SpectralScale::new(&lattice);
            offsets.push(0);
            params.resize(layer.n_params(), 0.0);
            layers.push(Layer::Spectral(layer));
        }
        for l in 0..spec.layers {
            let parity = if l % 2 == 0 {
                Parity::Even
            } else {
                Parity::Odd
            };
            let net = ConvNet::new(
                &channels,
                spec.activation,
                spec.final_activation,
                &shifts,
                v,
            );
            offsets.push(params.len());
            params.extend(net.init_params(&shifts, &mut rng, 1.0));
            let mask = checkerboard(&lattice, parity);
            layers.push(match spline {
                None => Layer::Affine(AffineCoupling::with_symmetry(mask, net, spec.equivariant)),
                Some(sp) => Layer::Spline(SplineCoupling::with_symmetry(
                    mask,
                    net,
                    sp,
                    spec.equivariant,
                )),
            });
        }
        Ok(Self {
            lattice,
            shifts,
            layers,
            offsets,
            params,
            prior,
        })
    }

    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    /// All parameters, layer after layer (the order of every gradient the flow returns).
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// The parameters, for an optimiser step or a finite-difference check.
    pub fn params_mut(&mut self) -> &mut [f64] {
        &mut self.params
    }

    /// Replaces every parameter (from a checkpoint); refuses a vector of the wrong length.
    pub fn set_params(&mut self, params: Vec<f64>) -> Result<(), ParamCountError> {
        if params.len() != self.params.len() {
            return Err(ParamCountError {
                expected: self.params.len(),
                found: params.len(),
            });
        }
        self.params = params;
        Ok(())
    }

    fn layer_params(&self, l: usize) -> &[f64] {
        &self.params[self.offsets[l]..self.offsets[l] + self.layers[l].n_params()]
    }

    /// φ = f(z) for one configuration; returns Σ log|det J| and, if given, fills the caches.
    fn push_forward(
        &self,
        z: &[f64],
        phi: &mut [f64],
        caches: Option<&mut Vec<CouplingCache>>,
    ) -> f64 {
        match caches {
            Some(caches) => self.push_forward_with(z, phi, caches),
            None => PASS_CACHES.with_borrow_mut(|caches| self.push_forward_with(z, phi, caches)),
        }
    }

    fn push_forward_with(
        &self,
        z: &[f64],
        phi: &mut [f64],
        caches: &mut Vec<CouplingCache>,
    ) -> f64 {
        let mut x = z.to_vec();
        let mut logdet = 0.0;
        if caches.len() < self.layers.len() {
            caches.resize(self.layers.len(), CouplingCache::default());
        }
        for (l, layer) in self.layers.iter().enumerate() {
            logdet += layer.forward(&self.shifts, self.layer_params(l), &x, phi, &mut caches[l]);
            x.copy_from_slice(phi);
        }
        phi.copy_from_slice(&x);
        logdet
    }

    /// Draws `n` configurations with their log q, from the stream `rng`.
    pub fn sample(&self, n: usize, rng: &mut Pcg64) -> FlowSample {
        let v = self.lattice.volume();
        let mut z = vec![0.0; n * v];
        for zb in z.chunks_exact_mut(v) {
            self.prior.sample(rng, zb);
        }
        let mut phi = vec![0.0; n * v];
        let log_q: Vec<f64> = phi
            .par_chunks_exact_mut(v)
            .zip(z.par_chunks_exact(v))
            .map(|(p, zb)| self.prior.log_prob(zb) - self.push_forward(zb, p, None))
            .collect();
        FlowSample { phi, log_q }
    }

    /// z = f⁻¹(φ) for one configuration, and log q(φ) = log r(z) − Σ log|det J|.
    pub fn inverse(&self, phi: &[f64], z: &mut [f64]) -> f64 {
        let mut y = phi.to_vec();
        let mut logdet = 0.0;
        PASS_CACHES.with_borrow_mut(|caches| {
            if caches.is_empty() {
                caches.push(CouplingCache::default());
            }
            for l in (0..self.layers.len()).rev() {
                let p = self.layer_params(l);
                logdet += self.layers[l].inverse_cached(&self.shifts, p, &y, z, &mut caches[0]);
                y.copy_from_slice(z);
            }
        });
        z.copy_from_slice(&y);
        self.prior.log_prob(z) - logdet
    }

    /// log q(φ) of every configuration of a batch `[n, V]`.
    pub fn log_q(&self, phis: &[f64]) -> Vec<f64> {
        let v = self.lattice.volume();
        phis.par_chunks_exact(v)
            .map(|phi| {
                let mut z = vec![0.0; v];
                self.inverse(phi, &mut z)
            })
            .collect()
    }

    /// φ = f(z) and Σ log|det J| for a batch of latent configurations.
    pub fn forward_batch(&self, z: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let v = self.lattice.volume();
        let mut phi = vec![0.0; z.len()];
        let logdet = phi
            .par_chunks_exact_mut(v)
            .zip(z.par_chunks_exact(v))
            .map(|(p, zb)| self.push_forward(zb, p, None))
            .collect();
        (phi, logdet)
    }

    /// The reverse Kullback–Leibler loss and its gradient for the latent batch `z` `[n, V]`:
    /// L = (1/n) Σ_b [log q(φ_b) + S(φ_b)], φ_b = f(z_b), with
    /// ∂L/∂θ = (1/n) Σ_b [∇S(φ_b) · ∂φ_b/∂θ − ∂ log|det J_b|/∂θ]
    /// (the prior term does not depend on θ). Returns (L, per-sample log q + S, gradient).
    pub fn reverse_kl(&self, action: &dyn Action, z: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        let v = self.lattice.volume();
        let n = z.len() / v;
        let inv_n = 1.0 / n as f64;
        let per_chunk: Vec<(Vec<f64>, Vec<f64>)> = z
            .par_chunks(CHUNK * v)
            .map(|zc| {
                let mut grad = vec![0.0; self.params.len()];
                let mut terms = Vec::with_capacity(zc.len() / v);
                let mut caches = Vec::new();
                let mut phi = vec![0.0; v];
                let mut g = vec![0.0; v];
                let mut dx = vec![0.0; v];
                for zb in zc.chunks_exact(v) {
                    let logdet = self.push_forward(zb, &mut phi, Some(&mut caches));
                    let s = action.action(&phi);
                    terms.push(self.prior.log_prob(zb) - logdet + s);
                    action.gradient(&phi, &mut g);
                    g.iter_mut().for_each(|x| *x *= inv_n);
                    for l in (0..self.layers.len()).rev() {
                        let range = self.offsets[l]..self.offsets[l] + self.layers[l].n_params();
                        self.layers[l].backward(
                            &self.shifts,
                            &self.params[range.clone()],
                            &caches[l],
                            Cotangent {
                                dy: &g,
                                dlogdet: -inv_n,
                            },
                            &mut grad[range],
                            &mut dx,
                        );
                        std::mem::swap(&mut g, &mut dx);
                    }
                }
                (terms, grad)
            })
            .collect();
        let mut grad = vec![0.0; self.params.len()];
        let mut terms = Vec::with_capacity(n);
        for (t, gchunk) in per_chunk {
            terms.extend(t);
            grad.iter_mut().zip(&gchunk).for_each(|(a, b)| *a += b);
        }
        let loss = terms.iter().sum::<f64>() * inv_n;
        (loss, terms, grad)
    }

    /// The forward Kullback–Leibler (maximum-likelihood) loss on data φ_b `[n, V]` and its
    /// gradient: L = −(1/n) Σ_b log q(φ_b), log q = log r(z) − Σ_layers log det, z = f⁻¹(φ).
    /// The gradient runs backwards through every inverse pass, starting from ∂(−log r)/∂z.
    /// Returns (L, gradient).
    pub fn forward_kl(&self, phis: &[f64]) -> (f64, Vec<f64>) {
        let v = self.lattice.volume();
        let n = phis.len() / v;
        let inv_n = 1.0 / n as f64;
        let per_chunk: Vec<(f64, Vec<f64>)> = phis
            .par_chunks(CHUNK * v)
            .map(|pc| {
                let mut grad = vec![0.0; self.params.len()];
                let mut loss = 0.0;
                let mut caches = vec![CouplingCache::default(); self.layers.len()];
                let (mut y, mut x) = (vec![0.0; v], vec![0.0; v]);
                let (mut g, mut dy) = (vec![0.0; v], vec![0.0; v]);
                for phi in pc.chunks_exact(v) {
                    y.copy_from_slice(phi);
                    let mut logdet = 0.0;
                    for l in (0..self.layers.len()).rev() {
                        logdet += self.layers[l].inverse_cached(
                            &self.shifts,
                            self.layer_params(l),
                            &y,
                            &mut x,
                            &mut caches[l],
                        );
                        std::mem::swap(&mut y, &mut x);
                    }
                    loss += -(self.prior.log_prob(&y) - logdet);
                    self.prior.grad_neg_log_prob(&y, &mut g);
                    g.iter_mut().for_each(|x| *x *= inv_n);
                    for l in 0..self.layers.len() {
                        let range = self.offsets[l]..self.offsets[l] + self.layers[l].n_params();
                        self.layers[l].inverse_backward(
                            &self.shifts,
                            &self.params[range.clone()],
                            &caches[l],
                            Cotangent {
                                dy: &g,
                                dlogdet: inv_n,
                            },
                            &mut grad[range],
                            &mut dy,
                        );
                        std::mem::swap(&mut g, &mut dy);
                    }
                }
                (loss, grad)
            })
            .collect();
        let mut grad = vec![0.0; self.params.len()];
        let mut loss = 0.0;
        for (l, gc) in per_chunk {
            loss += l;
            grad.iter_mut().zip(&gc).for_each(|(a, b)| *a += b);
        }
        (loss * inv_n, grad)
    }

    /// Draws a latent batch `[n, V]` from the prior.
    pub fn sample_latent(&self, n: usize, rng: &mut Pcg64) -> Vec<f64> {
        let v = self.lattice.volume();
        let mut z = vec![0.0; n * v];
        for zb in z.chunks_exact_mut(v) {
            self.prior.sample(rng, zb);
        }
        z
    }
}
