//! A chain as a reader sees it: its round checksums, and which stored rows it is read as.

use super::EnsembleError;
use super::checksums::{CHECKSUMS, RoundChecksum, crc32};
use super::damage::{Damage, DamageKind};
use super::layout;
use super::reader::{EnsembleReader, OnDamage};
use std::ops::Range;

/// Bytes read at a time when a whole chain is checked.
const WINDOW_BYTES: usize = 4 << 20;

pub(super) struct ChainIndex {
    /// The round checksums; `None` for a file written before checksums.
    pub(super) rounds: Option<Vec<RoundChecksum>>,
    /// The stored rows the chain is read as, in order: its complete rows, less the damaged
    /// rounds when damage is skipped.
    kept: Vec<Range<usize>>,
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

    /// Loads the index of `chain`: with [`OnDamage::Stop`] its complete rows (damaged
    /// checksum records are an error); with [`OnDamage::Skip`] every round is checked and the
    /// damaged ones are left out.
    pub(super) fn load(reader: &EnsembleReader, chain: usize) -> Result<Self, EnsembleError> {
        let stored = reader
            .dataset_lengths(chain)?
            .into_iter()
            .min()
            .unwrap_or(0);
        let Some(records) = read_records(reader, chain, stored)? else {
            return Ok(Self {
                rounds: None,
                kept: std::iter::once(0..stored).collect(),
                skipped: Vec::new(),
            });
        };
        match reader.on_damage {
            OnDamage::Stop => {
                if let Some(d) = records.damage.first().cloned() {
                    return Err(reader.corrupt(d));
                }
                if records.covered > stored {
                    return Err(reader.corrupt(short_dataset(reader, chain, &records)?));
                }
                Ok(Self {
                    kept: std::iter::once(0..records.covered).collect(),
                    rounds: Some(records.rounds),
                    skipped: Vec::new(),
                })
            }
            OnDamage::Skip => {
                let mut damage = records.damage.clone();
                damage.extend(check_chain(reader, chain, &records, false)?);
                let end = records.covered.min(stored);
                Ok(Self {
                    kept: kept_rows(end, &damage),
                    rounds: Some(records.rounds),
                    skipped: damage,
                })
            }
        }
    }
}

