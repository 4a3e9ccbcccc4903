//! The exact free-field prior: its samples have the exact two-point function, and a flow made
//! of it samples the free field with ESS = 1.

use lft_action::{Action, FreeField, Phi4, Phi4Params};
use lft_flow::{Activation, CouplingSpec, Flow, FlowSpec, PriorSpec, batch_quality};
use lft_lattice::{Lattice, stream_rng};

fn spec(layers: usize, prior: PriorSpec) -> FlowSpec {
    FlowSpec {
        layers,
        hidden: vec![4],
        kernel: 3,
        activation: Activation::LeakyRelu(0.01),
        final_activation: Activation::Tanh,
        equivariant: false,
        coupling: CouplingSpec::Affine,
        prior,
        spectral: false,
        precision: lft_flow::Precision::F64,
    }
}

/// The mean of independent samples `vals` lies within 4 standard errors (σ/√n) of `truth`.
fn assert_mean_within_4_se(name: &str, vals: &[f64], truth: f64) {
    let n = vals.len() as f64;
    let mean = vals.iter().sum::<f64>() / n;
    let err = (vals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n * (n - 1.0))).sqrt();
    assert!(
        (mean - truth).abs() < 4.0 * err,
        "{name}: {mean} ± {err} vs {truth}"
    );
}

/// Independent exact samples: ⟨M²⟩/V = 1/(2m²), ⟨φ²⟩ = G(0) and ⟨φ_x φ_{x+0̂}⟩ = G(0̂), each
/// within 4 standard errors (σ/√N: the samples are independent).
#[test]
fn free_field_prior_samples_have_the_exact_two_point_function() {
    let (lat, m2) = (Lattice::new(&[8, 6]).unwrap(), 0.7);
    let v = lat.volume();
    let flow = Flow::new(lat.clone(), &spec(0, PriorSpec::FreeField { m2 }), 1).unwrap();
    let n = 40_000;
    let s = flow.sample(n, &mut stream_rng(2, 0));
    let exact = FreeField::new(lat.clone(), m2).unwrap();
    let g = exact.propagator();
    let up = lat.index(&[1, 0]);
    type Statistic<'a> = (&'a str, Box<dyn Fn(&[f64]) -> f64 + 'a>, f64);
    let stats: [Statistic; 3] = [
        (
            "chi2",
            Box::new(|p: &[f64]| p.iter().sum::<f64>().powi(2) / v as f64),
            exact.chi2(),
        ),
        (
            "phi2",
            Box::new(|p: &[f64]| p.iter().map(|x| x * x).sum::<f64>() / v as f64),
            g[0],
        ),
        (
            "G(1,0)",
            Box::new(|p: &[f64]| (0..v).map(|x| p[x] * p[lat.fwd(x, 0)]).sum::<f64>() / v as f64),
            g[up],
        ),
    ];
    for (name, f, truth) in stats {
        let vals: Vec<f64> = s.phi.chunks_exact(v).map(&f).collect();
        assert_mean_within_4_se(name, &vals, truth);
    }
}

/// log q(φ) = −S(φ) − log Z exactly, so log w = −S − log q is constant: ESS = 1 to rounding.
#[test]
fn flow_with_the_exact_prior_has_ess_one() {
    let (lat, m2) = (Lattice::new(&[6, 6]).unwrap(), 0.5);
    let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
    let flow = Flow::new(lat.clone(), &spec(0, PriorSpec::FreeField { m2 }), 3).unwrap();
    let s = flow.sample(1000, &mut stream_rng(4, 0));
    let terms: Vec<f64> = s
        .phi
        .chunks_exact(36)
        .zip(&s.log_q)
        .map(|(p, lq)| lq + action.action(p))
        .collect();
    let (mean, var, ess, acceptance) = batch_quality(&terms);
    let log_z = FreeField::new(lat, m2).unwrap().log_z();
    assert!(
        (mean + log_z).abs() < 1e-10,
        "⟨log q + S⟩ = {mean}, −log Z = {}",
        -log_z
    );
    assert!(
        var < 1e-20 && (ess - 1.0).abs() < 1e-12 && (acceptance - 1.0).abs() < 1e-12,
        "{var} {ess} {acceptance}"
    );
    // The importance-sampling log Z of the quality estimate is the exact one, with no error.
    let q = lft_flow::diagnostics::evaluate(&flow, &action, 2048, &mut stream_rng(5, 0));
    assert!((q.log_z - log_z).abs() < 1e-10, "{} vs {log_z}", q.log_z);
    assert!(q.log_z_error < 1e-6, "{}", q.log_z_error);
    // log q through the inverse agrees with the sampling side.
    let back = flow.log_q(&s.phi);
    assert!(
        back.iter()
            .zip(&s.log_q)
            .all(|(a, b)| (a - b).abs() < 1e-10)
    );
    // A free-field prior needs m² > 0.
    assert!(
        Flow::new(
            Lattice::new(&[4, 4]).unwrap(),
            &spec(2, PriorSpec::FreeField { m2: -1.0 }),
            1
        )
        .is_err()
    );
}

