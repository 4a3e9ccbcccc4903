//! Names and storage choices of the format (docs/FORMAT.md).

/// Group holding one subgroup per chain, named by its index: `/chains/0`, `/chains/1`, …
pub const CHAINS_GROUP: &str = "chains";

/// Per-trajectory datasets of a chain, in the order they are appended. A chain's length is
/// that of the shortest.
pub const CONFIGS: &str = "configs";
pub const ACTION: &str = "action";
pub const DELTA_H: &str = "delta_h";
pub const ACCEPTED: &str = "accepted";
pub const RNG_STATE: &str = "rng_state";
pub const RECORD_DATASETS: [&str; 5] = [CONFIGS, ACTION, DELTA_H, ACCEPTED, RNG_STATE];

/// The field production started from (shape of the lattice).
pub const START_CONFIG: &str = "start_config";

/// Path of a chain's group.
pub fn chain_group(chain: usize) -> String {
    format!("{CHAINS_GROUP}/{chain}")
}

/// Path of one of a chain's datasets.
pub fn chain_dataset(chain: usize, name: &str) -> String {
    format!("{CHAINS_GROUP}/{chain}/{name}")
}

/// Rows per chunk of a per-trajectory dataset: about 64 KiB per chunk, between 1 and 4096 rows.
pub fn chunk_rows(row_bytes: usize) -> u64 {
    (65_536 / row_bytes.max(1)).clamp(1, 4096) as u64
}
