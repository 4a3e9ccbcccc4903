//! The gauge-covariant conditional pseudofermion flow of the Schwinger model: invertible, its
//! log-Jacobian the dense one, covariant under gauge transformations, its backward pass the
//! finite differences of its loss, and its determinant estimate unbiased.

use faer::Mat;
use lft_fermion::{
    CgParams, Complex64, EvenBlockInverse, GaugePfInputs, GaugePfLayer, GaugePseudofermionFlow,
    GaugeStaggered,
};
use lft_lattice::{Lattice, stream_rng, uniform};
mod common;
use common::{assert_unbiased, random, random_complex};

fn geometry(shape: &[usize]) -> GaugeStaggered {
    GaugeStaggered::new(&Lattice::new(shape).unwrap()).unwrap()
}

/// Link angles uniform in [−a, a).
fn links(n: usize, amplitude: f64, seed: u64) -> Vec<f64> {
    let mut rng = stream_rng(seed, 0);
    (0..n)
        .map(|_| amplitude * (2.0 * uniform(&mut rng) - 1.0))
        .collect()
}

/// A flow with every layer kind and random parameters of size `scale`.
fn random_flow(mass: f64, scale: f64, seed: u64) -> GaugePseudofermionFlow {
    let flow = GaugePseudofermionFlow::standard(2, mass);
    let noise = random(flow.params().len(), seed);
    let params = flow
        .params()
        .iter()
        .zip(&noise)
        .map(|(p, n)| p + scale * n)
        .collect();
    flow.with_params(params).unwrap()
}

fn cg() -> CgParams {
    CgParams {
        tolerance: 1e-13,
        max_iterations: 10_000,
    }
}

#[test]
fn the_flow_inverts_and_its_log_jacobian_is_the_dense_one() {
    let g = geometry(&[6, 4]);
    let theta = links(2 * g.volume(), 2.0, 1);
    let dirac = g.dirac(0.3, &theta);
    let inputs = GaugePfInputs::new(&dirac, &theta);
    let flow = random_flow(0.3, 0.3, 2);
    let half = g.half_volume();
    let xi = random_complex(half, 3);
    let mut phi = vec![Complex64::default(); half];
    let l_forward = flow.forward(&inputs, &xi, &mut phi);
    let mut back = vec![Complex64::default(); half];
    let l_inverse = flow.inverse(&inputs, &phi, &mut back);
    let err = xi
        .iter()
        .zip(&back)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max);
    assert!(err < 1e-12, "round trip {err}");
    assert_eq!(l_forward, l_inverse);
    // Dense A column by column (A is complex linear): log det_ℝ A = 2 log |det A|.
    let a = Mat::<Complex64>::from_fn(half, half, |i, j| {
        let mut e = vec![Complex64::default(); half];
        e[j] = Complex64::new(1.0, 0.0);
        let mut out = vec![Complex64::default(); half];
        flow.forward(&inputs, &e, &mut out);
        out[i]
    });
    let dense = 2.0 * a.determinant().norm().ln();
    assert!(
        (dense - l_forward).abs() < 1e-10 * dense.abs().max(1.0),
        "{dense} vs {l_forward}"
    );
    // The triangular layers really are non-trivial (the flow is not diagonal).
    let off: f64 = (0..half)
        .flat_map(|i| (0..half).map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
        .map(|(i, j)| a[(i, j)].norm())
        .sum();
    assert!(off > 1.0, "off-diagonal weight {off}");
}

