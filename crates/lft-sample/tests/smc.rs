//! SMC and AIS on the free field, where log Z is exact (docs/PHYSICS.md): the mean of
//! independent passes agrees with it within 3 of its standard errors, for the standard normal
//! prior and for a free-field prior of another mass, with linear and adaptive schedules.

use lft_action::{FreeField, Phi4, Phi4Params};
use lft_flow::{Prior, PriorSpec};
use lft_lattice::Lattice;
use lft_sample::anneal::{Resampling, Schedule, SmcSettings, smc_pass};
use lft_sample::{HmcParams, Integrator};

fn settings(schedule: Schedule, resampling: Option<Resampling>) -> SmcSettings {
    SmcSettings {
        particles: 128,
        schedule,
        resampling,
        ess_threshold: 0.5,
        hmc: HmcParams {
            step_size: 0.2,
            n_steps: 5,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.5,
        },
        trajectories: 2,
        step_knots: Vec::new(),
        target_acceptance: None,
    }
}

/// (mean, standard error) of log Ẑ over `passes` independent passes.
fn log_z_estimate(prior: &Prior, action: &Phi4, s: &SmcSettings, passes: u64) -> (f64, f64) {
    let z: Vec<f64> = (0..passes)
        .map(|p| smc_pass(prior, action, s, 7, p).unwrap().log_z)
        .collect();
    let n = z.len() as f64;
    let mean = z.iter().sum::<f64>() / n;
    let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

#[test]
fn smc_and_ais_give_the_exact_free_field_log_z() {
    for (l, reference) in [(4, -2.858132), (8, -11.622885)] {
        let lat = Lattice::new(&[l, l]).unwrap();
        let m2 = 1.0;
        let action = Phi4::new(lat.clone(), Phi4Params { m2, lambda: 0.0 }).unwrap();
        let exact = FreeField::new(lat.clone(), m2).unwrap().log_z();
        assert!((exact - reference).abs() < 1e-6, "PHYSICS.md: {exact}");
        let normal = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
        let wide = Prior::new(PriorSpec::FreeField { m2: 0.5 }, &lat).unwrap();
        // The variance of log Ẑ grows with the volume: temperatures and particles in
        // proportion to it, so that the bias of log Ẑ (about −var/2) stays well below the
        // standard error of the mean of 16 passes.
        let k = l * l / 16;
        let settings = |schedule, resampling| SmcSettings {
            particles: 128 * k,
            ..settings(schedule, resampling)
        };
        let cases = [
            (
                "SMC, N(0,1) prior, 10 V/16 linear steps",
                &normal,
                settings(
                    Schedule::Linear { steps: 10 * k },
                    Some(Resampling::Systematic),
                ),
            ),
            (
                "AIS, N(0,1) prior, 40 V/16 linear steps",
                &normal,
                settings(Schedule::Linear { steps: 40 * k }, None),
            ),
            (
                "SMC, free prior m2 = 0.5, adaptive",
                &wide,
                settings(
                    Schedule::Adaptive { target: 0.5 },
                    Some(Resampling::Multinomial),
                ),
            ),
        ];
        for (name, prior, s) in cases {
            let (mean, se) = log_z_estimate(prior, &action, &s, 16);
            eprintln!("L = {l}, {name}: log Z = {mean:.5} ± {se:.5} (exact {exact:.6})");
            assert!(se > 0.0 && se < 0.2, "{name}: standard error {se}");
            assert!(
                (mean - exact).abs() < 3.0 * se,
                "L = {l}, {name}: log Z = {mean} ± {se}, exact {exact}"
            );
        }
    }
}

/// The same pass twice gives the same bits; another pass index gives other streams.
#[test]
fn passes_are_reproducible_and_independent() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: 1.0,
            lambda: 0.0,
        },
    )
    .unwrap();
    let prior = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
    let s = settings(
        Schedule::Adaptive { target: 0.6 },
        Some(Resampling::Stratified),
    );
    let a = smc_pass(&prior, &action, &s, 3, 0).unwrap();
    let b = smc_pass(&prior, &action, &s, 3, 0).unwrap();
    assert_eq!(a, b);
    let c = smc_pass(&prior, &action, &s, 3, 1).unwrap();
    assert_ne!(a.log_z, c.log_z);
    assert_eq!(a.temperatures.last().unwrap().beta, 1.0);
    assert!(a.temperatures.windows(2).all(|t| t[0].beta < t[1].beta));
    assert!(
        a.temperatures
            .iter()
            .all(|t| t.acceptance > 0.3 && t.ess > 0.0 && t.ess <= 1.0)
    );
}

