"""Serialization: exact sizes, zero-copy from_arrays, corrupt input -> FormatError."""

from __future__ import annotations

import numpy as np
import pytest

from sckit import ras
from sckit.errors import FormatError


def _sample():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((16, 3, 3, 3)) * 0.02).astype(np.float32)
    x[rng.random(x.shape) < 0.6] = 0
    return x


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("codebook", [False, True])
def test_bytes_and_arrays(sparse, codebook):
    x = _sample()
    if codebook:
        x = np.round(x * 200).astype(np.float32) / 200
    r = ras.encode(x, sparse=sparse, codebook=codebook)
    b = r.to_bytes()
    assert len(b) == r.nbytes and r.bits_per_weight == 8 * len(b) / x.size
    r2 = ras.from_bytes(b)
    assert (r2.kind, r2.dtype, r2.shape, r2.sparse) == (r.kind, r.dtype, r.shape, r.sparse)
    assert np.array_equal(r2.decode(), x.view(np.uint32))
    assert r2.h0_bits == r.h0_bits and r2.delimiter_bits == r.delimiter_bits
    meta, arrays = r.to_arrays()
    import json

    json.dumps(meta)  # JSON-able
    # zero copy: reconstruct from read-only views of one buffer (as from a memory map)
    buf = np.concatenate([a.view(np.uint8).reshape(-1) for a in arrays.values()])
    buf.setflags(write=False)
    views, off = {}, 0
    for k, a in arrays.items():
        views[k] = buf[off:off + a.nbytes].view(a.dtype).reshape(a.shape)
        off += a.nbytes
    r3 = ras.RAS.from_arrays(meta, views)
    assert np.array_equal(r3.decode(), x.view(np.uint32))
    if "raw" in views:
        assert np.shares_memory(r3.raw, buf)


def test_corrupt_bytes():
    b = bytearray(ras.encode(_sample()).to_bytes())
    with pytest.raises(FormatError):
        ras.from_bytes(bytes(b[:-9]))
    with pytest.raises(FormatError):
        ras.from_bytes(b"\x00" * 8)
    for pos in (0, 30, len(b) // 2, len(b) - 3):
        bad = bytearray(b)
        bad[pos] ^= 0x5A
        with pytest.raises(FormatError):
            ras.from_bytes(bytes(bad))


def test_bad_meta():
    r = ras.encode(_sample(), sparse=False, codebook=False)
    meta, arrays = r.to_arrays()
    for key, val in [("version", 99), ("dtype", "float8"), ("kind", "row"), ("n_stream", 5)]:
        m = dict(meta, **{key: val})
        with pytest.raises(FormatError):
            ras.RAS.from_arrays(m, arrays)
    a = dict(arrays)
    a["raw"] = a["raw"][:-1]
    with pytest.raises(FormatError, match="raw"):
        ras.RAS.from_arrays(meta, a)
    del a["raw"]
    with pytest.raises(FormatError):
        ras.RAS.from_arrays(meta, a)
