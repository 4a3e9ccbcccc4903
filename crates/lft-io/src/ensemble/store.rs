//! The ensemble file as a [`Store`] of the sampler pipeline.

use super::canonical::rewrite_for_resume;
use super::reader::EnsembleReader;
use super::rounds::RoundWriter;
use super::writer::EnsembleWriter;
use super::{EnsembleError, EnsembleMeta};
use crate::lock::FileLock;
use lft_records::{ChainMeta, RecordBlock, SamplerKind, Sink, Store, StoredChain, StoredRow};
use std::path::{Path, PathBuf};

/// An ensemble file that a run begins or continues. It holds the file's lock (`FILE.lock`)
/// from creation to drop, so no second process writes the same file.
///
/// Begun, it writes the skeleton with `meta` (whose sampler and chain count the run fixes);
/// records are appended in the canonical order (rounds of rows, chain after chain), so a
/// finished run is closed in place and needs no rewrite. Continued, the file is rewritten up
/// to its last complete round, the rows past it are held to be appended again, and the
/// stored config becomes `meta.config_text` (docs/FORMAT.md).
pub struct EnsembleStore {
    path: PathBuf,
    meta: EnsembleMeta,
    writer: Option<RoundWriter>,
    _lock: FileLock,
}

impl EnsembleStore {
    /// The store of `path`; fails at once if another process writes it.
    pub fn new(path: &Path, meta: EnsembleMeta) -> Result<Self, EnsembleError> {
        let lock = FileLock::acquire(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            meta,
            writer: None,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&mut self) -> Result<&mut RoundWriter, EnsembleError> {
        if self.writer.is_none() {
            let w = EnsembleWriter::open_append(&self.path)?;
            let meta = w.meta().clone();
            self.writer = Some(RoundWriter::new(
                w,
                meta.sampler,
                meta.volume(),
                meta.n_chains,
                None,
            ));
        }
        Ok(self.writer.as_mut().expect("just opened"))
    }
}

impl Sink for EnsembleStore {
    type Error = EnsembleError;

    fn write_block(&mut self, block: &RecordBlock) -> Result<(), EnsembleError> {
        self.writer()?.push(block)
    }

    fn flush(&mut self) -> Result<(), EnsembleError> {
        match &mut self.writer {
            Some(w) => w.writer.flush(),
            None => Ok(()),
        }
    }
}

impl Store for EnsembleStore {
    fn stored(&self) -> Result<Option<(SamplerKind, Vec<StoredChain>)>, EnsembleError> {
        if !self.path.exists() {
            return Ok(None);
        }
        let reader = EnsembleReader::open(&self.path)?;
        let chains = (0..reader.meta().n_chains)
            .map(|c| {
                Ok(StoredChain {
                    meta: reader.chain_meta(c)?,
                    len: reader.chain_len(c)?,
                })
            })
            .collect::<Result<Vec<_>, EnsembleError>>()?;
        Ok(Some((reader.meta().sampler, chains)))
    }

    fn row(&self, chain: usize, index: usize) -> Result<StoredRow, EnsembleError> {
        EnsembleReader::open(&self.path)?.read_row(chain, index)
    }

    fn begin(&mut self, kind: SamplerKind, chains: &[ChainMeta]) -> Result<(), EnsembleError> {
        self.meta.sampler = kind;
        self.meta.n_chains = chains.len();
        let w = EnsembleWriter::create(&self.path, &self.meta, chains)?;
        let v = self.meta.volume();
        self.writer = Some(RoundWriter::new(w, kind, v, chains.len(), None));
        Ok(())
    }

    fn truncate(&mut self, lengths: &[usize]) -> Result<(), EnsembleError> {
        if let Some(w) = self.writer.take() {
            w.into_pending().0.close()?;
        }
        let w = rewrite_for_resume(&self.path, lengths, &self.meta.config_text)?;
        self.writer = Some(w);
        Ok(())
    }

    /// Appends what is left and closes the file in place.
    fn finish(&mut self) -> Result<(), EnsembleError> {
        if let Some(mut w) = self.writer.take() {
            w.flush_tails()?;
            w.into_pending().0.close()?;
        }
        Ok(())
    }

    fn max_lead(&self) -> Option<usize> {
        Some(2 * super::layout::round_rows(self.meta.volume()))
    }
}
