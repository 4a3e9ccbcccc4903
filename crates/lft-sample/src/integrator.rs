//! Molecular-dynamics integrators for H(φ, π) = ½ Σ_x π_x² + S(φ), or ½ πᵀM⁻¹π + S(φ) with a
//! Fourier-acceleration mass matrix ([`crate::FourierMass`]: the drift moves φ by M⁻¹π).
//!
//! Both are symmetric (hence reversible) and symplectic (hence volume preserving), so a
//! Metropolis test on ΔH makes HMC exact for any step size.

use lft_action::Action;
/// y ← y + a·x.
#[inline]
fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { axpy_avx512(y, a, x) };
    }
    axpy_portable(y, a, x)
}

/// y += a x, element by element (a separate multiply and add: no FMA, so every build rounds
/// alike).
#[inline(always)]
fn axpy_portable(y: &mut [f64], a: f64, x: &[f64]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

/// [`axpy_portable`] with AVX-512 vectors (bit-identical).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn axpy_avx512(y: &mut [f64], a: f64, x: &[f64]) {
    axpy_portable(y, a, x)
}

/// ½ Σ π².
pub(crate) fn kinetic_energy(pi: &[f64]) -> f64 {
    0.5 * pi.iter().map(|p| p * p).sum::<f64>()
}

pub use lft_records::{Integrator, OMELYAN_LAMBDA};

/// The molecular dynamics of an [`Integrator`].
pub trait Integrate: Sized {
    /// Integrates `n_steps` steps of size `eps` in place. On entry `grad` holds ∇S(φ); on exit
    /// it holds ∇S at the final φ.
    fn integrate(
        self,
        action: &dyn Action,
        phi: &mut [f64],
        pi: &mut [f64],
        grad: &mut [f64],
        eps: f64,
        n_steps: usize,
    ) {
        self.integrate_with_mass(action, phi, pi, grad, eps, n_steps, None);
    }

    /// [`Integrate::integrate`] with the mass matrix `mass` (the identity if `None`).
    #[allow(clippy::too_many_arguments)]
    fn integrate_with_mass(
        self,
        action: &dyn Action,
        phi: &mut [f64],
        pi: &mut [f64],
        grad: &mut [f64],
        eps: f64,
        n_steps: usize,
        mass: Option<&crate::FourierMass>,
    );
}

impl Integrate for Integrator {
    fn integrate_with_mass(
        self,
        action: &dyn Action,
        phi: &mut [f64],
        pi: &mut [f64],
        grad: &mut [f64],
        eps: f64,
        n_steps: usize,
        mass: Option<&crate::FourierMass>,
    ) {
        let kick = |pi: &mut [f64], grad: &[f64], h: f64| axpy(pi, -h, grad);
        let mut velocity = vec![0.0; if mass.is_some() { pi.len() } else { 0 }];
        let mut drift = |phi: &mut [f64], pi: &[f64], h: f64| match mass {
            None => axpy(phi, h, pi),
            Some(m) => {
                m.velocity(pi, &mut velocity);
                axpy(phi, h, &velocity)
            }
        };
        match self {
            Integrator::Leapfrog => {
                kick(pi, grad, 0.5 * eps);
                for step in 0..n_steps {
                    drift(phi, pi, eps);
                    action.gradient(phi, grad);
                    let h = if step + 1 == n_steps { 0.5 * eps } else { eps };
                    kick(pi, grad, h);
                }
            }
            Integrator::Omelyan => {
                let l = OMELYAN_LAMBDA;
                kick(pi, grad, l * eps);
                for step in 0..n_steps {
                    drift(phi, pi, 0.5 * eps);
                    action.gradient(phi, grad);
                    kick(pi, grad, (1.0 - 2.0 * l) * eps);
                    drift(phi, pi, 0.5 * eps);
                    action.gradient(phi, grad);
                    let h = if step + 1 == n_steps {
                        l * eps
                    } else {
                        2.0 * l * eps
                    };
                    kick(pi, grad, h);
                }
            }
        }
    }
}

/// Multi-timescale molecular dynamics (Sexton & Weingarten 1992) for S = S_fast + S_slow
/// ([`Action::fast_gradient`]): the outer `integrator` kicks with the slow force
/// ∇S − ∇S_fast at step `eps`, and each of its drifts of length h becomes `inner` leapfrog
/// steps of h/`inner` under the fast force alone. Symmetric, so reversible and area
/// preserving; the expensive slow force (the fermions') is evaluated as often as in the plain
/// integrator, the cheap one `inner` times as often. `grad` holds ∇S at φ on entry and on exit.
///
/// # Panics
/// If the action has no fast part.
#[allow(clippy::too_many_arguments)]
pub fn integrate_nested(
    integrator: Integrator,
    action: &dyn Action,
    phi: &mut [f64],
    pi: &mut [f64],
    grad: &mut [f64],
    eps: f64,
    n_steps: usize,
    inner: usize,
) {
    let mut fast = vec![0.0; phi.len()];
    let fast_force = |phi: &[f64], fast: &mut [f64]| {
        assert!(
            action.fast_gradient(phi, fast),
            "multi-timescale molecular dynamics needs an action with a fast part"
        );
    };
    fast_force(phi, &mut fast);
    // π −= h (∇S − ∇S_fast), with ∇S in `grad` and ∇S_fast in `fast`, both at φ.
    let slow_kick = |pi: &mut [f64], grad: &[f64], fast: &[f64], h: f64| {
        for ((p, g), f) in pi.iter_mut().zip(grad).zip(fast) {
            *p -= h * (g - f);
        }
    };
    // Leapfrog over time h under the fast force; on exit `fast` and `grad` are at the new φ.
    let inner_drift =
        |phi: &mut [f64], pi: &mut [f64], grad: &mut [f64], fast: &mut [f64], h: f64| {
            let dt = h / inner as f64;
            axpy(pi, -0.5 * dt, fast);
            for step in 0..inner {
                axpy(phi, dt, pi);
                fast_force(phi, fast);
                let k = if step + 1 == inner { 0.5 * dt } else { dt };
                axpy(pi, -k, fast);
            }
            action.gradient(phi, grad);
        };
    match integrator {
        Integrator::Leapfrog => {
            slow_kick(pi, grad, &fast, 0.5 * eps);
            for step in 0..n_steps {
                inner_drift(phi, pi, grad, &mut fast, eps);
                let h = if step + 1 == n_steps { 0.5 * eps } else { eps };
                slow_kick(pi, grad, &fast, h);
            }
        }
        Integrator::Omelyan => {
            let l = OMELYAN_LAMBDA;
            slow_kick(pi, grad, &fast, l * eps);
            for step in 0..n_steps {
                inner_drift(phi, pi, grad, &mut fast, 0.5 * eps);
                slow_kick(pi, grad, &fast, (1.0 - 2.0 * l) * eps);
                inner_drift(phi, pi, grad, &mut fast, 0.5 * eps);
                let h = if step + 1 == n_steps {
                    l * eps
                } else {
                    2.0 * l * eps
                };
                slow_kick(pi, grad, &fast, h);
            }
        }
    }
}
