//! Data integrity: every stored round carries CRC-32 checksums; a flipped bit anywhere in the
//! data is named (file, chain, dataset, rows) by `verify` and by every read, and reads that
//! skip damage leave out exactly the damaged round.

use lft_io::{
    ChainMeta, ChainSettings, DamageKind, EnsembleError, EnsembleMeta, EnsembleReader,
    EnsembleWriter, Integrator, OnDamage, RecordBlock, SamplerKind, StoredCouplings,
    merge_ensembles, rewrite_canonical,
};
use lft_lattice::{RngState, draw_u64, stream_rng};
use std::io::Read;
use std::path::{Path, PathBuf};

/// 64 × 64: rounds of 128 rows (4 MiB of configurations).
const SHAPE: [usize; 2] = [64, 64];
const V: usize = 4096;
const ROUND: usize = 128;
/// Rows per chain: one full round and a partial one.
const ROWS: usize = 200;

/// φ⁴ HMC metadata of `chains` chains on [`SHAPE`].
fn meta(chains: usize) -> EnsembleMeta {
    let (mut meta, _) = lft_io::ensemble::example_meta(&SHAPE);
    meta.n_chains = chains;
    meta
}

/// A start field whose bytes occur nowhere else in the file.
fn start_field(c: usize) -> Vec<f64> {
    (0..V)
        .map(|i| 0.123_456_789 + (i + V * c) as f64 * 1e-7)
        .collect()
}

fn chain_meta(c: usize) -> ChainMeta {
    ChainMeta {
        settings: ChainSettings::Hmc {
            step_size: 0.1,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.5,
            fa_mass: None,
        },
        save_every: 1,
        start_config: start_field(c),
        start_rng: RngState::of(&stream_rng(1, c as u64)),
    }
}

fn block(c: usize, from: usize, to: usize) -> RecordBlock {
    let mut b = RecordBlock::new(c, SamplerKind::Hmc, V);
    for i in from..to {
        let config: Vec<f64> = (0..V)
            .map(|j| ((i * V + j) as f64 * 0.37 + c as f64).sin())
            .collect();
        let rng = RngState {
            state: (i as u128) << 70 | c as u128,
            stream: 12345 + i as u128,
        };
        b.push(
            &config,
            &[i as f64 * 0.25, -0.01 * i as f64],
            i % 3 != 0,
            rng,
        );
    }
    b
}

/// Two chains of [`ROWS`] rows, appended in the canonical rounds.
fn write_file(path: &Path) {
    let metas: Vec<ChainMeta> = (0..2).map(chain_meta).collect();
    let mut w = EnsembleWriter::create(path, &meta(2), &metas).unwrap();
    for start in (0..ROWS).step_by(ROUND) {
        for c in 0..2 {
            w.append_block(&block(c, start, (start + ROUND).min(ROWS)))
                .unwrap();
        }
    }
    w.close().unwrap();
}

/// The byte offset in the file of byte `byte` of row `row` of a chain's dataset.
fn offset_of(path: &Path, chain: usize, dataset: &str, row: usize, byte: usize) -> u64 {
    lft_io::ensemble::row_offset(path, chain, dataset, row).unwrap() + byte as u64
}

/// Every byte of stored rows of the per-configuration datasets and checksums, as
/// (chain, dataset, row, file offset) ranges: the data region.
fn data_region(path: &Path) -> Vec<(usize, String, usize, u64, usize)> {
    let f = hdf5_pure::File::open(path).unwrap();
    let mut out = Vec::new();
    for chain in 0..2 {
        for name in [
            "configs",
            "action",
            "delta_h",
            "accepted",
            "rng_state",
            "checksums",
        ] {
            let d = f.dataset(&format!("chains/{chain}/{name}")).unwrap();
            let len = d.shape().unwrap()[0] as usize;
            let chunk_rows = d.chunk_shape().unwrap().unwrap()[0] as usize;
            let width = d.element_size().unwrap() as usize;
            for c in d.chunks().unwrap() {
                let first = c.offset[0] as usize;
                for row in first..(first + chunk_rows).min(len) {
                    let at = c.address + ((row - first) * width) as u64;
                    out.push((chain, name.to_string(), row, at, width));
                }
            }
        }
    }
    out
}

