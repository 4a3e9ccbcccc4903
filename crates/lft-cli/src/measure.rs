//! `lft measure`: observables of ensembles, as a table or JSON.

use crate::cli::MeasureArgs;
use anyhow::Result;
use lft_measure::{MeasureOptions, measure_files};

/// Order and labels of the table.
const ROWS: [(&str, &str); 5] = [
    ("abs_mag", "<|M|>/V"),
    ("phi2", "<phi^2>"),
    ("chi2", "chi_2"),
    ("ising_energy", "E_Ising"),
    ("action_density", "<S>/V"),
];

pub fn run(args: &MeasureArgs) -> Result<()> {
    let options = MeasureOptions {
        skip: args.skip,
        bin: args.bin,
    };
    let m = measure_files(&args.files, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(());
    }
    println!(
        "{} configurations in {} chain(s); derived quantities binned by {}",
        m.n_configs, m.n_chains, m.bin_size
    );
    println!(
        "{:<16} {:>14} {:>12} {:>16}",
        "observable", "value", "error", "tau_int"
    );
    for (key, label) in ROWS {
        let o = &m.observables[key];
        println!(
            "{:<16} {:>14.6} {:>12.6} {:>9.2} ± {:<5.2}",
            label, o.value, o.error, o.tau_int, o.tau_int_error
        );
    }
    if let Some(s) = m.sampler {
        println!(
            "sampler: acceptance {:.4}, <dH> {:.5}, <exp(-dH)> {:.5}",
            s.acceptance, s.mean_delta_h, s.mean_exp_minus_delta_h
        );
    }
    Ok(())
}
