//! Float32 conditioners (`Precision::F32`) against float64 ones with the same weights.
//!
//! The stated tolerance (`lft_flow::precision`): each conditioner output is off by at most
//! ε = 1e-7·n, n = c_in·K the terms of the widest convolution sum (float32 rounding of n terms
//! of order one; 7.2e-6 for 8 channels and a 3×3 kernel). log|det J| and log q sum one such
//! output per active site and layer with independent errors, so they differ from float64 by
//! at most ε·√(layers·V/2) (6e-5 for 4 layers on V = 64); each φ_x = f(z)_x by at most
//! layers·ε·(1 + |φ_x|) (a scale and a shift per layer); the reverse-KL loss, a mean of
//! log q + S with S at most quartic in φ, by the log q bound plus 4·layers·ε·|L|. The parameter gradient of the float32 path is
//! compared with central differences of the float64 loss to 1e-4 of the largest component.
//! Within one precision a flow stays an exact bijection: f⁻¹(f(z)) = z to float64 rounding.

mod common;

use common::flow_spec;
use lft_action::{Phi4, Phi4Params};
use lft_flow::{CouplingSpec, Flow, Precision, PriorSpec};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};

/// The same randomised weights in a float64 and a float32 flow.
fn pair(
    shape: &[usize],
    coupling: CouplingSpec,
    equivariant: bool,
    spectral: bool,
) -> (Flow, Flow) {
    let lat = Lattice::new(shape).unwrap();
    let prior = if spectral {
        PriorSpec::FreeField { m2: 1.3 }
    } else {
        PriorSpec::StandardNormal
    };
    let mut spec = flow_spec(4, vec![8, 8], coupling, equivariant, prior, spectral);
    let mut f64_flow = Flow::new(lat.clone(), &spec, 5).unwrap();
    let mut params = vec![0.0; f64_flow.n_params()];
    gaussian_fill(&mut stream_rng(21, 1), &mut params);
    params.iter_mut().for_each(|p| *p *= 0.25);
    f64_flow.set_params(params.clone()).unwrap();
    spec.precision = Precision::F32;
    let mut f32_flow = Flow::new(lat, &spec, 5).unwrap();
    f32_flow.set_params(params).unwrap();
    (f64_flow, f32_flow)
}

/// Affine flows: plain, equivariant with a spectral layer and a free prior, and in 3D.
fn cases() -> Vec<(Vec<usize>, CouplingSpec, bool, bool)> {
    vec![
        (vec![8, 8], CouplingSpec::Affine, false, false),
        (vec![6, 6], CouplingSpec::Affine, true, true),
        (vec![4, 4, 4], CouplingSpec::Affine, true, false),
    ]
}

/// Spline couplings in float32 are exact bijections too, but their log det is not within
/// the affine tolerance: an error δ in a bin's width moves the position within the bin by
/// δ/width, so narrow bins amplify it (1e-3 on these random flows), and `lft` accepts
/// `precision = "f32"` for affine couplings only. What holds is the round trip.
#[test]
fn float32_spline_flows_are_exact_bijections() {
    let spline = CouplingSpec::Spline {
        bins: 4,
        tail_bound: 4.0,
    };
    for (shape, equivariant) in [(vec![6, 6], false), (vec![4, 4, 4], true)] {
        let (_, f32_flow) = pair(&shape, spline, equivariant, false);
        let v = f32_flow.lattice().volume();
        let z = f32_flow.sample_latent(9, &mut stream_rng(21, 4));
        let (phi, logdet) = f32_flow.forward_batch(&z);
        let mut back = vec![0.0; v];
        for (b, zb) in z.chunks_exact(v).enumerate() {
            let log_q = f32_flow.inverse(&phi[b * v..(b + 1) * v], &mut back);
            let err = zb
                .iter()
                .zip(&back)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-10, "{shape:?}: round trip {err}");
            let want = f32_flow.prior().log_prob(zb) - logdet[b];
            assert!(
                (log_q - want).abs() < 1e-9,
                "{shape:?}: log q {log_q} vs {want}"
            );
        }
    }
}

fn action(lat: &Lattice) -> Phi4 {
    Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: -1.0,
            lambda: 1.0,
        },
    )
    .unwrap()
}