fn flip(path: &Path, at: u64, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= mask;
    std::fs::write(path, bytes).unwrap();
}

/// `EnsembleReader::verify` of the file at `path`.
fn verification(path: &Path) -> lft_io::Verification {
    EnsembleReader::open(path).unwrap().verify().unwrap()
}

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    write_file(&path);
    path
}

#[test]
fn an_undamaged_file_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = fresh(dir.path(), "e.h5");
    let v = verification(&path);
    assert!(v.is_clean(), "{:?}", v.damage);
    assert!(v.checksums);
    assert_eq!((v.chains, v.configurations, v.rounds), (2, 2 * ROWS, 4));
    assert_eq!(v.uncommitted, 0);
    let r = EnsembleReader::open(&path).unwrap();
    assert_eq!(r.read_block(1, 0, ROWS).unwrap(), block(1, 0, ROWS));
}

/// One flipped bit in each kind of stored data is named by `verify`, stops every read that
/// touches it with the chain, dataset and rows, and is left out (that round alone) by a
/// reader that skips damage.
#[test]
fn one_flipped_bit_is_named_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // (chain, dataset, row, byte, mask, the round's rows)
        (1, "configs", 150, 8 * 77 + 3, 0x10, 128..200),
        (0, "action", 5, 0, 0x01, 0..128),
        (0, "delta_h", 130, 7, 0x40, 128..200),
        (1, "rng_state", 17, 9, 0x80, 0..128),
        (0, "accepted", 199, 0, 0x02, 128..200),
    ];
    for (chain, dataset, row, byte, mask, rows) in cases {
        let path = fresh(dir.path(), &format!("{dataset}.h5"));
        flip(&path, offset_of(&path, chain, dataset, row, byte), mask);

        let v = verification(&path);
        assert_eq!(v.damage.len(), 1, "{dataset}: {:?}", v.damage);
        let d = &v.damage[0];
        assert_eq!(
            (d.chain, d.dataset.as_str(), d.rows.clone(), d.kind),
            (chain, dataset, rows.clone(), DamageKind::Checksum),
            "{d}"
        );
        assert_eq!(d.round, Some(usize::from(rows.start > 0)));

        // A read of the round stops, naming file, chain, dataset and rows.
        let r = EnsembleReader::open(&path).unwrap();
        let err = r.read_block(chain, row, 1).unwrap_err();
        let EnsembleError::Corrupt { damage, .. } = &err else {
            panic!("{dataset}: {err}");
        };
        assert_eq!(**damage, *d);
        let text = err.to_string();
        for part in [
            path.display().to_string(),
            format!("chain {chain}"),
            format!("`{dataset}`"),
            format!("rows {}..{}", rows.start, rows.end),
        ] {
            assert!(text.contains(&part), "{text} lacks {part}");
        }
        // Reads of the other chain and of other rounds go on.
        assert!(r.read_block(1 - chain, 0, ROWS).is_ok());
        let other = if rows.start == 0 { 150 } else { 5 };
        assert!(r.read_block(chain, other, 1).is_ok());

        // Skipping damage: the chain is read without that round, and the rest is intact.
        let s = EnsembleReader::open_with(&path, OnDamage::Skip).unwrap();
        assert_eq!(s.chain_len(chain).unwrap(), ROWS - rows.len());
        assert_eq!(s.skipped().unwrap(), vec![d.clone()]);
        let kept = s.read_block(chain, 0, ROWS - rows.len()).unwrap();
        let mut expect = block(chain, 0, rows.start);
        expect.extend(&block(chain, rows.end, ROWS));
        assert_eq!(kept, expect);

        // Put back, it verifies again.
        flip(&path, offset_of(&path, chain, dataset, row, byte), mask);
        assert!(verification(&path).is_clean());
    }
}

