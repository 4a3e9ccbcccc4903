//! Backward passes against central finite differences, invertibility, and log|det J| against
//! the determinant of a finite-difference Jacobian.

use lft_action::{Phi4, Phi4Params};
use lft_flow::activation::Activation;
use lft_flow::conv::{ConvScratch, KernelShifts, PeriodicConv};
use lft_flow::mask::checkerboard;
use lft_flow::net::{ConvNet, NetCache};
use lft_flow::{
    Affine, AffineCoupling, Bijection, LayerCache, RqSpline, SplineCoupling, Workspace,
};
use lft_flow::{CouplingSpec, Flow, FlowSpec, PriorSpec};
use lft_lattice::{Lattice, Parity, stream_rng};
use std::sync::Arc;

mod common;
use common::{
    H, check_bijection, check_reverse_kl_gradient, close, fd, fd_jacobian, flow_spec, log_abs_det,
    randn,
};

#[test]
fn conv_backward_matches_finite_differences() {
    for (shape, k, c_in, c_out) in [
        (vec![7], 3, 2, 3),
        (vec![4, 5], 3, 2, 2),
        (vec![5, 5], 5, 1, 2),
        (vec![3, 3, 3], 3, 2, 1),
        (vec![3, 2, 3, 3], 3, 1, 2),
        // Wide outputs (the transposed weight-gradient product) and lines of 8 and 4.
        (vec![6, 8], 3, 2, 9),
        (vec![4, 4], 3, 8, 8),
    ] {
        let lat = Lattice::new(&shape).unwrap();
        let v = lat.volume();
        let shifts = KernelShifts::new(&lat, k);
        let conv = PeriodicConv::new(c_in, c_out, &shifts);
        let mut params = randn(conv.n_params(), 1, 0.5);
        let mut h = randn(c_in * v, 2, 1.0);
        let c = randn(c_out * v, 3, 1.0); // L = Σ c · y
        let loss = |p: &[f64], h: &[f64]| {
            let mut y = vec![0.0; c_out * v];
            conv.forward(&shifts, p, h, &mut y, &mut ConvScratch::default());
            y.iter().zip(&c).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut dp = vec![0.0; params.len()];
        let mut dh = vec![0.0; h.len()];
        let mut scratch = ConvScratch::default();
        conv.backward(
            &shifts,
            &params,
            &h,
            &c,
            &mut dp,
            Some(&mut dh),
            &mut scratch,
        );
        let h0 = h.clone();
        for i in 0..params.len() {
            let num = fd(&mut params, i, &mut |p| loss(p, &h0));
            close(dp[i], num, &format!("{shape:?} k={k} dW[{i}]"));
        }
        let p0 = params.clone();
        for i in 0..h.len() {
            let num = fd(&mut h, i, &mut |hh| loss(&p0, hh));
            close(dh[i], num, &format!("{shape:?} k={k} dh[{i}]"));
        }
    }
}

#[test]
fn activations_have_the_right_derivatives() {
    for act in [
        Activation::LeakyRelu(0.2),
        Activation::Tanh,
        Activation::Identity,
    ] {
        for x in [-2.3, -0.4, 0.3, 1.7] {
            let num = (act.apply(x + H) - act.apply(x - H)) / (2.0 * H);
            close(
                act.derivative(x, act.apply(x)),
                num,
                &format!("{act:?} at {x}"),
            );
        }
    }
}

#[test]
fn net_backward_matches_finite_differences() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let v = lat.volume();
    let shifts = KernelShifts::new(&lat, 3);
    for (hidden, last) in [
        (Activation::LeakyRelu(0.1), Activation::Tanh),
        (Activation::Tanh, Activation::Identity),
    ] {
        let net = ConvNet::new(&[1, 3, 2, 2], hidden, last, &shifts, v);
        let mut params = net.init_params(&shifts, &mut stream_rng(5, 0), 1.0);
        let mut input = randn(v, 6, 1.0);
        let c = randn(2 * v, 7, 1.0);
        let loss = |p: &[f64], x: &[f64]| {
            let mut cache = NetCache::default();
            net.forward(&shifts, p, x, &mut cache, &mut ConvScratch::default());
            cache.output.iter().zip(&c).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut cache = NetCache::default();
        net.forward(
            &shifts,
            &params,
            &input,
            &mut cache,
            &mut ConvScratch::default(),
        );
        let mut dp = vec![0.0; params.len()];
        let mut dx = vec![0.0; v];
        net.backward(
            &shifts,
            &params,
            &cache,
            &c,
            &mut dp,
            Some(&mut dx),
            &mut ConvScratch::default(),
        );
        let x0 = input.clone();
        for i in 0..params.len() {
            let num = fd(&mut params, i, &mut |p| loss(p, &x0));
            close(dp[i], num, &format!("net dparam[{i}]"));
        }
        let p0 = params.clone();
        for i in 0..v {
            let num = fd(&mut input, i, &mut |x| loss(&p0, x));
            close(dx[i], num, &format!("net dx[{i}]"));
        }
    }
}

fn net_with(lat: &Lattice, shifts: &KernelShifts, out: usize, seed: u64) -> (ConvNet, Vec<f64>) {
    let net = ConvNet::new(
        &[1, 4, out],
        Activation::LeakyRelu(0.1),
        Activation::Tanh,
        shifts,
        lat.volume(),
    );
    let params = net.init_params(shifts, &mut stream_rng(seed, 0), 1.0);
    (net, params)
}

fn coupling_with(
    lat: &Lattice,
    shifts: &KernelShifts,
    parity: Parity,
    seed: u64,
    equivariant: bool,
) -> (AffineCoupling, Vec<f64>) {
    let (net, params) = net_with(lat, shifts, 2, seed);
    let mask = checkerboard(lat, parity);
    let layer = AffineCoupling::new(mask, net, Arc::new(shifts.clone()), Affine, equivariant);
    (layer, params)
}

fn spline_coupling_with(
    lat: &Lattice,
    shifts: &KernelShifts,
    parity: Parity,
    seed: u64,
    equivariant: bool,
) -> (SplineCoupling, Vec<f64>) {
    let spline = RqSpline {
        bins: 4,
        bound: 2.0,
        min_width: 1e-3,
        min_height: 1e-3,
        min_derivative: 1e-3,
    };
    let (net, params) = net_with(lat, shifts, spline.params_per_site(), seed);
    let mask = checkerboard(lat, parity);
    let layer = SplineCoupling::new(mask, net, Arc::new(shifts.clone()), spline, equivariant);
    (layer, params)
}

/// Every coupling layer (affine and spline, plain and Z₂-equivariant, both parities) obeys
/// the laws of [`Bijection`], for typical inputs and inputs far out in the tails.
#[test]
fn every_coupling_is_a_bijection_with_exact_logdet_and_gradients() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let v = lat.volume();
    let shifts = KernelShifts::new(&lat, 3);
    for (seed, parity, equivariant) in [
        (1, Parity::Even, false),
        (2, Parity::Odd, false),
        (3, Parity::Even, true),
    ] {
        let (affine, p_affine) = coupling_with(&lat, &shifts, parity, seed, equivariant);
        let (spline, p_spline) = spline_coupling_with(&lat, &shifts, parity, seed, equivariant);
        let layers: [(&str, &dyn Bijection, Vec<f64>); 2] =
            [("affine", &affine, p_affine), ("spline", &spline, p_spline)];
        for (name, layer, params) in layers {
            // The spline's tails start at 2: 30σ inputs exercise them.
            for scale in [1.0, 30.0] {
                let mut params = params.clone();
                let mut x = randn(v, 10 + seed, scale);
                let what = format!("{name} (seed {seed}, equivariant {equivariant}, x ~ {scale})");
                check_bijection(&what, layer, &mut params, &mut x);
            }
        }
    }
}

