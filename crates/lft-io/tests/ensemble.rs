//! Ensemble file: round trip, documented layout, canonical rewrite, repair, refusals.

use lft_io::{
    ChainMeta, ChainSettings, EnsembleError, EnsembleMeta, EnsembleReader, EnsembleWriter,
    Integrator, RecordBlock, SamplerKind, StoredCouplings, rewrite_canonical,
};
use lft_lattice::{RngState, gaussian_fill, stream_rng};
use std::path::Path;

const SHAPE: [usize; 2] = [4, 6];
const V: usize = 24;

fn meta(chains: usize) -> EnsembleMeta {
    EnsembleMeta {
        lft_version: "test".into(),
        config_text: "seed = 1\n".into(),
        seed: 1,
        shape: SHAPE.to_vec(),
        action_kind: "phi4".into(),
        couplings: StoredCouplings::Scalar {
            m2: -4.0,
            lambda: 8.0,
            kappa: 0.2,
            lambda_tilde: 0.3,
            h: 0.0,
            fermions: None,
        },
        sampler: SamplerKind::Hmc,
        n_chains: chains,
    }
}

fn chain_meta(c: u64) -> ChainMeta {
    let mut start = vec![0.0; V];
    gaussian_fill(&mut stream_rng(100 + c, 0), &mut start);
    ChainMeta {
        settings: ChainSettings::Hmc {
            step_size: 0.1,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.5,
            fa_mass: None,
        },
        save_every: 1,
        start_config: start,
        start_rng: RngState::of(&stream_rng(1, c)),
    }
}

/// Synthetic trajectories [from, to) of chain c: deterministic contents.
fn block(c: usize, from: usize, to: usize) -> RecordBlock {
    let mut b = RecordBlock::new(c, SamplerKind::Hmc, V);
    for i in from..to {
        let config: Vec<f64> = (i * V..(i + 1) * V)
            .map(|j| (j as f64) * 0.5 + c as f64)
            .collect();
        let rng = RngState {
            state: (i as u128) << 70 | c as u128,
            stream: 12345 + i as u128,
        };
        b.push(&config, &[i as f64, -(i as f64) / 7.0], i % 3 != 0, rng);
    }
    b
}

fn write_in_blocks(path: &Path, chains: usize, n: usize, block_len: usize) {
    let metas: Vec<ChainMeta> = (0..chains as u64).map(chain_meta).collect();
    let mut w = EnsembleWriter::create(path, &meta(chains), &metas).unwrap();
    for start in (0..n).step_by(block_len) {
        for c in 0..chains {
            w.append_block(&block(c, start, (start + block_len).min(n)))
                .unwrap();
        }
        w.flush().unwrap();
    }
    w.close().unwrap();
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.h5");
    write_in_blocks(&path, 2, 300, 37);
    let r = EnsembleReader::open(&path).unwrap();
    assert_eq!(r.meta(), &meta(2));
    for c in 0..2 {
        assert_eq!(r.chain_meta(c).unwrap(), chain_meta(c as u64));
        assert_eq!(r.chain_len(c).unwrap(), 300);
        let b = block(c, 0, 300);
        assert_eq!(r.read_configs(c, 0, 300).unwrap(), b.configs);
        assert_eq!(r.read_configs(c, 5, 2).unwrap(), &b.configs[5 * V..7 * V]);
        assert_eq!(r.read_action(c).unwrap(), b.column("action").unwrap());
        assert_eq!(r.read_delta_h(c).unwrap(), b.column("delta_h").unwrap());
        assert_eq!(r.read_accepted(c).unwrap(), b.accepted);
        assert_eq!(r.read_row(c, 299).unwrap(), b.row(299));
        assert_eq!(r.read_row(c, 17).unwrap(), b.row(17));
    }
}

/// The configurations are a rank-1 dataset of N elements whose type is an array [L0, L1] of
/// f64: h5py reads that as an (N, L0, L1) float64 array.
#[test]
fn configurations_have_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.h5");
    write_in_blocks(&path, 1, 10, 3);
    let f = hdf5_pure::File::open(&path).unwrap();
    let ds = f.dataset("chains/0/configs").unwrap();
    assert_eq!(ds.shape().unwrap(), vec![10]);
    match ds.datatype().unwrap() {
        hdf5_pure::Datatype::Array {
            base_type,
            dimensions,
        } => {
            assert_eq!(dimensions, vec![4, 6]);
            assert!(matches!(
                *base_type,
                hdf5_pure::Datatype::FloatingPoint { size: 8, .. }
            ));
        }
        other => panic!("configs has datatype {other:?}"),
    }
    assert_eq!(
        f.dataset("chains/0/action")
            .unwrap()
            .read_f64()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        f.dataset("chains/0/start_config").unwrap().shape().unwrap(),
        vec![4, 6]
    );
}