/// An action that is NaN wherever φ_0 > 2 (a broken model, or an overflow).
struct Broken(Phi4);

impl lft_action::Action for Broken {
    fn lattice(&self) -> &Lattice {
        self.0.lattice()
    }
    fn action(&self, phi: &[f64]) -> f64 {
        if phi[0] > 2.0 {
            f64::NAN
        } else {
            self.0.action(phi)
        }
    }
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        self.0.gradient(phi, grad)
    }
}

/// A non-finite weight is a named error that says which particle and temperature, for SMC
/// and for CRAFT training alike.
#[test]
fn non_finite_weights_are_named_errors() {
    use lft_sample::anneal::{AnnealError, Craft};
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = Broken(
        Phi4::new(
            lat.clone(),
            Phi4Params {
                m2: 1.0,
                lambda: 0.0,
            },
        )
        .unwrap(),
    );
    let prior = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
    let s = settings(Schedule::Linear { steps: 4 }, Some(Resampling::Systematic));
    let err = smc_pass(&prior, &action, &s, 1, 0).unwrap_err();
    assert!(
        matches!(err, AnnealError::NonFinite { value, .. } if value.is_nan()),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("incremental log weight of particle")
    );
    let spec = lft_flow::FlowSpec::affine_transport(2, vec![2], 3, lft_flow::Activation::Tanh);
    let mut craft = Craft::new(&spec, &lat, 4, 1);
    let err = craft
        .train_iteration(&prior, &action, &s, 1e-3, 1)
        .unwrap_err();
    assert!(matches!(err, AnnealError::NonFinite { .. }), "{err}");
    assert_eq!(craft.iterations(), 0, "no step taken");
}

/// The free field restricted to φ_0 ≥ 0: S = +∞ on the other half, as a singular Dirac
/// operator or a failed pseudofermion solve makes it. By the symmetry φ → −φ its Z is half the
/// free field's, exactly.
struct HalfSpace(Phi4);

impl lft_action::Action for HalfSpace {
    fn lattice(&self) -> &Lattice {
        self.0.lattice()
    }
    fn action(&self, phi: &[f64]) -> f64 {
        if phi[0] < 0.0 {
            f64::INFINITY
        } else {
            self.0.action(phi)
        }
    }
    fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
        self.0.gradient(phi, grad)
    }
}

