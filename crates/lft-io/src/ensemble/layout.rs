//! Names and storage choices of the format (docs/FORMAT.md).

use lft_records::SamplerKind;
use std::path::{Path, PathBuf};

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

/// Rows per chain in one round of the canonical append order: about 4 MiB of configurations
/// (between 1 and 4096 rows). Rounds are appended whole, chain after chain, so a file's bytes
/// depend only on its contents, however its run was flushed or interrupted.
pub fn round_rows(volume: usize) -> usize {
    ((4 << 20) / (8 * volume).max(1)).clamp(1, 4096)
}

/// Rows per chunk of a per-record dataset: one round for the configurations (each round
/// appends whole chunks), a whole number of rounds of at least 8 KiB for the small columns
/// (so that few appends rewrite a partial chunk).
pub fn record_chunk_rows(name: &str, volume: usize) -> u64 {
    let round = round_rows(volume);
    if name == CONFIGS {
        return round as u64;
    }
    let round_bytes = round * row_bytes(name, volume);
    (round * 8192usize.div_ceil(round_bytes)) as u64
}

/// `FILE.tmp` beside `FILE`: where new files are written before they are renamed into place.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
