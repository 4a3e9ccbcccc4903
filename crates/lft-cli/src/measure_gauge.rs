//! `lft measure` of a U(1) gauge ensemble (pure gauge or Schwinger model): its table, JSON,
//! figures (`--plot`: the charge history and P(Q)) and stored results (`--store`); the
//! fermionic part of a Schwinger ensemble is [`crate::measure_schwinger`]'s.

use crate::cli::MeasureArgs;
use anyhow::{Context, Result};
use lft_io::StoredArray;
use lft_measure::GaugeMeasurement;

/// Order and labels of the table.
const ROWS: [(&str, &str); 6] = [
    ("plaquette", "<cos theta_P>"),
    ("action_density", "<S>/V"),
    ("topological_charge", "<Q>"),
    ("q2", "<Q^2>"),
    ("chi_t", "chi_t"),
    ("polyakov", "<Re P>"),
];

pub fn report(
    args: &MeasureArgs,
    m: &GaugeMeasurement,
    modes: &crate::mode_report::ModeReport,
) -> Result<()> {
    if let Some(dir) = &args.plot {
        let files = lft_measure::plot::write_gauge(m, dir)
            .map_err(|e| anyhow::anyhow!("--plot {}: {e}", dir.display()))?;
        tracing::info!("wrote {} figures to {}", files.len(), dir.display());
    }
    if args.store {
        store(&args.files[0], m)?;
        tracing::info!(
            "stored the results in {}:/measurements",
            args.files[0].display()
        );
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&modes.to_json(serde_json::to_value(m)?)?)?
        );
    } else {
        print_table(m);
        modes.print();
    }
    Ok(())
}

fn print_table(m: &GaugeMeasurement) {
    let theory = match &m.fermions {
        Some(f) => format!("Schwinger model (N_f = 2 staggered, mass = {})", f.mass),
        None => "U(1)".to_string(),
    };
    println!(
        "{theory}, beta = {}: {} configurations in {} chain(s){}",
        m.beta,
        m.n_configs,
        m.n_chains,
        if m.weighted {
            ", importance-weighted"
        } else {
            ""
        }
    );
    crate::store::print_observables(&m.observables, &ROWS);
    if let Some(changes) = m.charge_changes {
        println!("Q changes between consecutive configurations: {changes:.4} per step");
    }
    println!("\n{:>4} {:>9} {:>11}", "Q", "count", "P(Q)");
    for c in &m.charge_histogram {
        println!("{:>4} {:>9} {:>11.5}", c.q, c.count, c.fraction);
    }
    println!(
        "\n{:>3} {:>3} {:>13} {:>11} {:>13} {:>11}",
        "R", "T", "W(R,T)", "error", "Creutz", "error"
    );
    for w in &m.wilson_loops {
        let c = m
            .creutz_ratios
            .iter()
            .find(|c| (c.r, c.t) == (w.r, w.t))
            .map_or((String::new(), String::new()), |c| {
                (format!("{:.5}", c.value), format!("{:.5}", c.error))
            });
        println!(
            "{:>3} {:>3} {:>13.6} {:>11.6} {:>13} {:>11}",
            w.r, w.t, w.value, w.error, c.0, c.1
        );
    }
    println!("\n{:>4} {:>13} {:>11}", "r", "<P(0)P*(r)>", "error");
    for p in &m.polyakov_correlator {
        println!("{:>4} {:>13.6} {:>11.6}", p.r, p.value, p.error);
    }
    if let Some(f) = &m.fermions {
        crate::measure_schwinger::print_fermions(f);
    }
    if let Some(z) = m.sampler.and_then(|s| s.log_z) {
        let error = z.error.map_or(
            "(one pass: no error; set anneal.repeats ≥ 2)".into(),
            |e| format!("± {e:.6}"),
        );
        println!(
            "\nlog Z         {:.6} {error} (mean of {} passes' log Z, Haar measure normalised; \
             log of the mean Z {:.6})",
            z.mean, z.passes, z.log_mean_exp
        );
        return;
    }
    if let Some(s) = m.sampler {
        let mut line = format!("sampler: acceptance {:.4}", s.acceptance);
        if let (Some(dh), Some(e)) = (s.mean_delta_h, s.mean_exp_minus_delta_h) {
            line += &format!(", <dH> {dh:.5}, <exp(-dH)> {e:.5}");
        }
        println!("\n{line}");
    }
}

/// The results as small datasets in the file's /measurements group (docs/FORMAT.md).
fn store(path: &std::path::Path, m: &GaugeMeasurement) -> Result<()> {
    let mut arrays = crate::store::observable_arrays(&m.observables);
    let loops = |l: &[lft_measure::LoopResult]| -> Vec<f64> {
        l.iter()
            .flat_map(|w| [w.r as f64, w.t as f64, w.value, w.error])
            .collect()
    };
    arrays.push(StoredArray::new(
        "wilson_loops",
        vec![m.wilson_loops.len(), 4],
        loops(&m.wilson_loops),
        "r, t, value, error",
    ));
    arrays.push(StoredArray::new(
        "creutz_ratios",
        vec![m.creutz_ratios.len(), 4],
        loops(&m.creutz_ratios),
        "r, t, value, error",
    ));
    arrays.push(StoredArray::new(
        "charge_histogram",
        vec![m.charge_histogram.len(), 3],
        m.charge_histogram
            .iter()
            .flat_map(|c| [c.q as f64, c.count as f64, c.fraction])
            .collect(),
        "q, count, fraction",
    ));
    arrays.push(StoredArray::new(
        "polyakov_correlator",
        vec![m.polyakov_correlator.len(), 3],
        m.polyakov_correlator
            .iter()
            .flat_map(|p| [p.r as f64, p.value, p.error])
            .collect(),
        "r, value, error",
    ));
    if let Some(f) = &m.fermions {
        arrays.extend(crate::measure_schwinger::fermion_arrays(f));
    }
    lft_io::store_measurements(path, &arrays, &[])
        .with_context(|| format!("{}: storing the measurements", path.display()))
}
