#!/usr/bin/env python3
"""SHA-256 of what an HDF5 file holds, not of how its bytes are laid out: every attribute
(but `lft_version`) and every dataset's shape, dtype and values, objects in sorted order.
Two ensembles with equal digests hold the same results to the bit.

    python3 scripts/content_digest.py FILE...      (needs h5py)
"""
import hashlib, sys
import h5py, numpy as np

def digest(path):
    h = hashlib.sha256()
    def attrs(obj):
        for k in sorted(obj.attrs):
            if k == "lft_version":
                continue
            v = obj.attrs[k]
            h.update(k.encode())
            h.update(v if isinstance(v, bytes) else np.asarray(v).tobytes())
    with h5py.File(path, "r") as f:
        attrs(f)
        names = []
        f.visit(names.append)
        for name in sorted(names):
            obj = f[name]
            h.update(name.encode())
            attrs(obj)
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                h.update(str((data.shape, data.dtype.str)).encode())
                h.update(np.ascontiguousarray(data).tobytes())
    return h.hexdigest()

for p in sys.argv[1:]:
    print(f"{digest(p)}  {p.rsplit('/', 1)[-1]}")
