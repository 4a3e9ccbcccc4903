//! φ⁴ action: gradients against finite differences, AKS ↔ hopping equivalence, batches,
//! and the free-field exact results against brute force.

use lft_action::{Action, FreeField, HoppingParams, Phi4, Phi4Hopping, Phi4Params};
use lft_lattice::{Lattice, gaussian_fill, stream_rng};

fn random_field(lat: &Lattice, seed: u64, scale: f64) -> Vec<f64> {
    let mut phi = vec![0.0; lat.volume()];
    gaussian_fill(&mut stream_rng(seed, 0), &mut phi);
    phi.iter_mut().for_each(|p| *p *= scale);
    phi
}

/// Checks ∂S/∂φ_x against the central difference (S(φ + h e_x) − S(φ − h e_x)) / 2h at every site.
/// The tolerance is relative to the scale of the gradient (central differences of a quartic have
/// error h² S‴/6, far below it at h = 1e-5).
fn assert_gradient_matches_fd(action: &dyn Action, phi: &[f64]) {
    let mut grad = vec![0.0; phi.len()];
    action.gradient(phi, &mut grad);
    let scale = grad.iter().fold(1.0f64, |m, g| m.max(g.abs()));
    let h = 1e-5;
    let mut p = phi.to_vec();
    for x in 0..phi.len() {
        p[x] = phi[x] + h;
        let up = action.action(&p);
        p[x] = phi[x] - h;
        let down = action.action(&p);
        p[x] = phi[x];
        let fd = (up - down) / (2.0 * h);
        let rel = (fd - grad[x]).abs() / scale;
        assert!(
            rel < 1e-7,
            "site {x}: analytic {} vs fd {fd} (rel {rel:e})",
            grad[x]
        );
    }
}

const SHAPES: [&[usize]; 6] = [&[6], &[4, 4], &[3, 5], &[4, 3, 2], &[2, 3, 2, 3], &[8, 8]];

#[test]
fn aks_gradient_equals_finite_difference() {
    for (i, shape) in SHAPES.iter().enumerate() {
        let lat = Lattice::new(shape).unwrap();
        let phi = random_field(&lat, i as u64, 1.3);
        for params in [
            Phi4Params {
                m2: -4.0,
                lambda: 8.0,
            },
            Phi4Params {
                m2: 0.7,
                lambda: 0.0,
            },
        ] {
            let s = Phi4::new(lat.clone(), params).unwrap();
            assert_gradient_matches_fd(&s, &phi);
            let s = s.with_external_field(0.37).unwrap();
            assert_gradient_matches_fd(&s, &phi);
        }
    }
}

#[test]
fn hopping_gradient_equals_finite_difference() {
    for (i, shape) in SHAPES.iter().enumerate() {
        let lat = Lattice::new(shape).unwrap();
        let phi = random_field(&lat, 100 + i as u64, 1.1);
        let s = Phi4Hopping::new(
            lat,
            HoppingParams {
                kappa: 0.18,
                lambda_tilde: 0.9,
            },
        )
        .unwrap();
        assert_gradient_matches_fd(&s, &phi);
        assert_gradient_matches_fd(&s.with_external_field(-0.6).unwrap(), &phi);
    }
}

/// Large lattices take the parallel site path. A single-site difference of a 32k-term sum is
/// limited by round-off, so this checks the directional derivative along a random direction η:
/// (S(φ + hη) − S(φ − hη)) / 2h = ∇S · η.
#[test]
fn parallel_path_gradient_matches_directional_difference() {
    let lat = Lattice::new(&[256, 128]).unwrap();
    let phi = random_field(&lat, 5, 1.0);
    let eta = random_field(&lat, 6, 1.0);
    let s = Phi4::new(
        lat,
        Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
    )
    .unwrap();
    let mut grad = vec![0.0; phi.len()];
    s.gradient(&phi, &mut grad);
    let analytic: f64 = grad.iter().zip(&eta).map(|(g, e)| g * e).sum();
    let h = 1e-5;
    let shifted = |sign: f64| -> Vec<f64> {
        phi.iter()
            .zip(&eta)
            .map(|(p, e)| p + sign * h * e)
            .collect()
    };
    let fd = (s.action(&shifted(1.0)) - s.action(&shifted(-1.0))) / (2.0 * h);
    assert!(
        (fd - analytic).abs() < 1e-7 * analytic.abs(),
        "{fd} vs {analytic}"
    );
}

