//! `lft info`: what an ensemble file holds.

use crate::cli::InfoArgs;
use anyhow::Result;
use lft_io::EnsembleReader;

pub fn run(args: &InfoArgs) -> Result<()> {
    let r = EnsembleReader::open_with(&args.file, crate::verify::on_damage(args.no_verify))?;
    for d in r.skipped()? {
        tracing::warn!("{}: skipping damaged rows: {d}", args.file.display());
    }
    let m = r.meta();
    println!("{}", args.file.display());
    println!(
        "  format        lft-ensemble v{} (written by lft {})",
        lft_io::FORMAT_VERSION,
        m.lft_version
    );
    println!("  lattice       {:?} (V = {})", m.shape, m.sites());
    match &m.couplings {
        lft_io::StoredCouplings::Scalar {
            m2,
            lambda,
            kappa,
            lambda_tilde,
            h,
            fermions,
        } => {
            let field = if *h != 0.0 {
                format!(", h = {h}")
            } else {
                String::new()
            };
            println!(
                "  action        {}: m2 = {m2}, lambda = {lambda}{field} (kappa = {kappa:.6}, lambda_tilde = {lambda_tilde:.6})",
                m.action_kind
            );
            if let Some(f) = fermions {
                println!(
                    "  fermions      N_f = 2 staggered, g = {}, mass = {}, {}",
                    f.g, f.mass, f.treatment
                );
            }
        }
        lft_io::StoredCouplings::U1 { beta, fermions } => {
            println!(
                "  action        {} (Wilson): beta = {beta}; field u1, configurations of shape {:?}",
                m.action_kind,
                m.config_shape()
            );
            if let Some(f) = fermions {
                println!(
                    "  fermions      N_f = 2 staggered, mass = {}, {}",
                    f.mass, f.treatment
                );
            }
        }
    }
    println!("  sampler       {}, seed {}", m.sampler, m.seed);
    let summed = (0..m.n_chains)
        .map(|c| r.has_checksums(c))
        .collect::<Result<Vec<_>, _>>()?;
    println!(
        "  checksums     {}",
        if summed.iter().all(|&s| s) {
            "CRC-32 of every round, checked as read (lft verify checks all)"
        } else {
            "none: written before lft stored them (lft verify checks lengths and values)"
        }
    );
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
                fa_mass,
            } => {
                let fa = fa_mass.map_or(String::new(), |mu| format!(", Fourier mass {mu:.4}"));
                format!(
                    "{integrator} eps = {step_size:.5} × {n_steps} steps (jitter {length_jitter}){fa}"
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
            lft_io::ChainSettings::Heatbath { overrelaxation } => {
                format!("heat-bath sweeps, each followed by {overrelaxation} overrelaxation sweeps")
            }
            lft_io::ChainSettings::Anneal {
                particles,
                pass,
                flow_step,
            } => {
                let flows = if flow_step > 0 {
                    format!(", CRAFT flows trained {flow_step} iterations")
                } else {
                    String::new()
                };
                if m.sampler == lft_io::SamplerKind::Pimh {
                    format!("passes of {particles} particles from pass {pass}{flows}")
                } else {
                    format!("pass {pass} of {particles} particles{flows}")
                }
            }
        };
        let stride = match cm.save_every {
            1 => String::new(),
            k => format!(", one step in {k} stored"),
        };
        if m.sampler.is_annealing_pass() {
            println!("    chain {c}: {n} weighted particles, {how}");
        } else {
            println!("    chain {c}: {n} configurations, acceptance {rate:.4}, {how}{stride}");
        }
        let lens = r.dataset_lengths(c)?;
        if args.no_verify {
            // Damaged rounds left out make the chain shorter than its datasets.
        } else if lens.iter().any(|&l| l != n) {
            println!(
                "      (uneven datasets {lens:?}: an interrupted run; `lft run` with its config resumes it)"
            );
        }
    }
    print_anneal(&args.file)?;
    println!("  config:");
    for line in m.config_text.lines() {
        println!("    {line}");
    }
    Ok(())
}

/// The `/anneal` group of an annealing ensemble: each pass's log Ẑ and the schedule.
fn print_anneal(path: &std::path::Path) -> Result<()> {
    let Some((arrays, attrs)) = lft_io::load_group(path, lft_io::ANNEAL_GROUP)? else {
        return Ok(());
    };
    let attr = |k: &str| {
        attrs
            .iter()
            .find(|(key, _)| key == k)
            .map_or("", |(_, v)| v.as_str())
    };
    println!("  annealing     {}, {}", attr("method"), attr("schedule"));
    let array = |name: &str| arrays.iter().find(|a| a.name == name);
    if let Some(z) = array("log_z") {
        let shown: Vec<String> = z.data.iter().map(|x| format!("{x:.5}")).collect();
        println!("    log Z of each pass: {}", shown.join(", "));
    }
    if let Some(t) = array("temperatures") {
        // Rows: pass, beta, ess, log_z_increment, acceptance, step_size, resampled and, in
        // files written since zero weights were counted, zero_weight.
        let columns = t.shape.get(1).copied().unwrap_or(7).max(7);
        let first: Vec<&[f64]> = t
            .data
            .chunks_exact(columns)
            .filter(|r| r[0] == t.data[0])
            .collect();
        println!(
            "    pass {}: {:>3} {:>9} {:>8} {:>12} {:>9} {:>9} resampled",
            t.data[0], "k", "beta", "ESS/N", "log Z incr.", "HMC acc.", "step"
        );
        for (k, r) in first.iter().enumerate() {
            println!(
                "    {:>8} {:>3} {:>9.5} {:>8.4} {:>12.6} {:>9.4} {:>9.5} {}",
                "",
                k + 1,
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                if r[6] > 0.0 { "yes" } else { "" }
            );
            if let Some(&zero) = r.get(7).filter(|&&z| z > 0.0) {
                println!("    {:>12} {zero} particle(s) of zero weight", "");
            }
        }
    }
    Ok(())
}
