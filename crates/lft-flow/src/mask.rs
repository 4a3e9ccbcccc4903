//! Checkerboard masks: the sites of one parity are transformed, the others condition.

use lft_lattice::{Lattice, Parity};

/// 1.0 on the sites of `parity`, 0.0 elsewhere.
pub fn checkerboard(lattice: &Lattice, parity: Parity) -> Vec<f64> {
    (0..lattice.volume())
        .map(|x| {
            if lattice.parity(x) == parity {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}
