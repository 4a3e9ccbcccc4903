//! `lft measure --store`: results into the ensemble file's /measurements group.

use crate::correlator_report::{mass_array, point_array};
use anyhow::Result;
use lft_io::StoredArray;
use lft_measure::{MeasureOptions, Measurement};
use std::path::Path;

/// One dataset [value, error, tau_int, tau_int_error] per observable.
pub fn observable_arrays(
    observables: &std::collections::BTreeMap<String, lft_measure::ObservableResult>,
) -> Vec<StoredArray> {
    observables
        .iter()
        .map(|(name, o)| {
            StoredArray::new(
                name,
                vec![4],
                vec![o.value, o.error, o.tau_int, o.tau_int_error],
                "value, error, tau_int, tau_int_error",
            )
        })
        .collect()
}

/// The table of observables `rows` (key, label) that `observables` has: value, error, τ_int.
pub fn print_observables(
    observables: &std::collections::BTreeMap<String, lft_measure::ObservableResult>,
    rows: &[(&str, &str)],
) {
    println!(
        "{:<14} {:>13} {:>11} {:>16}",
        "observable", "value", "error", "tau_int"
    );
    for (key, label) in rows {
        let Some(o) = observables.get(*key) else {
            continue;
        };
        println!(
            "{:<14} {:>13.6} {:>11.6} {:>8.2} ± {:<5.2}",
            label, o.value, o.error, o.tau_int, o.tau_int_error
        );
    }
}

/// Writes every result as a small dataset (see docs/FORMAT.md, "Measurements").
pub fn store(path: &Path, m: &Measurement, options: &MeasureOptions) -> Result<()> {
    let mut arrays = observable_arrays(&m.observables);
    arrays.push(point_array("correlator", &m.correlator));
    arrays.push(point_array("effective_mass", &m.effective_mass));
    if let Some(p) = &m.pole_mass {
        arrays.push(mass_array("pole_mass", p));
    }
    if let Some(g) = &m.propagator {
        arrays.push(StoredArray::new(
            "propagator",
            g.shape.clone(),
            g.value.clone(),
            "G_c(x), x laid out like a site",
        ));
        arrays.push(StoredArray::new(
            "propagator_error",
            g.shape.clone(),
            g.error.clone(),
            "error of G_c(x)",
        ));
    }
    let attrs = vec![
        ("n_configs".to_string(), m.n_configs.to_string()),
        ("skip".to_string(), options.skip.to_string()),
        ("bin_size".to_string(), m.bin_size.to_string()),
        (
            "lft_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ];
    // A run still writing the file would rename its own copy over ours.
    let _lock = lft_io::FileLock::acquire(path)?;
    lft_io::store_measurements(path, &arrays, &attrs)?;
    Ok(())
}
