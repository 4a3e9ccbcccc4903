//! One annealing pass, shared by SMC, AIS and CRAFT: N particles as one `[N, V]` batch start as
//! exact draws from r (Z_0 = 1, log w = 0); at each transition β → β′
//!   - optionally a transport x ← T(x) (CRAFT), else T = 1;
//!   - log w_i += log π_β′(T x_i) + log|det ∂T/∂x|(x_i) − log π_β(x_i)   (the increment);
//!   - log Ẑ += log Σ_i W_i e^{increment_i}   (W the normalised weights before the step);
//!   - resampling if the ESS fraction falls below the threshold (log w reset to equal);
//!   - HMC trajectories on π_β′ for every particle.
//!
//! With resampling this is SMC, without it AIS ([`smc_pass`]); with transports, CRAFT. log Ẑ
//! estimates log Z_1 = log ∫ e^{−S} dφ, unbiased for Z (so log Ẑ is biased low by about
//! var(log Ẑ)/2). A target with auxiliary fields in its state (pseudofermions) anneals the
//! whole state, and its [`Action::log_z_offset`] is subtracted at the end, so that log Ẑ
//! is the model's on φ.
//!
//! Streams: slot i draws from (seed, base + 1 + i), resampling from (seed, base), where `base`
//! is the pass's first stream ([`pass_base`]; SMC pass p starts at
//! `pass_base(ANNEAL_STREAM, p)`); the per-particle work runs in parallel but in fixed chunks
//! reduced in order, so results do not depend on the number of threads.

use super::particles::{CpuParticles, Particles};
use super::path::{Tempered, log_weight_increment};
use super::schedule::{Schedule, next_adaptive_beta};
use super::settings::{ANNEAL_STREAM, AnnealError, SmcPass, SmcSettings, TemperatureRecord};
use super::transport::{TransitionLoss, transport_step};
use crate::hmc::HmcParams;
use lft_action::Action;
use lft_flow::{BijectionStack, Prior};
use lft_lattice::stream_rng;
use lft_stats::{kish_ess, log_sum_exp, normalized_weights};

/// Streams per pass: the resampling stream and one per particle slot.
pub const PASS_STREAMS: u64 = 1 << 24;

/// The first stream of pass `pass` of the family starting at `family`.
pub fn pass_base(family: u64, pass: u64) -> u64 {
    family + pass * PASS_STREAMS
}

/// The transports of a CRAFT pass: one stack per transition, and where training, one loss per
/// transition to accumulate.
pub(crate) struct Transports<'a> {
    pub flows: &'a [BijectionStack],
    pub losses: Option<&'a mut [TransitionLoss]>,
}

/// Hears each temperature of a pass as it ends: its record and log Ẑ so far (for progress
/// reports; called from the thread running the pass).
pub type Observer<'a> = &'a (dyn Fn(&TemperatureRecord, f64) + Sync);

/// One SMC (or AIS) pass number `pass` of `settings` from `prior` to e^{−S}, on the streams
/// [`pass_base`]`(ANNEAL_STREAM, pass)` onwards.
pub fn smc_pass(
    prior: &Prior,
    action: &dyn Action,
    settings: &SmcSettings,
    seed: u64,
    pass: u64,
) -> Result<SmcPass, AnnealError> {
    smc_pass_observed(prior, action, settings, seed, pass, None)
}

/// [`smc_pass`], telling `observer` of every temperature as it ends.
pub fn smc_pass_observed(
    prior: &Prior,
    action: &dyn Action,
    settings: &SmcSettings,
    seed: u64,
    pass: u64,
    observer: Option<Observer<'_>>,
) -> Result<SmcPass, AnnealError> {
    run_pass(
        prior,
        action,
        settings,
        seed,
        pass_base(ANNEAL_STREAM, pass),
        None,
        observer,
    )
}

/// Runs one pass on the CPU with its streams starting at `base`.
pub(crate) fn run_pass(
    prior: &Prior,
    action: &dyn Action,
    settings: &SmcSettings,
    seed: u64,
    base: u64,
    transports: Option<Transports<'_>>,
    observer: Option<Observer<'_>>,
) -> Result<SmcPass, AnnealError> {
    settings.validate()?;
    let mut particles = CpuParticles::new(prior, action, settings.particles, seed, base);
    run_pass_on(
        &mut particles,
        prior,
        action,
        settings,
        seed,
        base,
        transports,
        observer,
    )
}

/// One SMC (or AIS) pass number `pass` of `settings` on particles that live elsewhere (a
/// GPU's), drawn from the prior on the streams of [`pass_base`]`(ANNEAL_STREAM, pass)` as
/// [`super::initial_particles`] draws them: the loop of [`smc_pass`], with the particles'
/// values, resampling and HMC moves done by `particles`.
pub fn smc_pass_on<P: Particles>(
    particles: &mut P,
    prior: &Prior,
    action: &dyn Action,
    settings: &SmcSettings,
    seed: u64,
    pass: u64,
    observer: Option<Observer<'_>>,
) -> Result<SmcPass, AnnealError> {
    settings.validate()?;
    let base = pass_base(ANNEAL_STREAM, pass);
    run_pass_on(
        particles, prior, action, settings, seed, base, None, observer,
    )
}