/// log|det J| (sampling, on lanes and one at a time), log q (through the inverse) and the
/// reverse-KL loss agree with float64 within the stated tolerances, and differ at all (the
/// float32 path really ran).
#[test]
fn float32_flows_give_the_float64_log_q_within_the_stated_tolerance() {
    for (shape, coupling, equivariant, spectral) in cases() {
        let what = format!("{shape:?} {coupling:?} equivariant {equivariant} spectral {spectral}");
        let (f64_flow, f32_flow) = pair(&shape, coupling, equivariant, spectral);
        let v = f64_flow.lattice().volume();
        let eps = 1e-7 * (8 * 3usize.pow(shape.len() as u32)) as f64;
        let tol = eps * ((4 * v) as f64 / 2.0).sqrt();
        // 13 = one lane chunk and a partial one.
        let z = f64_flow.sample_latent(13, &mut stream_rng(21, 2));
        let (phi64, ld64) = f64_flow.forward_batch(&z);
        let (phi32, ld32) = f32_flow.forward_batch(&z);
        let mut largest = 0.0f64;
        for (a, b) in ld64.iter().zip(&ld32) {
            largest = largest.max((a - b).abs());
        }
        assert!(largest < tol, "{what}: log det differs by {largest}");
        assert!(largest > 0.0, "{what}: the float32 path ran");
        let field = phi64
            .iter()
            .zip(&phi32)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs() / (1.0 + a.abs())));
        assert!(field < 4.0 * eps, "{what}: φ differs by {field} relative");
        // log q at one fixed φ: the two flows map z to points Δφ apart, so at φ = f₆₄(z)
        // log q₃₂ − log q₆₄ = [log q₃₂(φ₆₄) − log q₃₂(φ₃₂)] + [log q₃₂(φ₃₂) − log q₆₄(φ₆₄)]:
        // the second bracket is the log det difference above (≤ tol), the first the slope of
        // log q times Δφ, which log q₆₄(φ₃₂) − log q₆₄(φ₆₄) gives to first order (steep for
        // random spline flows). The test allows twice that.
        let q64 = f64_flow.log_q(&phi64);
        let q32 = f32_flow.log_q(&phi64);
        let q64_at_32 = f64_flow.log_q(&phi32);
        let mut dq = 0.0f64;
        for b in 0..q64.len() {
            let shift = (q64_at_32[b] - q64[b]).abs();
            let diff = (q32[b] - q64[b]).abs();
            assert!(
                diff < tol + 2.0 * shift,
                "{what}: log q of configuration {b} differs by {diff} (slope term {shift})"
            );
            dq = dq.max(diff);
        }
        println!(
            "{what}: |Δ log det| {largest:.1e}, |Δφ|/(1 + |φ|) {field:.1e}, |Δ log q| {dq:.1e}, tolerance {tol:.1e}"
        );
        let act = action(f64_flow.lattice());
        let (l64, _, _) = f64_flow.reverse_kl(&act, &z);
        let (l32, _, _) = f32_flow.reverse_kl(&act, &z);
        let loss_tol = tol + 4.0 * 4.0 * eps * l64.abs();
        assert!((l64 - l32).abs() <= loss_tol, "{what}: loss {l64} vs {l32}");
        // Exact within float32: the inverse of each drawn configuration returns its z.
        let mut back = vec![0.0; v];
        let sample_log_q: Vec<f64> = z
            .chunks_exact(v)
            .zip(&ld32)
            .map(|(zb, ld)| f32_flow.prior().log_prob(zb) - ld)
            .collect();
        for (b, zb) in z.chunks_exact(v).enumerate() {
            let log_q = f32_flow.inverse(&phi32[b * v..(b + 1) * v], &mut back);
            let err = zb
                .iter()
                .zip(&back)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-12, "{what}: round trip {err} of configuration {b}");
            let dlq = (log_q - sample_log_q[b]).abs();
            assert!(dlq < 1e-10, "{what}: log q of the inverse differs by {dlq}");
        }
    }
}

/// The float32 parameter gradient (total and path) against central differences of the
/// float64 loss with the same weights.
#[test]
fn float32_gradients_match_float64_finite_differences() {
    for (shape, coupling, equivariant, spectral) in cases().into_iter().take(3) {
        let what = format!("{shape:?} {coupling:?} equivariant {equivariant} spectral {spectral}");
        let (mut f64_flow, f32_flow) = pair(&shape, coupling, equivariant, spectral);
        let act = action(f64_flow.lattice());
        let z = f64_flow.sample_latent(9, &mut stream_rng(21, 3));
        let (_, _, g32) = f32_flow.reverse_kl(&act, &z);
        let (_, _, p32) = f32_flow.reverse_kl_path(&act, &z);
        let (_, _, p64) = f64_flow.reverse_kl_path(&act, &z);
        let scale = g32.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        assert!(scale > 1e-2, "{what}: a non-trivial gradient");
        // H = 1e-6, as in the other gradient tests: a larger step moves leaky-ReLU
        // pre-activations across their kink.
        let h = common::H;
        for i in (0..g32.len()).step_by(13) {
            let p0 = f64_flow.params()[i];
            f64_flow.params_mut()[i] = p0 + h;
            let up = f64_flow.reverse_kl(&act, &z).0;
            f64_flow.params_mut()[i] = p0 - h;
            let down = f64_flow.reverse_kl(&act, &z).0;
            f64_flow.params_mut()[i] = p0;
            let fd = (up - down) / (2.0 * h);
            assert!(
                (g32[i] - fd).abs() <= 1e-4 * scale,
                "{what}: θ[{i}] float32 {} vs finite difference {fd}",
                g32[i]
            );
        }
        let p_scale = p64.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        for (i, (a, b)) in p32.iter().zip(&p64).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * p_scale,
                "{what}: path gradient θ[{i}] float32 {a} vs float64 {b}"
            );
        }
    }
}
