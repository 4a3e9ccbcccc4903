//! Gauge-equivariant couplings of 2D U(1): the masks, the Bijection laws of every layer (each
//! circle transform, with and without 2 × 1 loops), whole flows (invertible, exact log det,
//! reverse-KL gradients), and gauge equivariance of the map and of log q.

mod common;

use common::{check_bijection, check_reverse_kl_gradient, fd_jacobian, log_abs_det};
use lft_action::{Action, U1Wilson};
use lft_flow::conv::KernelShifts;
use lft_flow::gauge_mask::check_lattice;
use lft_flow::net::ConvNet;
use lft_flow::{
    Activation, CircleSpec, CircleTransform, CircularSpline, Flow, FlowSpec, GaugeCoupling,
    GaugeMask, GaugeMaskError, MaskOrder, NcpMixture, SmoothMixture,
};
use lft_lattice::gauge::{gauge_transform, plaquette_angle, wrap_link};
use lft_lattice::{Lattice, stream_rng, uniform};
use std::f64::consts::PI;
use std::sync::Arc;

fn angles(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = stream_rng(seed, 9);
    (0..n)
        .map(|_| PI * (2.0 * uniform(&mut rng) - 1.0))
        .collect()
}

/// Two angles equal modulo 2π (to `tol`).
fn same_angle(a: f64, b: f64, tol: f64) -> bool {
    wrap_link(a - b).abs() < tol
}

fn spec(layers: usize, transform: CircleSpec, loops: bool) -> FlowSpec {
    FlowSpec {
        hidden: vec![4],
        activation: Activation::Tanh,
        ..FlowSpec::gauge(layers, vec![4], transform, loops)
    }
}

/// `spec` with the stripes in `masks` order.
fn spec_ordered(layers: usize, transform: CircleSpec, masks: MaskOrder) -> FlowSpec {
    FlowSpec {
        coupling: lft_flow::CouplingSpec::Gauge {
            transform,
            loops: true,
            masks,
            plaquette_basis: None,
        },
        ..spec(layers, transform, true)
    }
}

/// Ascending stripes for the transforms of odd index, descending for the others: both orders
/// meet the whole-flow tests.
fn order(i: usize) -> MaskOrder {
    if i % 2 == 1 {
        MaskOrder::Ascending
    } else {
        MaskOrder::Descending
    }
}

fn transforms() -> [CircleSpec; 3] {
    [
        CircleSpec::Ncp { components: 2 },
        CircleSpec::Spline { bins: 3 },
        CircleSpec::SmoothMixture { components: 2 },
    ]
}

#[test]
fn the_masks_update_every_link_once_in_eight_layers_and_freeze_what_conditions() {
    let lat = Lattice::new(&[8, 4]).unwrap();
    let v = lat.volume();
    for masks in [MaskOrder::Descending, MaskOrder::Ascending] {
        let offsets: Vec<usize> = (0..8)
            .map(|l| GaugeMask::of_layer(&lat, l, masks).unwrap().offset)
            .collect();
        let expected = match masks {
            MaskOrder::Descending => [3, 3, 2, 2, 1, 1, 0, 0],
            MaskOrder::Ascending => [0, 0, 1, 1, 2, 2, 3, 3],
        };
        assert_eq!(offsets, expected, "{}", masks.name());
    }
    let mut times_active = vec![0; 2 * v];
    for layer in 0..8 {
        let mask = GaugeMask::of_layer(&lat, layer, MaskOrder::Descending).unwrap();
        let mut links_in_plaquette = vec![0; v];
        for a in &mask.active {
            times_active[a.link] += 1;
            assert_eq!(a.link % v, a.site);
            // The active link is in its plaquette with the stated sign ...
            let mut theta = vec![0.0; 2 * v];
            theta[a.link] = 1.0;
            assert_eq!(plaquette_angle(&lat, &theta, a.site, 0, 1), a.sign);
            // ... and in no frozen plaquette, nor in another active one.
            for x in 0..v {
                let p = plaquette_angle(&lat, &theta, x, 0, 1);
                if p != 0.0 {
                    links_in_plaquette[x] += 1;
                    assert!(mask.frozen[x] == 0.0, "layer {layer}: frozen plaquette {x}");
                }
            }
        }
        for a in &mask.active {
            assert_eq!(links_in_plaquette[a.site], 1, "layer {layer}");
        }
        let frozen = mask.frozen.iter().filter(|&&f| f == 1.0).count();
        assert_eq!(frozen, v / 2, "half the plaquettes condition");
    }
    assert!(times_active.iter().all(|&t| t == 1), "{times_active:?}");
    assert_eq!(
        check_lattice(&Lattice::new(&[6, 8]).unwrap()),
        Err(GaugeMaskError::Extent(vec![6, 8]))
    );
    assert_eq!(
        check_lattice(&Lattice::new(&[4, 4, 4]).unwrap()),
        Err(GaugeMaskError::Dimension(3))
    );
}

