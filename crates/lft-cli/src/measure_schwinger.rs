//! `lft measure` of a Schwinger-model ensemble: the fermionic rows (condensate, pion
//! correlator and mass, disconnected part) of its table and its stored results.

use crate::correlator_report::{mass_array, point_array, print_correlator, print_mass};
use lft_io::StoredArray;
use lft_measure::SchwingerResults;

/// The fermionic part of the table.
pub fn print_fermions(f: &SchwingerResults) {
    let c = &f.condensate;
    println!(
        "\ncondensate (1/V) tr D^-1 ({})  {:.6} ± {:.6} (tau_int {:.2} ± {:.2})",
        f.fermion_method, c.value, c.error, c.tau_int, c.tau_int_error
    );
    print_correlator("C_pi(t)", &f.pion_correlator, &f.pion_effective_mass);
    print_mass("pion mass", f.pion_mass.as_ref(), f.bin_size);
    if let Some(d) = &f.disconnected_correlator {
        println!("\n{:>4} {:>13} {:>11}", "t", "disconnected", "error");
        for p in d {
            println!("{:>4} {:>13.6e} {:>11.3e}", p.t, p.value, p.error);
        }
    }
}

/// The fermionic results as datasets of /measurements (docs/FORMAT.md).
pub fn fermion_arrays(f: &SchwingerResults) -> Vec<StoredArray> {
    let c = &f.condensate;
    let mut arrays = vec![
        StoredArray::new(
            "condensate",
            vec![4],
            vec![c.value, c.error, c.tau_int, c.tau_int_error],
            "value, error, tau_int, tau_int_error",
        ),
        point_array("pion_correlator", &f.pion_correlator),
        point_array("pion_effective_mass", &f.pion_effective_mass),
    ];
    if let Some(p) = &f.pion_mass {
        arrays.push(mass_array("pion_mass", p));
    }
    if let Some(d) = &f.disconnected_correlator {
        arrays.push(point_array("disconnected_correlator", d));
    }
    arrays
}
