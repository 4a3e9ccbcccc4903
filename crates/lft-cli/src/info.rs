//! `lft info`: what an ensemble file holds.

use crate::cli::InfoArgs;
use anyhow::Result;
use lft_io::EnsembleReader;

pub fn run(args: &InfoArgs) -> Result<()> {
    let r = EnsembleReader::open(&args.file)?;
    let m = r.meta();
    println!("{}", args.file.display());
    println!(
        "  format        lft-ensemble v{} (written by lft {})",
        lft_io::FORMAT_VERSION,
        m.lft_version
    );
    println!("  lattice       {:?} (V = {})", m.shape, m.volume());
    println!(
        "  action        {}: m2 = {}, lambda = {} (kappa = {:.6}, lambda_tilde = {:.6})",
        m.action_kind, m.m2, m.lambda, m.kappa, m.lambda_tilde
    );
    if let Some(f) = &m.fermions {
        println!(
            "  fermions      N_f = 2 staggered, g = {}, mass = {}, {}",
            f.g, f.mass, f.treatment
        );
    }
    println!("  sampler       {}, seed {}", m.sampler, m.seed);
    println!("  chains        {}", m.n_chains);
    for c in 0..m.n_chains {
        let cm = r.chain_meta(c)?;
        let n = r.chain_len(c)?;
        let acc = r.read_accepted(c)?;
        let rate = acc.iter().filter(|&&a| a).count() as f64 / acc.len().max(1) as f64;
        let how = match cm.settings {
            lft_io::ChainSettings::Hmc {
                step_size,
                n_steps,
                integrator,
                length_jitter,
            } => {
                format!(
                    "{integrator} eps = {step_size:.5} × {n_steps} steps (jitter {length_jitter})"
                )
            }
            lft_io::ChainSettings::Flow {
                proposal_batch,
                flow_step,
            } => {
                format!(
                    "flow proposals in batches of {proposal_batch} (flow trained {flow_step} steps)"
                )
            }
            lft_io::ChainSettings::FlowHmc {
                step_size,
                n_steps,
                integrator,
                hmc_per_step,
                flow_step,
                ..
            } => {
                format!(
                    "flow proposal + {hmc_per_step} × {integrator} eps = {step_size:.5} × {n_steps} \
                     steps (flow trained {flow_step} steps)"
                )
            }
        };
        let stride = match cm.save_every {
            1 => String::new(),
            k => format!(", one step in {k} stored"),
        };
        println!("    chain {c}: {n} configurations, acceptance {rate:.4}, {how}{stride}");
        let lens = r.dataset_lengths(c)?;
        if lens.iter().any(|&l| l != n) {
            println!(
                "      (uneven datasets {lens:?}: an interrupted run; `lft run` with its config resumes it)"
            );
        }
    }
    println!("  config:");
    for line in m.config_text.lines() {
        println!("    {line}");
    }
    Ok(())
}
