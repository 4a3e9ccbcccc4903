//! The pieces of a measured scan that `measure_scan.rs` computes and `scan_report.rs`
//! prints: points, reweighted families, crossings, and how they are named.

use lft_measure::{LinearCoupling, ObservableResult, ReweightedFamily};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A measured point.
pub(crate) struct Point {
    pub(crate) name: String,
    /// The varied keys' values, as written in the point's `--set`s.
    pub(crate) values: Vec<String>,
    /// Its ensemble, or the task files of its replicas (`lft submit --vary --tasks R`).
    pub(crate) files: Vec<PathBuf>,
    pub(crate) n_configs: usize,
    pub(crate) observables: BTreeMap<String, ObservableResult>,
    /// Importance-weighted samples (annealing, flow reweighting): not reweighted further.
    pub(crate) weighted: bool,
    /// U(1) links.
    pub(crate) gauge: bool,
}

/// The reweighted curves of one group of points (one volume).
pub(crate) struct Family {
    /// The other varied keys' values that define the group.
    pub(crate) group: Vec<String>,
    pub(crate) family: ReweightedFamily,
    pub(crate) curves: lft_measure::Curves,
    /// Couplings of the curve where the weights' ESS is below MIN_OVERLAP of an ensemble.
    pub(crate) low_overlap: Vec<f64>,
}

/// The varied key along which points are reweighted: the one that enters the action linearly
/// (the others group the points, e.g. by volume).
pub(crate) fn curve_key(keys: &[String]) -> Option<(usize, LinearCoupling)> {
    keys.iter()
        .enumerate()
        .find_map(|(i, k)| LinearCoupling::from_key(k).map(|c| (i, c)))
}

pub(crate) fn label(group: &[String]) -> String {
    if group.is_empty() {
        "all points".into()
    } else {
        group.join(", ")
    }
}

/// A crossing of U₄ between two groups.
pub(crate) struct CrossingResult {
    pub(crate) groups: [String; 2],
    pub(crate) value: f64,
    pub(crate) error: f64,
}
