//! Checked reading: the index a reader builds of each chain from its checksum records, every
//! read checked round by round against them, and the whole-chain check that skipping damage
//! and `lft verify` share.

use super::EnsembleError;
use super::chain_index::{ChainIndex, StoredRounds, check_round, kept_rows};
use super::checksums::{CHECKSUMS, RoundChecksum};
use super::damage::{Damage, DamageKind};
use super::layout;
use super::reader::{EnsembleReader, OnDamage};
use std::ops::Range;

/// Bytes read at a time when a whole chain is checked.
const WINDOW_BYTES: usize = 4 << 20;

impl EnsembleReader {
    /// Complete trajectories of a chain: the rows its checksums cover (a round is complete once
    /// its checksum record is written, after its data), or for a file without checksums the
    /// length of its shortest dataset (a crash during an append can leave earlier datasets
    /// longer). Read with [`OnDamage::Skip`], the damaged rounds do not count.
    pub fn chain_len(&self, chain: usize) -> Result<usize, EnsembleError> {
        Ok(self.index(chain)?.len())
    }

    /// Whether the chain's rounds carry checksums (files written before them do not).
    pub fn has_checksums(&self, chain: usize) -> Result<bool, EnsembleError> {
        Ok(self.index(chain)?.rounds.is_some())
    }

    /// The damaged rounds left out of the chains (always empty with [`OnDamage::Stop`]).
    pub fn skipped(&self) -> Result<Vec<Damage>, EnsembleError> {
        let mut all = Vec::new();
        for c in 0..self.meta.n_chains {
            all.extend(self.index(c)?.skipped.iter().cloned());
        }
        Ok(all)
    }

    /// The chain's index, loaded on first use.
    fn index(&self, chain: usize) -> Result<&ChainIndex, EnsembleError> {
        self.check_chain(chain)?;
        let cell = &self.chains[chain];
        if let Some(index) = cell.get() {
            return Ok(index);
        }
        let index = load_index(self, chain)?;
        Ok(cell.get_or_init(|| index))
    }

    /// Raw little-endian bytes of rows [start, start + count) of the chain as read (with
    /// [`OnDamage::Skip`], damaged rounds left out), each round checked against its checksum.
    pub(super) fn raw_rows(
        &self,
        chain: usize,
        name: &str,
        start: usize,
        count: usize,
    ) -> Result<Vec<u8>, EnsembleError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let index = self.index(chain)?;
        let mut out = Vec::new();
        for rows in index.stored_ranges(start, count) {
            match (&index.rounds, self.on_damage) {
                (Some(rounds), OnDamage::Stop) => {
                    out.extend(self.checked_rows(chain, name, rounds, rows)?)
                }
                // Skip: every round was checked when the index was loaded.
                _ => out.extend(self.stored_rows(chain, name, rows.start, rows.len())?),
            }
        }
        Ok(out)
    }

    /// Checks the rounds of every per-configuration dataset of the chain that this reader has
    /// not read yet (a measurement that read the configurations and columns, say, checks the
    /// generator states this way): damage is an [`EnsembleError::Corrupt`] as on a read. A
    /// no-op for a file without checksums and for [`OnDamage::Skip`] (which checked all).
    pub fn check_unread(&self, chain: usize) -> Result<(), EnsembleError> {
        let index = self.index(chain)?;
        let (Some(rounds), OnDamage::Stop) = (&index.rounds, self.on_damage) else {
            return Ok(());
        };
        for (d, name) in self.record_names().into_iter().enumerate() {
            let per_window = ((4 << 20) / layout::row_bytes(name, self.meta.volume())).max(1);
            let unread: Vec<usize> = {
                let done = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                (0..rounds.len())
                    .filter(|&r| !done.contains(&(chain, d, r)))
                    .collect()
            };
            let mut i = 0;
            while i < unread.len() {
                let first = rounds[unread[i]].first_row;
                let mut j = i + 1;
                while j < unread.len()
                    && unread[j] == unread[j - 1] + 1
                    && rounds[unread[j]].row_range().end - first <= per_window
                {
                    j += 1;
                }
                let end = rounds[unread[j - 1]].row_range().end;
                self.checked_rows(chain, name, rounds, first..end)?;
                i = j;
            }
        }
        Ok(())
    }

    /// Rows `rows` of a dataset, after checking every round they touch that this reader has
    /// not checked yet (reading those rounds whole).
    fn checked_rows(
        &self,
        chain: usize,
        name: &str,
        rounds: &[super::checksums::RoundChecksum],
        rows: std::ops::Range<usize>,
    ) -> Result<Vec<u8>, EnsembleError> {
        let d = self
            .record_names()
            .iter()
            .position(|&n| n == name)
            .expect("a per-configuration dataset");
        let r0 = rounds.partition_point(|r| r.row_range().end <= rows.start);
        let r1 = rounds.partition_point(|r| r.first_row < rows.end);
        let todo: Vec<usize> = {
            let done = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            (r0..r1)
                .filter(|&r| !done.contains(&(chain, d, r)))
                .collect()
        };
        if todo.is_empty() {
            return self.stored_rows(chain, name, rows.start, rows.len());
        }
        let a = rounds[r0].first_row.min(rows.start);
        let b = rounds[r1 - 1].row_range().end.max(rows.end);
        let bytes = self.stored_rows(chain, name, a, b - a)?;
        let width = layout::row_bytes(name, self.meta.volume());
        if bytes.len() != (b - a) * width {
            return Err(self.corrupt(Damage {
                chain,
                dataset: name.into(),
                rows: a..b,
                round: None,
                kind: DamageKind::Length,
                detail: format!(
                    "{} bytes read where {} rows of {width} bytes were expected",
                    bytes.len(),
                    b - a
                ),
            }));
        }
        for &r in &todo {
            let round = &rounds[r];
            let at = (round.first_row - a) * width;
            let slice = &bytes[at..at + round.rows * width];
            if let Some(damage) = check_round(chain, name, d, r, round, slice) {
                return Err(self.corrupt(damage));
            }
        }
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(todo.iter().map(|&r| (chain, d, r)));
        Ok(bytes[(rows.start - a) * width..(rows.end - a) * width].to_vec())
    }
}

/// The index of `chain`: with [`OnDamage::Stop`] its complete rows (damaged
/// checksum records are an error); with [`OnDamage::Skip`] every round is checked and the
/// damaged ones are left out.
pub(super) fn load_index(
    reader: &EnsembleReader,
    chain: usize,
) -> Result<ChainIndex, EnsembleError> {
    let stored = reader
        .dataset_lengths(chain)?
        .into_iter()
        .min()
        .unwrap_or(0);
    let Some(records) = read_records(reader, chain, stored)? else {
        return Ok(ChainIndex {
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
            Ok(ChainIndex {
                kept: std::iter::once(0..records.covered).collect(),
                rounds: Some(records.rounds),
                skipped: Vec::new(),
            })
        }
        OnDamage::Skip => {
            let mut damage = records.damage.clone();
            damage.extend(check_chain(reader, chain, &records, false)?);
            let end = records.covered.min(stored);
            Ok(ChainIndex {
                kept: kept_rows(end, &damage),
                rounds: Some(records.rounds),
                skipped: damage,
            })
        }
    }
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
