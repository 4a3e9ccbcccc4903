//! `lft sample` with `sample.method = "flow_hmc"`: chains that alternate a flow proposal
//! (independence Metropolis) with `hmc_per_step` HMC trajectories of the target.
//!
//! Every random number of a chain comes from one generator, whose state is stored after every
//! step, so an interrupted run continues exactly from its last stored step; the finished file
//! is rewritten canonically. Chains start from φ = 0: the first accepted flow proposal takes
//! them into the bulk (`lft measure --skip` drops the start if needed).

use crate::sample::{create_ensemble, open_to_continue, print_tau_int};
use anyhow::Result;
use lft_action::Action;
use lft_flow::Flow;
use lft_io::config::{IntegratorName, SampleConfig};
use lft_io::{ChainSampler, Config, EnsembleWriter, RecordBlock, rewrite_canonical};
use lft_lattice::RngState;
use lft_sample::{FlowHmc, HmcChain, HmcParams, Integrator};
use rayon::prelude::*;
use std::time::{Duration, Instant};
use tracing::info;

/// Where one chain stands.
struct ChainState {
    field: Vec<f64>,
    rng: RngState,
    done: usize,
}

/// The steps of one block of one chain.
struct Block {
    configs: Vec<f64>,
    action: Vec<f64>,
    hmc_accepted: Vec<f64>,
    flow_accepted: Vec<bool>,
    rng_after: Vec<RngState>,
}

fn hmc_params(s: &SampleConfig) -> HmcParams {
    HmcParams {
        step_size: s.hmc_length / s.hmc_steps as f64,
        n_steps: s.hmc_steps,
        integrator: match s.hmc_integrator {
            IntegratorName::Leapfrog => Integrator::Leapfrog,
            IntegratorName::Omelyan => Integrator::Omelyan,
        },
        length_jitter: 0.5,
    }
}

const SAMPLER: &str = "flow-hmc";

pub fn run(
    config: &Config,
    flow: &Flow,
    flow_step: u64,
    action: &dyn Action,
    abort_after: Option<u64>,
) -> Result<()> {
    let s = config.sample()?;
    let params = hmc_params(s);
    let path = config.output.path.clone();
    let v = flow.lattice().volume();
    let mut states: Vec<ChainState> = if path.exists() {
        let reader = open_to_continue(config, &path, SAMPLER)?;
        let mut states = Vec::new();
        for c in 0..reader.meta().n_chains {
            let n = reader.chain_len(c)?;
            anyhow::ensure!(
                n <= s.configs,
                "{}: chain {c} already holds {n} configurations, more than sample.configs = {}",
                path.display(),
                s.configs
            );
            states.push(if n == 0 {
                let meta = reader.chain_meta(c)?;
                ChainState {
                    field: meta.start_config,
                    rng: meta.start_rng,
                    done: 0,
                }
            } else {
                ChainState {
                    field: reader.read_configs(c, n - 1, 1)?,
                    rng: reader.rng_state_at(c, n - 1)?,
                    done: n,
                }
            });
        }
        drop(reader);
        rewrite_canonical(&path, None, Some(&config.to_toml()))?;
        states
    } else {
        let sampler = ChainSampler::FlowHmc {
            step_size: params.step_size,
            n_steps: params.n_steps as u64,
            integrator: format!("{:?}", s.hmc_integrator).to_lowercase(),
            length_jitter: params.length_jitter,
            hmc_per_step: s.hmc_per_step as u64,
            flow_step,
        };
        create_ensemble(config, SAMPLER, sampler, v)?
            .into_iter()
            .map(|m| ChainState {
                field: m.start_config,
                rng: m.start_rng,
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
        "flow-HMC: {} chain(s) × {} steps, each a flow proposal and {} trajectories",
        s.chains, s.configs, s.hmc_per_step
    );
    let mut writer = EnsembleWriter::open_append(&path)?;
    let start = Instant::now();
    let mut last_flush = Instant::now();
    let flush_every = Duration::from_secs_f64(config.output.flush_seconds);
    let (mut done, mut flow_acc, mut hmc_acc, mut written) = (0usize, 0usize, 0.0, 0u64);
    while states.iter().any(|st| st.done < s.configs) {
        let blocks: Vec<Option<Block>> = states
            .par_iter_mut()
            .map(|st| {
                let k = s.batch.min(s.configs - st.done);
                (k > 0).then(|| advance(flow, action, params, s.hmc_per_step, st, k))
            })
            .collect();
        for (c, block) in blocks.into_iter().enumerate() {
            let Some(b) = block else { continue };
            let k = b.flow_accepted.len();
            flow_acc += b.flow_accepted.iter().filter(|&&a| a).count();
            hmc_acc += b.hmc_accepted.iter().sum::<f64>();
            let record = RecordBlock {
                configs: &b.configs,
                columns: vec![("action", b.action), ("hmc_accepted", b.hmc_accepted)],
                accepted: b.flow_accepted,
                rng_after: &b.rng_after,
            };
            writer.append_block(c, &record)?;
            done += k;
            written += k as u64;
        }
        if last_flush.elapsed() >= flush_every || states.iter().all(|st| st.done >= s.configs) {
            writer.flush()?;
            last_flush = Instant::now();
            info!(
                "{done}/{total} steps, flow acceptance {:.3}",
                flow_acc as f64 / done as f64
            );
            if abort_after.is_some_and(|n| written >= n) {
                std::process::abort();
            }
        }
    }
    writer.close()?;
    rewrite_canonical(&path, None, None)?;
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "lft sample (flow-HMC): {} chain(s) × {} steps, {}",
        s.chains,
        s.configs,
        path.display()
    );
    let per_step = done.max(1) as f64;
    println!(
        "  flow acceptance (this run)  {:.4}",
        flow_acc as f64 / per_step
    );
    println!(
        "  HMC acceptance (this run)   {:.4}",
        hmc_acc / (per_step * s.hmc_per_step.max(1) as f64)
    );
    println!(
        "  time per step               {:.3} ms (wall clock, chains in parallel)",
        1e3 * elapsed / per_step
    );
    if let Ok(m) = lft_measure::measure_files(std::slice::from_ref(&path), &Default::default()) {
        print_tau_int(&m, 16);
    }
    Ok(())
}

/// Runs `k` flow-HMC steps of one chain from its state, and moves the state on.
fn advance(
    flow: &Flow,
    action: &dyn Action,
    params: HmcParams,
    hmc_per_step: usize,
    st: &mut ChainState,
    k: usize,
) -> Block {
    let chain = HmcChain::resume(action, st.field.clone(), st.rng.restore(), params);
    let mut fh = FlowHmc::new(flow, action, chain, hmc_per_step);
    let v = st.field.len();
    let mut b = Block {
        configs: Vec::with_capacity(k * v),
        action: Vec::with_capacity(k),
        hmc_accepted: Vec::with_capacity(k),
        flow_accepted: Vec::with_capacity(k),
        rng_after: Vec::with_capacity(k),
    };
    for _ in 0..k {
        let r = fh.step();
        b.configs.extend_from_slice(fh.field());
        b.action.push(r.action);
        b.hmc_accepted.push(r.hmc_accepted as f64);
        b.flow_accepted.push(r.flow_accepted);
        b.rng_after.push(fh.rng_state());
    }
    st.field = fh.field().to_vec();
    st.rng = fh.rng_state();
    st.done += k;
    b
}
