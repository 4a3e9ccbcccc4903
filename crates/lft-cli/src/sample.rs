//! `lft sample`: independence Metropolis chains with the trained flow, or independent
//! importance-weighted flow samples (`sample.method = "reweight"`), written to an ensemble.
//!
//! Each step records the configuration, S, log q, log w = −S − log q, the proposal's log w and
//! whether it was accepted (reweighted samples: every proposal, all accepted). Generator states are stored after every batch of proposals, so an
//! interrupted run resumes exactly from its last complete batch; the finished file is
//! rewritten canonically, like an HMC ensemble.

use crate::cli::RunArgs;
use crate::train::{INIT_STREAM, flow_spec};
use anyhow::{Context, Result, bail};
use lft_action::Action;
use lft_flow::Flow;
use lft_io::checkpoint::read_checkpoint;
use lft_io::config::SampleMethod;
use lft_io::{
    ChainMeta, ChainSampler, Config, EnsembleMeta, EnsembleReader, EnsembleWriter, RecordBlock,
    rewrite_canonical,
};
use lft_lattice::{RngState, stream_rng};
use lft_sample::{FlowImh, ImhRecord};
use std::path::Path;
use std::time::{Duration, Instant};
use tracing::info;

/// Where one chain stands: its generator (after the last batch), current state and length.
struct ChainProgress {
    rng: RngState,
    current: Option<(Vec<f64>, ImhRecord)>,
    done: usize,
}

/// Random stream of chain c's proposals: (seed, SAMPLE_STREAM + c).
const SAMPLE_STREAM: u64 = 1 << 33;

pub fn run(args: &RunArgs) -> Result<()> {
    let config = Config::load(&args.config, &args.overrides)?;
    run_config(&config, args.abort_after)
}

/// The parts of a config that fix the physics and the flow (compared before reusing files).
fn physics_and_flow(c: &Config) -> String {
    let mut c = c.clone();
    c.hmc = None;
    c.train = None;
    c.sample = None;
    c.output.flush_seconds = 0.0;
    c.output.path = Default::default();
    c.to_toml()
}

/// The trained flow of `config` (from its checkpoint) and the training steps it had.
pub(crate) fn load_flow(config: &Config) -> Result<(Flow, u64)> {
    let (f, t) = config.flow_and_train()?;
    let lattice = config.lattice()?;
    let ckpt = read_checkpoint(&t.checkpoint).with_context(|| {
        format!(
            "train.checkpoint {}: train the flow first (lft train CONFIG)",
            t.checkpoint.display()
        )
    })?;
    let trained = Config::from_text(&ckpt.config_text, &t.checkpoint, &[])?;
    if physics_and_flow(&trained) != physics_and_flow(config) {
        bail!(
            "{} holds a flow for other physics or another architecture than this config",
            t.checkpoint.display()
        );
    }
    let mut flow =
        Flow::new(lattice.clone(), &flow_spec(f), config.seed ^ INIT_STREAM).context("flow")?;
    if ckpt.params.len() != flow.n_params() {
        bail!(
            "{}: parameter count does not match the architecture",
            t.checkpoint.display()
        );
    }
    flow.params = ckpt.params;
    Ok((flow, ckpt.step))
}