/// S_AKS(√κ φ̃) − S_hop(φ̃) is the same constant (−V λ̃) for every φ̃, with or without an
/// external field h (the same h in both forms).
#[test]
fn aks_and_hopping_forms_agree_up_to_a_constant() {
    for (i, shape) in SHAPES.iter().enumerate() {
        let lat = Lattice::new(shape).unwrap();
        let d = lat.dim();
        for aks in [
            Phi4Params {
                m2: -4.0,
                lambda: 8.0,
            },
            Phi4Params {
                m2: 1.5,
                lambda: 0.3,
            },
        ] {
            let hop = aks.to_hopping(d).unwrap();
            let back = hop.to_aks(d);
            assert!((back.m2 - aks.m2).abs() < 1e-12 && (back.lambda - aks.lambda).abs() < 1e-12);
            for h in [0.0, 0.45] {
                let s_aks = Phi4::new(lat.clone(), aks)
                    .unwrap()
                    .with_external_field(h)
                    .unwrap();
                let s_hop = Phi4Hopping::new(lat.clone(), hop)
                    .unwrap()
                    .with_external_field(h)
                    .unwrap();
                assert_eq!(s_hop.external_field(), h);
                let expected = -(lat.volume() as f64) * hop.lambda_tilde;
                for k in 0..4 {
                    let phi_t = random_field(&lat, 1000 * i as u64 + k, 1.0);
                    let phi: Vec<f64> = phi_t.iter().map(|p| p * hop.kappa.sqrt()).collect();
                    let diff = s_aks.action(&phi) - s_hop.action(&phi_t);
                    let scale = s_hop.action(&phi_t).abs().max(1.0);
                    assert!(
                        (diff - expected).abs() < 1e-12 * scale,
                        "{diff} vs {expected}"
                    );
                }
            }
        }
    }
}

#[test]
fn batch_equals_single() {
    let lat = Lattice::new(&[4, 6]).unwrap();
    let s = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
    )
    .unwrap();
    let n = 5;
    let v = lat.volume();
    let phis: Vec<f64> = (0..n)
        .flat_map(|i| random_field(&lat, 50 + i, 1.0))
        .collect();
    let mut s_out = vec![0.0; n as usize];
    let mut g_out = vec![0.0; phis.len()];
    s.action_batch(&phis, &mut s_out);
    s.gradient_batch(&phis, &mut g_out);
    let mut g = vec![0.0; v];
    for i in 0..n as usize {
        let phi = &phis[i * v..(i + 1) * v];
        assert_eq!(s_out[i], s.action(phi));
        s.gradient(phi, &mut g);
        assert_eq!(&g_out[i * v..(i + 1) * v], &g[..]);
    }
}

#[test]
fn unbounded_or_invalid_parameters_are_refused() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let e = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: -1.0,
            lambda: 0.0,
        },
    )
    .unwrap_err();
    assert_eq!(e.name, "m2");
    let e = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: 1.0,
            lambda: -0.1,
        },
    )
    .unwrap_err();
    assert_eq!(e.name, "lambda");
    let e = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: f64::NAN,
            lambda: 1.0,
        },
    )
    .unwrap_err();
    assert_eq!(e.name, "m2");
    let e = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: 1.0,
            lambda: 1.0,
        },
    )
    .unwrap()
    .with_external_field(f64::INFINITY)
    .unwrap_err();
    assert_eq!(e.name, "h");
    let e = Phi4Hopping::new(
        lat,
        HoppingParams {
            kappa: 0.3,
            lambda_tilde: 0.0,
        },
    )
    .unwrap_err();
    assert_eq!(e.name, "kappa");
}