#[test]
fn a_damaged_checksum_record_and_start_field_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = fresh(dir.path(), "record.h5");
    flip(&path, offset_of(&path, 0, "checksums", 1, 8 + 2), 0x04);
    let v = verification(&path);
    assert_eq!(v.damage.len(), 1, "{:?}", v.damage);
    let d = &v.damage[0];
    assert_eq!(
        (d.chain, d.dataset.as_str(), d.rows.clone(), d.round, d.kind),
        (0, "checksums", 128..200, Some(1), DamageKind::Record)
    );
    let err = EnsembleReader::open(&path)
        .unwrap()
        .chain_len(0)
        .unwrap_err();
    assert!(matches!(err, EnsembleError::Corrupt { .. }), "{err}");
    let s = EnsembleReader::open_with(&path, OnDamage::Skip).unwrap();
    assert_eq!(s.chain_len(0).unwrap(), 128);

    let path = fresh(dir.path(), "start.h5");
    let bytes = std::fs::read(&path).unwrap();
    let needle: Vec<u8> = start_field(1)[..4]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the start field of chain 1");
    flip(&path, at as u64 + 8 * 2 + 1, 0x20);
    let v = verification(&path);
    assert_eq!(v.damage.len(), 1, "{:?}", v.damage);
    assert_eq!(
        (v.damage[0].chain, v.damage[0].dataset.as_str()),
        (1, "start_config")
    );
    let err = EnsembleReader::open(&path)
        .unwrap()
        .chain_meta(1)
        .unwrap_err();
    assert!(err.to_string().contains("start_config"), "{err}");
}

/// 200 random single-byte changes anywhere in the stored rows: each is found by `verify`, in
/// the dataset and rows where it was made (or as a damaged checksum record), and by a read of
/// that dataset; none panics.
#[test]
fn two_hundred_random_byte_flips_are_all_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = fresh(dir.path(), "e.h5");
    let region = data_region(&path);
    let total: usize = region.iter().map(|r| r.4).sum();
    let mut rng = stream_rng(43, 0);
    for trial in 0..200 {
        let mut k = (draw_u64(&mut rng) % total as u64) as usize;
        let (chain, name, row, at, width) = region
            .iter()
            .find(|r| {
                if k < r.4 {
                    true
                } else {
                    k -= r.4;
                    false
                }
            })
            .cloned()
            .unwrap();
        assert!(k < width);
        let mask = (draw_u64(&mut rng) % 255 + 1) as u8;
        flip(&path, at + k as u64, mask);
        let v = verification(&path);
        assert!(
            !v.damage.is_empty(),
            "trial {trial}: {name} chain {chain} row {row} byte {k} ^ {mask:#04x} unseen"
        );
        let d = &v.damage[0];
        let named = if name == "checksums" {
            d.dataset == "checksums" && d.round == Some(row)
        } else {
            d.dataset == name && d.chain == chain && d.rows.contains(&row)
        };
        assert!(named, "trial {trial}: {name} chain {chain} row {row}: {d}");
        let r = EnsembleReader::open(&path).unwrap();
        let read = if name == "checksums" {
            r.chain_len(chain).map(|_| ())
        } else {
            r.read_block(chain, 0, ROWS).map(|_| ())
        };
        assert!(
            matches!(read, Err(EnsembleError::Corrupt { .. })),
            "trial {trial}: a read of {name} chain {chain} row {row} passed"
        );
        flip(&path, at + k as u64, mask);
    }
    assert!(verification(&path).is_clean());
}

/// A crash mid-append leaves rows without their checksum record: they are not part of the
/// chain, verify calls them uncommitted (not damage), and the rewrite drops them.
#[test]
fn an_interrupted_round_is_uncommitted_and_the_rewrite_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = fresh(dir.path(), "e.h5");
    {
        let f = hdf5_pure::File::open_rw(&path).unwrap();
        let b = block(0, ROWS, ROWS + 3);
        let bytes: Vec<u8> = b.configs.iter().flat_map(|x| x.to_le_bytes()).collect();
        f.dataset("chains/0/configs")
            .unwrap()
            .append_raw(&bytes)
            .unwrap();
        f.close().unwrap();
    }
    let v = verification(&path);
    assert!(v.is_clean(), "{:?}", v.damage);
    assert_eq!(v.uncommitted, 3);
    assert_eq!(
        EnsembleReader::open(&path).unwrap().chain_len(0).unwrap(),
        ROWS
    );
    assert!(EnsembleWriter::open_append(&path).is_err());
    rewrite_canonical(&path, None, None).unwrap();
    let v = verification(&path);
    assert!(v.is_clean() && v.uncommitted == 0, "{v:?}");
    let clean = fresh(dir.path(), "clean.h5");
    rewrite_canonical(&clean, None, None).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&clean).unwrap()
    );
}

