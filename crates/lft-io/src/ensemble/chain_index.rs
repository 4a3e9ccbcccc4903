//! A chain as a reader sees it: its round checksums, and which stored rows it is read as.

use super::checksums::{RoundChecksum, crc32};
use super::damage::{Damage, DamageKind};
use std::ops::Range;

pub(super) struct ChainIndex {
    /// The round checksums; `None` for a file written before checksums.
    pub(super) rounds: Option<Vec<RoundChecksum>>,
    /// The stored rows the chain is read as, in order: its complete rows, less the damaged
    /// rounds when damage is skipped.
    pub(super) kept: Vec<Range<usize>>,
    /// The damage left out ([`OnDamage::Skip`] only).
    pub(super) skipped: Vec<Damage>,
}

/// A chain's checksum records as stored: the usable ones, and the damage found in the rest.
pub(super) struct StoredRounds {
    pub(super) rounds: Vec<RoundChecksum>,
    /// Index of each usable record in the `checksums` dataset.
    pub(super) numbers: Vec<usize>,
    pub(super) damage: Vec<Damage>,
    /// Rows the records account for (the end of the last one).
    pub(super) covered: usize,
}

impl ChainIndex {
    /// Rows of the chain as read.
    pub(super) fn len(&self) -> usize {
        self.kept.iter().map(|r| r.len()).sum()
    }

    /// The stored rows of rows [start, start + count) of the chain as read, as ranges of
    /// consecutive stored rows (clipped to the chain).
    pub(super) fn stored_ranges(&self, start: usize, count: usize) -> Vec<Range<usize>> {
        let (mut skip, mut left) = (start, count);
        let mut out = Vec::new();
        for r in &self.kept {
            if left == 0 {
                break;
            }
            if skip >= r.len() {
                skip -= r.len();
                continue;
            }
            let a = r.start + skip;
            let b = (a + left).min(r.end);
            out.push(a..b);
            left -= b - a;
            skip = 0;
        }
        out
    }
}

/// The rows [0, end) less every damaged range.
pub(super) fn kept_rows(end: usize, damage: &[Damage]) -> Vec<Range<usize>> {
    let mut bad: Vec<Range<usize>> = damage.iter().map(|d| d.rows.clone()).collect();
    bad.sort_by_key(|r| r.start);
    let mut kept = Vec::new();
    let mut at = 0;
    for r in bad {
        if r.start > at {
            kept.push(at..r.start.min(end));
        }
        at = at.max(r.end);
    }
    if at < end {
        kept.push(at..end);
    }
    kept.retain(|r| !r.is_empty());
    kept
}

/// The damage of round `r` (rows `round`) of dataset `name` (index `d`), given its bytes.
pub(super) fn check_round(
    chain: usize,
    name: &str,
    d: usize,
    r: usize,
    round: &RoundChecksum,
    bytes: &[u8],
) -> Option<Damage> {
    let computed = crc32(bytes);
    let stored = round.crcs[d];
    (computed != stored).then(|| Damage {
        chain,
        dataset: name.into(),
        rows: round.row_range(),
        round: Some(r),
        kind: DamageKind::Checksum,
        detail: format!("CRC-32 {computed:#010x}, stored {stored:#010x}"),
    })
}
