//! `lft anneal`: an `[anneal]` config from the prior to e^{−S}. CRAFT first trains its flows
//! (checkpointed, resumed exactly), then SMC, AIS or CRAFT evaluation passes become the chains
//! of an ensemble (one pass per chain, its particles the records), or PIMH chains run over
//! whole passes. What every pass did per temperature goes to the file's `/anneal` group.

use crate::cli::RunArgs;
use crate::craft::train_craft;
use crate::device::Choice;
use crate::pipeline::{check_output, human_seconds, run_ensemble};
use crate::progress::RunProgress;
use anyhow::{Context, Result, bail};
use lft_config::{AnnealMethod, AnnealPlan, Config, Model, PimhPasses};
use lft_cuda::{DeviceAnnealer, Engine};
use lft_flow::Prior;
use lft_io::{ANNEAL_GROUP, SamplerKind, StoredArray};
use lft_sample::anneal::{
    AnnealContext, PassChain, PassSampler, PassSource, PimhSampler, SmcPass, TemperatureRecord,
    smc_pass_observed,
};
use std::time::Instant;
use tracing::info;

/// Columns of `/anneal/temperatures`.
const TEMPERATURE_COLUMNS: &str =
    "pass, beta, ess, log_z_increment, acceptance, step_size, resampled, zero_weight";

/// The number of [`TEMPERATURE_COLUMNS`].
const TEMPERATURE_COLUMN_COUNT: usize = 8;

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    let choice = crate::device::choose(args.device, &config);
    run_config(&config, args.abort_after, choice)
}

/// `lft train` on an [anneal] config: trains its CRAFT flows to `anneal.iterations` and
/// stops (the job before a job array of evaluation passes).
pub fn train_only(config: &Config, abort_after: Option<u64>) -> Result<()> {
    let plan = config.anneal()?;
    let Some(cp) = &plan.craft else {
        anyhow::bail!(
            "anneal.method = \"{}\" trains no flows; `lft anneal` runs it",
            plan.method.name()
        );
    };
    let target = config.anneal_target()?;
    let prior = Prior::new(plan.prior, config.lattice()).context("anneal.prior_m2")?;
    train_craft(config, plan, cp, &prior, target.action(), abort_after)?;
    Ok(())
}