#[test]
fn the_fitted_free_prior_of_a_free_field_is_that_field() {
    let lattice = Lattice::new(&[6, 6]).unwrap();
    for m2 in [0.37, 1.5] {
        let action = Phi4::new(lattice.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
        let fitted = lft_flow::prior::fit_free_field_mass(&lattice, &action, 3);
        assert!(
            (fitted - m2).abs() < 2e-3 * m2,
            "m² = {m2}: fitted {fitted}"
        );
    }
}

#[test]
fn the_fitted_free_prior_minimises_the_reverse_kl_for_phi4() {
    // The tutorial point: the fit is the minimum of its criterion, against a scan.
    let lattice = Lattice::new(&[8, 8]).unwrap();
    let action = Phi4::new(
        lattice.clone(),
        Phi4Params {
            m2: -4.0,
            lambda: 8.0,
        },
    )
    .unwrap();
    let fitted = lft_flow::prior::fit_free_field_mass(&lattice, &action, 5);
    let k = |m2: f64| lft_flow::prior::free_field_kl(&lattice, &action, m2, 5);
    let best = k(fitted);
    assert!(
        best < k(1.01 * fitted) && best < k(fitted / 1.01),
        "{fitted}"
    );
    for i in 0..=40 {
        let m2 = 10f64.powf(-2.0 + 0.1 * i as f64);
        assert!(
            k(m2) >= best - 1e-9,
            "K({m2}) = {} below K({fitted}) = {best}",
            k(m2)
        );
    }
}

/// The Z₂ mixture ½ N(+a, 1)^V + ½ N(−a, 1)^V: log r against the log-sum-exp of the two
/// normals written out, its gradient against central differences, exact moments of its draws
/// (⟨φ²⟩ = 1 + a², ⟨M²⟩/V = 1 + V a², ⟨M⟩ = 0, half the draws with M > 0), and a shift that
/// is not finite and positive refused.
#[test]
fn the_z2_mixture_prior_is_the_two_normals_it_names() {
    use lft_flow::Prior;
    let lat = Lattice::new(&[4, 4]).unwrap();
    let (v, a) = (16usize, 0.7);
    let prior = Prior::new(PriorSpec::Z2Mixture { shift: a }, &lat).unwrap();
    let normal = |z: &[f64], c: f64| {
        -0.5 * z.iter().map(|x| (x - c).powi(2)).sum::<f64>()
            - 0.5 * v as f64 * (2.0 * std::f64::consts::PI).ln()
    };
    let mut rng = stream_rng(8, 0);
    let mut z = vec![0.0; v];
    for _ in 0..20 {
        prior.sample(&mut rng, &mut z);
        let (p, m) = (normal(&z, a), normal(&z, -a));
        let hi = p.max(m);
        let want = hi + (0.5 * (p - hi).exp() + 0.5 * (m - hi).exp()).ln();
        let got = prior.log_prob(&z);
        assert!((got - want).abs() < 1e-10 * want.abs(), "{got} vs {want}");
        let mut grad = vec![0.0; v];
        prior.grad_neg_log_prob(&z, &mut grad);
        for x in [0, 5, 15] {
            let h = 1e-5;
            let mut zp = z.clone();
            zp[x] += h;
            let mut zm = z.clone();
            zm[x] -= h;
            let fd = -(prior.log_prob(&zp) - prior.log_prob(&zm)) / (2.0 * h);
            assert!((grad[x] - fd).abs() < 1e-6, "site {x}: {} vs {fd}", grad[x]);
        }
    }
    // Near M = 0, where the two normals overlap, the gradient's pull a tanh(aM) is not ±a.
    let small = vec![0.01; v];
    let mut grad = vec![0.0; v];
    prior.grad_neg_log_prob(&small, &mut grad);
    let pull = a * (a * 0.16f64).tanh();
    assert!((grad[0] - (0.01 - pull)).abs() < 1e-14);

    let n = 40_000;
    let flow = Flow::new(lat.clone(), &spec(0, PriorSpec::Z2Mixture { shift: a }), 1).unwrap();
    let s = flow.sample(n, &mut stream_rng(9, 0));
    type Stat = (&'static str, fn(&[f64]) -> f64, f64);
    let vf = v as f64;
    let stats: [Stat; 4] = [
        (
            "phi2",
            |p| p.iter().map(|x| x * x).sum::<f64>() / 16.0,
            1.0 + a * a,
        ),
        (
            "chi2",
            |p| p.iter().sum::<f64>().powi(2) / 16.0,
            1.0 + vf * a * a,
        ),
        ("M", |p| p.iter().sum::<f64>(), 0.0),
        ("M > 0", |p| f64::from(p.iter().sum::<f64>() > 0.0), 0.5),
    ];
    for (name, f, truth) in stats {
        let vals: Vec<f64> = s.phi.chunks_exact(v).map(f).collect();
        assert_mean_within_4_se(name, &vals, truth);
    }
    // The flow's log q of its own draws is the prior's (no layers).
    assert!(
        s.phi
            .chunks_exact(v)
            .zip(&s.log_q)
            .all(|(p, lq)| (prior.log_prob(p) - lq).abs() < 1e-12)
    );
    for shift in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(
            Prior::new(PriorSpec::Z2Mixture { shift }, &lat).is_err(),
            "{shift}"
        );
    }
}
