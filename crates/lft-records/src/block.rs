//! Columnar record blocks, and the traits of what receives them.

use crate::{ChainMeta, SamplerKind};
use lft_lattice::RngState;

/// Consecutive stored steps of one chain, column by column: the configuration after each
/// step, the sampler's float columns ([`SamplerKind::columns`]), whether each step's proposal
/// was accepted, and the generator state the chain continues from after each step.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordBlock {
    /// Index of the chain in its store (0 … n_chains − 1).
    pub chain: usize,
    pub kind: SamplerKind,
    /// Sites per configuration.
    pub volume: usize,
    /// `[k, V]`.
    pub configs: Vec<f64>,
    /// One column of length k per entry of `kind.columns()`, in that order.
    pub columns: Vec<Vec<f64>>,
    pub accepted: Vec<bool>,
    pub rng_after: Vec<RngState>,
}

impl RecordBlock {
    /// An empty block for chain `chain`.
    pub fn new(chain: usize, kind: SamplerKind, volume: usize) -> Self {
        Self {
            chain,
            kind,
            volume,
            configs: Vec::new(),
            columns: vec![Vec::new(); kind.columns().len()],
            accepted: Vec::new(),
            rng_after: Vec::new(),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.accepted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty()
    }

    /// Appends one record; `values` holds one value per column.
    pub fn push(&mut self, config: &[f64], values: &[f64], accepted: bool, rng_after: RngState) {
        assert_eq!(
            config.len(),
            self.volume,
            "configuration does not fit the block"
        );
        assert_eq!(values.len(), self.columns.len(), "one value per column");
        self.configs.extend_from_slice(config);
        for (col, &x) in self.columns.iter_mut().zip(values) {
            col.push(x);
        }
        self.accepted.push(accepted);
        self.rng_after.push(rng_after);
    }

    /// Appends every record of `other` (same kind and volume).
    pub fn extend(&mut self, other: &RecordBlock) {
        assert_eq!((self.kind, self.volume), (other.kind, other.volume));
        self.configs.extend_from_slice(&other.configs);
        for (a, b) in self.columns.iter_mut().zip(&other.columns) {
            a.extend_from_slice(b);
        }
        self.accepted.extend_from_slice(&other.accepted);
        self.rng_after.extend_from_slice(&other.rng_after);
    }

    /// Removes the first `k` records and returns them as a block of their own.
    pub fn split_head(&mut self, k: usize) -> RecordBlock {
        let k = k.min(self.len());
        let rest_configs = self.configs.split_off(k * self.volume);
        let configs = std::mem::replace(&mut self.configs, rest_configs);
        let columns = self
            .columns
            .iter_mut()
            .map(|c| {
                let rest = c.split_off(k);
                std::mem::replace(c, rest)
            })
            .collect();
        let rest = self.accepted.split_off(k);
        let accepted = std::mem::replace(&mut self.accepted, rest);
        let rest = self.rng_after.split_off(k);
        let rng_after = std::mem::replace(&mut self.rng_after, rest);
        RecordBlock {
            chain: self.chain,
            kind: self.kind,
            volume: self.volume,
            configs,
            columns,
            accepted,
            rng_after,
        }
    }

    /// Removes every record, keeping the allocations.
    pub fn clear(&mut self) {
        self.configs.clear();
        self.columns.iter_mut().for_each(Vec::clear);
        self.accepted.clear();
        self.rng_after.clear();
    }

    /// The column called `name`, if the sampler has it.
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.kind.column(name).map(|i| self.columns[i].as_slice())
    }

    /// Configuration i.
    pub fn config(&self, i: usize) -> &[f64] {
        &self.configs[i * self.volume..(i + 1) * self.volume]
    }

    /// Record i as a [`StoredRow`].
    pub fn row(&self, i: usize) -> StoredRow {
        StoredRow {
            config: self.config(i).to_vec(),
            values: self.columns.iter().map(|c| c[i]).collect(),
            accepted: self.accepted[i],
            rng: self.rng_after[i],
        }
    }

    /// Whether the block is consistent: every column as long as `accepted`, `configs` k·V.
    pub fn is_consistent(&self) -> bool {
        let k = self.len();
        self.configs.len() == k * self.volume
            && self.rng_after.len() == k
            && self.columns.len() == self.kind.columns().len()
            && self.columns.iter().all(|c| c.len() == k)
    }
}

/// One stored record: what a chain needs to continue from it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub config: Vec<f64>,
    /// One value per column of the sampler.
    pub values: Vec<f64>,
    pub accepted: bool,
    pub rng: RngState,
}

/// A chain a store already holds: its metadata and its number of complete records.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChain {
    pub meta: ChainMeta,
    pub len: usize,
}

/// Where records go. `write_block` may buffer; `flush` makes everything written so far
/// durable.
pub trait Sink {
    type Error;
    fn write_block(&mut self, block: &RecordBlock) -> Result<(), Self::Error>;
    fn flush(&mut self) -> Result<(), Self::Error>;
}

/// A sink that remembers: a run asks it what it holds (to resume), starts it, trims a
/// partial tail, and finishes it.
pub trait Store: Sink {
    /// The sampler and chains stored so far, or `None` for a store that was never begun.
    fn stored(&self) -> Result<Option<(SamplerKind, Vec<StoredChain>)>, Self::Error>;
    /// Record `index` of chain `chain`.
    fn row(&self, chain: usize, index: usize) -> Result<StoredRow, Self::Error>;
    /// Begins a new store of `kind` with these chains (none stored yet).
    fn begin(&mut self, kind: SamplerKind, chains: &[ChainMeta]) -> Result<(), Self::Error>;
    /// Keeps only the first `lengths[c]` records of chain c, before a run continues it.
    fn truncate(&mut self, lengths: &[usize]) -> Result<(), Self::Error>;
    /// Makes everything durable and final (for a file: closed).
    fn finish(&mut self) -> Result<(), Self::Error>;
    /// How many records one chain may run ahead of the slowest (a store that appends
    /// chains in lockstep holds the lead in memory). `None`: no limit.
    fn max_lead(&self) -> Option<usize> {
        None
    }
}