pub fn run_config(config: &Config, abort_after: Option<u64>, choice: Choice) -> Result<()> {
    let plan = config.anneal()?;
    let target = config.anneal_target()?;
    let action = target.action();
    let prior = Prior::new(plan.prior, config.lattice()).context("anneal.prior_m2")?;
    let kind = match plan.method {
        AnnealMethod::Smc => SamplerKind::Smc,
        AnnealMethod::Ais => SamplerKind::Ais,
        AnnealMethod::Craft => SamplerKind::Craft,
        AnnealMethod::Pimh => SamplerKind::Pimh,
    };
    // Before any training: an output of another config is refused at once.
    check_output(config, kind)?;
    // Before anything is written: a device that cannot run these passes is a named error.
    let on_device = device_annealer(config, plan, &prior, choice)?;
    let craft = match &plan.craft {
        Some(cp) => Some(train_craft(config, plan, cp, &prior, action, abort_after)?),
        None => None,
    };
    let seed = config.seed();
    let settings = &plan.settings;
    let reporter = TemperatureReporter::new();
    let one_pass_at_a_time = on_device.is_some();
    let passes: Box<PassSource> = match (&craft, on_device) {
        (_, Some(annealer)) => annealer.passes(&prior, action, settings, seed, &reporter),
        (Some(c), None) => Box::new(|p| {
            let observe = |t: &TemperatureRecord, z: f64| reporter.report(p, t, z);
            c.evaluate_observed(&prior, action, settings, seed, p, Some(&observe))
        }),
        (None, None) => Box::new(|p| {
            let observe = |t: &TemperatureRecord, z: f64| reporter.report(p, t, z);
            smc_pass_observed(&prior, action, settings, seed, p, Some(&observe))
        }),
    };
    let context = AnnealContext {
        passes: passes.as_ref(),
        action,
        particles: settings.particles,
        flow_step: craft.as_ref().map_or(0, |c| c.iterations()),
        seed,
        one_pass_at_a_time,
    };
    let start = Instant::now();
    match plan.method {
        AnnealMethod::Pimh => {
            let pimh = plan.pimh.expect("a pimh plan");
            let what = match pimh.passes {
                PimhPasses::Smc => "SMC",
                PimhPasses::Craft => "CRAFT",
            };
            info!(
                "PIMH: {} chain(s) × {} steps, each a fresh {what} pass of {} particles",
                pimh.chains, pimh.steps, settings.particles
            );
            let sampler = PimhSampler { context };
            let run_plan = config.run_plan(pimh.chains, pimh.steps, 1);
            let mut progress = RunProgress::new("PIMH steps", abort_after);
            let outcome = run_ensemble(
                config,
                &sampler,
                &run_plan,
                "anneal.pimh_steps",
                &mut progress,
            )?;
            let s = &outcome.summary;
            if s.steps > 0 {
                let path = &config.output().path;
                println!(
                    "lft anneal (pimh): {} chain(s) × {} steps, {}",
                    pimh.chains,
                    pimh.steps,
                    path.display()
                );
                println!("  acceptance (this run)  {:.4}", s.acceptance());
                println!(
                    "  time per step          {} (one {what} pass)",
                    human_seconds(start.elapsed().as_secs_f64() / s.steps as f64)
                );
                if let Some(joint) = target.joint() {
                    print_joint_summary(joint);
                }
            }
        }
        _ => {
            info!(
                "{}: {} pass(es) of {} particles, {}",
                kind.name().to_uppercase(),
                plan.repeats,
                settings.particles,
                schedule_text(plan)
            );
            let sampler = PassSampler { kind, context };
            let run_plan = config.run_plan(plan.repeats, settings.particles, 1);
            let mut progress = RunProgress::new("particles", abort_after);
            progress.show_acceptance = false;
            let mut outcome = run_ensemble(
                config,
                &sampler,
                &run_plan,
                "anneal.particles",
                &mut progress,
            )?;
            let path = &config.output().path;
            let stored = lft_io::load_group(path, ANNEAL_GROUP)?;
            if stored.is_none() || outcome.summary.steps > 0 {
                let ran = outcome.chains.iter().filter(|c| c.pass().is_some()).count();
                if ran < outcome.chains.len() {
                    info!("running the stored passes again for their per-temperature records");
                }
                let passes = outcome
                    .chains
                    .iter_mut()
                    .map(|c| c.ensure_run().cloned())
                    .collect::<Result<Vec<SmcPass>, _>>()?;
                store_passes(path, plan, &outcome.chains, &passes)?;
                print_summary(config, plan, kind, &passes, start.elapsed().as_secs_f64());
                if let Some(joint) = target.joint() {
                    print_joint_summary(joint);
                }
            }
        }
    }
    Ok(())
}

/// The device of `lft anneal --device cuda`, holding one pass's particles at a time.
enum OnDevice {
    Cuda(Box<DeviceAnnealer<lft_cuda::CudaRuntime>>),
    Emulator(Box<DeviceAnnealer<lft_cuda::Emulator>>),
}

impl OnDevice {
    /// The passes, run on the device one after another.
    fn passes<'a>(
        self,
        prior: &'a Prior,
        action: &'a dyn lft_action::Action,
        settings: &'a lft_sample::anneal::SmcSettings,
        seed: u64,
        reporter: &'a TemperatureReporter,
    ) -> Box<PassSource<'a>> {
        fn source<'a, E: lft_cuda::Executor + Send + 'a>(
            annealer: DeviceAnnealer<E>,
            prior: &'a Prior,
            action: &'a dyn lft_action::Action,
            settings: &'a lft_sample::anneal::SmcSettings,
            seed: u64,
            reporter: &'a TemperatureReporter,
        ) -> Box<PassSource<'a>> {
            let annealer = std::sync::Mutex::new(annealer);
            Box::new(move |p| {
                let observe = |t: &TemperatureRecord, z: f64| reporter.report(p, t, z);
                let mut annealer = annealer.lock().unwrap_or_else(|e| e.into_inner());
                annealer.pass(prior, action, settings, seed, p, Some(&observe))
            })
        }
        match self {
            OnDevice::Cuda(a) => source(*a, prior, action, settings, seed, reporter),
            OnDevice::Emulator(a) => source(*a, prior, action, settings, seed, reporter),
        }
    }
}