/// Dense (−Δ + m²) as a matrix, from the action itself: S(φ) = φᵀ A φ, so A = ½ ∂²S.
fn dense_free_matrix(lat: &Lattice, m2: f64) -> Vec<f64> {
    let v = lat.volume();
    let s = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let mut a = vec![0.0; v * v];
    let mut e = vec![0.0; v];
    let mut col = vec![0.0; v];
    for j in 0..v {
        e[j] = 1.0;
        s.gradient(&e, &mut col); // ∂S/∂φ = 2Aφ
        for i in 0..v {
            a[i * v + j] = 0.5 * col[i];
        }
        e[j] = 0.0;
    }
    a
}

/// Cholesky factor L (A = L Lᵀ), row-major, of a symmetric positive-definite matrix.
fn cholesky(a: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                l[i * n + i] = (a[i * n + i] - s).sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    l
}

/// Exact free-field results against dense linear algebra: G = ½ A⁻¹, log Z = (V/2) log π − ½ log det A.
#[test]
fn free_field_exact_results_match_dense_linear_algebra() {
    for shape in [&[8][..], &[4, 4], &[4, 3, 2]] {
        let lat = Lattice::new(shape).unwrap();
        let v = lat.volume();
        let m2 = 0.5;
        let ff = FreeField::new(lat.clone(), m2).unwrap();
        let a = dense_free_matrix(&lat, m2);
        let l = cholesky(&a, v);
        let logdet: f64 = (0..v).map(|i| 2.0 * l[i * v + i].ln()).sum();
        let log_z = 0.5 * v as f64 * std::f64::consts::PI.ln() - 0.5 * logdet;
        assert!((ff.log_z() - log_z).abs() < 1e-10 * log_z.abs().max(1.0));
        // Column 0 of A⁻¹ by forward/back substitution: G(x) = ½ (A⁻¹)_{x0}.
        let mut y = vec![0.0; v];
        for i in 0..v {
            let rhs = if i == 0 { 1.0 } else { 0.0 };
            y[i] = (rhs - (0..i).map(|k| l[i * v + k] * y[k]).sum::<f64>()) / l[i * v + i];
        }
        let mut z = vec![0.0; v];
        for i in (0..v).rev() {
            z[i] = (y[i] - (i + 1..v).map(|k| l[k * v + i] * z[k]).sum::<f64>()) / l[i * v + i];
        }
        let g = ff.propagator();
        for x in 0..v {
            assert!((g[x] - 0.5 * z[x]).abs() < 1e-12, "G({x})");
        }
        assert!((g.iter().sum::<f64>() - ff.chi2()).abs() < 1e-12);
        assert!((ff.phi2() - g[0]).abs() < 1e-12);
        let c = ff.correlator();
        assert!((c.iter().sum::<f64>() - ff.chi2()).abs() < 1e-12);
    }
}

/// The free-field correlator decays with the pole mass: C(t−1) + C(t+1) = 2 cosh(m_p) C(t) exactly
/// for a single propagating state in 1D (the zero-spatial-momentum projection of any d).
#[test]
fn free_correlator_obeys_the_pole_mass_recursion() {
    let lat = Lattice::new(&[16, 4]).unwrap();
    let ff = FreeField::new(lat, 0.6).unwrap();
    let c = ff.correlator();
    let ch = ff.pole_mass().cosh();
    for t in 1..15 {
        let lhs = c[t - 1] + c[t + 1];
        assert!((lhs - 2.0 * ch * c[t]).abs() < 1e-12, "t={t}");
    }
}

/// The fused a ∂S/∂φ + b φ of φ⁴ equals the default (gradient, then combine) bit for bit, in
/// every dimension and at the ends a = 0 and b = 0.
#[test]
fn fused_scaled_gradient_equals_the_combination() {
    for (i, shape) in SHAPES.iter().enumerate() {
        let lat = Lattice::new(shape).unwrap();
        let phi = random_field(&lat, 10 + i as u64, 1.1);
        let s = Phi4::new(
            lat.clone(),
            Phi4Params {
                m2: -4.75,
                lambda: 5.1,
            },
        )
        .unwrap();
        for (a, b) in [(0.3, 0.7), (1.0, 0.0), (0.0, 1.0)] {
            let mut fused = vec![0.0; phi.len()];
            s.scaled_gradient(&phi, &mut fused, a, b);
            let mut grad = vec![0.0; phi.len()];
            s.gradient(&phi, &mut grad);
            let combined: Vec<f64> = grad.iter().zip(&phi).map(|(g, x)| a * g + b * x).collect();
            assert_eq!(fused, combined, "shape {shape:?}, a = {a}, b = {b}");
        }
    }
}

