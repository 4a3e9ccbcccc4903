//! The plaquette-basis layer of 2D U(1): its link map M moves exactly the plaquettes it is
//! given (and the constrained one by minus their sum), Mᵀ is its transpose, the layer obeys
//! the Bijection laws with every circle transform on lattices of any extents, it maps each
//! plaquette but one by H exactly, commutes with gauge transformations, and whole flows that
//! start with it (alone or before couplings) are invertible with exact log det and gradients.
//! Its initial spline interpolates the Wilson plaquette marginal: the KL that measures this is
//! exact where it can be checked, and the spline's image of the uniform angle has the von Mises
//! CDF.

mod common;

use common::{
    check_bijection, check_reverse_kl_gradient, close, fd, fd_jacobian, log_abs_det, randn,
};
use lft_action::U1Wilson;
use lft_flow::plaquette_marginal::{log_bessel_i0, marginal_kl};
use lft_flow::transform::ElementwiseTransform;
use lft_flow::{
    Activation, Bijection, CircleSpec, CircleTransform, CircularSpline, CouplingSpec, Flow,
    FlowSpec, LayerCache, MaskOrder, NcpMixture, PlaquetteBasis, SmoothMixture, Workspace,
};
use lft_lattice::gauge::{gauge_transform, plaquette_angles, wrap_link};
use lft_lattice::{Lattice, stream_rng, uniform};
use std::f64::consts::PI;

fn angles(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = stream_rng(seed, 9);
    (0..n)
        .map(|_| PI * (2.0 * uniform(&mut rng) - 1.0))
        .collect()
}

fn transforms() -> [CircleSpec; 3] {
    [
        CircleSpec::Ncp { components: 2 },
        CircleSpec::Spline { bins: 3 },
        CircleSpec::SmoothMixture { components: 2 },
    ]
}

/// The layer of `transform` on `lattice`, boxed.
fn layer(lattice: &Lattice, transform: CircleSpec) -> Box<dyn Bijection> {
    match transform {
        CircleSpec::Ncp { components } => Box::new(
            PlaquetteBasis::new(lattice, CircleTransform::new(NcpMixture { components })).unwrap(),
        ),
        CircleSpec::Spline { bins } => Box::new(
            PlaquetteBasis::new(lattice, CircleTransform::new(CircularSpline::new(bins))).unwrap(),
        ),
        CircleSpec::SmoothMixture { components } => Box::new(
            PlaquetteBasis::new(
                lattice,
                CircleTransform::new(SmoothMixture::new(components)),
            )
            .unwrap(),
        ),
    }
}

/// A flow of `layers` couplings (hidden [4], loops) after the plaquette-basis layer.
fn basis_spec(layers: usize, transform: CircleSpec) -> FlowSpec {
    FlowSpec {
        activation: Activation::Tanh,
        coupling: CouplingSpec::Gauge {
            transform,
            loops: true,
            masks: MaskOrder::Descending,
            plaquette_basis: Some(4),
        },
        ..FlowSpec::gauge(layers, vec![4], transform, true)
    }
}