/// None on the CPU; else the device with room for a pass, or a named error for what does
/// not run there (CRAFT's transports, the Yukawa model, the Z₂ mixture prior).
fn device_annealer(
    config: &Config,
    plan: &AnnealPlan,
    prior: &Prior,
    choice: Choice,
) -> Result<Option<OnDevice>> {
    if choice.device == lft_cuda::Device::Cpu {
        return Ok(None);
    }
    if plan.craft.is_some() {
        bail!(
            "{choice}: CRAFT's transports do not run on the GPU yet; SMC, AIS and PIMH over SMC \
             passes do (or use --device cpu)"
        );
    }
    let Model::Phi4 {
        params: couplings,
        h,
    } = *config.model()
    else {
        bail!(
            "{choice}: the GPU anneals φ⁴; this config's action is {} (use --device cpu)",
            config.model().kind_name()
        );
    };
    let couplings = lft_cuda::Phi4Target {
        params: couplings,
        h,
    };
    let named = |e: lft_cuda::CudaError| anyhow::anyhow!("{choice}: {e}");
    let engine = crate::device::engine(choice, config)?.expect("not the CPU");
    let (lattice, n) = (config.lattice(), plan.settings.particles);
    Ok(Some(match engine {
        Engine::Cuda(rt) => OnDevice::Cuda(Box::new(
            DeviceAnnealer::new(*rt, lattice, couplings, prior, n).map_err(named)?,
        )),
        Engine::Emulator(e) => OnDevice::Emulator(Box::new(
            DeviceAnnealer::new(e, lattice, couplings, prior, n).map_err(named)?,
        )),
    }))
}

/// The CG work of annealing on the joint (φ, ϕ) target of pseudofermions.
fn print_joint_summary(joint: &dyn lft_action::JointAction) {
    let (solves, iterations) = joint.cg_counts();
    println!(
        "  pseudofermions         joint {} target; log Z is of the field (the pseudofermion's (2π)^n taken off)",
        joint.joint_state()
    );
    println!(
        "  CG                     {solves} solves, {:.1} iterations per solve, {} stagnated \
         (accepted up to a residual of {:.0e})",
        iterations as f64 / solves.max(1) as f64,
        joint.stagnated_solves(),
        joint.stagnation_floor()
    );
    if let Some(error) = joint.take_error() {
        println!(
            "  last CG failure        {error} (an HMC move rejected, or a particle of zero weight)"
        );
    }
}

/// A log line at most every 10 s from inside the passes: which pass, its β, ESS and log Ẑ so
/// far (passes may be long: an adaptive schedule can take a hundred temperatures).
struct TemperatureReporter {
    last: std::sync::Mutex<Instant>,
}

impl TemperatureReporter {
    fn new() -> Self {
        Self {
            last: std::sync::Mutex::new(Instant::now()),
        }
    }

    fn report(&self, pass: u64, t: &TemperatureRecord, log_z: f64) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed().as_secs() >= 10 {
            *last = Instant::now();
            info!(
                "pass {pass}: beta {:.4}, ESS/N {:.3}, HMC acceptance {:.3}, log Z so far {:.4}",
                t.beta, t.ess, t.acceptance, log_z
            );
        }
    }
}

/// "linear, 10 temperatures" and the like.
fn schedule_text(plan: &AnnealPlan) -> String {
    use lft_sample::anneal::Schedule;
    match &plan.settings.schedule {
        Schedule::Linear { steps } => format!("linear schedule of {steps} temperatures"),
        Schedule::List(b) => format!("listed schedule of {} temperatures", b.len()),
        Schedule::Adaptive { target } => format!("adaptive schedule (conditional ESS {target})"),
    }
}

