//! Fixed-step integration of dφ/dt = v(φ, t) with the log-determinant dℓ/dt = ∇·v alongside,
//! and the exact backward pass of the discrete solver (discretise, then differentiate).
//!
//! One classical Runge–Kutta step of size h from (φ, t):
//!   k₁ = v(φ, t), k₂ = v(φ + ½h k₁, t + ½h), k₃ = v(φ + ½h k₂, t + ½h), k₄ = v(φ + h k₃, t + h),
//!   φ′ = φ + (h/6)(k₁ + 2k₂ + 2k₃ + k₄),   ℓ′ = ℓ + (h/6)(d₁ + 2d₂ + 2d₃ + d₄),
//! with d_i the divergence at stage i. A negative h integrates backwards in time (the inverse
//! map). The solver keeps only the state at every step boundary (checkpoints, N + 1 fields);
//! the backward pass recomputes a step's stages from its checkpoint (keeping their site
//! features for the vector–Jacobian products) before differentiating them, so memory is
//! O(N V) instead of O(4 N V × features), for three extra evaluations of v per step.

use crate::cnf_field::{FieldScratch, KernelField};

/// Weights of the four stages in the update, and their offsets in time (units of h).
const WEIGHTS: [f64; 4] = [1.0 / 6.0, 2.0 / 6.0, 2.0 / 6.0, 1.0 / 6.0];
const NODES: [f64; 4] = [0.0, 0.5, 0.5, 1.0];

/// Buffers of the integrator; holds nothing between calls.
#[derive(Debug, Clone, Default)]
pub struct OdeScratch {
    field: FieldScratch,
    /// The site features of stages 1–3 of the step being differentiated, kept from their
    /// recomputation for their vector–Jacobian products.
    stage_fields: [FieldScratch; 3],
    /// The stage inputs z₁ … z₄ `[4, V]`.
    stages: Vec<f64>,
    /// One velocity, `[V]`.
    k: Vec<f64>,
    /// Cotangents of a stage's velocity and input, `[V]` each.
    dk: Vec<f64>,
    dz: Vec<f64>,
    /// ∂L/∂(the step's start), accumulated, `[V]`.
    acc: Vec<f64>,
}

/// Integrates from `checkpoints[0..V]` (the start) over `steps` RK4 steps of size `h` from
/// time `t0`, writing the state after step n to `checkpoints[n V .. (n + 1) V]`; returns
/// ℓ = ∫ ∇·v dt as the solver accumulates it.
pub fn integrate(
    field: &KernelField,
    params: &[f64],
    t0: f64,
    h: f64,
    steps: usize,
    checkpoints: &mut [f64],
    s: &mut OdeScratch,
) -> f64 {
    let v = field.volume();
    assert_eq!(checkpoints.len(), (steps + 1) * v, "checkpoint buffer");
    s.stages.resize(4 * v, 0.0);
    s.k.resize(v, 0.0);
    let mut logdet = 0.0;
    for n in 0..steps {
        let t = t0 + n as f64 * h;
        let (done, rest) = checkpoints.split_at_mut((n + 1) * v);
        let start = &done[n * v..];
        let next = &mut rest[..v];
        next.copy_from_slice(start);
        for i in 0..4 {
            let z = &mut s.stages[i * v..(i + 1) * v];
            z.copy_from_slice(start);
            if i > 0 {
                let c = NODES[i] * h;
                z.iter_mut().zip(&s.k).for_each(|(z, k)| *z += c * k);
            }
            let d = field.velocity_with(params, z, t + NODES[i] * h, &mut s.k, &mut s.field);
            logdet += WEIGHTS[i] * h * d;
            let w = WEIGHTS[i] * h;
            next.iter_mut().zip(&s.k).for_each(|(y, k)| *y += w * k);
        }
    }
    logdet
}

