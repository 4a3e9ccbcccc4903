//! Names and storage choices of the format (docs/FORMAT.md).

use lft_records::SamplerKind;

/// Group holding one subgroup per chain, named by its index: `/chains/0`, `/chains/1`, …
pub const CHAINS_GROUP: &str = "chains";

/// Per-configuration datasets of a chain besides the sampler's float columns: the
/// configurations first, the accepted flags and generator states last. A chain's length is
/// that of the shortest.
pub const CONFIGS: &str = "configs";
pub const ACCEPTED: &str = "accepted";
pub const RNG_STATE: &str = "rng_state";

/// The per-configuration datasets of a sampler, in append order: `configs`, the sampler's
/// float columns ([`SamplerKind::columns`]), `accepted`, `rng_state`.
pub fn record_datasets(kind: SamplerKind) -> Vec<&'static str> {
    let mut names = vec![CONFIGS];
    names.extend_from_slice(kind.columns());
    names.extend([ACCEPTED, RNG_STATE]);
    names
}

/// Bytes per row of a per-configuration dataset.
pub fn row_bytes(name: &str, volume: usize) -> usize {
    match name {
        CONFIGS => volume * 8,
        ACCEPTED => 1,
        RNG_STATE => 32,
        _ => 8,
    }
}

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