/// A(g·θ) = G A(θ) G†: the flow of a gauge-transformed field maps Gξ to Gϕ, with the same
/// log-Jacobian.
#[test]
fn the_flow_is_gauge_covariant() {
    let g = geometry(&[4, 6]);
    let lattice = g.lattice().clone();
    let theta = links(2 * g.volume(), 3.0, 4);
    let alpha = links(g.volume(), 3.0, 5);
    let mut moved = theta.clone();
    lft_lattice::gauge::gauge_transform(&lattice, &mut moved, &alpha);
    let flow = random_flow(0.2, 0.3, 6);
    let half = g.half_volume();
    let rotate = |v: &[Complex64]| -> Vec<Complex64> {
        g.even_sites()
            .iter()
            .zip(v)
            .map(|(&x, z)| Complex64::from_polar(1.0, alpha[x as usize]) * z)
            .collect()
    };
    let xi = random_complex(half, 7);
    let (d, d_moved) = (g.dirac(0.2, &theta), g.dirac(0.2, &moved));
    let mut phi = vec![Complex64::default(); half];
    let l = flow.forward(&GaugePfInputs::new(&d, &theta), &xi, &mut phi);
    let mut phi_moved = vec![Complex64::default(); half];
    let l_moved = flow.forward(
        &GaugePfInputs::new(&d_moved, &moved),
        &rotate(&xi),
        &mut phi_moved,
    );
    let err = rotate(&phi)
        .iter()
        .zip(&phi_moved)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max);
    assert!(err < 1e-12, "A(gθ) Gξ vs G A(θ) ξ: {err}");
    assert!((l - l_moved).abs() < 1e-12);
}

/// The parameter gradient of ℓ = ϕ†M_ee⁻¹ϕ − |ξ|² − L against central differences.
#[test]
fn the_loss_gradient_matches_finite_differences() {
    let g = geometry(&[4, 4]);
    let theta = links(2 * g.volume(), 1.5, 8);
    let mass = 0.4;
    let dirac = g.dirac(mass, &theta);
    let flow = random_flow(mass, 0.2, 9);
    let xi = random_complex(g.half_volume(), 10);
    let out = flow.loss(&dirac, &theta, &xi, cg()).unwrap();
    let h = 1e-6;
    for k in 0..flow.params().len() {
        let shifted = |s: f64| {
            let mut p = flow.params().to_vec();
            p[k] += s;
            let f = flow.clone().with_params(p).unwrap();
            f.loss(&dirac, &theta, &xi, cg()).unwrap().loss
        };
        let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
        assert!(
            (fd - out.params[k]).abs() < 1e-6 * fd.abs().max(1.0),
            "parameter {k} ({:?}): {fd} vs {}",
            flow.layers(),
            out.params[k]
        );
    }
}

/// E[d̂et] = det D: the mean of d̂et/det over independent draws is 1 within 4 standard errors.
/// The flows scale by a² = m² + 2.2, so that 2AA† > m² + 4 ≥ M_ee on any field (finite
/// variance, lft-fermion's `det_estimator` identity): the plain scale, and with perturbed
/// triangular layers.
#[test]
fn the_flow_estimate_is_unbiased() {
    let g = geometry(&[4, 4]);
    let mass = 1.0;
    for (seed, scale) in [(11, 0.0), (12, 0.05)] {
        let theta = links(2 * g.volume(), 1.0, seed);
        let dirac = g.dirac(mass, &theta);
        let exact = EvenBlockInverse::of(&dirac).unwrap().log_det();
        let mut params = random_flow(mass, scale, seed + 1).params().to_vec();
        params[0] = 0.5 * (mass * mass + 2.2f64).ln();
        params[1] = 0.0;
        let flow = GaugePseudofermionFlow::standard(2, mass)
            .with_params(params)
            .unwrap();
        let n = 20_000;
        let ratios: Vec<f64> = (0..n)
            .map(|k| {
                let mut rng = stream_rng(seed, 100 + k);
                let (log_det, _) = flow
                    .estimate_log_det(&dirac, &theta, 1, cg(), &mut rng)
                    .unwrap();
                (log_det - exact).exp()
            })
            .collect();
        assert_unbiased(&ratios, 0.05, &format!("scale {scale}"));
    }
}

#[test]
fn layers_have_their_parameter_counts() {
    assert_eq!(GaugePfLayer::Scale.params(), 2);
    assert_eq!(GaugePfLayer::Lower.params(), 12);
    let flow = GaugePseudofermionFlow::standard(2, 0.1);
    assert_eq!(flow.params().len(), 2 + 2 * (4 * 12 + 2));
    assert!(flow.clone().with_params(vec![0.0; 3]).is_none());
}
