//! The spectral scale layer ỹ(p) = e^{c(p)} x̃(p): invertible, exact log det, backward passes
//! against finite differences, lattice symmetry, the exact free field, and fast training on
//! the free field inside a flow with affine couplings.

use lft_action::{Phi4, Phi4Params};
use lft_flow::{
    Activation, Adam, CouplingSpec, Flow, FlowSpec, PriorSpec, Schedule, SpectralScale,
    TrainOptions, batch_quality, train,
};
use lft_flow::{Bijection, LayerCache, Workspace};
use lft_lattice::{Lattice, p_hat_squared, stream_rng};

mod common;
use common::{check_bijection, close, fd, fd_jacobian, log_abs_det, randn};

/// The laws of [`lft_flow::Bijection`] (invertible, exact log det, both backward passes) on
/// lattices of dimension 1–3, with random parameters and inputs (also 30σ out).
#[test]
fn spectral_layer_is_invertible_with_exact_logdet_and_gradients() {
    for (k, shape) in [vec![6], vec![4, 3], vec![2, 3, 3]].into_iter().enumerate() {
        let lat = Lattice::new(&shape).unwrap();
        let layer = SpectralScale::new(&lat);
        for scale in [1.0, 30.0] {
            let mut params = randn(layer.n_params(), 80 + k as u64, 0.5);
            let mut x = randn(lat.volume(), 90 + k as u64, scale);
            let what = format!("spectral {shape:?}, x ~ {scale}");
            check_bijection(&what, &layer, &mut params, &mut x);
        }
    }
}

/// One parameter per class of momenta under reflections and permutations of equal axes: 6 on
/// 4×4, ({0,1,2} per axis, unordered pairs); 3 × 2 = 6 on 4×3 where the axes differ. The
/// layer then commutes with reflections and with the transpose of a square lattice.
#[test]
fn spectral_classes_follow_the_lattice_symmetries() {
    assert_eq!(
        SpectralScale::new(&Lattice::new(&[4, 4]).unwrap()).n_params(),
        6
    );
    assert_eq!(
        SpectralScale::new(&Lattice::new(&[4, 3]).unwrap()).n_params(),
        6
    );
    assert_eq!(
        SpectralScale::new(&Lattice::new(&[6]).unwrap()).n_params(),
        4
    );
    let lat = Lattice::new(&[4, 4]).unwrap();
    let layer = SpectralScale::new(&lat);
    let params = randn(layer.n_params(), 130, 0.5);
    let x = randn(16, 131, 1.0);
    let apply = |xx: &[f64]| {
        let mut y = vec![0.0; 16];
        layer.forward(
            &params,
            xx,
            &mut y,
            &mut LayerCache::default(),
            &mut Workspace::default(),
        );
        y
    };
    let reflect =
        |f: &[f64]| -> Vec<f64> { (0..16).map(|i| f[((4 - i / 4) % 4) * 4 + i % 4]).collect() };
    let transpose = |f: &[f64]| -> Vec<f64> { (0..16).map(|i| f[(i % 4) * 4 + i / 4]).collect() };
    let y = apply(&x);
    for (a, b) in apply(&reflect(&x)).iter().zip(reflect(&y)) {
        assert!((a - b).abs() < 1e-12, "reflection");
    }
    for (a, b) in apply(&transpose(&x)).iter().zip(transpose(&y)) {
        assert!((a - b).abs() < 1e-12, "transpose");
    }
}

fn free_field_flow(lat: Lattice, layers: usize, seed: u64) -> Flow {
    let spec = FlowSpec {
        layers,
        hidden: vec![8],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: false,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::StandardNormal,
        spectral: true,
        precision: lft_flow::Precision::F64,
    };
    Flow::new(lat, &spec, seed).unwrap()
}

