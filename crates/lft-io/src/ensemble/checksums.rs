//! Per-round checksums of a chain's per-configuration datasets (docs/FORMAT.md).
//!
//! Every append of rows [a, a + n) to a chain (one round of the canonical order) ends with
//! one element of the chain's `checksums` dataset, k + 3 unsigned 64-bit words for a sampler
//! with k per-configuration datasets:
//!
//! ```text
//! [a, n, crc(d_0 rows a..a+n), …, crc(d_{k-1} rows a..a+n), crc(the k + 2 words before)]
//! ```
//!
//! where crc is CRC-32 (IEEE 802.3, zlib's `crc32`) of the little-endian bytes as stored, and
//! the last word checks the record itself. The record is appended after the data, so it also
//! marks the round complete: rows a record does not cover are not part of the chain.

use std::ops::Range;

/// Name of the per-chain dataset of round checksums.
pub const CHECKSUMS: &str = "checksums";
/// Value of the `algorithm` attribute of a `checksums` dataset.
pub const ALGORITHM: &str = "crc32";
/// Chain-group attribute: CRC-32 of the little-endian bytes of `start_config`.
pub const START_CONFIG_CRC: &str = "start_config_crc32";

/// CRC-32 (zlib's) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The names of the words of a checksum record of a sampler with datasets `names`: the
/// `columns` attribute of the `checksums` dataset.
pub fn record_columns(names: &[&str]) -> String {
    let mut words = vec!["first_row", "rows"];
    words.extend_from_slice(names);
    words.push("record");
    words.join(" ")
}

/// The checksums of one round of a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundChecksum {
    pub first_row: usize,
    pub rows: usize,
    /// CRC-32 of each per-configuration dataset's rows, in append order.
    pub crcs: Vec<u32>,
}

/// Why a stored checksum record cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordFault {
    /// Its own CRC-32 does not match its words.
    SelfCheck { stored: u64, computed: u32 },
    /// It has the wrong number of words.
    Width { found: usize, expected: usize },
}

impl std::fmt::Display for RecordFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordFault::SelfCheck { stored, computed } => write!(
                f,
                "the checksum record fails its own CRC-32 (stored {stored:#010x}, computed {computed:#010x})"
            ),
            RecordFault::Width { found, expected } => {
                write!(f, "the checksum record has {found} words, not {expected}")
            }
        }
    }
}

impl RoundChecksum {
    /// Rows of the chain this round holds.
    pub fn row_range(&self) -> Range<usize> {
        self.first_row..self.first_row + self.rows
    }

    /// Words per record for `datasets` per-configuration datasets.
    pub fn width(datasets: usize) -> usize {
        datasets + 3
    }

    /// Appends the record's little-endian bytes (with its own CRC-32) to `out`.
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&(self.first_row as u64).to_le_bytes());
        out.extend_from_slice(&(self.rows as u64).to_le_bytes());
        for &c in &self.crcs {
            out.extend_from_slice(&u64::from(c).to_le_bytes());
        }
        let own = crc32(&out[start..]);
        out.extend_from_slice(&u64::from(own).to_le_bytes());
    }

    /// Decodes one record of `datasets` CRCs from its little-endian bytes, checking its own CRC.
    pub fn from_bytes(bytes: &[u8], datasets: usize) -> Result<Self, RecordFault> {
        let width = Self::width(datasets);
        if bytes.len() != 8 * width {
            return Err(RecordFault::Width {
                found: bytes.len() / 8,
                expected: width,
            });
        }
        let word = |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap());
        let computed = crc32(&bytes[..8 * (width - 1)]);
        let stored = word(width - 1);
        if stored != u64::from(computed) {
            return Err(RecordFault::SelfCheck { stored, computed });
        }
        Ok(Self {
            first_row: word(0) as usize,
            rows: word(1) as usize,
            // A word that passed the record's CRC is one the writer stored: below 2³².
            crcs: (0..datasets).map(|d| word(2 + d) as u32).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        // The check value of CRC-32/ISO-HDLC (zlib's crc32).
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn records_round_trip_and_every_byte_flip_is_caught() {
        let r = RoundChecksum {
            first_row: 4096,
            rows: 128,
            crcs: vec![1, 0xFFFF_FFFF, 7],
        };
        let mut bytes = Vec::new();
        r.write_bytes(&mut bytes);
        assert_eq!(bytes.len(), 8 * RoundChecksum::width(3));
        assert_eq!(RoundChecksum::from_bytes(&bytes, 3), Ok(r));
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(
                    RoundChecksum::from_bytes(&b, 3).is_err(),
                    "flip of bit {bit} of byte {i} passed"
                );
            }
        }
        assert!(matches!(
            RoundChecksum::from_bytes(&bytes[8..], 3),
            Err(RecordFault::Width { .. })
        ));
    }
}