fn small_flow(seed: u64) -> Flow {
    let spec = FlowSpec {
        layers: 4,
        hidden: vec![4],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: false,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision: lft_flow::Precision::F64,
    };
    Flow::new(Lattice::new(&[4, 4]).unwrap(), &spec, seed).unwrap()
}

/// A whole flow (2D, L = 4): invertible, log q consistent between sampling and the inverse,
/// and Σ log|det J| equal to log|det| of the finite-difference Jacobian.
#[test]
fn whole_flow_is_invertible_with_exact_logdet() {
    let flow = small_flow(3);
    let v = 16;
    let mut rng = stream_rng(4, 0);
    let sample = flow.sample(5, &mut rng);
    let log_q_inv = flow.log_q(&sample.phi);
    for b in 0..5 {
        assert!(
            (sample.log_q[b] - log_q_inv[b]).abs() < 1e-10,
            "log q mismatch"
        );
    }
    let z = randn(v, 30, 1.0);
    let (phi, logdet) = flow.forward_batch(&z);
    let mut back = vec![0.0; v];
    flow.inverse(&phi, &mut back);
    for i in 0..v {
        assert!((back[i] - z[i]).abs() < 1e-10);
    }
    let jac = fd_jacobian(&z, &|zz| flow.forward_batch(zz).0);
    assert!(
        (log_abs_det(jac, v) - logdet[0]).abs() < 1e-6,
        "flow logdet {}",
        logdet[0]
    );
}

