//! `lft anneal`: an `[anneal]` config from the prior to e^{−S}. CRAFT first trains its flows
//! (checkpointed, resumed exactly), then SMC, AIS or CRAFT evaluation passes become the chains
//! of an ensemble (one pass per chain, its particles the records), or PIMH chains run over
//! whole passes. What every pass did per temperature goes to the file's `/anneal` group.

use crate::cli::RunArgs;
use crate::pipeline::{check_belongs, check_output, human_seconds, run_ensemble};
use crate::progress::RunProgress;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use lft_action::Action;
use lft_config::{AnnealMethod, AnnealPlan, Config, CraftPlan, PimhPasses, Reuse};
use lft_flow::Prior;
use lft_io::checkpoint::{Checkpoint, read_craft_checkpoint, write_craft_checkpoint};
use lft_io::{ANNEAL_GROUP, SamplerKind, StoredArray};
use lft_lattice::RngState;
use lft_sample::anneal::{
    AnnealContext, Craft, CraftIteration, PassChain, PassSampler, PassSource, PimhSampler, SmcPass,
    TemperatureRecord, smc_pass_observed,
};
use std::io::IsTerminal;
use std::time::Instant;
use tracing::info;

/// Columns of `/anneal/temperatures`.
const TEMPERATURE_COLUMNS: &str =
    "pass, beta, ess, log_z_increment, acceptance, step_size, resampled";

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    run_config(&config, args.abort_after)
}

