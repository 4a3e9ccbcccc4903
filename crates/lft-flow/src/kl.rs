//! The training losses of a [`Flow`] and their gradients with respect to its parameters.

use crate::flow::{CHUNK, Flow};
use crate::lane_kl::KlGradient;
use crate::lane_stack::LaneStackScratch;
use lft_action::Action;
use lft_lattice::LANES;
use rayon::prelude::*;

impl Flow {
    /// The reverse Kullback–Leibler loss and its gradient for the latent batch `z` `[n, V]`:
    /// L = (1/n) Σ_b [log q(φ_b) + S(φ_b)], φ_b = f(z_b), with
    /// ∂L/∂θ = (1/n) Σ_b [∇S(φ_b) · ∂φ_b/∂θ − ∂ log|det J_b|/∂θ]
    /// (the prior term does not depend on θ). Full chunks of [`LANES`] configurations go
    /// through lane batches where the flow and the action offer them ([`crate::lane_kl`]).
    /// Returns (L, per-sample log q + S, gradient).
    pub fn reverse_kl(&self, action: &dyn Action, z: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        let v = self.field_len();
        let n = z.len() / v;
        let inv_n = 1.0 / n as f64;
        let stack = self.stack();
        let lanes = self.lane_action(action);
        let per_chunk: Vec<(Vec<f64>, Vec<f64>)> = z
            .par_chunks(CHUNK * v)
            .map_init(
                || (self.scratch(), LaneStackScratch::default()),
                |(scratch, lane_scratch), zc| {
                    let mut grad = vec![0.0; self.n_params()];
                    if let Some(la) = lanes.filter(|_| zc.len() == LANES * v) {
                        let terms = self.reverse_kl_lanes(
                            la,
                            zc,
                            inv_n,
                            KlGradient::Total,
                            lane_scratch,
                            &mut grad,
                            &mut [],
                        );
                        return (terms, grad);
                    }
                    let mut terms = Vec::with_capacity(zc.len() / v);
                    let mut phi = vec![0.0; v];
                    let mut g = vec![0.0; v];
                    for zb in zc.chunks_exact(v) {
                        let logdet = stack.forward(zb, &mut phi, scratch);
                        let s = action.action(&phi);
                        terms.push(self.prior().log_prob(zb) - logdet + s);
                        action.gradient(&phi, &mut g);
                        g.iter_mut().for_each(|x| *x *= inv_n);
                        stack.backward(scratch, &mut g, -inv_n, &mut grad);
                    }
                    (terms, grad)
                },
            )
            .collect();
        combine_chunks(per_chunk, self.n_params(), n, inv_n)
    }

    /// The reverse Kullback–Leibler loss of [`Flow::reverse_kl`] with the **path gradient**
    /// (Vaitl, Nicoli, Nakajima, Kessel, arXiv:2207.08219): the total derivative of
    /// log q_θ(f_θ(z)) + S(f_θ(z)) less its score term ∂_θ log q_θ(φ)|_φ, whose expectation
    /// under q is zero,
    ///   ∂L/∂θ ≈ (1/n) Σ_b [∇_φ (log q_θ + S)(φ_b)] · ∂f_θ(z_b)/∂θ.
    /// Both estimate ∇_θ KL(q‖p) without bias; the path gradient vanishes sample by sample as
    /// q → p, so its variance falls to zero where the total one does not. ∇_φ log q comes
    /// from the inverse: −∇_φ log q = backward through z = f⁻¹(φ) of −log r(z) + Σ log|det J|,
    /// on the caches of the forward pass (no inverse pass is needed), so a step costs about
    /// one backward pass more than with the total gradient.
    /// Returns (L, per-sample log q + S, gradient).
    pub fn reverse_kl_path(&self, action: &dyn Action, z: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        let v = self.field_len();
        let n = z.len() / v;
        let inv_n = 1.0 / n as f64;
        let stack = self.stack();
        let lanes = self.lane_action(action);
        let per_chunk: Vec<(Vec<f64>, Vec<f64>)> = z
            .par_chunks(CHUNK * v)
            .map_init(
                || {
                    let unused = vec![0.0; self.n_params()];
                    (self.scratch(), LaneStackScratch::default(), unused)
                },
                |(scratch, lane_scratch, unused), zc| {
                    let mut grad = vec![0.0; self.n_params()];
                    if let Some(la) = lanes.filter(|_| zc.len() == LANES * v) {
                        let terms = self.reverse_kl_lanes(
                            la,
                            zc,
                            inv_n,
                            KlGradient::Path,
                            lane_scratch,
                            &mut grad,
                            unused,
                        );
                        return (terms, grad);
                    }
                    let mut terms = Vec::with_capacity(zc.len() / v);
                    let mut phi = vec![0.0; v];
                    let (mut g, mut g_log_q) = (vec![0.0; v], vec![0.0; v]);
                    for zb in zc.chunks_exact(v) {
                        let logdet = stack.forward(zb, &mut phi, scratch);
                        let s = action.action(&phi);
                        terms.push(self.prior().log_prob(zb) - logdet + s);
                        // g_log_q = −∇_φ log q(φ), backward through the inverse at fixed θ;
                        // the forward caches serve it (BijectionStack::inverse_backward).
                        self.prior().grad_neg_log_prob(zb, &mut g_log_q);
                        stack.inverse_backward(scratch, &mut g_log_q, 1.0, unused);
                        action.gradient(&phi, &mut g);
                        g.iter_mut()
                            .zip(&g_log_q)
                            .for_each(|(x, gq)| *x = (*x - gq) * inv_n);
                        stack.backward(scratch, &mut g, 0.0, &mut grad);
                    }
                    (terms, grad)
                },
            )
            .collect();
        combine_chunks(per_chunk, self.n_params(), n, inv_n)
    }