/// With c(p) = −½ log(2(p̂² + m²)) the spectral layer alone (its parameters come first)
/// maps N(0, 1) onto the free field
/// (S = Σ_x [Σ_μ (∂_μ φ)² + m² φ²]): log q + S is the same constant, −log Z, for every sample.
#[test]
fn spectral_layer_with_free_field_scales_is_exact() {
    let (lat, m2) = (Lattice::new(&[6, 4]).unwrap(), 0.6);
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let mut flow = free_field_flow(lat.clone(), 0, 1);
    let layer = SpectralScale::new(&lat);
    for k in 0..lat.volume() {
        flow.params_mut()[layer.class(k)] = -0.5 * (2.0 * (p_hat_squared(&lat, k) + m2)).ln();
    }
    let z = flow.sample_latent(500, &mut stream_rng(2, 0));
    let (_, terms, _) = flow.reverse_kl(&action, &z);
    let (_, var, ess, _) = batch_quality(&terms);
    assert!(
        var < 1e-20 && (ess - 1.0).abs() < 1e-12,
        "var {var}, ess {ess}"
    );
}

/// A flow with the standard normal prior, the spectral layer and 8 affine couplings, trained
/// by reverse KL for 400 steps (about a second) on the 4×4 free field at m² = 1, has Kish ESS
/// above 0.9 on 20 000 fresh samples. (Affine couplings alone stall near 0.85: see the docs of
/// `SpectralScale`.)
#[test]
fn flow_trained_on_the_free_field_reaches_high_ess_quickly() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: 1.0,
            lambda: 0.0,
        },
    )
    .unwrap();
    let mut flow = free_field_flow(lat, 8, 1);
    let options = TrainOptions {
        steps: 400,
        batch: 64,
        lr: 1e-2,
        schedule: Schedule::Cosine,
        grad_clip: Some(100.0),
        max_failures: 5,
        ..TrainOptions::default()
    };
    let mut adam = Adam::new(flow.n_params());
    let mut rng = stream_rng(1, 1);
    train(
        &mut flow,
        &action,
        &options,
        400,
        &mut adam,
        &mut rng,
        &mut |_| {},
    )
    .unwrap();
    let z = flow.sample_latent(20_000, &mut stream_rng(1, 2));
    let (_, terms, _) = flow.reverse_kl(&action, &z);
    let (_, _, ess, _) = batch_quality(&terms);
    assert!(ess > 0.9, "ESS {ess}");
}

/// A whole flow with the spectral layer (random scales) and 3 affine couplings on 4×4:
/// invertible, Σ log|det J| equal to the finite-difference Jacobian's, log q consistent between
/// sampling and the inverse, and reverse- and forward-KL gradients equal to central differences.
#[test]
fn flow_with_spectral_layer_has_exact_logdet_and_gradients() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let mut flow = free_field_flow(lat.clone(), 3, 140);
    let n_spectral = SpectralScale::new(&lat).n_params();
    flow.params_mut()[..n_spectral].copy_from_slice(&randn(n_spectral, 141, 0.5));
    let z = randn(16, 142, 1.0);
    let (phi, logdet) = flow.forward_batch(&z);
    let mut back = vec![0.0; 16];
    flow.inverse(&phi, &mut back);
    assert!(back.iter().zip(&z).all(|(a, b)| (a - b).abs() < 1e-10));
    let jac = fd_jacobian(&z, &|zz| flow.forward_batch(zz).0);
    assert!((log_abs_det(jac, 16) - logdet[0]).abs() < 1e-6);
    let s = flow.sample(5, &mut stream_rng(143, 0));
    for (a, b) in flow.log_q(&s.phi).iter().zip(&s.log_q) {
        assert!((a - b).abs() < 1e-10);
    }

    let action = Phi4::new(
        lat,
        Phi4Params {
            m2: -1.0,
            lambda: 1.0,
        },
    )
    .unwrap();
    let zb = flow.sample_latent(9, &mut stream_rng(144, 0));
    let data = randn(7 * 16, 145, 0.8);
    let (_, _, reverse) = flow.reverse_kl(&action, &zb);
    let (_, forward) = flow.forward_kl(&data);
    let checked = (0..n_spectral).chain((n_spectral..flow.n_params()).step_by(9));
    for i in checked {
        let mut p = flow.params().to_vec();
        let num = fd(&mut p, i, &mut |pp| {
            let mut f = flow.clone();
            f.params_mut().copy_from_slice(pp);
            f.reverse_kl(&action, &zb).0
        });
        close(reverse[i], num, &format!("reverse KL dθ[{i}]"));
        let num = fd(&mut p, i, &mut |pp| {
            let mut f = flow.clone();
            f.params_mut().copy_from_slice(pp);
            f.forward_kl(&data).0
        });
        close(forward[i], num, &format!("forward KL dθ[{i}]"));
    }
}
