//! What a check of an ensemble found damaged, and the summary of a whole-file check.

use std::ops::Range;

/// A damaged part of an ensemble: what a verifying read stops at, what a read that skips
/// damage leaves out, and what `lft verify` lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    pub chain: usize,
    /// The dataset of the chain: `configs`, a column, `accepted`, `rng_state`, `checksums`
    /// or `start_config`.
    pub dataset: String,
    /// Rows of the chain (as stored in the file) whose data cannot be trusted.
    pub rows: Range<usize>,
    /// Index of the round (the checksum record) when the damage is that of a round.
    pub round: Option<usize>,
    pub kind: DamageKind,
    /// What was found, in words (stored and computed checksums, the bad values).
    pub detail: String,
}

/// The kinds of damage a check tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageKind {
    /// The rows' CRC-32 differs from the one stored when they were written.
    Checksum,
    /// A checksum record is itself damaged (its own CRC-32 fails, or it is out of sequence).
    Record,
    /// The dataset holds fewer rows than its checksums cover.
    Length,
    /// Values no sampler writes: a non-finite configuration or action, an accepted flag other
    /// than 0 or 1, a U(1) configuration whose topological charge is not an integer.
    Value,
    /// The HDF5 library could not read the rows.
    Unreadable,
}

impl DamageKind {
    /// The name in `lft verify --json`.
    pub fn name(self) -> &'static str {
        match self {
            DamageKind::Checksum => "checksum",
            DamageKind::Record => "record",
            DamageKind::Length => "length",
            DamageKind::Value => "value",
            DamageKind::Unreadable => "unreadable",
        }
    }
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chain {}, dataset `{}`, rows {}..{}",
            self.chain, self.dataset, self.rows.start, self.rows.end
        )?;
        if let Some(r) = self.round {
            write!(f, " (round {r})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// The result of checking every round of a file ([`super::EnsembleReader::verify`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// Whether every chain carries round checksums (files written before them do not: then
    /// only shapes, lengths and values are checked).
    pub checksums: bool,
    pub chains: usize,
    /// Complete configurations, summed over the chains.
    pub configurations: usize,
    /// Checksum records checked.
    pub rounds: usize,
    /// Rows past the last complete round: left by an interrupted append (not damage; a resume
    /// drops them).
    pub uncommitted: usize,
    pub damage: Vec<Damage>,
}

impl Verification {
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty()
    }
}