/// Backward through [`integrate`] with the same `t0`, `h` and `steps`, given its checkpoints:
/// `g` = ∂L/∂(end state) on entry and ∂L/∂(start state) on return, γ = ∂L/∂ℓ; adds ∂L/∂θ to
/// `dparams`.
#[allow(clippy::too_many_arguments)]
pub fn integrate_backward(
    field: &KernelField,
    params: &[f64],
    t0: f64,
    h: f64,
    steps: usize,
    checkpoints: &[f64],
    g: &mut [f64],
    gamma: f64,
    dparams: &mut [f64],
    s: &mut OdeScratch,
) {
    let v = field.volume();
    assert_eq!(checkpoints.len(), (steps + 1) * v, "checkpoint buffer");
    s.stages.resize(4 * v, 0.0);
    for buf in [&mut s.k, &mut s.dk, &mut s.dz, &mut s.acc] {
        buf.resize(v, 0.0);
    }
    s.field.defer_gradients();
    s.stage_fields
        .iter_mut()
        .for_each(FieldScratch::defer_gradients);
    for n in (0..steps).rev() {
        let t = t0 + n as f64 * h;
        let start = &checkpoints[n * v..(n + 1) * v];
        // The stage inputs, recomputed from the checkpoint.
        for i in 0..4 {
            let z = &mut s.stages[i * v..(i + 1) * v];
            z.copy_from_slice(start);
            if i > 0 {
                let c = NODES[i] * h;
                z.iter_mut().zip(&s.k).for_each(|(z, k)| *z += c * k);
            }
            if i < 3 {
                let stage = &mut s.stage_fields[i];
                field.velocity_with(params, z, t + NODES[i] * h, &mut s.k, stage);
            }
        }
        // Stages in reverse: ∂L/∂k_i = w_i h g + c_{i+1} h ∂L/∂z_{i+1}.
        s.acc.copy_from_slice(g);
        s.dz.fill(0.0);
        for i in (0..4).rev() {
            let w = WEIGHTS[i] * h;
            let c_next = if i < 3 { NODES[i + 1] * h } else { 0.0 };
            s.dk.iter_mut()
                .zip(g.iter())
                .zip(&s.dz)
                .for_each(|((dk, g), dz)| *dk = w * g + c_next * dz);
            let z = &s.stages[i * v..(i + 1) * v];
            // Stages 1–3 were just evaluated at z: their features are kept.
            let scratch = match s.stage_fields.get_mut(i) {
                Some(stage) => {
                    stage.reuse_features();
                    stage
                }
                None => &mut s.field,
            };
            field.vjp(
                params,
                z,
                t + NODES[i] * h,
                &s.dk,
                w * gamma,
                &mut s.dz,
                dparams,
                scratch,
            );
            s.acc.iter_mut().zip(&s.dz).for_each(|(a, dz)| *a += dz);
        }
        g.copy_from_slice(&s.acc);
    }
    field.flush_gradients(&mut s.field, dparams);
    for stage in &mut s.stage_fields {
        field.flush_gradients(stage, dparams);
    }
}

/// The adjoint method, for comparison with [`integrate_backward`]: from the end state `end`
/// and `g` = ∂L/∂(end), solves the augmented system backwards from t = t₀ + N h to t₀,
///   dφ/dt = v,  da/dt = −aᵀ∂v/∂φ − γ ∂(∇·v)/∂φ,  dθ̄/dt = −aᵀ∂v/∂θ − γ ∂(∇·v)/∂θ,
/// by RK4 with the same steps, in O(V) memory (no checkpoints). It costs one more evaluation
/// of v per stage than the checkpointed backward pass (four against three per step), and its
/// gradient is that of the exact flow, not of the discrete map: it differs from
/// [`integrate_backward`]'s by O(h⁴). On return `end` holds the reconstructed start and `g`
/// ∂L/∂(start); ∂L/∂θ is added to `dparams`.
#[allow(clippy::too_many_arguments)]
pub fn integrate_adjoint(
    field: &KernelField,
    params: &[f64],
    t0: f64,
    h: f64,
    steps: usize,
    end: &mut [f64],
    g: &mut [f64],
    gamma: f64,
    dparams: &mut [f64],
    s: &mut OdeScratch,
) {
    let v = field.volume();
    // Per stage: the state φ_i and cotangent a_i, then the derivatives k_i (of φ) and
    // κ_i (of a) of the stage before.
    let mut phi_i = vec![0.0; v];
    let mut a_i = vec![0.0; v];
    let mut k = vec![0.0; v];
    let mut kappa = vec![0.0; v];
    let mut phi_next = vec![0.0; v];
    let mut a_next = vec![0.0; v];
    let back = -h;
    for n in (0..steps).rev() {
        let t_end = t0 + (n + 1) as f64 * h;
        phi_next.copy_from_slice(end);
        a_next.copy_from_slice(g);
        for i in 0..4 {
            let c = NODES[i] * back;
            for x in 0..v {
                phi_i[x] = end[x] + if i > 0 { c * k[x] } else { 0.0 };
                a_i[x] = g[x] + if i > 0 { c * kappa[x] } else { 0.0 };
            }
            let t = t_end + NODES[i] * back;
            field.velocity_with(params, &phi_i, t, &mut k, &mut s.field);
            // dθ̄ += w_i h (aᵀ∂v/∂θ + γ ∂∇·v/∂θ): the vjp of the scaled cotangents.
            let w = WEIGHTS[i] * h;
            a_i.iter_mut().for_each(|a| *a *= w);
            field.vjp(
                params,
                &phi_i,
                t,
                &a_i,
                w * gamma,
                &mut kappa,
                dparams,
                &mut s.field,
            );
            // κ_i = da/dt = −(aᵀ∂v/∂φ + γ ∂∇·v/∂φ), unscaled.
            kappa.iter_mut().for_each(|x| *x /= -w);
            for x in 0..v {
                phi_next[x] += WEIGHTS[i] * back * k[x];
                a_next[x] += WEIGHTS[i] * back * kappa[x];
            }
        }
        end.copy_from_slice(&phi_next);
        g.copy_from_slice(&a_next);
    }
}
