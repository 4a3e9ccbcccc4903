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
/// Independence Metropolis with flow proposals: log q, log w = −S − log q of the current
/// configuration, and the log weight of the proposal made at this step.
pub const LOG_Q: &str = "log_q";
pub const LOG_WEIGHT: &str = "log_weight";
pub const PROPOSAL_LOG_WEIGHT: &str = "proposal_log_weight";
/// Flow-HMC: HMC trajectories accepted after the flow step (float64 count).
pub const HMC_ACCEPTED: &str = "hmc_accepted";

/// Per-trajectory datasets of an HMC chain, in append order.
pub const HMC_RECORDS: [&str; 5] = [CONFIGS, ACTION, DELTA_H, ACCEPTED, RNG_STATE];
/// Per-step datasets of a flow independence-Metropolis chain, in append order.
pub const IMH_RECORDS: [&str; 7] = [
    CONFIGS,
    ACTION,
    LOG_Q,
    LOG_WEIGHT,
    PROPOSAL_LOG_WEIGHT,
    ACCEPTED,
    RNG_STATE,
];

/// Per-step datasets of a flow-HMC chain, in append order (`accepted`: the flow proposal).
pub const FLOW_HMC_RECORDS: [&str; 5] = [CONFIGS, ACTION, HMC_ACCEPTED, ACCEPTED, RNG_STATE];

/// The per-configuration datasets of a sampler ("hmc", "flow-imh", "flow-reweight" or
/// "flow-hmc"; the reweighted samples use the IMH layout with every proposal accepted).
pub fn record_datasets(sampler: &str) -> &'static [&'static str] {
    match sampler {
        "flow-imh" | "flow-reweight" => &IMH_RECORDS,
        "flow-hmc" => &FLOW_HMC_RECORDS,
        _ => &HMC_RECORDS,
    }
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