/// The reverse-KL gradient equals central differences of the loss (fixed latent batch).
#[test]
fn reverse_kl_gradient_matches_finite_differences() {
    let mut flow = small_flow(5);
    let action = Phi4::new(
        Lattice::new(&[4, 4]).unwrap(),
        Phi4Params {
            m2: -1.0,
            lambda: 1.0,
        },
    )
    .unwrap();
    let z = flow.sample_latent(9, &mut stream_rng(6, 0)); // 9: two chunks, one partial
    check_reverse_kl_gradient(&mut flow, &action, &z, 7, "reverse KL");
}

/// Equivariant layers: y(−x) = −y(x) with the same log det; a whole equivariant flow with the
/// standard normal prior has q(−φ) = q(φ). A plain layer is not symmetric (the check can fail).
#[test]
fn equivariant_couplings_commute_with_sign_flip() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let v = lat.volume();
    let shifts = KernelShifts::new(&lat, 3);
    let x = randn(v, 40, 1.5);
    let neg: Vec<f64> = x.iter().map(|a| -a).collect();
    let run = |layer: &AffineCoupling, p: &[f64], input: &[f64]| {
        let mut y = vec![0.0; v];
        let ld = layer.forward(
            p,
            input,
            &mut y,
            &mut LayerCache::default(),
            &mut Workspace::default(),
        );
        (y, ld)
    };
    let (sym, p) = coupling_with(&lat, &shifts, Parity::Odd, 41, true);
    let ((y, ld), (yn, ldn)) = (run(&sym, &p, &x), run(&sym, &p, &neg));
    assert!(y.iter().zip(&yn).all(|(a, b)| (a + b).abs() < 1e-12) && (ld - ldn).abs() < 1e-12);
    let (plain, p) = coupling_with(&lat, &shifts, Parity::Odd, 41, false);
    let ((y, _), (yn, _)) = (run(&plain, &p, &x), run(&plain, &p, &neg));
    assert!(
        y.iter().zip(&yn).any(|(a, b)| (a + b).abs() > 1e-3),
        "a plain layer is not odd"
    );

    let spec = FlowSpec {
        layers: 4,
        hidden: vec![4],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: true,
        coupling: CouplingSpec::Affine,
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision: lft_flow::Precision::F64,
    };
    let spline = FlowSpec {
        coupling: CouplingSpec::Spline {
            bins: 5,
            tail_bound: 2.5,
        },
        ..spec.clone()
    };
    for spec in [spec, spline] {
        let flow = Flow::new(lat.clone(), &spec, 9).unwrap();
        let s = flow.sample(4, &mut stream_rng(10, 0));
        let flipped: Vec<f64> = s.phi.iter().map(|a| -a).collect();
        for (a, b) in flow.log_q(&flipped).iter().zip(&s.log_q) {
            assert!(
                (a - b).abs() < 1e-10,
                "{:?}: q(−φ) = {a} vs q(φ) = {b}",
                spec.coupling
            );
        }
        // And the map itself is odd: f(−z) = −f(z).
        let z = randn(16, 11, 1.0);
        let neg: Vec<f64> = z.iter().map(|a| -a).collect();
        let ((p, ld), (pn, ldn)) = (flow.forward_batch(&z), flow.forward_batch(&neg));
        assert!(p.iter().zip(&pn).all(|(a, b)| (a + b).abs() < 1e-12));
        assert!((ld[0] - ldn[0]).abs() < 1e-12);
    }
}

fn spline_flow(seed: u64, equivariant: bool) -> Flow {
    let spec = FlowSpec {
        layers: 4,
        hidden: vec![4],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant,
        coupling: CouplingSpec::Spline {
            bins: 6,
            tail_bound: 2.5,
        },
        prior: PriorSpec::StandardNormal,
        spectral: false,
        precision: lft_flow::Precision::F64,
    };
    Flow::new(Lattice::new(&[4, 4]).unwrap(), &spec, seed).unwrap()
}