/// An action that implements only what `Action` requires, so that the trait's default
/// `free_scaled_gradient` (two gradients, then combined) is the one called.
struct Plain<'a>(&'a dyn Action);

impl Action for Plain<'_> {
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

/// a ∂S/∂φ + b ∂S₀/∂φ (S₀ the free field of mass² m₀²), fused into one pass by both forms of
/// φ⁴ and computed by the trait's default otherwise, equals a times the action's gradient plus
/// b times the free field's (φ⁴ with λ = 0), which are themselves checked against finite
/// differences above. Rounding differs between the fused and the combined forms, so the
/// comparison is relative to the gradient's scale, at 1e-13.
#[test]
fn free_scaled_gradient_equals_the_two_gradients_combined() {
    for (i, shape) in SHAPES.iter().enumerate() {
        let lat = Lattice::new(shape).unwrap();
        let phi = random_field(&lat, 40 + i as u64, 1.1);
        let aks = Phi4::new(
            lat.clone(),
            Phi4Params {
                m2: -4.75,
                lambda: 5.1,
            },
        )
        .unwrap();
        let hopping = Phi4Hopping::new(
            lat.clone(),
            HoppingParams {
                kappa: 0.27,
                lambda_tilde: 0.02,
            },
        )
        .unwrap();
        for free_m2 in [0.5, 3.0] {
            let free = Phi4::new(
                lat.clone(),
                Phi4Params {
                    m2: free_m2,
                    lambda: 0.0,
                },
            )
            .unwrap();
            let mut free_grad = vec![0.0; phi.len()];
            free.gradient(&phi, &mut free_grad);
            let aks_h = aks.clone().with_external_field(0.8).unwrap();
            let hopping_h = hopping.clone().with_external_field(-0.3).unwrap();
            for action in [
                &aks as &dyn Action,
                &hopping,
                &Plain(&aks),
                &aks_h,
                &hopping_h,
            ] {
                let mut grad = vec![0.0; phi.len()];
                action.gradient(&phi, &mut grad);
                for (a, b) in [(0.3, 0.7), (1.0, 0.0), (0.0, 1.0)] {
                    let want: Vec<f64> = grad
                        .iter()
                        .zip(&free_grad)
                        .map(|(g, f)| a * g + b * f)
                        .collect();
                    let mut got = vec![0.0; phi.len()];
                    action.free_scaled_gradient(&phi, &mut got, a, b, free_m2);
                    let scale = want.iter().fold(1.0f64, |m, g| m.max(g.abs()));
                    let worst = want
                        .iter()
                        .zip(&got)
                        .map(|(w, g)| (w - g).abs() / scale)
                        .fold(0.0, f64::max);
                    assert!(
                        worst < 1e-13,
                        "shape {shape:?}, m0² = {free_m2}, a = {a}, b = {b}: {worst:e}"
                    );
                }
            }
        }
    }
}