/// A merge reads its inputs checked (damage is not carried into a fresh, valid checksum) and
/// writes checksums of its own.
#[test]
fn merged_files_verify_and_damaged_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = fresh(dir.path(), "a.h5");
    let b = fresh(dir.path(), "b.h5");
    let out = dir.path().join("ab.h5");
    let mut m = meta(4);
    m.n_chains = 4;
    merge_ensembles(&out, &[&a, &b], &m, OnDamage::Stop).unwrap();
    let v = verification(&out);
    assert!(v.is_clean() && v.checksums, "{v:?}");
    assert_eq!((v.chains, v.configurations), (4, 4 * ROWS));

    flip(&b, offset_of(&b, 0, "configs", 3, 100), 0x01);
    let out = dir.path().join("ab2.h5");
    let err = merge_ensembles(&out, &[&a, &b], &m, OnDamage::Stop).unwrap_err();
    assert!(matches!(err, EnsembleError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("b.h5"), "{err}");
    assert!(!out.exists());
    // Skipping damage salvages the rest: a clean file without that round.
    merge_ensembles(&out, &[&a, &b], &m, OnDamage::Skip).unwrap();
    let v = verification(&out);
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(v.configurations, 4 * ROWS - ROUND);
    let r = EnsembleReader::open(&out).unwrap();
    assert_eq!(
        r.read_block(2, 0, ROWS - ROUND).unwrap().row(0),
        block(0, ROUND, ROUND + 1).row(0)
    );
}

/// A file written by lft before checksums (tests/data, gzipped): read as before, verified
/// by shapes, lengths and values only, and given checksums by a rewrite.
#[test]
fn files_written_before_checksums_are_read_and_checked_for_what_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.h5");
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hmc-before-checksums.h5.gz");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(gz).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let original = bytes.clone();

    let r = EnsembleReader::open(&path).unwrap();
    assert_eq!(r.meta().shape, vec![2, 4]);
    assert!(!r.has_checksums(0).unwrap());
    let v = r.verify().unwrap();
    assert!(v.is_clean() && !v.checksums, "{v:?}");
    assert_eq!((v.chains, v.configurations, v.rounds), (2, 60, 0));
    assert_eq!(r.read_configs(1, 0, 30).unwrap().len(), 30 * 8);
    drop(r);

    // A value made non-finite is found without a checksum.
    let f = hdf5_pure::File::open(&path).unwrap();
    let chunk = f.dataset("chains/1/configs").unwrap().chunks().unwrap()[0].address;
    drop(f);
    let at = (chunk + 8 * (8 * 12 + 5)) as usize; // row 12, site 5
    bytes[at + 7] |= 0x7F;
    bytes[at + 6] |= 0xF0;
    std::fs::write(&path, &bytes).unwrap();
    let v = verification(&path);
    assert_eq!(v.damage.len(), 1, "{:?}", v.damage);
    let d = &v.damage[0];
    assert_eq!(
        (d.chain, d.dataset.as_str(), d.rows.clone(), d.kind),
        (1, "configs", 12..13, DamageKind::Value)
    );

    // The undamaged file, rewritten, carries checksums and the same records.
    std::fs::write(&path, &original).unwrap();
    let before = EnsembleReader::open(&path)
        .unwrap()
        .read_block(0, 0, 30)
        .unwrap();
    rewrite_canonical(&path, None, None).unwrap();
    let r = EnsembleReader::open(&path).unwrap();
    assert!(r.has_checksums(0).unwrap());
    assert_eq!(r.read_block(0, 0, 30).unwrap(), before);
    let v = r.verify().unwrap();
    assert!(
        v.is_clean() && v.checksums && v.configurations == 60,
        "{v:?}"
    );
}