/// A spline flow (conditioner output bounded by tanh, the config default): inverse(forward(z))
/// = z to 1e-10, also for latent fields 30σ out, far in the spline tails; log q consistent
/// between sampling and the inverse; Σ log|det J| equal to log|det| of the finite-difference
/// Jacobian. (With unbounded conditioner outputs, ±30 neighbours give spline parameters in the
/// hundreds and interior slopes ~1e-7, where x is fixed by y only to ε|y|/slope ~ 1e-9: that is
/// the map's conditioning, which tests/spline.rs checks in y-space.)
#[test]
fn spline_flow_is_invertible_with_exact_logdet() {
    for equivariant in [false, true] {
        spline_flow_checks(&spline_flow(12, equivariant));
    }
}

fn spline_flow_checks(flow: &Flow) {
    let v = 16;
    for scale in [1.0, 30.0] {
        let z = randn(v, 50, scale);
        let (phi, logdet) = flow.forward_batch(&z);
        let mut back = vec![0.0; v];
        flow.inverse(&phi, &mut back);
        for i in 0..v {
            assert!(
                (back[i] - z[i]).abs() < 1e-10 * scale,
                "scale {scale}: site {i}: z {} back {} phi {}",
                z[i],
                back[i],
                phi[i]
            );
        }
        if scale == 1.0 {
            let jac = fd_jacobian(&z, &|zz| flow.forward_batch(zz).0);
            assert!(
                (log_abs_det(jac, v) - logdet[0]).abs() < 1e-6,
                "spline flow logdet {}",
                logdet[0]
            );
        }
    }
    let s = flow.sample(5, &mut stream_rng(13, 0));
    for (a, b) in flow.log_q(&s.phi).iter().zip(&s.log_q) {
        assert!((a - b).abs() < 1e-9);
    }
}

#[test]
fn spline_reverse_kl_gradient_matches_finite_differences() {
    for equivariant in [false, true] {
        spline_reverse_kl_check(spline_flow(14, equivariant));
    }
}

fn spline_reverse_kl_check(mut flow: Flow) {
    let action = Phi4::new(
        Lattice::new(&[4, 4]).unwrap(),
        Phi4Params {
            m2: -1.0,
            lambda: 1.0,
        },
    )
    .unwrap();
    let z = flow.sample_latent(9, &mut stream_rng(15, 0));
    check_reverse_kl_gradient(&mut flow, &action, &z, 11, "spline reverse KL");
}

/// The forward-KL (maximum-likelihood) gradient, which runs backwards through every inverse
/// pass, equals central differences of the loss: affine, equivariant and spline flows, with the
/// standard normal and the free-field prior.
#[test]
fn forward_kl_gradient_matches_finite_differences() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let data = randn(7 * 16, 60, 0.8); // 7 configurations: one full chunk of 8 is not needed
    let cases = [
        (CouplingSpec::Affine, false, PriorSpec::StandardNormal),
        (CouplingSpec::Affine, true, PriorSpec::StandardNormal),
        (
            CouplingSpec::Spline {
                bins: 5,
                tail_bound: 2.0,
            },
            false,
            PriorSpec::FreeField { m2: 1.5 },
        ),
        (
            CouplingSpec::Spline {
                bins: 4,
                tail_bound: 2.0,
            },
            true,
            PriorSpec::StandardNormal,
        ),
    ];
    for (k, (coupling, equivariant, prior)) in cases.into_iter().enumerate() {
        let spec = FlowSpec {
            layers: 3,
            hidden: vec![3],
            kernel: 3,
            activation: Activation::LeakyRelu(0.01),
            final_activation: Activation::Tanh,
            equivariant,
            coupling,
            prior,
            spectral: false,
            precision: lft_flow::Precision::F64,
        };
        let mut flow = Flow::new(lat.clone(), &spec, 70 + k as u64).unwrap();
        let (loss, grad) = flow.forward_kl(&data);
        let lq = flow.log_q(&data);
        assert!(
            (loss + lq.iter().sum::<f64>() / 7.0).abs() < 1e-10,
            "loss is −⟨log q⟩"
        );
        for i in (0..flow.n_params()).step_by(5) {
            let p0 = flow.params_mut()[i];
            flow.params_mut()[i] = p0 + H;
            let up = flow.forward_kl(&data).0;
            flow.params_mut()[i] = p0 - H;
            let down = flow.forward_kl(&data).0;
            flow.params_mut()[i] = p0;
            close(
                grad[i],
                (up - down) / (2.0 * H),
                &format!("case {k}: forward KL dθ[{i}]"),
            );
        }
    }
}

