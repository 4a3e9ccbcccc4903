//! SMC and AIS with the particles on a device (lft-cuda's `DeviceAnnealer`, the one pass loop
//! of lft-sample over device particles) on the free field, where log Z is exact: the mean of
//! independent passes agrees with it within 3 standard errors; a pass is a function of its
//! seed and index; what the device cannot anneal is refused by name. Each test runs on the
//! host emulator and, where there is one, on a GPU.

mod common;
use common::Backend;
use lft_action::{FreeField, Phi4, Phi4Params};
use lft_cuda::{CudaError, DeviceAnnealer, Executor};
use lft_flow::{Prior, PriorSpec};
use lft_lattice::Lattice;
use lft_sample::anneal::{Resampling, Schedule, SmcSettings};
use lft_sample::{HmcParams, Integrator};

const M2: f64 = 1.0;

fn settings(particles: usize, schedule: Schedule, resampling: Option<Resampling>) -> SmcSettings {
    SmcSettings {
        particles,
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

/// (mean, standard error) of log Ẑ over `passes` passes on the device.
fn log_z_estimate<E: Executor>(
    annealer: &mut DeviceAnnealer<E>,
    prior: &Prior,
    action: &Phi4,
    s: &SmcSettings,
    passes: u64,
) -> (f64, f64) {
    let z: Vec<f64> = (0..passes)
        .map(|p| annealer.pass(prior, action, s, 7, p, None).unwrap().log_z)
        .collect();
    let n = z.len() as f64;
    let mean = z.iter().sum::<f64>() / n;
    let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

fn free_field_log_z<E: Executor>(
    backend: Backend,
    exec: E,
    spec: PriorSpec,
    s: SmcSettings,
    passes: u64,
    what: &str,
) {
    free_field_log_z_in(backend, exec, spec, s, passes, what, 0.0);
}

/// As [`free_field_log_z`] with an external field h: S = φᵀAφ − h Σ φ, whose
/// log Z = log Z₀ + h² V / (4 m²) (A has the eigenvalue m² on the constant mode).
fn free_field_log_z_in<E: Executor>(
    backend: Backend,
    exec: E,
    spec: PriorSpec,
    s: SmcSettings,
    passes: u64,
    what: &str,
    h: f64,
) {
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let couplings = Phi4Params {
        m2: M2,
        lambda: 0.0,
    };
    let action = Phi4::new(lattice.clone(), couplings)
        .unwrap()
        .with_external_field(h)
        .unwrap();
    let v = lattice.volume() as f64;
    let exact = FreeField::new(lattice.clone(), M2).unwrap().log_z() + h * h * v / (4.0 * M2);
    let prior = Prior::new(spec, &lattice).unwrap();
    let target = lft_cuda::Phi4Target {
        params: couplings,
        h,
    };
    let mut annealer = DeviceAnnealer::new(exec, &lattice, target, &prior, s.particles).unwrap();
    let (mean, se) = log_z_estimate(&mut annealer, &prior, &action, &s, passes);
    eprintln!("{backend:?} {what}: log Z = {mean:.4} ± {se:.4}, exact {exact:.4}");
    // The check must be able to fail: a bias of 0.5 in log Z (Z off by 40 %) is beyond 3σ.
    assert!(se > 0.0 && 3.0 * se < 0.5, "{what}: standard error {se}");
    assert!(
        (mean - exact).abs() < 3.0 * se,
        "{backend:?} {what}: {mean} ± {se} against the exact {exact}"
    );
    // A pass is a function of (seed, index): run again, the same log Ẑ and particles.
    let a = annealer.pass(&prior, &action, &s, 7, 3, None).unwrap();
    let b = annealer.pass(&prior, &action, &s, 7, 3, None).unwrap();
    assert_eq!(a, b, "{what}: pass 3 twice");
    assert!(
        a.temperatures.iter().all(|t| t.acceptance > 0.5),
        "{what}: {:?}",
        a.temperatures
    );
}

fn smc<E: Executor>(backend: Backend, exec: E) {
    // Ordered resampling reads the particles' keys (Σφ) from the device.
    let s = settings(
        128,
        Schedule::Linear { steps: 10 },
        Some(Resampling::Ordered),
    );
    free_field_log_z(
        backend,
        exec,
        PriorSpec::StandardNormal,
        s,
        16,
        "SMC from N(0, 1)",
    );
}

/// SMC from the standard normal, the particles resampled in the order of their keys.
#[test]
fn device_smc_gives_the_exact_free_field_log_z() {
    on_every_backend!("device SMC", smc);
}

fn smc_with_a_field<E: Executor>(backend: Backend, exec: E) {
    let s = settings(
        128,
        Schedule::Linear { steps: 10 },
        Some(Resampling::Systematic),
    );
    free_field_log_z_in(
        backend,
        exec,
        PriorSpec::StandardNormal,
        s,
        16,
        "SMC from N(0, 1), h = 0.5",
        0.5,
    );
}

/// The same with an external field: log Z grows by h² V / (4 m²).
#[test]
fn device_smc_gives_the_exact_free_field_log_z_with_an_external_field() {
    on_every_backend!("device SMC with h", smc_with_a_field);
}

fn ais<E: Executor>(backend: Backend, exec: E) {
    let s = settings(128, Schedule::Adaptive { target: 0.7 }, None);
    free_field_log_z(
        backend,
        exec,
        PriorSpec::FreeField { m2: 0.5 },
        s,
        16,
        "AIS from the free field of m² = 0.5",
    );
}

/// AIS (no resampling) from a free-field prior of another mass, with an adaptive schedule
/// computed from the device's values.
#[test]
fn device_ais_gives_the_exact_free_field_log_z() {
    on_every_backend!("device AIS", ais);
}

/// The Z₂ mixture prior is refused by name (the device has no tempered gradient for it).
#[test]
fn the_mixture_prior_is_refused_by_name() {
    let Some(exec) = common::emulator("mixture prior") else {
        return;
    };
    let lattice = Lattice::new(&[4, 4]).unwrap();
    let prior = Prior::new(PriorSpec::Z2Mixture { shift: 0.5 }, &lattice).unwrap();
    let couplings = Phi4Params {
        m2: M2,
        lambda: 0.0,
    };
    match DeviceAnnealer::new(exec, &lattice, couplings, &prior, 8) {
        Err(e @ CudaError::Unsupported(_)) => {
            assert!(e.to_string().contains("z2_mixture"), "{e}")
        }
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("the mixture prior was accepted"),
    }
}
