#!/usr/bin/env python3
"""The h5py peer of lft's ensemble writer: append N configurations of an L0 x L1 float64
field one block at a time to a chunked, unlimited dataset (plus the per-trajectory scalars
lft stores), then close the file. Prints MB/s of configuration data.

    python3 benches/h5py/append.py --shape 64 64 --n 4000 --block 64
"""
import argparse, os, tempfile, time
import h5py, numpy as np

p = argparse.ArgumentParser()
p.add_argument("--shape", type=int, nargs="+", default=[64, 64])
p.add_argument("--n", type=int, default=4000)
p.add_argument("--block", type=int, default=64, help="rows per append")
p.add_argument("--fsync", action="store_true", help="fsync after the last append")
p.add_argument("--repeat", type=int, default=3)
a = p.parse_args()
shape = tuple(a.shape)
row = np.random.default_rng(1).standard_normal((a.block,) + shape)
best = None
for _ in range(a.repeat):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "e.h5")
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        chunk_rows = max(1, min(4096, 65536 // (8 * int(np.prod(shape)))))
        cfg = f.create_dataset("configs", shape=(0,) + shape, maxshape=(None,) + shape,
                               chunks=(chunk_rows,) + shape, dtype="f8")
        cols = {k: f.create_dataset(k, shape=(0,), maxshape=(None,), chunks=(4096,), dtype="f8")
                for k in ("action", "delta_h")}
        n = 0
        while n < a.n:
            k = min(a.block, a.n - n)
            cfg.resize(n + k, axis=0)
            cfg[n:n + k] = row[:k]
            for c in cols.values():
                c.resize(n + k, axis=0)
                c[n:n + k] = 0.5
            n += k
        f.flush()
        if a.fsync:
            os.fsync(f.id.get_vfd_handle())
    dt = time.perf_counter() - t0
    best = dt if best is None else min(best, dt)
    os.remove(path); os.rmdir(d)
mb = a.n * 8 * np.prod(shape) / 1e6
print(f"h5py {h5py.__version__}: {a.n} x {shape} float64 ({mb:.0f} MB) in {best:.3f} s: {mb / best:.0f} MB/s")