/// A U(1) ensemble: root attributes `field = "u1"` and `beta` (no φ⁴ couplings), link angles
/// stored with element shape (d, L0, L1), read back as (N, d, L0, L1); a scalar file has no
/// `field` attribute.
#[test]
fn gauge_fields_have_the_documented_shape_and_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u1.h5");
    let meta = EnsembleMeta {
        action_kind: "u1".into(),
        couplings: StoredCouplings::U1 {
            beta: 4.0,
            fermions: None,
        },
        sampler: SamplerKind::Heatbath,
        ..meta(1)
    };
    assert_eq!(meta.config_shape(), vec![2, 4, 6]);
    assert_eq!((meta.volume(), meta.sites()), (2 * V, V));
    let chain = ChainMeta {
        settings: ChainSettings::Heatbath { overrelaxation: 2 },
        save_every: 1,
        start_config: vec![0.5; 2 * V],
        start_rng: RngState::of(&stream_rng(1, 0)),
    };
    let mut w = EnsembleWriter::create(&path, &meta, std::slice::from_ref(&chain)).unwrap();
    let mut b = RecordBlock::new(0, SamplerKind::Heatbath, 2 * V);
    for i in 0..3 {
        let config: Vec<f64> = (0..2 * V).map(|l| (i * 100 + l) as f64 * 1e-3).collect();
        b.push(
            &config,
            &[-(i as f64)],
            true,
            RngState::of(&stream_rng(2, i as u64)),
        );
    }
    w.append_block(&b).unwrap();
    drop(w);
    let f = hdf5_pure::File::open(&path).unwrap();
    match f.dataset("chains/0/configs").unwrap().datatype().unwrap() {
        hdf5_pure::Datatype::Array { dimensions, .. } => assert_eq!(dimensions, vec![2, 4, 6]),
        other => panic!("configs has datatype {other:?}"),
    }
    drop(f);
    let r = EnsembleReader::open(&path).unwrap();
    assert_eq!(r.meta(), &meta);
    assert_eq!(r.meta().field(), "u1");
    assert_eq!(r.chain_meta(0).unwrap(), chain);
    let a = r.configs_array(0).unwrap();
    assert_eq!(a.shape(), &[3, 2, 4, 6]);
    // Link (μ = 1, x = (0, 2)) of configuration 2 is element 1·V + 2 of its row.
    assert_eq!(a[[2, 1, 0, 2]], (200 + V + 2) as f64 * 1e-3);
    assert_eq!(
        r.column(0, "action").unwrap().to_vec(),
        vec![0.0, -1.0, -2.0]
    );
    let scalar = dir.path().join("phi4.h5");
    write_in_blocks(&scalar, 1, 2, 2);
    assert_eq!(
        EnsembleReader::open(&scalar).unwrap().meta().field(),
        "scalar"
    );
    // The Schwinger model: the same links, with root attributes `mass` and `fermions`.
    let schwinger = dir.path().join("schwinger.h5");
    let meta = EnsembleMeta {
        action_kind: "schwinger".into(),
        couplings: StoredCouplings::U1 {
            beta: 2.0,
            fermions: Some(lft_io::GaugeFermionMeta {
                mass: 0.2,
                treatment: "pseudofermion".into(),
            }),
        },
        ..meta
    };
    drop(EnsembleWriter::create(&schwinger, &meta, std::slice::from_ref(&chain)).unwrap());
    let r = EnsembleReader::open(&schwinger).unwrap();
    assert_eq!(r.meta(), &meta);
    assert_eq!(r.meta().gauge_fermions().unwrap().mass, 0.2);
}

/// Different flush histories give different files; the canonical rewrite makes them equal.
#[test]
fn canonical_rewrite_depends_only_on_contents() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.h5"), dir.path().join("b.h5"));
    write_in_blocks(&a, 2, 500, 1);
    write_in_blocks(&b, 2, 500, 173);
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    rewrite_canonical(&a, None, None).unwrap();
    rewrite_canonical(&b, None, None).unwrap();
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(ba, bb);
    // Rewriting a canonical file is a fixed point, and keeps the data.
    rewrite_canonical(&a, None, None).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), ba);
    assert_eq!(
        EnsembleReader::open(&a)
            .unwrap()
            .read_configs(1, 0, 500)
            .unwrap(),
        block(1, 0, 500).configs
    );
    assert!(!dir.path().join("a.h5.tmp").exists());
}

