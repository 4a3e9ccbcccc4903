//! Checking a whole ensemble file: every round of every chain (`lft verify`).

use super::checked::{check_chain, read_records, value_damage};
use super::damage::{Damage, DamageKind, Verification};
use super::layout;
use super::{EnsembleError, EnsembleReader};

/// Rows read at a time from a file without checksums.
const WINDOW_BYTES: usize = 4 << 20;

impl EnsembleReader {
    /// Checks every round of every chain: each round's data against the CRC-32 stored with it,
    /// the checksum records themselves, the starting fields, and what the values can tell
    /// (finite configurations and actions, accepted flags 0 or 1, integer topological charge
    /// of 2D U(1) configurations). A file written before checksums gets the value and length
    /// checks only. Damage is listed, not returned as an error; the error is for a file whose
    /// structure cannot be read at all.
    pub fn verify(&self) -> Result<Verification, EnsembleError> {
        let mut v = Verification {
            checksums: true,
            chains: self.meta.n_chains,
            configurations: 0,
            rounds: 0,
            uncommitted: 0,
            damage: Vec::new(),
        };
        for chain in 0..self.meta.n_chains {
            if let Err(e) = self.chain_meta(chain) {
                v.damage.push(match e {
                    EnsembleError::Corrupt { damage, .. } => *damage,
                    other => Damage {
                        chain,
                        dataset: layout::chain_group(chain),
                        rows: 0..0,
                        round: None,
                        kind: DamageKind::Unreadable,
                        detail: other.to_string(),
                    },
                });
            }
            let lengths = self.dataset_lengths(chain)?;
            let stored = lengths.iter().copied().min().unwrap_or(0);
            let longest = lengths.iter().copied().max().unwrap_or(0);
            match read_records(self, chain, stored)? {
                Some(records) => {
                    v.rounds += records.rounds.len() + records.damage.len();
                    v.damage.extend(records.damage.iter().cloned());
                    v.damage.extend(check_chain(self, chain, &records, true)?);
                    v.configurations += records.covered.min(stored);
                    v.uncommitted += longest.saturating_sub(records.covered);
                }
                None => {
                    v.checksums = false;
                    v.damage.extend(self.check_values(chain, stored)?);
                    v.configurations += stored;
                    v.uncommitted += longest - stored;
                }
            }
        }
        Ok(v)
    }

    /// The value checks of rows [0, n) of every dataset of a chain without checksums.
    fn check_values(&self, chain: usize, n: usize) -> Result<Vec<Damage>, EnsembleError> {
        let mut damage = Vec::new();
        let volume = self.meta.volume();
        for name in self.record_names() {
            let width = layout::row_bytes(name, volume);
            let step = (WINDOW_BYTES / width).max(1);
            for start in (0..n).step_by(step) {
                let rows = start..(start + step).min(n);
                let unreadable = |detail: String| Damage {
                    chain,
                    dataset: name.into(),
                    rows: rows.clone(),
                    round: None,
                    kind: DamageKind::Unreadable,
                    detail,
                };
                match self.stored_rows(chain, name, rows.start, rows.len()) {
                    Err(e) => damage.push(unreadable(e.to_string())),
                    Ok(bytes) if bytes.len() != rows.len() * width => {
                        damage.push(unreadable(format!(
                            "{} bytes where {} rows hold {}",
                            bytes.len(),
                            rows.len(),
                            rows.len() * width
                        )))
                    }
                    Ok(bytes) => damage.extend(value_damage(self, chain, name, rows, None, &bytes)),
                }
            }
        }
        Ok(damage)
    }
}

/// The byte offset in the file of row `row` of a chain's per-configuration dataset (or of its
/// `checksums`): where a test damages it, or a user looks with a hex editor.
#[doc(hidden)]
pub fn row_offset(
    path: &std::path::Path,
    chain: usize,
    dataset: &str,
    row: usize,
) -> Result<u64, EnsembleError> {
    let reader = EnsembleReader::open(path)?;
    let d = reader.dataset(chain, dataset)?;
    let h5 = super::reader::h5_err(path);
    let chunk_rows =
        d.chunk_shape()
            .map_err(&h5)?
            .and_then(|s| s.first().copied())
            .ok_or_else(|| reader.damaged(format!("`{dataset}` is not chunked")))? as usize;
    let width = d.element_size().map_err(&h5)? as usize;
    let first = row / chunk_rows * chunk_rows;
    let chunk = d
        .chunks()
        .map_err(&h5)?
        .into_iter()
        .find(|c| c.offset.first() == Some(&(first as u64)))
        .ok_or_else(|| reader.damaged(format!("no stored chunk holds row {row} of `{dataset}`")))?;
    Ok(chunk.address + ((row - first) * width) as u64)
}