#[test]
fn the_link_shifts_move_each_plaquette_but_the_last_by_what_they_are_given() {
    for shape in [[3, 5], [4, 4], [6, 2]] {
        let lat = Lattice::new(&shape).unwrap();
        let v = lat.volume();
        let basis =
            PlaquetteBasis::new(&lat, CircleTransform::new(NcpMixture { components: 1 })).unwrap();
        let last = basis.constrained_site();
        assert_eq!(lat.coords(last), vec![shape[0] - 1, shape[1] - 1]);
        let delta = randn(v, 3, 1.0);
        let moved = plaquette_angles(&lat, &basis.link_shifts(&delta));
        let others: f64 = (0..v).filter(|&x| x != last).map(|x| delta[x]).sum();
        for x in 0..v {
            let want = if x == last { -others } else { delta[x] };
            assert!(
                (moved[x] - want).abs() < 1e-12,
                "{shape:?}: plaquette {x} moved by {} not {want}",
                moved[x]
            );
        }
        // ⟨Mδ, g⟩ = ⟨δ, Mᵀg⟩, and Mᵀg vanishes at the constrained plaquette.
        let g = randn(2 * v, 4, 1.0);
        let mt = basis.link_shifts_transpose(&g);
        let lhs: f64 = basis
            .link_shifts(&delta)
            .iter()
            .zip(&g)
            .map(|(a, b)| a * b)
            .sum();
        let rhs: f64 = delta.iter().zip(&mt).map(|(a, b)| a * b).sum();
        assert!(
            (lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
        assert_eq!(mt[last], 0.0);
    }
}

#[test]
fn the_plaquette_basis_layer_is_a_bijection_with_exact_logdet_and_gradients() {
    for (i, transform) in transforms().into_iter().enumerate() {
        for shape in [[3, 5], [4, 4]] {
            let lat = Lattice::new(&shape).unwrap();
            let layer = layer(&lat, transform);
            let mut params = randn(layer.n_params(), 80 + i as u64, 0.7);
            let mut x = angles(2 * lat.volume(), 90 + i as u64);
            let what = format!("{} plaquette basis on {shape:?}", transform.name());
            check_bijection(&what, layer.as_ref(), &mut params, &mut x);
        }
    }
}

#[test]
fn the_layer_maps_every_plaquette_but_the_constrained_one_by_the_transform() {
    use lft_flow::transform::ElementwiseTransform;
    let lat = Lattice::new(&[4, 6]).unwrap();
    let v = lat.volume();
    let ncp = CircleTransform::new(NcpMixture { components: 2 });
    let basis = PlaquetteBasis::new(&lat, ncp.clone()).unwrap();
    let params = randn(basis.n_params(), 5, 1.0);
    let x = angles(2 * v, 6);
    let mut y = vec![0.0; 2 * v];
    let logdet = basis.forward(
        &params,
        &x,
        &mut y,
        &mut LayerCache::default(),
        &mut Workspace::default(),
    );
    let (p, p_new) = (plaquette_angles(&lat, &x), plaquette_angles(&lat, &y));
    let mut want_logdet = 0.0;
    for xs in (0..v).filter(|&s| s != basis.constrained_site()) {
        let (h, log_slope) = ncp.forward(p[xs], &params);
        assert!(wrap_link(p_new[xs] - h).abs() < 1e-12, "plaquette {xs}");
        want_logdet += log_slope;
    }
    assert!((logdet - want_logdet).abs() < 1e-12);
    // The topological charge is Σ wrap(P)/2π: the constrained plaquette carries the rest.
    let total: f64 = p_new
        .iter()
        .map(|&a| lft_lattice::gauge::wrap_plaquette(a))
        .sum();
    assert!((total / (2.0 * PI) - (total / (2.0 * PI)).round()).abs() < 1e-10);
}

#[test]
fn basis_flows_are_invertible_gauge_equivariant_with_exact_logdet_and_gradients() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let (v, n) = (lat.volume(), 2 * lat.volume());
    let action = U1Wilson::new(lat.clone(), 2.0).unwrap();
    for (i, transform) in transforms().into_iter().enumerate() {
        for layers in [0, 2] {
            let what = format!("{} basis + {layers} couplings", transform.name());
            let mut flow = Flow::new(lat.clone(), &basis_spec(layers, transform), 3).unwrap();
            // Move the basis layer off its initial parameters.
            let nb = lft_flow::basis_transform(4).params_per_site();
            randn(nb, 40 + i as u64, 0.8)
                .iter()
                .zip(flow.params_mut())
                .for_each(|(r, p)| *p = *r);
            let sample = flow.sample(4, &mut stream_rng(4, 0));
            let log_q_inv = flow.log_q(&sample.phi);
            for b in 0..4 {
                let rt = flow.round_trip_of(
                    &sample.latent[b * n..(b + 1) * n],
                    &sample.phi[b * n..(b + 1) * n],
                    sample.log_q[b],
                );
                assert!(!rt.exceeds(1e-10), "{what}: {rt:?}");
                assert!((sample.log_q[b] - log_q_inv[b]).abs() < 1e-10, "{what}");
            }
            let z = angles(n, 30);
            let (fz, logdet) = flow.forward_batch(&z);
            let jac = fd_jacobian(&z, &|zz| flow.forward_batch(zz).0);
            assert!(
                (log_abs_det(jac, n) - logdet[0]).abs() < 1e-6,
                "{what}: flow logdet {}",
                logdet[0]
            );
            let alpha = angles(v, 31);
            let mut gz = z.clone();
            gauge_transform(&lat, &mut gz, &alpha);
            let (fgz, logdet_g) = flow.forward_batch(&gz);
            let mut gfz = fz.clone();
            gauge_transform(&lat, &mut gfz, &alpha);
            for l in 0..n {
                assert!(
                    wrap_link(fgz[l] - gfz[l]).abs() < 1e-10,
                    "{what}: f(g·θ) ≠ g·f(θ) at link {l}"
                );
            }
            assert!((logdet[0] - logdet_g[0]).abs() < 1e-10, "{what}");
            let (lq, lq_g) = (flow.log_q(&fz)[0], flow.log_q(&gfz)[0]);
            assert!((lq - lq_g).abs() < 1e-10, "{what}: log q {lq} vs {lq_g}");
            let zb = flow.sample_latent(7, &mut stream_rng(6, 0));
            check_reverse_kl_gradient(&mut flow, &action, &zb, 3, &format!("{what}: KL"));
        }
    }
}

#[test]
fn the_marginal_kl_and_its_gradient_are_exact() {
    // At zero parameters NCP is the identity: KL = E[−β cos u] + log I₀(β) = log I₀(β).
    let ncp = CircleTransform::new(NcpMixture { components: 2 });
    for beta in [0.5, 2.0, 6.0] {
        let kl = marginal_kl(&ncp, beta, &[0.0; 5], 256, None);
        assert!((kl - log_bessel_i0(beta)).abs() < 1e-12, "β = {beta}: {kl}");
    }
    // I₀(1) = 1.2660658777520082 (Abramowitz & Stegun, table 9.8).
    assert!((log_bessel_i0(1.0) - 1.266_065_877_752_008_2f64.ln()).abs() < 1e-14);
    let spline = CircleTransform::new(CircularSpline::new(4));
    let smooth = CircleTransform::new(SmoothMixture::new(2));
    type Kl<'a> = &'a dyn Fn(&[f64], Option<&mut [f64]>) -> f64;
    let check = |t: Kl, n: usize, what: &str| {
        let mut theta = randn(n, 5, 0.6);
        let mut grad = vec![0.0; n];
        t(&theta, Some(&mut grad));
        for i in 0..n {
            let num = fd(&mut theta, i, &mut |th| t(th, None));
            close(grad[i], num, &format!("{what}: ∂KL/∂θ[{i}]"));
        }
    };
    check(&|th, g| marginal_kl(&ncp, 3.0, th, 512, g), 5, "ncp");
    check(&|th, g| marginal_kl(&spline, 3.0, th, 512, g), 13, "spline");
    check(&|th, g| marginal_kl(&smooth, 3.0, th, 512, g), 7, "smooth");
}

/// The von Mises CDF F(t) = ∫_{−π}^{t} e^{β cos θ} dθ / (2π I₀(β)) by the midpoint rule.
fn von_mises_cdf(beta: f64, t: f64) -> f64 {
    let n = 100_000;
    let h = (t + PI) / n as f64;
    let norm = 2.0 * PI * (log_bessel_i0(beta) - beta).exp();
    (0..n)
        .map(|i| (beta * ((-PI + (i as f64 + 0.5) * h).cos() - 1.0)).exp() * h)
        .sum::<f64>()
        / norm
}

#[test]
fn the_initial_basis_spline_pushes_the_uniform_angle_to_the_plaquette_marginal() {
    for (beta, bins, bound) in [(2.0, 16, 1e-5), (6.0, 64, 1e-6), (8.0, 64, 2e-6)] {
        let spline = lft_flow::basis_transform(bins);
        let theta = spline.core.von_mises_params(beta);
        let kl = marginal_kl(&spline, beta, &theta, 1 << 18, None);
        assert!(
            (0.0..bound).contains(&kl),
            "β = {beta}, {bins} bins: KL {kl}"
        );
        // The image's CDF at t is (u + π)/2π for the u with H(u) = t (H is monotone and here
        // fixes −π), against the von Mises CDF: Pinsker's inequality bounds their difference by
        // the total variation, at most √(KL/2).
        let pinsker = (kl / 2.0).sqrt() + 1e-8;
        for t in [-2.0, -0.5, 0.0, 0.3, 1.1] {
            let (mut a, mut b) = (-PI, PI);
            for _ in 0..80 {
                let m = 0.5 * (a + b);
                if spline.forward(m, &theta).0 < t {
                    a = m
                } else {
                    b = m
                }
            }
            let (image, want) = ((a + PI) / (2.0 * PI), von_mises_cdf(beta, t));
            assert!(
                (image - want).abs() < pinsker,
                "β = {beta}: CDF at {t}: {image} vs {want} (Pinsker {pinsker})"
            );
        }
    }
}