/// Particles of action +∞ get zero weight, are counted, and resampling removes them: half the
/// prior draws land there, and log Ẑ still agrees with log(Z_free / 2) within 3 standard
/// errors (a linear schedule: an adaptive one, chosen from the particles themselves, biases
/// log Ẑ by O(1/N) beyond the −var/2 of Jensen's inequality). The adaptive schedule measures
/// its conditional ESS against the particles of nonzero density, so it still steps forward
/// when more than 1 − target of them are lost at once. An action +∞ everywhere is a named
/// error.
#[test]
fn particles_of_infinite_action_get_zero_weight() {
    use lft_sample::anneal::AnnealError;
    let lat = Lattice::new(&[4, 4]).unwrap();
    let free = || {
        Phi4::new(
            lat.clone(),
            Phi4Params {
                m2: 1.0,
                lambda: 0.0,
            },
        )
        .unwrap()
    };
    let exact = FreeField::new(lat.clone(), 1.0).unwrap().log_z() - 2f64.ln();
    let action = HalfSpace(free());
    let prior = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
    let half_lost = |pass: &lft_sample::anneal::SmcPass, n: usize| {
        let first = &pass.temperatures[0];
        let n = n as f64;
        // Binomial(N, 1/2): within 5 of its standard deviations √N / 2 of N / 2.
        assert!(
            (first.zero_weight as f64 - n / 2.0).abs() < 5.0 * n.sqrt() / 2.0,
            "{} of {n} particles of zero weight at the first step",
            first.zero_weight
        );
        assert!(first.beta > 0.0 && first.resampled, "{first:?}");
        assert!(pass.particles.chunks_exact(16).all(|phi| phi[0] >= 0.0));
        assert_eq!(pass.temperatures.last().unwrap().zero_weight, 0);
        assert_eq!(pass.temperatures.last().unwrap().beta, 1.0);
    };
    let s = SmcSettings {
        ess_threshold: 0.9,
        ..settings(Schedule::Linear { steps: 20 }, Some(Resampling::Systematic))
    };
    let z: Vec<f64> = (0..16)
        .map(|p| {
            let pass = smc_pass(&prior, &action, &s, 5, p).unwrap();
            half_lost(&pass, s.particles);
            pass.log_z
        })
        .collect();
    let n = z.len() as f64;
    let mean = z.iter().sum::<f64>() / n;
    let se = (z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    eprintln!("half space: log Z = {mean:.5} ± {se:.5} (exact {exact:.6})");
    assert!(
        se > 0.0 && (mean - exact).abs() < 3.0 * se,
        "{mean} ± {se} vs {exact}"
    );
    let adaptive = SmcSettings {
        schedule: Schedule::Adaptive { target: 0.6 },
        ..s.clone()
    };
    half_lost(
        &smc_pass(&prior, &action, &adaptive, 5, 0).unwrap(),
        s.particles,
    );

    struct Nowhere(Phi4);
    impl lft_action::Action for Nowhere {
        fn lattice(&self) -> &Lattice {
            self.0.lattice()
        }
        fn action(&self, _: &[f64]) -> f64 {
            f64::INFINITY
        }
        fn gradient(&self, phi: &[f64], grad: &mut [f64]) {
            self.0.gradient(phi, grad)
        }
    }
    let s = settings(Schedule::Linear { steps: 4 }, Some(Resampling::Systematic));
    let err = smc_pass(&prior, &Nowhere(free()), &s, 1, 0).unwrap_err();
    assert!(matches!(err, AnnealError::NoWeight { .. }), "{err}");
    assert!(err.to_string().contains("every particle has zero weight"));
}

/// With a target acceptance, a step size far too large is brought down temperature after
/// temperature until the acceptance nears the target; log Z stays exact.
#[test]
fn the_step_size_adapts_to_the_target_acceptance() {
    let lat = Lattice::new(&[4, 4]).unwrap();
    let action = Phi4::new(
        lat.clone(),
        Phi4Params {
            m2: 1.0,
            lambda: 0.0,
        },
    )
    .unwrap();
    let prior = Prior::new(PriorSpec::StandardNormal, &lat).unwrap();
    let exact = FreeField::new(lat.clone(), 1.0).unwrap().log_z();
    let mut s = settings(Schedule::Linear { steps: 20 }, Some(Resampling::Systematic));
    s.hmc.step_size = 1.2;
    let fixed = smc_pass(&prior, &action, &s, 2, 0).unwrap();
    s.target_acceptance = Some(0.8);
    let adapted = smc_pass(&prior, &action, &s, 2, 0).unwrap();
    let late = |p: &lft_sample::anneal::SmcPass| {
        p.temperatures[10..]
            .iter()
            .map(|t| t.acceptance)
            .sum::<f64>()
            / 10.0
    };
    let (a_fixed, a_adapted) = (late(&fixed), late(&adapted));
    eprintln!("late acceptance: fixed step {a_fixed:.3}, adapted {a_adapted:.3}");
    assert!(
        (a_adapted - 0.8).abs() < 0.1,
        "adapted acceptance {a_adapted}"
    );
    assert!((a_fixed - 0.8).abs() > (a_adapted - 0.8).abs());
    let steps: Vec<f64> = adapted.temperatures.iter().map(|t| t.step_size).collect();
    assert_eq!(steps[0], 1.2);
    assert!(steps[19] < 0.8 * steps[0], "step sizes {steps:?}");
    assert!(fixed.temperatures.iter().all(|t| t.step_size == 1.2));
    let (mean, se) = log_z_estimate(&prior, &action, &s, 16);
    eprintln!("adapted: log Z = {mean:.5} ± {se:.5} (exact {exact:.6})");
    assert!(
        (mean - exact).abs() < 3.0 * se,
        "log Z {mean} ± {se}, exact {exact}"
    );
}