/// The rows [0, end) less every damaged range.
fn kept_rows(end: usize, damage: &[Damage]) -> Vec<Range<usize>> {
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

/// The damage of a dataset shorter than the rows its checksums cover.
fn short_dataset(
    reader: &EnsembleReader,
    chain: usize,
    records: &StoredRounds,
) -> Result<Damage, EnsembleError> {
    let names = reader.record_names();
    let lengths = reader.dataset_lengths(chain)?;
    let (name, &len) = names
        .iter()
        .zip(&lengths)
        .min_by_key(|(_, l)| **l)
        .expect("a sampler has datasets");
    Ok(Damage {
        chain,
        dataset: name.to_string(),
        rows: len..records.covered,
        round: None,
        kind: DamageKind::Length,
        detail: format!(
            "holds {len} rows, but its checksums cover {}",
            records.covered
        ),
    })
}

/// The chain's checksum records, or `None` for a file written before checksums. Records that
/// fail their own check or break the sequence of rows become damage, with the rows they
/// should have covered (inferred from their neighbours).
/// `stored` is the length of the chain's shortest dataset.
pub(super) fn read_records(
    reader: &EnsembleReader,
    chain: usize,
    stored: usize,
) -> Result<Option<StoredRounds>, EnsembleError> {
    let path = layout::chain_dataset(chain, CHECKSUMS);
    let Ok(dataset) = reader.file.dataset(&path) else {
        return Ok(None);
    };
    let datasets = reader.record_names().len();
    let width = 8 * RoundChecksum::width(datasets);
    let bytes = dataset
        .read_raw()
        .map_err(|e| reader.damaged(format!("dataset `{path}`: {e}")))?;
    if bytes.len() % width != 0 {
        return Err(reader.damaged(format!(
            "dataset `{path}` holds {} bytes, not whole records of {width}",
            bytes.len()
        )));
    }
    let decoded: Vec<_> = bytes
        .chunks_exact(width)
        .map(|b| RoundChecksum::from_bytes(b, datasets))
        .collect();
    let round = layout::round_rows(reader.meta.volume());
    let mut out = StoredRounds {
        rounds: Vec::new(),
        numbers: Vec::new(),
        damage: Vec::new(),
        covered: 0,
    };
    for (k, record) in decoded.iter().enumerate() {
        let fault = match record {
            Ok(r) if r.first_row == out.covered && r.rows > 0 => {
                out.covered = r.row_range().end;
                out.rounds.push(r.clone());
                out.numbers.push(k);
                continue;
            }
            Ok(r) => format!(
                "the checksum record is out of sequence (rows {}..{} after row {})",
                r.first_row,
                r.row_range().end,
                out.covered
            ),
            Err(e) => e.to_string(),
        };
        // The rows up to the next usable record in sequence, else one round.
        let next = decoded[k + 1..]
            .iter()
            .flatten()
            .map(|r| r.first_row)
            .find(|&a| a > out.covered);
        let end = next.unwrap_or_else(|| (out.covered + round).min(stored.max(out.covered)));
        out.damage.push(Damage {
            chain,
            dataset: CHECKSUMS.into(),
            rows: out.covered..end,
            round: Some(k),
            kind: DamageKind::Record,
            detail: fault,
        });
        out.covered = end;
    }
    Ok(Some(out))
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

/// Checks every round of every dataset of a chain against its checksum, reading a few MiB at
/// a time; with `values`, also what the values themselves can tell ([`value_damage`]) in the
/// rounds whose checksums pass. Rounds past a dataset's end are damage too.
pub(super) fn check_chain(
    reader: &EnsembleReader,
    chain: usize,
    records: &StoredRounds,
    values: bool,
) -> Result<Vec<Damage>, EnsembleError> {
    let mut damage = Vec::new();
    let lengths = reader.dataset_lengths(chain)?;
    let volume = reader.meta.volume();
    for (d, (name, &len)) in reader.record_names().iter().zip(&lengths).enumerate() {
        let width = layout::row_bytes(name, volume);
        let per_window = (WINDOW_BYTES / width).max(1);
        let mut r = 0;
        while r < records.rounds.len() {
            let first = records.rounds[r].first_row;
            let mut s = r + 1;
            while s < records.rounds.len()
                && records.rounds[s].row_range().end - first <= per_window
            {
                s += 1;
            }
            let rounds = &records.rounds[r..s];
            let end = rounds[rounds.len() - 1].row_range().end;
            let number = |i: usize| records.numbers[r + i];
            if end > len {
                damage.push(Damage {
                    chain,
                    dataset: name.to_string(),
                    rows: first.max(len)..end,
                    round: None,
                    kind: DamageKind::Length,
                    detail: format!("holds {len} rows, but its checksums cover {end}"),
                });
            }
            match reader.stored_rows(chain, name, first, end.min(len).saturating_sub(first)) {
                Err(e) => damage.push(Damage {
                    chain,
                    dataset: name.to_string(),
                    rows: first..end,
                    round: None,
                    kind: DamageKind::Unreadable,
                    detail: e.to_string(),
                }),
                Ok(bytes) => {
                    for (i, round) in rounds.iter().enumerate() {
                        let at = (round.first_row - first) * width;
                        let Some(slice) = bytes.get(at..at + round.rows * width) else {
                            continue; // past the dataset's end: reported above
                        };
                        match check_round(chain, name, d, number(i), round, slice) {
                            Some(bad) => damage.push(bad),
                            None if values => damage.extend(value_damage(
                                reader,
                                chain,
                                name,
                                round.row_range(),
                                Some(number(i)),
                                slice,
                            )),
                            None => {}
                        }
                    }
                }
            }
            r = s;
        }
    }
    Ok(damage)
}

/// What the values of rows `rows` of dataset `name` show without a checksum: a configuration
/// or action that is not finite, an accepted flag other than 0 or 1, a 2D U(1) configuration
/// whose topological charge is not an integer. The bad rows of the range become one
/// [`Damage`], from the first to the last.
pub(super) fn value_damage(
    reader: &EnsembleReader,
    chain: usize,
    name: &str,
    rows: Range<usize>,
    round: Option<usize>,
    bytes: &[u8],
) -> Option<Damage> {
    let width = layout::row_bytes(name, reader.meta.volume());
    let bad_rows: Vec<usize> = match name {
        layout::CONFIGS => {
            let gauge_2d = reader.meta.is_gauge() && reader.meta.shape.len() == 2;
            let lattice = gauge_2d
                .then(|| lft_lattice::Lattice::new(&reader.meta.shape).ok())
                .flatten();
            let mut config = vec![0.0; width / 8];
            (0..rows.len())
                .filter(|&i| {
                    let row = &bytes[i * width..(i + 1) * width];
                    for (x, b) in config.iter_mut().zip(row.chunks_exact(8)) {
                        *x = f64::from_le_bytes(b.try_into().unwrap());
                    }
                    if !config.iter().all(|x| x.is_finite()) {
                        return true;
                    }
                    lattice.as_ref().is_some_and(|l| {
                        let q = lft_lattice::gauge::topological_charge(l, &config);
                        (q - q.round()).abs() > 1e-6
                    })
                })
                .collect()
        }
        "action" => (0..rows.len())
            .filter(|&i| {
                !f64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap()).is_finite()
            })
            .collect(),
        layout::ACCEPTED => (0..rows.len()).filter(|&i| bytes[i] > 1).collect(),
        _ => Vec::new(),
    };
    let (&first, &last) = (bad_rows.first()?, bad_rows.last()?);
    let what = match name {
        layout::CONFIGS if reader.meta.is_gauge() => {
            "configurations with a non-finite link angle or a non-integer topological charge"
        }
        layout::CONFIGS => "configurations with a non-finite value",
        "action" => "non-finite actions",
        _ => "accepted flags other than 0 or 1",
    };
    Some(Damage {
        chain,
        dataset: name.to_string(),
        rows: rows.start + first..rows.start + last + 1,
        round,
        kind: DamageKind::Value,
        detail: format!(
            "{} {what} (first at row {})",
            bad_rows.len(),
            rows.start + first
        ),
    })
}