    /// The forward Kullback–Leibler (maximum-likelihood) loss on data φ_b `[n, V]` and its
    /// gradient: L = −(1/n) Σ_b log q(φ_b), log q = log r(z) − Σ_layers log det, z = f⁻¹(φ).
    /// The gradient runs backwards through every inverse pass, starting from ∂(−log r)/∂z.
    /// Returns (L, gradient).
    pub fn forward_kl(&self, phis: &[f64]) -> (f64, Vec<f64>) {
        let inv_n = 1.0 / (phis.len() / self.field_len()) as f64;
        let (loss, _, grad) = self.weighted_forward_kl(phis, &|_, _| inv_n);
        (loss, grad)
    }

    /// The weighted negative log-likelihood L = −Σ_b c_b log q(φ_b) on configurations φ_b
    /// `[n, V]` and its gradient −Σ_b c_b ∂ log q(φ_b)/∂θ, with the coefficient
    /// c_b = `weight(b, log q(φ_b))` held constant (it may depend on log q, as FAB's
    /// correction q_old/q of a replay buffer does, but is not differentiated). The forward KL
    /// takes c_b = 1/n; FAB's α = 2 loss the self-normalised AIS weights. Returns
    /// (L, log q(φ_b) of every configuration, gradient).
    pub fn weighted_forward_kl(
        &self,
        phis: &[f64],
        weight: &(dyn Fn(usize, f64) -> f64 + Sync),
    ) -> (f64, Vec<f64>, Vec<f64>) {
        let v = self.field_len();
        let stack = self.stack();
        let per_chunk: Vec<(f64, Vec<f64>, Vec<f64>)> = phis
            .par_chunks(CHUNK * v)
            .enumerate()
            .map_init(
                || self.scratch(),
                |scratch, (chunk, pc)| {
                    let mut grad = vec![0.0; self.n_params()];
                    let mut loss = 0.0;
                    let mut log_qs = Vec::with_capacity(pc.len() / v);
                    let (mut z, mut g) = (vec![0.0; v], vec![0.0; v]);
                    for (i, phi) in pc.chunks_exact(v).enumerate() {
                        let logdet = stack.inverse(phi, &mut z, scratch);
                        let log_q = self.prior().log_prob(&z) - logdet;
                        let c = weight(chunk * CHUNK + i, log_q);
                        log_qs.push(log_q);
                        loss -= c * log_q;
                        self.prior().grad_neg_log_prob(&z, &mut g);
                        g.iter_mut().for_each(|x| *x *= c);
                        stack.inverse_backward(scratch, &mut g, c, &mut grad);
                    }
                    (loss, log_qs, grad)
                },
            )
            .collect();
        let mut grad = vec![0.0; self.n_params()];
        let mut loss = 0.0;
        let mut log_q = Vec::with_capacity(phis.len() / v);
        for (l, q, gc) in per_chunk {
            loss += l;
            log_q.extend(q);
            grad.iter_mut().zip(&gc).for_each(|(a, b)| *a += b);
        }
        (loss, log_q, grad)
    }
}

/// (L, per-sample terms, gradient) from the chunks' terms and gradients, summed in chunk
/// order (so the result does not depend on the thread count); L = (1/n) Σ terms.
fn combine_chunks(
    per_chunk: Vec<(Vec<f64>, Vec<f64>)>,
    n_params: usize,
    n: usize,
    inv_n: f64,
) -> (f64, Vec<f64>, Vec<f64>) {
    let mut grad = vec![0.0; n_params];
    let mut terms = Vec::with_capacity(n);
    for (t, gchunk) in per_chunk {
        terms.extend(t);
        grad.iter_mut().zip(&gchunk).for_each(|(a, b)| *a += b);
    }
    let loss = terms.iter().sum::<f64>() * inv_n;
    (loss, terms, grad)
}
