//! A store that keeps everything in memory (tests, small runs).

use crate::{ChainMeta, RecordBlock, SamplerKind, Sink, Store, StoredChain, StoredRow};
use std::convert::Infallible;

/// Every chain's metadata and records, in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    /// The sampler, once begun.
    pub kind: Option<SamplerKind>,
    pub volume: usize,
    /// Per chain, once begun: its metadata.
    pub metas: Vec<ChainMeta>,
    /// Per chain: all its records.
    pub records: Vec<RecordBlock>,
}

impl MemoryStore {
    /// An empty store for configurations of `volume` sites, to be begun by a run.
    pub fn new(volume: usize) -> Self {
        Self {
            volume,
            ..Self::default()
        }
    }

    /// A bare sink for `chains` chains of `kind` (for runners that take chains already made;
    /// it has no chain metadata, so nothing can resume from it).
    pub fn sink(kind: SamplerKind, volume: usize, chains: usize) -> Self {
        Self {
            kind: None,
            volume,
            metas: Vec::new(),
            records: (0..chains)
                .map(|c| RecordBlock::new(c, kind, volume))
                .collect(),
        }
    }

    /// All configurations of chain c, `[N, V]`.
    pub fn configs(&self, c: usize) -> &[f64] {
        &self.records[c].configs
    }

    /// Column `name` of chain c (panics if the sampler has no such column).
    pub fn column(&self, c: usize, name: &str) -> &[f64] {
        self.records[c]
            .column(name)
            .unwrap_or_else(|| panic!("no column `{name}`"))
    }
}

impl Sink for MemoryStore {
    type Error = Infallible;

    fn write_block(&mut self, b: &RecordBlock) -> Result<(), Infallible> {
        assert!(b.is_consistent(), "inconsistent block");
        self.records[b.chain].extend(b);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl Store for MemoryStore {
    fn stored(&self) -> Result<Option<(SamplerKind, Vec<StoredChain>)>, Infallible> {
        Ok(self.kind.map(|k| {
            let chains = self
                .metas
                .iter()
                .zip(&self.records)
                .map(|(meta, block)| StoredChain {
                    meta: meta.clone(),
                    len: block.len(),
                })
                .collect();
            (k, chains)
        }))
    }

    fn row(&self, chain: usize, index: usize) -> Result<StoredRow, Infallible> {
        Ok(self.records[chain].row(index))
    }

    fn begin(&mut self, kind: SamplerKind, chains: &[ChainMeta]) -> Result<(), Infallible> {
        self.kind = Some(kind);
        self.metas = chains.to_vec();
        self.records = (0..chains.len())
            .map(|c| RecordBlock::new(c, kind, self.volume))
            .collect();
        Ok(())
    }

    fn truncate(&mut self, lengths: &[usize]) -> Result<(), Infallible> {
        for (block, &n) in self.records.iter_mut().zip(lengths) {
            block.configs.truncate(n * block.volume);
            block.columns.iter_mut().for_each(|c| c.truncate(n));
            block.accepted.truncate(n);
            block.rng_after.truncate(n);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