/// `/anneal`: each pass's log Ẑ and its per-temperature records.
fn store_passes(
    path: &std::path::Path,
    plan: &AnnealPlan,
    chains: &[PassChain<'_>],
    passes: &[SmcPass],
) -> Result<()> {
    let log_z: Vec<f64> = passes.iter().map(|p| p.log_z).collect();
    let mut rows = Vec::new();
    for (chain, pass) in chains.iter().zip(passes) {
        for t in &pass.temperatures {
            rows.extend([
                chain.index() as f64,
                t.beta,
                t.ess,
                t.log_z_increment,
                t.acceptance,
                t.step_size,
                f64::from(u8::from(t.resampled)),
                t.zero_weight as f64,
            ]);
        }
    }
    let n_rows = rows.len() / TEMPERATURE_COLUMN_COUNT;
    let arrays = [
        StoredArray::new(
            "log_z",
            vec![log_z.len()],
            log_z,
            "log Z estimate of each pass (chain)",
        ),
        StoredArray::new(
            "temperatures",
            vec![n_rows, TEMPERATURE_COLUMN_COUNT],
            rows,
            TEMPERATURE_COLUMNS,
        ),
    ];
    let attrs = [
        ("method".to_string(), plan.method.name().to_string()),
        ("schedule".to_string(), schedule_text(plan)),
    ];
    lft_io::store_group(path, ANNEAL_GROUP, &arrays, &attrs)
        .with_context(|| format!("{}: storing the per-pass records", path.display()))
}

fn print_summary(
    config: &Config,
    plan: &AnnealPlan,
    kind: SamplerKind,
    passes: &[SmcPass],
    elapsed: f64,
) {
    let path = &config.output().path;
    let log_z: Vec<f64> = passes.iter().map(|p| p.log_z).collect();
    let z = lft_measure::LogZ::from_passes(&log_z).expect("at least one pass");
    let temperatures: usize = passes.iter().map(|p| p.temperatures.len()).sum();
    let resampled: usize = passes
        .iter()
        .flat_map(|p| &p.temperatures)
        .filter(|t| t.resampled)
        .count();
    let acceptance = passes
        .iter()
        .flat_map(|p| &p.temperatures)
        .map(|t| t.acceptance)
        .sum::<f64>()
        / temperatures.max(1) as f64;
    let ess_final: Vec<f64> = passes
        .iter()
        .map(|p| lft_stats::kish_ess(&p.log_weights))
        .collect();
    println!(
        "lft anneal ({}): {} pass(es) × {} particles, {}",
        kind.name(),
        passes.len(),
        plan.settings.particles,
        path.display()
    );
    match z.error {
        Some(e) => println!(
            "  log Z                  {:.6} ± {e:.6} (mean over passes; log of the mean Z {:.6})",
            z.mean, z.log_mean_exp
        ),
        None => println!(
            "  log Z                  {:.6} (one pass: set anneal.repeats ≥ 2 for an error)",
            z.mean
        ),
    }
    if kind == SamplerKind::Craft {
        println!("                         (evaluation passes: fresh particles, flows frozen)");
    }
    println!(
        "  temperatures per pass  {:.1}, resampled at {resampled} of {temperatures}",
        temperatures as f64 / passes.len() as f64
    );
    println!("  HMC acceptance         {acceptance:.4}");
    let zero_weight: usize = passes
        .iter()
        .filter_map(|p| p.temperatures.last())
        .map(|t| t.zero_weight)
        .sum();
    let ever_zero = passes
        .iter()
        .flat_map(|p| &p.temperatures)
        .any(|t| t.zero_weight > 0);
    if ever_zero {
        println!(
            "  zero-weight particles  {zero_weight} at β = 1 (action +∞: a singular Dirac \
             operator or a failed solve; see /anneal/temperatures)"
        );
    }
    println!(
        "  final ESS/N            {:.4} (mean over passes)",
        ess_final.iter().sum::<f64>() / ess_final.len() as f64
    );
    println!(
        "  time                   {} per pass, {} per temperature",
        human_seconds(elapsed / passes.len() as f64),
        human_seconds(elapsed / temperatures.max(1) as f64)
    );
}