#[test]
fn every_gauge_layer_is_a_bijection_with_exact_logdet_and_gradients() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let v = lat.volume();
    let shifts = Arc::new(KernelShifts::new(&lat, 3));
    for (i, transform) in transforms().into_iter().enumerate() {
        for (layer, loops) in [(0, false), (3, true), (6, false)] {
            let s = spec(1, transform, loops);
            let net = ConvNet::new(
                &s.conditioner_channels(),
                Activation::Tanh,
                Activation::Identity,
                &shifts,
                v,
            );
            let mut params = net.init_params(&shifts, &mut stream_rng(40 + i as u64, 0), 1.0);
            let mask = GaugeMask::of_layer(&lat, layer, MaskOrder::Descending).unwrap();
            let sh = shifts.clone();
            let layer_box: Box<dyn lft_flow::Bijection> = match transform {
                CircleSpec::Ncp { components } => Box::new(GaugeCoupling::new(
                    &lat,
                    mask,
                    net,
                    sh,
                    CircleTransform::new(NcpMixture { components }),
                    loops,
                )),
                CircleSpec::Spline { bins } => Box::new(GaugeCoupling::new(
                    &lat,
                    mask,
                    net,
                    sh,
                    CircleTransform::new(CircularSpline::new(bins)),
                    loops,
                )),
                CircleSpec::SmoothMixture { components } => Box::new(GaugeCoupling::new(
                    &lat,
                    mask,
                    net,
                    sh,
                    CircleTransform::new(SmoothMixture::new(components)),
                    loops,
                )),
            };
            let mut x = angles(2 * v, 50 + layer as u64);
            let what = format!("{} layer {layer}, loops {loops}", transform.name());
            check_bijection(&what, layer_box.as_ref(), &mut params, &mut x);
        }
    }
}

#[test]
fn whole_gauge_flows_are_invertible_with_exact_logdet() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let n = 2 * lat.volume();
    for (i, transform) in transforms().into_iter().enumerate() {
        let flow = Flow::new(lat.clone(), &spec_ordered(8, transform, order(i)), 3).unwrap();
        assert_eq!(flow.field_len(), n);
        let sample = flow.sample(5, &mut stream_rng(4, 0));
        assert!(
            sample.phi.iter().all(|t| (-PI..PI).contains(t)),
            "links wrapped"
        );
        let log_q_inv = flow.log_q(&sample.phi);
        for b in 0..5 {
            let rt = flow.round_trip_of(
                &sample.latent[b * n..(b + 1) * n],
                &sample.phi[b * n..(b + 1) * n],
                sample.log_q[b],
            );
            assert!(!rt.exceeds(1e-10), "{}: {rt:?}", transform.name());
            assert!((sample.log_q[b] - log_q_inv[b]).abs() < 1e-10);
        }
        // Latent angles on the edge of [−π, π) round-trip (compared modulo 2π).
        let mut edge = angles(n, 29);
        edge.iter_mut().step_by(3).for_each(|a| *a = -PI);
        edge.iter_mut()
            .skip(1)
            .step_by(3)
            .for_each(|a| *a = -PI + 1e-15);
        let (phi, ld) = flow.forward_batch(&edge);
        let log_q = flow.prior().log_prob(&edge) - ld[0];
        let rt = flow.round_trip_of(&edge, &phi, log_q);
        assert!(!rt.exceeds(1e-10), "{}: {rt:?}", transform.name());
        let z = angles(n, 30);
        let (_, logdet) = flow.forward_batch(&z);
        let jac = fd_jacobian(&z, &|zz| flow.forward_batch(zz).0);
        assert!(
            (log_abs_det(jac, n) - logdet[0]).abs() < 1e-6,
            "{}: flow logdet {}",
            transform.name(),
            logdet[0]
        );
    }
}