pub fn run_config(config: &Config, abort_after: Option<u64>) -> Result<()> {
    let plan = config.anneal()?;
    let action = config.field_action()?;
    let action = action.as_ref();
    let prior = Prior::new(plan.prior, config.lattice()).context("anneal.prior_m2")?;
    let kind = match plan.method {
        AnnealMethod::Smc => SamplerKind::Smc,
        AnnealMethod::Ais => SamplerKind::Ais,
        AnnealMethod::Craft => SamplerKind::Craft,
        AnnealMethod::Pimh => SamplerKind::Pimh,
    };
    // Before any training: an output of another config is refused at once.
    check_output(config, kind)?;
    let craft = match &plan.craft {
        Some(cp) => Some(train_craft(config, plan, cp, &prior, action, abort_after)?),
        None => None,
    };
    let seed = config.seed();
    let settings = &plan.settings;
    let reporter = TemperatureReporter::new();
    let passes: Box<PassSource> = match &craft {
        Some(c) => Box::new(|p| {
            let observe = |t: &TemperatureRecord, z: f64| reporter.report(p, t, z);
            c.evaluate_observed(&prior, action, settings, seed, p, Some(&observe))
        }),
        None => Box::new(|p| {
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
            }
        }
    }
    Ok(())
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
            ]);
        }
    }
    let n_rows = rows.len() / 7;
    let arrays = [
        StoredArray::new(
            "log_z",
            vec![log_z.len()],
            log_z,
            "log Z estimate of each pass (chain)",
        ),
        StoredArray::new("temperatures", vec![n_rows, 7], rows, TEMPERATURE_COLUMNS),
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

/// Trains the CRAFT flows of `plan` to `cp.iterations`, continuing the checkpoint if there is
/// one; `abort_after` is a test hook (abort after the first checkpoint at or beyond it).
fn train_craft(
    config: &Config,
    plan: &AnnealPlan,
    cp: &CraftPlan,
    prior: &Prior,
    action: &dyn Action,
    abort_after: Option<u64>,
) -> Result<Craft> {
    let settings = &plan.settings;
    let transitions = settings
        .schedule
        .betas()
        .expect("CRAFT plans have fixed schedules")
        .len();
    let seed = config.seed();
    let mut craft = Craft::new(&cp.transport, config.lattice(), transitions, seed);
    let mut history: Vec<[f64; 7]> = Vec::new();
    let _lock = lft_io::FileLock::acquire(&cp.checkpoint)?;
    if cp.checkpoint.exists() {
        let ckpt = read_craft_checkpoint(&cp.checkpoint).with_context(|| {
            format!(
                "anneal.checkpoint {} exists but cannot be continued",
                cp.checkpoint.display()
            )
        })?;
        check_belongs(
            config,
            &ckpt.config_text,
            &cp.checkpoint,
            "anneal.checkpoint",
            Reuse::Craft,
        )?;
        if ckpt.step as usize > cp.iterations {
            bail!(
                "{}: already trained for {} iterations, more than anneal.iterations = {}",
                cp.checkpoint.display(),
                ckpt.step,
                cp.iterations
            );
        }
        craft = craft
            .restore(&ckpt.params, &ckpt.adam_m, &ckpt.adam_v, ckpt.step)
            .with_context(|| format!("{}", cp.checkpoint.display()))?;
        history = ckpt.history;
        if ckpt.step as usize == cp.iterations {
            info!(
                "CRAFT flows of {} are trained ({} iterations)",
                cp.checkpoint.display(),
                ckpt.step
            );
            return Ok(craft);
        }
        info!(
            "continuing {} from iteration {}",
            cp.checkpoint.display(),
            ckpt.step
        );
    }
    let n_params: usize = craft.flows().iter().map(|f| f.n_params()).sum();
    info!(
        "CRAFT: {transitions} flows of {} affine couplings (hidden {:?}, kernel {}), {n_params} parameters; {} iterations of {} particles",
        cp.transport.layers,
        cp.transport.hidden,
        cp.transport.kernel,
        cp.iterations,
        settings.particles
    );
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(cp.iterations as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} iterations, eta {eta} {msg}",
            )
            .expect("valid template"),
        );
        bar.set_position(craft.iterations());
        bar
    });
    let start = Instant::now();
    let first = craft.iterations();
    let mut last_log = Instant::now();
    while (craft.iterations() as usize) < cp.iterations {
        let it = craft.train_iteration(prior, action, settings, cp.learning_rate, seed);
        let it = match it {
            Ok(it) => it,
            Err(e) => {
                save(config, cp, &craft, &history)?;
                return Err(anyhow::Error::new(e).context(format!(
                    "CRAFT training (iterations done so far are in {})",
                    cp.checkpoint.display()
                )));
            }
        };
        let row = history_row(craft.iterations() - 1, &it, cp.learning_rate);
        history.push(row);
        let message = format!(
            "log Z {:.4} min ESS {:.3} loss {:.4}",
            row[1], row[3], row[2]
        );
        match &bar {
            Some(b) => {
                b.set_position(craft.iterations());
                b.set_message(message);
            }
            None if last_log.elapsed().as_secs() >= 10 => {
                last_log = Instant::now();
                info!(
                    "iteration {}/{}: {message}",
                    craft.iterations(),
                    cp.iterations
                );
            }
            None => {}
        }
        let done = craft.iterations() as usize;
        if done.is_multiple_of(cp.checkpoint_every) || done == cp.iterations {
            save(config, cp, &craft, &history)?;
            if abort_after.is_some_and(|n| craft.iterations() >= n) {
                std::process::abort();
            }
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let trained = craft.iterations() - first;
    if trained > 0 {
        let per = start.elapsed().as_secs_f64() / trained as f64;
        let last = history.last().expect("trained");
        println!(
            "lft anneal: CRAFT trained {} iterations ({trained} this run, {} each), checkpoint {}",
            craft.iterations(),
            human_seconds(per),
            cp.checkpoint.display()
        );
        println!(
            "  last training pass: log Z {:.6}, min ESS {:.4}, loss {:.6}",
            last[1], last[3], last[2]
        );
    }
    Ok(craft)
}

/// [iteration, log Ẑ of the training pass, Σ_k L_k, min ESS/N, mean acceptance, ‖∇‖, lr].
fn history_row(iteration: u64, it: &CraftIteration, lr: f64) -> [f64; 7] {
    let t = &it.pass.temperatures;
    [
        iteration as f64,
        it.pass.log_z,
        it.losses.iter().sum(),
        t.iter().map(|r| r.ess).fold(f64::INFINITY, f64::min),
        t.iter().map(|r| r.acceptance).sum::<f64>() / t.len().max(1) as f64,
        it.grad_norm,
        lr,
    ]
}

fn save(config: &Config, cp: &CraftPlan, craft: &Craft, history: &[[f64; 7]]) -> Result<()> {
    let (m, v) = craft.adam_moments();
    let ckpt = Checkpoint {
        lft_version: env!("CARGO_PKG_VERSION").to_string(),
        config_text: config.to_toml(),
        step: craft.iterations(),
        params: craft.params(),
        adam_m: m,
        adam_v: v,
        rng: RngState {
            state: 0,
            stream: 0,
        },
        history: history.to_vec(),
    };
    write_craft_checkpoint(&cp.checkpoint, &ckpt)
        .with_context(|| format!("anneal.checkpoint {}", cp.checkpoint.display()))
}
