//! Lane-batched stacks ([`BijectionStack::forward_lanes`], [`BijectionStack::backward_lanes`])
//! agree with the one-configuration passes lane by lane: the map, the log det, ∂L/∂x and the
//! parameter gradient (summed over the lanes), for affine and spline couplings, plain and
//! Z₂-equivariant, in two and three dimensions. They differ only by rounding (fused
//! multiply-adds, another order of summation), so the tolerance is relative, 1e-12.

use lft_flow::{Activation, CouplingSpec, FlowSpec, LaneStackScratch, PriorSpec};
use lft_lattice::{LANES, Lattice, gaussian_fill, lane_gather, lane_scatter, stream_rng};

fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-12 * scale.max(1.0)
}

#[test]
fn lane_stacks_equal_one_configuration_passes() {
    for (shape, coupling, equivariant) in [
        (vec![14, 14], CouplingSpec::Affine, false),
        (vec![6, 8], CouplingSpec::Affine, true),
        (
            vec![4, 4, 6],
            CouplingSpec::Spline {
                bins: 4,
                tail_bound: 4.0,
            },
            false,
        ),
        (
            vec![6, 6],
            CouplingSpec::Spline {
                bins: 3,
                tail_bound: 3.0,
            },
            true,
        ),
    ] {
        let lat = Lattice::new(&shape).unwrap();
        let v = lat.volume();
        let spec = FlowSpec {
            layers: 2,
            hidden: vec![10, 3],
            kernel: 3,
            activation: Activation::LeakyRelu(0.01),
            final_activation: Activation::Tanh,
            equivariant,
            coupling,
            prior: PriorSpec::StandardNormal,
            spectral: false,
        };
        let mut stack = spec.build_stack(&lat, 4);
        // Parameters away from the initialisation, so that every term matters.
        let mut params = vec![0.0; stack.n_params()];
        gaussian_fill(&mut stream_rng(9, 1), &mut params);
        params.iter_mut().for_each(|p| *p *= 0.3);
        stack.set_params(params).unwrap();
        assert!(stack.has_lanes());
        let what = format!("{shape:?} {coupling:?} equivariant {equivariant}");

        let mut fields = vec![0.0; LANES * v];
        gaussian_fill(&mut stream_rng(9, 2), &mut fields);
        let mut upstream = vec![0.0; LANES * v];
        gaussian_fill(&mut stream_rng(9, 3), &mut upstream);
        let gammas: Vec<f64> = (0..LANES).map(|l| 0.3 - 0.1 * l as f64).collect();

        // One configuration at a time.
        let mut scratch = stack.scratch(v);
        let mut want_grad = vec![0.0; stack.n_params()];
        let mut want = Vec::new();
        for l in 0..LANES {
            let mut y = vec![0.0; v];
            let logdet = stack.forward(&fields[l * v..(l + 1) * v], &mut y, &mut scratch);
            let mut g = upstream[l * v..(l + 1) * v].to_vec();
            stack.backward(&mut scratch, &mut g, gammas[l], &mut want_grad);
            want.push((y, logdet, g));
        }

        // All lanes at once.
        let mut x = vec![[0.0; LANES]; v];
        let mut g = vec![[0.0; LANES]; v];
        for l in 0..LANES {
            lane_scatter(&fields[l * v..(l + 1) * v], l, &mut x);
            lane_scatter(&upstream[l * v..(l + 1) * v], l, &mut g);
        }
        let mut lanes = LaneStackScratch::default();
        let mut y = vec![[0.0; LANES]; v];
        let logdet = stack.forward_lanes(&x, &mut y, &mut lanes);
        let mut grad = vec![0.0; stack.n_params()];
        let gamma: [f64; LANES] = std::array::from_fn(|l| gammas[l]);
        stack.backward_lanes(&mut lanes, &mut g, &gamma, &mut grad);

        let mut got = vec![0.0; v];
        for (l, (wy, wld, wg)) in want.iter().enumerate() {
            assert!(
                close(logdet[l], *wld, wld.abs()),
                "{what}: log det lane {l}"
            );
            lane_gather(&y, l, &mut got);
            assert!(
                wy.iter().zip(&got).all(|(a, b)| close(*a, *b, a.abs())),
                "{what}: y"
            );
            lane_gather(&g, l, &mut got);
            assert!(
                wg.iter().zip(&got).all(|(a, b)| close(*a, *b, a.abs())),
                "{what}: dx"
            );
        }
        let scale = want_grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        for (i, (a, b)) in want_grad.iter().zip(&grad).enumerate() {
            assert!(close(*a, *b, scale), "{what}: parameter {i}: {a} vs {b}");
        }
        assert!(scale > 1e-3, "{what}: the gradient is not trivial");
    }
}