/// The lane-interleaved action and scaled gradients (with either prior's term) equal the
/// one-configuration ones lane by lane, bit for bit, in both forms of φ⁴: in 1–4 dimensions, and on a lattice large enough to be summed in several
/// parallel chunks.
#[test]
fn lane_batches_equal_single_configurations_bitwise() {
    use lft_lattice::{LANES, lane_gather, lane_scatter};
    for shape in [
        vec![9],
        vec![14, 14],
        vec![4, 6, 5],
        vec![3, 4, 2, 5],
        vec![160, 160],
    ] {
        let lat = Lattice::new(&shape).unwrap();
        let v = lat.volume();
        let aks = Phi4::new(
            lat.clone(),
            Phi4Params {
                m2: -4.75,
                lambda: 5.1,
            },
        )
        .unwrap();
        let hopping = Phi4Hopping::new(
            lat.clone(),
            HoppingParams {
                kappa: 0.27,
                lambda_tilde: 0.02,
            },
        )
        .unwrap();
        let aks_h = aks.clone().with_external_field(0.7).unwrap();
        let hopping_h = hopping.clone().with_external_field(-0.4).unwrap();
        for action in [&aks as &dyn Action, &hopping, &aks_h, &hopping_h] {
            let lanes = action.lanes().expect("phi^4 offers lane batches");
            let fields: Vec<Vec<f64>> = (0..LANES)
                .map(|l| random_field(&lat, 100 + l as u64, 1.3))
                .collect();
            let mut batch = vec![[0.0; LANES]; v];
            for (l, f) in fields.iter().enumerate() {
                lane_scatter(f, l, &mut batch);
            }
            let s = lanes.lane_action(&batch);
            let mut grad = vec![[0.0; LANES]; v];
            lanes.lane_scaled_gradient(&batch, &mut grad, 0.37, 0.63);
            let mut got = vec![0.0; v];
            let mut want = vec![0.0; v];
            for (l, f) in fields.iter().enumerate() {
                assert_eq!(
                    s[l].to_bits(),
                    action.action(f).to_bits(),
                    "{shape:?} lane {l}"
                );
                action.scaled_gradient(f, &mut want, 0.37, 0.63);
                lane_gather(&grad, l, &mut got);
                assert!(
                    want.iter()
                        .zip(&got)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{shape:?} lane {l}: gradients differ"
                );
            }
            lanes.lane_free_scaled_gradient(&batch, &mut grad, 0.37, 0.63, 0.9);
            for (l, f) in fields.iter().enumerate() {
                action.free_scaled_gradient(f, &mut want, 0.37, 0.63, 0.9);
                lane_gather(&grad, l, &mut got);
                assert!(
                    want.iter()
                        .zip(&got)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{shape:?} lane {l}: free-prior gradients differ"
                );
            }
        }
    }
}

#[test]
fn both_forms_of_phi4_are_z2_symmetric() {
    let lat = Lattice::new(&[4, 6]).unwrap();
    let aks = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
    )
    .unwrap();
    let hopping = Phi4Hopping::new(
        lat.clone(),
        HoppingParams {
            kappa: 0.2,
            lambda_tilde: 0.02,
        },
    )
    .unwrap();
    let phi = random_field(&lat, 7, 1.3);
    let minus: Vec<f64> = phi.iter().map(|x| -x).collect();
    for s in [&aks as &dyn Action, &hopping] {
        assert!(s.is_z2_symmetric());
        assert_eq!(s.action(&phi), s.action(&minus));
    }
    // An external field breaks the symmetry: S(φ) − S(−φ) = −2h Σ_x φ_x (AKS units).
    let h = 0.3;
    let m: f64 = phi.iter().sum();
    let kappa = hopping.params().kappa;
    for (s, scale) in [
        (&aks.with_external_field(h).unwrap() as &dyn Action, 1.0),
        (&hopping.with_external_field(h).unwrap(), kappa.sqrt()),
    ] {
        assert!(!s.is_z2_symmetric());
        let odd = s.action(&phi) - s.action(&minus);
        assert!((odd + 2.0 * h * scale * m).abs() < 1e-12 * s.action(&phi).abs().max(1.0));
    }
}

/// The free field with an external field h has its minimum, and so its mean, at the constant
/// φ = h/(2m²): the gradient vanishes there.
#[test]
fn free_field_with_external_field_is_stationary_at_the_shifted_mean() {
    for shape in [&[6][..], &[4, 4], &[3, 4, 5]] {
        let lat = Lattice::new(shape).unwrap();
        let (m2, h) = (0.7, 0.45);
        let s = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 })
            .unwrap()
            .with_external_field(h)
            .unwrap();
        let phi = vec![h / (2.0 * m2); lat.volume()];
        let mut grad = vec![1.0; lat.volume()];
        s.gradient(&phi, &mut grad);
        assert!(grad.iter().all(|g| g.abs() < 1e-14), "{grad:?}");
    }
}
