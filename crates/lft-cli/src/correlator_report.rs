//! A correlator C(t) with its effective mass and cosh-fit mass, as `lft measure` prints and
//! stores it (the φ correlator of scalar ensembles, the pion correlator of Schwinger ones).

use lft_io::StoredArray;
use lft_measure::{PointResult, PoleMass};

/// The table t, C(t), error, m_eff(t), error.
pub fn print_correlator(label: &str, correlator: &[PointResult], effective_mass: &[PointResult]) {
    println!(
        "\n{:>4} {:>13} {:>11} {:>11} {:>11}",
        "t", label, "error", "m_eff(t)", "error"
    );
    for c in correlator {
        let e = effective_mass.iter().find(|e| e.t == c.t);
        let (ev, ee) = e.map_or((String::new(), String::new()), |e| {
            (format!("{:.5}", e.value), format!("{:.5}", e.error))
        });
        println!(
            "{:>4} {:>13.6e} {:>11.3e} {:>11} {:>11}",
            c.t, c.value, c.error, ev, ee
        );
    }
}

/// One line on the cosh-fit mass (or on its absence), `what` naming it ("pole mass").
pub fn print_mass(what: &str, mass: Option<&PoleMass>, bin: usize) {
    match mass {
        Some(p) => println!(
            "\n{what} {:.5} ± {:.5} (cosh fit over t = {}..{}, chi2/dof {:.2}; jackknife bins of {bin})",
            p.value, p.error, p.fit_range[0], p.fit_range[1], p.chi2_per_dof
        ),
        None => println!("\n{what}: no usable plateau (give one with --fit-range T1:T2)"),
    }
}

/// Points (t, value, error) as an `[n, 3]` dataset.
pub fn point_array(name: &str, points: &[PointResult]) -> StoredArray {
    StoredArray::new(
        name,
        vec![points.len(), 3],
        points
            .iter()
            .flat_map(|p| [p.t as f64, p.value, p.error])
            .collect(),
        "t, value, error",
    )
}

/// A cosh-fit mass as a dataset of 5: value, error, t1, t2, chi2_per_dof.
pub fn mass_array(name: &str, p: &PoleMass) -> StoredArray {
    StoredArray::new(
        name,
        vec![5],
        vec![
            p.value,
            p.error,
            p.fit_range[0] as f64,
            p.fit_range[1] as f64,
            p.chi2_per_dof,
        ],
        "value, error, t1, t2, chi2_per_dof",
    )
}