#[test]
fn gauge_flows_commute_with_gauge_transformations() {
    let lat = Lattice::new(&[4, 8]).unwrap();
    let (v, n) = (lat.volume(), 2 * lat.volume());
    for (i, transform) in transforms().into_iter().enumerate() {
        let flow = Flow::new(lat.clone(), &spec_ordered(8, transform, order(i)), 7).unwrap();
        for seed in 0..3 {
            let z = angles(n, 60 + seed);
            let alpha = angles(v, 70 + seed);
            let mut gz = z.clone();
            gauge_transform(&lat, &mut gz, &alpha);
            let (fz, ld) = flow.forward_batch(&z);
            let (fgz, ld_g) = flow.forward_batch(&gz);
            let mut gfz = fz.clone();
            gauge_transform(&lat, &mut gfz, &alpha);
            for i in 0..n {
                assert!(
                    same_angle(fgz[i], gfz[i], 1e-10),
                    "{}: link {i}: f(g·θ) = {} but g·f(θ) = {}",
                    transform.name(),
                    fgz[i],
                    gfz[i]
                );
            }
            assert!(
                (ld[0] - ld_g[0]).abs() < 1e-10,
                "log det is gauge invariant"
            );
            let (lq, lq_g) = (flow.log_q(&fz)[0], flow.log_q(&gfz)[0]);
            assert!(
                (lq - lq_g).abs() < 1e-10,
                "log q(g·θ) = log q(θ): {lq} vs {lq_g}"
            );
        }
    }
}

#[test]
fn gauge_flow_reverse_kl_gradients_match_finite_differences() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = U1Wilson::new(lat.clone(), 2.0).unwrap();
    for transform in transforms() {
        let mut flow = Flow::new(lat.clone(), &spec(4, transform, false), 11).unwrap();
        let z = flow.sample_latent(9, &mut stream_rng(6, 0));
        let what = format!("{}: reverse KL", transform.name());
        check_reverse_kl_gradient(&mut flow, &action, &z, 5, &what);
        assert!(action.field_len() == flow.field_len());
    }
}

/// The path gradient runs the inverse's backward pass on the caches of a forward pass: for
/// gauge layers they give what the inverse's own caches give.
#[test]
fn forward_caches_serve_the_inverse_backward_of_gauge_flows() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let n = 2 * lat.volume();
    for transform in transforms() {
        let flow = Flow::new(lat.clone(), &spec(8, transform, true), 31).unwrap();
        let stack = flow.stack();
        let z = angles(n, 33);
        let (mut theta, mut z_back) = (vec![0.0; n], vec![0.0; n]);
        let (mut from_forward, mut from_inverse) = (flow.scratch(), flow.scratch());
        stack.forward(&z, &mut theta, &mut from_forward);
        stack.inverse(&theta, &mut z_back, &mut from_inverse);
        let upstream = angles(n, 34);
        let p = flow.n_params();
        let (mut g1, mut g2) = (upstream.clone(), upstream);
        let (mut d1, mut d2) = (vec![0.0; p], vec![0.0; p]);
        stack.inverse_backward(&mut from_forward, &mut g1, 0.7, &mut d1);
        stack.inverse_backward(&mut from_inverse, &mut g2, 0.7, &mut d2);
        for (a, b) in g1.iter().chain(&d1).zip(g2.iter().chain(&d2)) {
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "{}: {a} against {b}",
                transform.name()
            );
        }
    }
}