/// The stack without its prior is a map on its own (a transport between distributions):
/// T⁻¹(T(x)) = x with the same Σ log det, the flow's log q is log r(z) − Σ log det, and a
/// scratch reused across configurations gives the same bits as a fresh one.
#[test]
fn the_stack_is_a_map_on_its_own_with_reusable_scratch() {
    let spec = FlowSpec {
        layers: 3,
        hidden: vec![4],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: true,
        coupling: CouplingSpec::Spline {
            bins: 5,
            tail_bound: 2.5,
        },
        prior: PriorSpec::FreeField { m2: 0.5 },
        spectral: true,
        precision: lft_flow::Precision::F64,
    };
    let lat = Lattice::new(&[4, 6]).unwrap();
    let v = lat.volume();
    let mut flow = Flow::new(lat, &spec, 3).unwrap();
    // Move off the initialisation (the spectral scale starts at the identity).
    let kick = randn(flow.n_params(), 5, 0.1);
    flow.params_mut()
        .iter_mut()
        .zip(&kick)
        .for_each(|(p, k)| *p += k);
    let stack = flow.stack();
    assert_eq!(stack.len(), 4, "spectral scale and three couplings");
    let mut reused = stack.scratch(v);
    for seed in 0..4 {
        let x = randn(v, 60 + seed, 1.5);
        let (mut y, mut back) = (vec![0.0; v], vec![0.0; v]);
        let logdet = stack.forward(&x, &mut y, &mut reused);
        let logdet_inv = stack.inverse(&y, &mut back, &mut reused);
        assert!((logdet - logdet_inv).abs() < 1e-12);
        assert!(x.iter().zip(&back).all(|(a, b)| (a - b).abs() < 1e-10));
        let (mut y_fresh, mut z) = (vec![0.0; v], vec![0.0; v]);
        let fresh = stack.forward(&x, &mut y_fresh, &mut stack.scratch(v));
        assert_eq!(
            fresh.to_bits(),
            logdet.to_bits(),
            "a reused scratch changes nothing"
        );
        assert!(
            y.iter()
                .zip(&y_fresh)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        let log_q = flow.log_q_with(&y, &mut z, &mut reused);
        assert!((log_q - (flow.prior().log_prob(&x) - logdet)).abs() < 1e-10);
    }
}

/// The caches of a forward pass from z serve the backward pass through the inverse at
/// φ = f(z), as the caches of that inverse do (affine, equivariant, spline and spectral
/// layers): the path gradient relies on it.
#[test]
fn forward_caches_serve_the_inverse_backward() {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let spline = CouplingSpec::Spline {
        bins: 6,
        tail_bound: 2.5,
    };
    for (coupling, equivariant, spectral) in [
        (CouplingSpec::Affine, false, false),
        (CouplingSpec::Affine, true, true),
        (spline, true, false),
    ] {
        let spec = flow_spec(
            4,
            vec![4],
            coupling,
            equivariant,
            PriorSpec::StandardNormal,
            spectral,
        );
        let mut flow = Flow::new(lattice.clone(), &spec, 31).unwrap();
        // A spectral scale away from the identity, so that its cache matters.
        let noise = randn(flow.n_params(), 32, 0.3);
        flow.params_mut()
            .iter_mut()
            .zip(noise)
            .for_each(|(p, e)| *p += e);
        let stack = flow.stack();
        let z = randn(16, 33, 1.0);
        let (mut phi, mut z_back) = (vec![0.0; 16], vec![0.0; 16]);
        let (mut from_forward, mut from_inverse) = (flow.scratch(), flow.scratch());
        stack.forward(&z, &mut phi, &mut from_forward);
        stack.inverse(&phi, &mut z_back, &mut from_inverse);
        let upstream = randn(16, 34, 1.0);
        let n = flow.n_params();
        let (mut g1, mut g2) = (upstream.clone(), upstream);
        let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
        stack.inverse_backward(&mut from_forward, &mut g1, 0.7, &mut d1);
        stack.inverse_backward(&mut from_inverse, &mut g2, 0.7, &mut d2);
        for (a, b) in g1.iter().chain(&d1).zip(g2.iter().chain(&d2)) {
            assert!(
                (a - b).abs() <= 1e-10 * b.abs().max(1.0),
                "{coupling:?}, spectral {spectral}: {a} against {b}"
            );
        }
    }
}
