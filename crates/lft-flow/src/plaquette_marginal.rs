//! The one-plaquette marginal of the Wilson action, p(θ) = e^{β cos θ}/(2π I₀(β)), and how
//! close a circle transform H brings the uniform angle to it: the plaquette-basis layer
//! ([`crate::gauge_plaquette_basis`]) starts from the spline that interpolates the quantile map
//! F⁻¹ of p ([`crate::CircularSpline::von_mises_params`]), and this module measures what is
//! left, by quadrature (no samples, no noise):
//!   KL(r‖p) = E_u[−log H′(u) − β cos H(u)] + log I₀(β),
//! with r the image of the uniform u under H, by the midpoint rule on N points
//! u_i = −π + (i + ½)2π/N. Its gradient (upstream β sin H(u) on H and −1 on log H′, through
//! the transform's backward pass) is there for tests and for fitting other maps.
//!
//! Why not train the layer by reverse KL alone: a flow of this layer has KL = (V − 1) KL(r‖p)
//! plus the term of the one plaquette the constraint fixes, and in the sampled gradient that
//! plaquette, which depends on all the others, adds noise of order β√V that stalls the
//! training at KL(r‖p) ≈ 10⁻² (docs/PERFORMANCE.md), where the interpolation gives 10⁻⁶.

use crate::transform::ElementwiseTransform;
use lft_action::bessel::scaled_bessel_i;
use rayon::prelude::*;
use std::f64::consts::PI;

/// log I₀(β) for β > 0.
pub fn log_bessel_i0(beta: f64) -> f64 {
    scaled_bessel_i(beta, 1)[0].ln() + beta
}

/// KL(r‖p) of H with parameters `theta` against e^{β cos θ}/(2π I₀(β)) by the midpoint rule on
/// `points` points; with `grad`, its gradient is added into it.
pub fn marginal_kl<T: ElementwiseTransform>(
    transform: &T,
    beta: f64,
    theta: &[f64],
    points: usize,
    grad: Option<&mut [f64]>,
) -> f64 {
    let n = theta.len();
    let with_grad = grad.is_some();
    let h = 2.0 * PI / points as f64;
    let u = |i: usize| -PI + (i as f64 + 0.5) * h;
    let (sum, g) = (0..points)
        .into_par_iter()
        .with_min_len(1024)
        .fold(
            || (0.0, vec![0.0; n]),
            |(mut s, mut g), i| {
                let (mapped, log_slope) = transform.forward(u(i), theta);
                s += -log_slope - beta * mapped.cos();
                if with_grad {
                    transform.backward(u(i), theta, beta * mapped.sin(), -1.0, &mut g);
                }
                (s, g)
            },
        )
        .reduce(
            || (0.0, vec![0.0; n]),
            |(s1, mut g1), (s2, g2)| {
                g1.iter_mut().zip(&g2).for_each(|(a, b)| *a += b);
                (s1 + s2, g1)
            },
        );
    if let Some(out) = grad {
        out.iter_mut()
            .zip(&g)
            .for_each(|(o, d)| *o += d / points as f64);
    }
    sum / points as f64 + log_bessel_i0(beta)
}