/// What the values tell beyond the checksums (a sampler that wrote a bad value computes a
/// valid checksum of it): a U(1) configuration whose topological charge is not an integer, or
/// with a non-finite link angle, is named; a merely different angle is not (Q stays integer).
#[test]
fn gauge_configurations_with_a_non_integer_charge_are_named() {
    use lft_io::ensemble::{RoundChecksum, crc32};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u1.h5");
    let meta = EnsembleMeta {
        shape: vec![4, 4],
        action_kind: "u1".into(),
        couplings: StoredCouplings::U1 {
            beta: 2.0,
            fermions: None,
        },
        sampler: SamplerKind::Heatbath,
        ..meta(1)
    };
    let links = 2 * 16;
    let chain = ChainMeta {
        settings: ChainSettings::Heatbath { overrelaxation: 1 },
        save_every: 1,
        start_config: vec![0.0; links],
        start_rng: RngState::of(&stream_rng(1, 0)),
    };
    let mut w = EnsembleWriter::create(&path, &meta, std::slice::from_ref(&chain)).unwrap();
    let mut b = RecordBlock::new(0, SamplerKind::Heatbath, links);
    for i in 0..6 {
        let config: Vec<f64> = (0..links)
            .map(|l| ((i * links + l) as f64 * 2.1).sin() * 3.0)
            .collect();
        b.push(
            &config,
            &[-1.0],
            true,
            RngState::of(&stream_rng(2, i as u64)),
        );
    }
    w.append_block(&b).unwrap();
    w.close().unwrap();
    assert!(verification(&path).is_clean());

    // Sets link 5 of configuration `row` to `value` and stores the checksums of the result.
    let rewrite = |value: f64, row: usize| {
        let mut bytes = std::fs::read(&path).unwrap();
        let at = lft_io::ensemble::row_offset(&path, 0, "configs", row).unwrap() as usize + 8 * 5;
        bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
        let start = lft_io::ensemble::row_offset(&path, 0, "configs", 0).unwrap() as usize;
        let round = crc32(&bytes[start..start + 6 * links * 8]);
        let rec = lft_io::ensemble::row_offset(&path, 0, "checksums", 0).unwrap() as usize;
        let width = 8 * RoundChecksum::width(4); // configs, action, accepted, rng_state
        let mut record = RoundChecksum::from_bytes(&bytes[rec..rec + width], 4).unwrap();
        record.crcs[0] = round;
        let mut encoded = Vec::new();
        record.write_bytes(&mut encoded);
        bytes[rec..rec + width].copy_from_slice(&encoded);
        std::fs::write(&path, bytes).unwrap();
        verification(&path)
    };
    let v = rewrite(1.234, 2);
    assert!(v.is_clean(), "another angle is still a U(1) field: {v:?}");
    for (value, row) in [(1e17, 3), (f64::NAN, 4)] {
        let v = rewrite(value, row);
        assert_eq!(v.damage.len(), 1, "{value}: {:?}", v.damage);
        let d = &v.damage[0];
        assert_eq!(
            (d.dataset.as_str(), d.rows.clone(), d.kind),
            ("configs", row..row + 1, DamageKind::Value),
            "{d}"
        );
        assert!(d.detail.contains("topological charge"), "{d}");
        rewrite(0.5, row);
    }
}

/// A file that has no rounds yet (a run that just began) reads as empty chains and verifies.
#[test]
fn a_file_without_rounds_is_empty_and_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.h5");
    let metas: Vec<ChainMeta> = (0..2).map(chain_meta).collect();
    EnsembleWriter::create(&path, &meta(2), &metas)
        .unwrap()
        .close()
        .unwrap();
    let r = EnsembleReader::open(&path).unwrap();
    assert_eq!((r.chain_len(0).unwrap(), r.chain_len(1).unwrap()), (0, 0));
    assert!(r.has_checksums(0).unwrap());
    let v = verification(&path);
    assert!(
        v.is_clean() && v.configurations == 0 && v.rounds == 0,
        "{v:?}"
    );
    let mut w = EnsembleWriter::open_append(&path).unwrap();
    w.append_block(&block(0, 0, 3)).unwrap();
    w.close().unwrap();
    assert_eq!(
        EnsembleReader::open(&path).unwrap().chain_len(0).unwrap(),
        3
    );
}
