//! The canonical append order of an ensemble: rounds of B rows per chain
//! ([`layout::round_rows`]), appended round after round and, within a round, chain after
//! chain; when a run ends, each chain's remaining rows follow in chain order (at most B per
//! append). A run that writes in this order finishes in place, and the canonical rewrite
//! replays the same order, so both give the same bytes.

use super::EnsembleError;
use super::layout;
use super::writer::EnsembleWriter;
use lft_records::{RecordBlock, SamplerKind};

/// An [`EnsembleWriter`] fed in any order, appending in the canonical one.
pub(super) struct RoundWriter {
    pub(super) writer: EnsembleWriter,
    /// Rows received per chain; those before `head[c]` are appended already.
    pending: Vec<RecordBlock>,
    head: Vec<usize>,
    round: usize,
}

impl RoundWriter {
    /// `pending` holds rows of each chain already received past the last complete round.
    pub(super) fn new(
        writer: EnsembleWriter,
        kind: SamplerKind,
        volume: usize,
        n_chains: usize,
        pending: Option<Vec<RecordBlock>>,
    ) -> Self {
        let pending = pending.unwrap_or_else(|| {
            (0..n_chains)
                .map(|c| RecordBlock::new(c, kind, volume))
                .collect()
        });
        Self {
            writer,
            head: vec![0; pending.len()],
            pending,
            round: layout::round_rows(volume),
        }
    }

    /// Rows of chain c not yet appended.
    fn waiting(&self, c: usize) -> usize {
        self.pending[c].len() - self.head[c]
    }

    /// Takes rows of one chain; appends every round that is now complete.
    pub(super) fn push(&mut self, block: &RecordBlock) -> Result<(), EnsembleError> {
        let Some(p) = self.pending.get_mut(block.chain) else {
            return Err(EnsembleError::Usage {
                path: self.writer.path().to_path_buf(),
                message: format!("append to chain {}: no such chain", block.chain),
            });
        };
        p.extend(block);
        while (0..self.pending.len()).all(|c| self.waiting(c) >= self.round) {
            for c in 0..self.pending.len() {
                self.append_head(c, self.round)?;
            }
        }
        Ok(())
    }

    /// Appends the next `k` waiting rows of chain c; drops appended rows once none wait
    /// (keeping the buffers, so steady state allocates nothing).
    fn append_head(&mut self, c: usize, k: usize) -> Result<(), EnsembleError> {
        let (p, h) = (&self.pending[c], self.head[c]);
        self.writer.append_rows(c, p, h..h + k)?;
        self.head[c] += k;
        if self.head[c] == self.pending[c].len() {
            self.pending[c].clear();
            self.head[c] = 0;
        } else if self.head[c] >= 4 * self.round {
            let h = self.head[c];
            let _ = self.pending[c].split_head(h);
            self.head[c] = 0;
        }
        Ok(())
    }

    /// Appends every waiting row: chain after chain, at most a round per append.
    pub(super) fn flush_tails(&mut self) -> Result<(), EnsembleError> {
        for c in 0..self.pending.len() {
            while self.waiting(c) > 0 {
                let k = self.round.min(self.waiting(c));
                self.append_head(c, k)?;
            }
        }
        Ok(())
    }

    /// The writer and the rows not yet appended, per chain.
    pub(super) fn into_pending(mut self) -> (EnsembleWriter, Vec<RecordBlock>) {
        for c in 0..self.pending.len() {
            let h = self.head[c];
            let _ = self.pending[c].split_head(h);
        }
        (self.writer, self.pending)
    }
}