/// The loop of a pass over `particles` (already drawn from the prior), its resampling
/// stream (seed, base).
#[allow(clippy::too_many_arguments)]
fn run_pass_on<P: Particles>(
    particles: &mut P,
    prior: &Prior,
    action: &dyn Action,
    settings: &SmcSettings,
    seed: u64,
    base: u64,
    mut transports: Option<Transports<'_>>,
    observer: Option<Observer<'_>>,
) -> Result<SmcPass, AnnealError> {
    let n = settings.particles;
    let mut system_rng = stream_rng(seed, base);
    let mut log_w = vec![0.0; n];
    let mut log_z = 0.0;
    let mut beta = 0.0;
    let fixed = settings.schedule.betas();
    let mut temperatures = Vec::new();
    let mut ancestors = Vec::new();
    let mut step_factor = 1.0;
    while beta < 1.0 {
        let k = temperatures.len();
        let from = Tempered {
            prior,
            action,
            beta,
        };
        let w = normalized_weights(&log_w);
        // (S, log r) of every particle, where no transport moves it first.
        let values = match transports {
            None => Some(particles.values()?),
            Some(_) => None,
        };
        let next = match (&fixed, &settings.schedule) {
            (Some(betas), _) => betas[k],
            (None, Schedule::Adaptive { target }) => {
                let ell: Vec<f64> = values
                    .as_ref()
                    .expect("an adaptive schedule has no transports")
                    .iter()
                    .map(|(s, lr)| -s - lr)
                    .collect();
                defined(&ell, beta)?;
                next_adaptive_beta(beta, &w, &ell, *target)
            }
            (None, _) => unreachable!("only adaptive schedules have no fixed list"),
        };
        let to = Tempered {
            prior,
            action,
            beta: next,
        };
        let increments = match (&mut transports, values) {
            (Some(t), _) => {
                let loss = t.losses.as_deref_mut().map(|l| &mut l[k]);
                let host = particles.host().ok_or(AnnealError::Device(
                    "CRAFT's transports move particles in host memory".into(),
                ))?;
                transport_step(&t.flows[k], &from, &to, host, &w, loss)
            }
            (None, Some(values)) => values
                .iter()
                .map(|&(s, lr)| {
                    log_weight_increment(to.log_density(s, lr), from.log_density(s, lr))
                })
                .collect(),
            (None, None) => unreachable!("values are computed where there is no transport"),
        };
        defined(&increments, next)?;
        let before = log_sum_exp(&log_w);
        log_w
            .iter_mut()
            .zip(&increments)
            .for_each(|(lw, inc)| *lw += inc);
        let zero_weight = log_w.iter().filter(|&&lw| lw == f64::NEG_INFINITY).count();
        if zero_weight == n {
            return Err(AnnealError::NoWeight { beta: next });
        }
        let log_z_increment = log_sum_exp(&log_w) - before;
        log_z += log_z_increment;
        let ess_fraction = kish_ess(&log_w);
        let resampled = match settings.resampling {
            Some(scheme) if ess_fraction < settings.ess_threshold => {
                let keys: Vec<f64> = if scheme.needs_keys() {
                    particles.keys()?
                } else {
                    Vec::new()
                };
                let w = normalized_weights(&log_w);
                scheme.ancestors_by_key(&w, &keys, &mut system_rng, &mut ancestors);
                particles.resample(&ancestors)?;
                log_w.fill(0.0);
                true
            }
            _ => false,
        };
        let params = HmcParams {
            step_size: settings.step_size_at(next) * step_factor,
            ..settings.hmc
        };
        let accepted = particles.hmc_move(next, params, settings.trajectories, k)?;
        let acceptance = accepted as f64 / (n * settings.trajectories).max(1) as f64;
        if let Some(target) = settings.target_acceptance {
            step_factor = (step_factor * (acceptance - target).exp()).clamp(0.05, 20.0);
        }
        temperatures.push(TemperatureRecord {
            beta: next,
            ess: ess_fraction,
            log_z_increment,
            acceptance,
            step_size: params.step_size,
            resampled,
            zero_weight,
        });
        if let Some(observe) = observer {
            observe(temperatures.last().expect("just pushed"), log_z);
        }
        beta = next;
    }
    Ok(SmcPass {
        particles: particles.read()?,
        log_weights: log_w,
        log_z: log_z - action.log_z_offset(),
        temperatures,
    })
}

/// Log weights (or their increments) must be finite or −∞: −∞ is a particle of zero weight
/// (its action is +∞, as where a Dirac operator is singular or its solve failed), while NaN
/// or +∞ at the first such particle is a named error.
fn defined(values: &[f64], beta: f64) -> Result<(), AnnealError> {
    match values
        .iter()
        .position(|&x| x.is_nan() || x == f64::INFINITY)
    {
        Some(particle) => Err(AnnealError::NonFinite {
            beta,
            particle,
            value: values[particle],
        }),
        None => Ok(()),
    }
}
