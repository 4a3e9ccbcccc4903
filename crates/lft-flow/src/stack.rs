//! A stack of bijections T = f_L ∘ … ∘ f_1 with one flat parameter vector: a map on its own
//! (a flow without its prior, or a transport between annealing temperatures), with
//! log|det ∂T/∂x| = Σ_l ℓ_l and backward passes through every layer.
//!
//! Every pass takes a caller-owned [`StackScratch`] (made once by [`BijectionStack::scratch`],
//! reused for every configuration), in the manner of rustfft's plans and faer's scratch.

use crate::bijection::{Bijection, Cotangent, LayerCache, Workspace};
use std::sync::Arc;

/// Parameters that do not fit the architecture of a flow or stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{found} parameters, but the flow's architecture has {expected}")]
pub struct ParamCountError {
    pub expected: usize,
    pub found: usize,
}

/// Layers, each with its slice of the parameters.
#[derive(Debug, Clone, Default)]
pub struct BijectionStack {
    layers: Vec<Arc<dyn Bijection>>,
    /// Start of each layer's parameters in `params`.
    offsets: Vec<usize>,
    /// All parameters, layer after layer.
    params: Vec<f64>,
}

/// The buffers of one pass through a stack: a cache per layer, the workspace every layer
/// shares, and two configurations.
#[derive(Debug, Clone, Default)]
pub struct StackScratch {
    caches: Vec<LayerCache>,
    ws: Workspace,
    a: Vec<f64>,
    b: Vec<f64>,
}

impl BijectionStack {
    /// The identity map (no layers).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `layer` (applied after the ones already there) with its initial parameters.
    pub fn push(&mut self, layer: Arc<dyn Bijection>, params: Vec<f64>) {
        assert_eq!(params.len(), layer.n_params(), "parameters of the layer");
        self.offsets.push(self.params.len());
        self.params.extend(params);
        self.layers.push(layer);
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    pub fn layer(&self, l: usize) -> &dyn Bijection {
        self.layers[l].as_ref()
    }

    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    /// All parameters, layer after layer (the order of every gradient).
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut [f64] {
        &mut self.params
    }

    /// Replaces every parameter; refuses a vector of the wrong length.
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

    /// The range of layer `l`'s parameters in the flat vector.
    pub fn layer_range(&self, l: usize) -> std::ops::Range<usize> {
        self.offsets[l]..self.offsets[l] + self.layers[l].n_params()
    }

    /// The same stack with every integrated layer solved with `factor` × the steps
    /// ([`Bijection::refined`]), the same parameters; `None` if no layer is integrated.
    pub fn refined(&self, factor: usize) -> Option<BijectionStack> {
        let layers: Vec<Option<Arc<dyn Bijection>>> =
            self.layers.iter().map(|l| l.refined(factor)).collect();
        layers.iter().any(Option::is_some).then(|| BijectionStack {
            layers: layers
                .into_iter()
                .zip(&self.layers)
                .map(|(fine, layer)| fine.unwrap_or_else(|| layer.clone()))
                .collect(),
            offsets: self.offsets.clone(),
            params: self.params.clone(),
        })
    }

    /// Whether a layer's log det is accumulated by an ODE solver (and so its inverse and log
    /// det are exact only to the solver's accuracy).
    pub fn is_integrated(&self) -> bool {
        self.layers.iter().any(|l| l.refined(1).is_some())
    }

    /// Buffers for passes over configurations of `volume` sites.
    pub fn scratch(&self, volume: usize) -> StackScratch {
        StackScratch {
            caches: vec![LayerCache::default(); self.layers.len()],
            ws: Workspace::default(),
            a: vec![0.0; volume],
            b: vec![0.0; volume],
        }
    }

    /// y = T(x); returns Σ_l log|det ∂f_l| and keeps every layer's cache in `scratch` for
    /// [`BijectionStack::backward`].
    pub fn forward(&self, x: &[f64], y: &mut [f64], scratch: &mut StackScratch) -> f64 {
        let StackScratch { caches, ws, a, b } = scratch;
        a.clear();
        a.extend_from_slice(x);
        b.resize(x.len(), 0.0);
        caches.resize(self.layers.len(), LayerCache::default());
        let mut logdet = 0.0;
        for (l, layer) in self.layers.iter().enumerate() {
            logdet += layer.forward(&self.params[self.layer_range(l)], a, b, &mut caches[l], ws);
            std::mem::swap(a, b);
        }
        y.copy_from_slice(a);
        logdet
    }

    /// x = T⁻¹(y); returns the forward Σ_l log|det ∂f_l| at that x and keeps every layer's
    /// cache for [`BijectionStack::inverse_backward`].
    pub fn inverse(&self, y: &[f64], x: &mut [f64], scratch: &mut StackScratch) -> f64 {
        let StackScratch { caches, ws, a, b } = scratch;
        a.clear();
        a.extend_from_slice(y);
        b.resize(y.len(), 0.0);
        caches.resize(self.layers.len(), LayerCache::default());
        let mut logdet = 0.0;
        for l in (0..self.layers.len()).rev() {
            let p = &self.params[self.layer_range(l)];
            logdet += self.layers[l].inverse(p, a, b, &mut caches[l], ws);
            std::mem::swap(a, b);
        }
        x.copy_from_slice(a);
        logdet
    }

    /// Backward through the last [`BijectionStack::forward`] in `scratch`: `g` = ∂L/∂y on
    /// entry and ∂L/∂x on return, γ = ∂L/∂(Σ log det); adds ∂L/∂θ to `grad`.
    pub fn backward(
        &self,
        scratch: &mut StackScratch,
        g: &mut Vec<f64>,
        dlogdet: f64,
        grad: &mut [f64],
    ) {
        let StackScratch { caches, ws, a, .. } = scratch;
        a.resize(g.len(), 0.0);
        for l in (0..self.layers.len()).rev() {
            let range = self.layer_range(l);
            self.layers[l].backward(
                &self.params[range.clone()],
                &caches[l],
                Cotangent { dy: g, dlogdet },
                &mut grad[range],
                a,
                ws,
            );
            std::mem::swap(g, a);
        }
    }

    /// Backward through the last [`BijectionStack::inverse`] in `scratch`: `g` = ∂L/∂x on
    /// entry and ∂L/∂y on return, γ = ∂L/∂(Σ log det); adds ∂L/∂θ to `grad`. The caches of a
    /// [`BijectionStack::forward`] from x serve it too, as those of the inverse from y = T(x)
    /// (every layer keeps its x-side input and a conditioner state that depends only on sites
    /// equal on both sides; see [`crate::Bijection`]): the path gradient uses that.
    pub fn inverse_backward(
        &self,
        scratch: &mut StackScratch,
        g: &mut Vec<f64>,
        dlogdet: f64,
        grad: &mut [f64],
    ) {
        let StackScratch { caches, ws, a, .. } = scratch;
        a.resize(g.len(), 0.0);
        for l in 0..self.layers.len() {
            let range = self.layer_range(l);
            self.layers[l].inverse_backward(
                &self.params[range.clone()],
                &caches[l],
                Cotangent { dy: g, dlogdet },
                &mut grad[range],
                a,
                ws,
            );
            std::mem::swap(g, a);
        }
    }
}
