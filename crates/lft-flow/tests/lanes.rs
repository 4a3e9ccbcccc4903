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
            precision: lft_flow::Precision::F64,
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

/// The action of `Phi4` without its lane batches, so that a flow falls back to one
/// configuration at a time: the reference for the lane-batched losses.
struct OneAtATime(lft_action::Phi4);

impl lft_action::Action for OneAtATime {
    fn lattice(&self) -> &Lattice {
        self.0.lattice()
    }
    fn action(&self, phi: &[f64]) -> f64 {
        self.0.action(phi)
    }
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        self.0.gradient(phi, grad)
    }
}

/// The reverse KL (total and path gradient) and the forward map of a batch that fills one
/// lane chunk and leaves a partial one (13 = 8 + 5) equal the one-configuration passes: the
/// loss, every per-sample term and every parameter, for a plain affine flow, an equivariant
/// one with a spectral layer and a fitted free prior, and a spline flow.
#[test]
fn lane_losses_equal_one_configuration_losses() {
    use lft_action::{Action, Phi4, Phi4Params};
    use lft_flow::Flow;
    let lat = Lattice::new(&[6, 6]).unwrap();
    let spline = CouplingSpec::Spline {
        bins: 4,
        tail_bound: 4.0,
    };
    let free = PriorSpec::FreeField { m2: 1.3 };
    for (coupling, equivariant, prior, spectral) in [
        (
            CouplingSpec::Affine,
            false,
            PriorSpec::StandardNormal,
            false,
        ),
        (CouplingSpec::Affine, true, free, true),
        (spline, false, PriorSpec::StandardNormal, false),
    ] {
        let spec = FlowSpec {
            layers: 4,
            hidden: vec![6],
            kernel: 3,
            activation: Activation::LeakyRelu(0.01),
            final_activation: Activation::Tanh,
            equivariant,
            coupling,
            prior,
            spectral,
            precision: lft_flow::Precision::F64,
        };
        let mut flow = Flow::new(lat.clone(), &spec, 3).unwrap();
        let mut params = vec![0.0; flow.n_params()];
        gaussian_fill(&mut stream_rng(9, 4), &mut params);
        params.iter_mut().for_each(|p| *p *= 0.2);
        flow.set_params(params).unwrap();
        assert!(flow.stack().has_lanes());
        let phi4 = Phi4::new(
            lat.clone(),
            Phi4Params {
                m2: -1.0,
                lambda: 1.0,
            },
        )
        .unwrap();
        assert!(phi4.lanes().is_some());
        let reference = OneAtATime(phi4.clone());
        let z = flow.sample_latent(13, &mut stream_rng(9, 5));
        let what = format!("{coupling:?} equivariant {equivariant} spectral {spectral}");
        type Loss = fn(&Flow, &dyn Action, &[f64]) -> (f64, Vec<f64>, Vec<f64>);
        let losses: [(&str, Loss); 2] = [
            ("total", |f, a, z| f.reverse_kl(a, z)),
            ("path", |f, a, z| f.reverse_kl_path(a, z)),
        ];
        for (name, loss) in losses {
            let (l_lanes, t_lanes, g_lanes) = loss(&flow, &phi4, &z);
            let (l_one, t_one, g_one) = loss(&flow, &reference, &z);
            assert!(close(l_lanes, l_one, l_one.abs()), "{what} {name}: loss");
            for (a, b) in t_lanes.iter().zip(&t_one) {
                assert!(close(*a, *b, b.abs()), "{what} {name}: term {a} vs {b}");
            }
            let scale = g_one.iter().fold(0.0f64, |m, g| m.max(g.abs()));
            assert!(scale > 1e-3, "{what} {name}: a non-trivial gradient");
            for (i, (a, b)) in g_lanes.iter().zip(&g_one).enumerate() {
                assert!(close(*a, *b, scale), "{what} {name}: θ[{i}] {a} vs {b}");
            }
            // Not bit for bit: the lane path really ran (where this CPU prefers it).
            if flow.stack().prefers_lanes() {
                assert!(g_lanes != g_one, "{what} {name}: the lane path was taken");
            }
        }
        let (phi, logdet) = flow.forward_batch(&z);
        let v = lat.volume();
        let mut scratch = flow.scratch();
        for (b, zb) in z.chunks_exact(v).enumerate() {
            let mut one = vec![0.0; v];
            let ld = flow.forward_with(zb, &mut one, &mut scratch);
            assert!(close(logdet[b], ld, ld.abs()), "{what}: log det {b}");
            let got = &phi[b * v..(b + 1) * v];
            assert!(
                got.iter().zip(&one).all(|(a, b)| close(*a, *b, b.abs())),
                "{what}: φ of configuration {b}"
            );
        }
    }
}