/// A crash between the appends of one block leaves earlier datasets longer: the chain length
/// is the shortest, and the repair rewrite truncates to it.
#[test]
fn uneven_datasets_are_cut_to_the_shortest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.h5");
    write_in_blocks(&path, 1, 20, 5);
    {
        // Simulate the crash: configurations and actions of 3 more trajectories, nothing else.
        let f = hdf5_pure::File::open_rw(&path).unwrap();
        let b = block(0, 20, 23);
        let bytes: Vec<u8> = b.configs.iter().flat_map(|x| x.to_le_bytes()).collect();
        f.dataset("chains/0/configs")
            .unwrap()
            .append_raw(&bytes)
            .unwrap();
        let bytes: Vec<u8> = b
            .column("action")
            .unwrap()
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        f.dataset("chains/0/action")
            .unwrap()
            .append_raw(&bytes)
            .unwrap();
        f.close().unwrap();
    }
    let r = EnsembleReader::open(&path).unwrap();
    assert_eq!(r.dataset_lengths(0).unwrap(), vec![23, 23, 20, 20, 20]);
    assert_eq!(r.chain_len(0).unwrap(), 20);
    assert_eq!(r.read_row(0, 19).unwrap(), block(0, 19, 20).row(0));
    drop(r);
    rewrite_canonical(&path, None, None).unwrap();
    let r = EnsembleReader::open(&path).unwrap();
    assert_eq!(r.dataset_lengths(0).unwrap(), vec![20; 5]);
    drop(r);
    let mut clean = dir.path().join("clean.h5");
    write_in_blocks(&clean, 1, 20, 20);
    rewrite_canonical(&clean, None, None).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&clean).unwrap()
    );
    clean.pop();
}

#[test]
fn foreign_and_missing_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not hdf5").unwrap();
    let e = EnsembleReader::open(&text).err().unwrap();
    assert!(matches!(e, EnsembleError::NotHdf5 { .. }), "{e}");
    assert!(e.to_string().contains("notes.txt"));

    let other = dir.path().join("other.h5");
    let mut fb = hdf5_pure::FileBuilder::new();
    fb.create_dataset("x").with_f64_data(&[1.0, 2.0]);
    fb.write(&other).unwrap();
    let e = EnsembleReader::open(&other).err().unwrap();
    assert!(matches!(e, EnsembleError::Foreign { .. }), "{e}");

    let e = EnsembleReader::open(&dir.path().join("missing.h5"))
        .err()
        .unwrap();
    assert!(matches!(e, EnsembleError::Io { .. }), "{e}");
    assert!(e.to_string().contains("missing.h5"));

    // Creating over an existing file is refused and leaves it untouched.
    let e = EnsembleWriter::create(&other, &meta(1), &[chain_meta(0)])
        .err()
        .unwrap();
    assert!(e.to_string().contains("refusing to overwrite"), "{e}");
    assert!(EnsembleReader::open(&other).is_err());
    assert_eq!(
        hdf5_pure::File::open(&other)
            .unwrap()
            .dataset("x")
            .unwrap()
            .read_f64()
            .unwrap(),
        vec![1.0, 2.0]
    );
}

/// The pipeline's store appends in the canonical order: however its blocks arrive (sizes,
/// interleaving of chains), the finished file is byte for byte the canonical rewrite of
/// itself, so a run needs no rewrite when it ends.
#[test]
fn the_store_writes_canonical_files_in_place() {
    use lft_records::{Sink, Store};
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pieces: &[usize]| {
        let path = dir.path().join(name);
        let metas: Vec<ChainMeta> = (0..2).map(chain_meta).collect();
        let mut store = lft_io::EnsembleStore::new(&path, meta(2)).unwrap();
        store.begin(SamplerKind::Hmc, &metas).unwrap();
        // 9000 rows per chain: two full rounds of 4096 and a tail.
        let mut at = [0usize; 2];
        let mut i = 0;
        while at.iter().any(|&n| n < 9000) {
            let c = (i / 3 + i) % 2;
            let k = pieces[i % pieces.len()].min(9000 - at[c]);
            if k > 0 {
                store.write_block(&block(c, at[c], at[c] + k)).unwrap();
                at[c] += k;
                if i % 5 == 0 {
                    store.flush().unwrap();
                }
            }
            i += 1;
        }
        store.finish().unwrap();
        drop(store);
        std::fs::read(&path).unwrap()
    };
    let a = write("a.h5", &[1, 700, 13]);
    let b = write("b.h5", &[5000, 2, 999, 4096]);
    assert!(a == b, "the bytes depend on how blocks arrived");
    rewrite_canonical(&dir.path().join("a.h5"), None, None).unwrap();
    assert!(
        std::fs::read(dir.path().join("a.h5")).unwrap() == a,
        "not canonical"
    );
    let r = EnsembleReader::open(&dir.path().join("b.h5")).unwrap();
    assert_eq!(r.read_block(1, 0, 9000).unwrap(), block(1, 0, 9000));
    assert!(!dir.path().join("b.h5.lock").exists());
}
