//! The ensemble file as a [`Store`] of the sampler pipeline.

use super::reader::EnsembleReader;
use super::writer::EnsembleWriter;
use super::{EnsembleError, EnsembleMeta, rewrite_canonical};
use crate::lock::FileLock;
use lft_records::{ChainMeta, RecordBlock, SamplerKind, Sink, Store, StoredChain, StoredRow};
use std::path::{Path, PathBuf};

/// An ensemble file that a run begins or continues. It holds the file's lock (`FILE.lock`)
/// from creation to drop, so no second process writes the same file.
///
/// Begun, it writes the skeleton with `meta` (whose sampler and chain count the run fixes);
/// continued, a partial tail is dropped and the stored config becomes `meta.config_text`;
/// finished, the file is closed and rewritten canonically (docs/FORMAT.md).
pub struct EnsembleStore {
    path: PathBuf,
    meta: EnsembleMeta,
    writer: Option<EnsembleWriter>,
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

    fn writer(&mut self) -> Result<&mut EnsembleWriter, EnsembleError> {
        if self.writer.is_none() {
            self.writer = Some(EnsembleWriter::open_append(&self.path)?);
        }
        Ok(self.writer.as_mut().expect("just opened"))
    }
}

impl Sink for EnsembleStore {
    type Error = EnsembleError;

    fn write_block(&mut self, block: &RecordBlock) -> Result<(), EnsembleError> {
        self.writer()?.append_block(block)
    }

    fn flush(&mut self) -> Result<(), EnsembleError> {
        match &mut self.writer {
            Some(w) => w.flush(),
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
        self.writer = Some(EnsembleWriter::create(&self.path, &self.meta, chains)?);
        Ok(())
    }

    fn truncate(&mut self, lengths: &[usize]) -> Result<(), EnsembleError> {
        if let Some(w) = self.writer.take() {
            w.close()?;
        }
        rewrite_canonical(&self.path, Some(lengths), Some(&self.meta.config_text))
    }

    fn finish(&mut self) -> Result<(), EnsembleError> {
        if let Some(w) = self.writer.take() {
            w.close()?;
        }
        rewrite_canonical(&self.path, None, Some(&self.meta.config_text))
    }
}