pub fn run_config(config: &Config, abort_after: Option<u64>) -> Result<()> {
    let s = config.sample()?;
    let lattice = config.lattice()?;
    let action = crate::model::field_action(config)?;
    let action = action.as_ref();
    let (flow, flow_step) = load_flow(config)?;
    if s.method == SampleMethod::FlowHmc {
        return crate::sample_flow_hmc::run(config, &flow, flow_step, action, abort_after);
    }
    let path = config.output.path.clone();
    let v = lattice.volume();
    let mut states: Vec<ChainProgress> = if path.exists() {
        resume(config, &path, s.batch, s.method.sampler_name())?
    } else {
        let sampler = ChainSampler::Flow {
            proposal_batch: s.batch as u64,
            flow_step,
        };
        create_ensemble(config, s.method.sampler_name(), sampler, v)?
            .into_iter()
            .map(|m| ChainProgress {
                rng: m.start_rng,
                current: None,
                done: 0,
            })
            .collect()
    };
    let total: usize = states.iter().map(|st| s.configs - st.done).sum();
    if total == 0 {
        rewrite_canonical(&path, None, None)?;
        info!("{} is complete: nothing to do", path.display());
        return Ok(());
    }
    info!(
        "sampling {} chain(s) × {} configurations from the flow (batches of {})",
        s.chains, s.configs, s.batch
    );
    let mut writer = EnsembleWriter::open_append(&path)?;
    let start = Instant::now();
    let mut last_flush = Instant::now();
    let flush_every = Duration::from_secs_f64(config.output.flush_seconds);
    let (mut done, mut accepted, mut written) = (0usize, 0usize, 0u64);
    while states.iter().any(|st| st.done < s.configs) {
        for (c, st) in states.iter_mut().enumerate() {
            if st.done >= s.configs {
                continue;
            }
            let k = s.batch.min(s.configs - st.done);
            let (configs, records, rng) = match s.method {
                SampleMethod::Imh => {
                    let mut imh = FlowImh::resume(
                        &flow,
                        action,
                        s.batch,
                        st.rng.restore(),
                        st.current.take(),
                    );
                    let (configs, records) = imh.run(k);
                    (configs, records, imh.rng_state())
                }
                SampleMethod::Reweight => weighted_batch(&flow, action, k, st.rng),
                SampleMethod::FlowHmc => unreachable!("flow-HMC runs in sample_flow_hmc"),
            };
            let rng_after = vec![rng; k];
            let col = |g: fn(&ImhRecord) -> f64| records.iter().map(g).collect::<Vec<f64>>();
            let block = RecordBlock {
                configs: &configs,
                columns: vec![
                    ("action", col(|r| r.action)),
                    ("log_q", col(|r| r.log_q)),
                    ("log_weight", col(|r| r.log_weight)),
                    ("proposal_log_weight", col(|r| r.proposal_log_weight)),
                ],
                accepted: records.iter().map(|r| r.accepted).collect(),
                rng_after: &rng_after,
            };
            writer.append_block(c, &block)?;
            accepted += records.iter().filter(|r| r.accepted).count();
            done += k;
            written += k as u64;
            *st = ChainProgress {
                rng,
                current: Some((
                    configs[(k - 1) * v..].to_vec(),
                    *records.last().expect("k ≥ 1"),
                )),
                done: st.done + k,
            };
        }
        if last_flush.elapsed() >= flush_every || states.iter().all(|st| st.done >= s.configs) {
            writer.flush()?;
            last_flush = Instant::now();
            info!(
                "{done}/{total} configurations, acceptance {:.3}",
                accepted as f64 / done as f64
            );
            if abort_after.is_some_and(|n| written >= n) {
                std::process::abort();
            }
        }
    }
    writer.close()?;
    rewrite_canonical(&path, None, None)?;
    let elapsed = start.elapsed().as_secs_f64();
    let reader = EnsembleReader::open(&path)?;
    let mut proposals = Vec::new();
    let mut longest = 0;
    for c in 0..reader.meta().n_chains {
        proposals.extend(reader.read_f64_records(c, "proposal_log_weight")?);
        let mut run = 0;
        for a in reader.read_accepted(c)? {
            run = if a { 0 } else { run + 1 };
            longest = longest.max(run);
        }
    }
    println!(
        "lft sample: {} chain(s) × {} configurations, {}",
        s.chains,
        s.configs,
        path.display()
    );
    let ess = lft_stats::kish_ess(&proposals);
    if s.method == SampleMethod::Reweight {
        println!(
            "  importance-weighted samples: ESS (Kish) {ess:.4}, N·ESS = {:.0}",
            ess * proposals.len() as f64
        );
    } else {
        println!(
            "  acceptance (this run)    {:.4}",
            accepted as f64 / done.max(1) as f64
        );
        println!("  ESS of the proposals     {ess:.4}");
        println!("  longest rejection run    {longest}");
    }
    println!(
        "  time per configuration   {:.3} ms",
        1e3 * elapsed / done.max(1) as f64
    );
    // Autocorrelation of the chain (Γ-method): what the rejections cost.
    let chain = s.method == SampleMethod::Imh;
    if let Some(m) = chain
        .then(|| lft_measure::measure_files(std::slice::from_ref(&path), &Default::default()).ok())
        .flatten()
    {
        print_tau_int(&m, 14);
    }
    Ok(())
}

/// Creates the ensemble file of `config` for `sampler` (its directory too), every chain
/// starting from φ = 0 and the stream (seed, SAMPLE_STREAM + c); returns the chains' metadata.
pub(crate) fn create_ensemble(
    config: &Config,
    sampler_name: &str,
    sampler: ChainSampler,
    volume: usize,
) -> Result<Vec<ChainMeta>> {
    let path = &config.output.path;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("output.path: cannot create {}", dir.display()))?;
    }
    let chains = config.sample()?.chains;
    let meta = EnsembleMeta::from_config(config, sampler_name, chains)?;
    let metas: Vec<ChainMeta> = (0..chains)
        .map(|c| ChainMeta {
            sampler: sampler.clone(),
            start_config: vec![0.0; volume],
            start_rng: RngState::of(&stream_rng(config.seed, SAMPLE_STREAM + c as u64)),
        })
        .collect();
    EnsembleWriter::create(path, &meta, &metas)?.close()?;
    Ok(metas)
}

