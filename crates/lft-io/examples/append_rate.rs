//! The ensemble writer's append rate, the peer of `benches/h5py/append.py`: N configurations
//! of an L0 × L1 float64 field with HMC's per-trajectory columns, appended `block` rows at a
//! time to one chain through the pipeline's store (lock, skeleton, appends, a sync per flush,
//! finish), best of `repeat` runs. Prints MB/s of configuration data.
//!
//!     cargo run --release -p lft-io --example append_rate -- 64 64 4000 64
use lft_io::{EnsembleStore, RecordBlock, SamplerKind};
use lft_lattice::RngState;
use lft_records::{Sink, Store};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .expect("numbers: L0 L1 N BLOCK [FLUSH_EVERY_BLOCKS]")
        })
        .collect();
    let (shape, n, block, flush_every) = match args.as_slice() {
        [] => (vec![64, 64], 4000, 64, 16),
        [l0, l1, n, b] => (vec![*l0, *l1], *n, *b, 16),
        [l0, l1, n, b, f] => (vec![*l0, *l1], *n, *b, *f),
        _ => panic!("usage: append_rate L0 L1 N BLOCK [FLUSH_EVERY_BLOCKS]"),
    };
    let v: usize = shape.iter().product();
    let (meta, chain) = lft_io::ensemble::example_meta(&shape);
    let mut rows = RecordBlock::new(0, SamplerKind::Hmc, v);
    let config: Vec<f64> = (0..v).map(|i| (i as f64).sin()).collect();
    for i in 0..block {
        let rng = RngState {
            state: i as u128,
            stream: 3,
        };
        rows.push(&config, &[1.0, 0.5], i % 2 == 0, rng);
    }
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.h5");
        let t0 = Instant::now();
        let mut store = EnsembleStore::new(&path, meta.clone()).unwrap();
        store
            .begin(SamplerKind::Hmc, std::slice::from_ref(&chain))
            .unwrap();
        let mut done = 0;
        let mut blocks = 0;
        while done < n {
            let k = block.min(n - done);
            if k < block {
                let mut last = RecordBlock::new(0, SamplerKind::Hmc, v);
                (0..k).for_each(|i| {
                    let r = rows.row(i);
                    last.push(&r.config, &r.values, r.accepted, r.rng)
                });
                store.write_block(&last).unwrap();
            } else {
                store.write_block(&rows).unwrap();
            }
            done += k;
            blocks += 1;
            if blocks % flush_every == 0 {
                store.flush().unwrap();
            }
        }
        store.flush().unwrap();
        if std::env::var_os("NO_FINISH").is_none() {
            store.finish().unwrap();
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    let mb = (n * v * 8) as f64 / 1e6;
    println!(
        "lft EnsembleStore: {n} x {shape:?} float64 ({mb:.0} MB), blocks of {block}, sync every {flush_every} blocks, finish: {best:.3} s: {:.0} MB/s",
        mb / best
    );
}
