//! Conditional flow matching (Lipman, Chen, Ben-Hamu, Nickel, Le, arXiv:2210.02747) of a
//! continuous flow from an ensemble of the target: regress the vector field on the velocity of
//! a probability path from the flow's base distribution to each data configuration, with no
//! ODE solve in the loss:
//!   L(θ) = E_{t ~ U(0,1), x₀, φ₁ ~ data} (1/V) Σ_x [v_x(x_t, t) − u_x]²,
//!   x_t = (1 − (1 − σ) t) x₀ + t φ₁,   u = φ₁ − (1 − σ) x₀,
//! the Gaussian path of width σ around the straight line (σ = 0: the straight line itself,
//! rectified flow). x₀ is the prior draw passed through the layers before the continuous one
//! (a spectral scale, if any; they are held fixed here), so the continuous layer must be the
//! flow's last.

use crate::bijection::{LayerCache, Workspace};
use crate::cnf_field::FieldScratch;
use crate::flow::{CHUNK, Flow};
use crate::stack::BijectionStack;
use rayon::prelude::*;
use thiserror::Error;

/// A flow that flow matching cannot train.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("flow matching trains a continuous flow whose vector field is the flow's last layer")]
pub struct NotContinuous;

/// The probability path of [`Flow::flow_matching`]: its width σ at t = 1 (0: straight lines).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbabilityPath {
    pub sigma: f64,
}

impl Flow {
    /// The flow-matching loss (module documentation) on the latent draws `z`, the data `phis`
    /// and the times `t` (one per configuration, all `[n, V]`, `[n, V]`, `[n]`), and its
    /// gradient with respect to every parameter (zero for the layers before the vector field).
    pub fn flow_matching(
        &self,
        z: &[f64],
        phis: &[f64],
        times: &[f64],
        path: ProbabilityPath,
    ) -> Result<(f64, Vec<f64>), NotContinuous> {
        let stack = self.stack();
        let last = stack.len().checked_sub(1).ok_or(NotContinuous)?;
        let field = stack.layer(last).vector_field().ok_or(NotContinuous)?;
        let range = stack.layer_range(last);
        let params = &stack.params()[range.clone()];
        let v = self.field_len();
        let n = times.len();
        assert_eq!((z.len(), phis.len()), (n * v, n * v), "batch shapes");
        let scale = 1.0 / (n * v) as f64;
        let keep = 1.0 - path.sigma;
        let per_chunk: Vec<(f64, Vec<f64>)> = z
            .par_chunks(CHUNK * v)
            .zip(phis.par_chunks(CHUNK * v))
            .zip(times.par_chunks(CHUNK))
            .map_init(
                || (PrefixPass::new(last, v), FieldScratch::default()),
                |(prefix, scratch), ((zc, pc), tc)| {
                    let mut grad = vec![0.0; params.len()];
                    let mut loss = 0.0;
                    let (mut xt, mut vel, mut a, mut dx) =
                        (vec![0.0; v], vec![0.0; v], vec![0.0; v], vec![0.0; v]);
                    for ((zb, phi), &t) in zc.chunks_exact(v).zip(pc.chunks_exact(v)).zip(tc) {
                        let x0 = prefix.apply(stack, zb);
                        for ((x, &p), &b) in xt.iter_mut().zip(phi).zip(x0) {
                            *x = (1.0 - keep * t) * b + t * p;
                        }
                        field.velocity_with(params, &xt, t, &mut vel, scratch);
                        for (((a, &vv), &p), &b) in a.iter_mut().zip(&vel).zip(phi).zip(x0) {
                            let r = vv - (p - keep * b);
                            loss += r * r;
                            *a = 2.0 * scale * r;
                        }
                        field.vjp(params, &xt, t, &a, 0.0, &mut dx, &mut grad, scratch);
                    }
                    (loss, grad)
                },
            )
            .collect();
        let mut grad = vec![0.0; self.n_params()];
        let mut loss = 0.0;
        for (l, g) in per_chunk {
            loss += l;
            grad[range.clone()]
                .iter_mut()
                .zip(&g)
                .for_each(|(a, b)| *a += b);
        }
        Ok((loss * scale, grad))
    }
}

/// The layers before the vector field, applied forward to one configuration at a time.
struct PrefixPass {
    layers: usize,
    caches: Vec<LayerCache>,
    ws: Workspace,
    a: Vec<f64>,
    b: Vec<f64>,
}

impl PrefixPass {
    /// The first `layers` layers, on configurations of `v` values.
    fn new(layers: usize, v: usize) -> Self {
        Self {
            layers,
            caches: vec![LayerCache::default(); layers],
            ws: Workspace::default(),
            a: vec![0.0; v],
            b: vec![0.0; v],
        }
    }

    /// x₀ = (f_{L−1} ∘ … ∘ f_1)(z).
    fn apply(&mut self, stack: &BijectionStack, z: &[f64]) -> &[f64] {
        self.a.copy_from_slice(z);
        for l in 0..self.layers {
            let p = &stack.params()[stack.layer_range(l)];
            stack
                .layer(l)
                .forward(p, &self.a, &mut self.b, &mut self.caches[l], &mut self.ws);
            std::mem::swap(&mut self.a, &mut self.b);
        }
        &self.a
    }
}