/// Prints τ_int of |M| and χ₂ (Γ-method) of a measured chain, labels padded to `width`.
pub(crate) fn print_tau_int(m: &lft_measure::Measurement, width: usize) {
    for (key, label) in [("abs_mag", "|M|"), ("chi2", "chi_2")] {
        let o = &m.observables[key];
        println!(
            "  tau_int of {label:<width$} {:.2} ± {:.2}",
            o.tau_int, o.tau_int_error
        );
    }
}

/// `k` independent flow samples with S, log q and log w = −S − log q, drawn from the stream
/// `rng`; returns them with the stream's state after the batch.
fn weighted_batch(
    flow: &Flow,
    action: &dyn Action,
    k: usize,
    rng: RngState,
) -> (Vec<f64>, Vec<ImhRecord>, RngState) {
    let mut rng = rng.restore();
    let sample = flow.sample(k, &mut rng);
    let v = flow.lattice().volume();
    let records = sample
        .phi
        .chunks_exact(v)
        .zip(&sample.log_q)
        .map(|(phi, &log_q)| {
            let s = action.action(phi);
            ImhRecord {
                accepted: true,
                proposal_log_weight: -s - log_q,
                log_q,
                action: s,
                log_weight: -s - log_q,
            }
        })
        .collect();
    (sample.phi, records, RngState::of(&rng))
}

/// Opens the ensemble at `path` to continue it with `config`: it must hold `sampler` and have
/// been made with the same config up to the number of configurations.
pub(crate) fn open_to_continue(
    config: &Config,
    path: &Path,
    sampler: &str,
) -> Result<EnsembleReader> {
    let reader = EnsembleReader::open(path).with_context(|| {
        format!("output.path {} exists and is not an lft ensemble to continue; refusing to overwrite it", path.display())
    })?;
    if reader.meta().sampler != sampler {
        bail!(
            "{} holds an ensemble of sampler `{}`, not {sampler}; choose another output.path",
            path.display(),
            reader.meta().sampler
        );
    }
    let stored = Config::from_text(&reader.meta().config_text, path, &[])?;
    let mut comparable = stored.clone();
    if let (Some(a), Some(b)) = (comparable.sample.as_mut(), config.sample.as_ref()) {
        a.configs = b.configs;
    }
    if comparable.to_toml() != config.to_toml() {
        bail!(
            "{} holds an ensemble made with a different config; choose another output.path or remove it",
            path.display()
        );
    }
    Ok(reader)
}

/// Continues the chains stored in `path`: each from its last complete batch.
fn resume(config: &Config, path: &Path, batch: usize, sampler: &str) -> Result<Vec<ChainProgress>> {
    let reader = open_to_continue(config, path, sampler)?;
    let wanted = config.sample()?.configs;
    let mut lengths = Vec::new();
    let mut states = Vec::new();
    for c in 0..reader.meta().n_chains {
        let n = reader.chain_len(c)?;
        if n > wanted {
            bail!(
                "{}: chain {c} already holds {n} configurations, more than sample.configs = {wanted}",
                path.display()
            );
        }
        // Generator states are exact only at batch boundaries (and at the end).
        let keep = if n == wanted { n } else { n - n % batch };
        lengths.push(keep);
        if keep == 0 {
            states.push(ChainProgress {
                rng: reader.chain_meta(c)?.start_rng,
                current: None,
                done: 0,
            });
            continue;
        }
        let i = keep - 1;
        let field = reader.read_configs(c, i, 1)?;
        let at = |name: &str| -> Result<f64> { Ok(reader.read_f64_records(c, name)?[i]) };
        let record = ImhRecord {
            accepted: reader.read_accepted(c)?[i],
            proposal_log_weight: at("proposal_log_weight")?,
            log_q: at("log_q")?,
            action: at("action")?,
            log_weight: at("log_weight")?,
        };
        states.push(ChainProgress {
            rng: reader.rng_state_at(c, i)?,
            current: Some((field, record)),
            done: keep,
        });
    }
    drop(reader);
    info!(
        "resuming {}: {:?} configurations kept per chain",
        path.display(),
        lengths
    );
    rewrite_canonical(path, Some(&lengths), Some(&config.to_toml()))?;
    Ok(states)
}
