"""Bit-exact round trips of sckit.ras for every dtype, layout, form and special value."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sckit import ras
from sckit.ras.fields import SPLITS

UINT = {name: np.dtype(s.uint) for name, s in SPLITS.items()}
NP_DTYPES = [d for d in SPLITS if d != "bfloat16"]

# float special values as bit patterns: +-0, +-inf, quiet/signalling NaNs with payloads,
# smallest/largest denormals, 1.0
SPECIAL = {
    "float32": [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0x7F800001,
                0xFFFFFFFF, 0x00000001, 0x807FFFFF, 0x3F800000],
    "float16": [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E01, 0x7C01, 0xFFFF, 0x0001, 0x83FF, 0x3C00],
    "bfloat16": [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0x7F81, 0xFFFF, 0x0001, 0x807F, 0x3F80],
    "float64": [0, 1 << 63, 0x7FF0000000000000, 0x7FF8000000000123, 0x7FF0000000000001,
                (1 << 64) - 1, 1, 0x800FFFFFFFFFFFFF],
}


def _check(r: ras.RAS, bits: np.ndarray) -> None:
    """decode, decode_rows, nbytes and a serialization round trip, all bit-exact."""
    got = r.decode()
    assert got.dtype == bits.dtype and got.shape == bits.shape
    assert np.array_equal(got, bits)
    if bits.ndim >= 1 and bits.shape[0]:
        a, b = bits.shape[0] // 3, bits.shape[0] - bits.shape[0] // 4
        assert np.array_equal(r.decode_rows(a, b), bits[a:b])
    blob = r.to_bytes()
    assert len(blob) == r.nbytes
    assert sum(r.space().values()) == r.nbytes
    assert np.array_equal(ras.from_bytes(blob).decode(), bits)


shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)


@pytest.mark.slow  # on a cold numba cache it compiles every dtype's kernels (~25 s CPU)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from(sorted(SPLITS)),
    shape=shapes,
    kind=st.sampled_from(["block", "element"]),
    sparse=st.sampled_from([None, True, False]),
    codebook=st.sampled_from(["auto", False, True]),
    zero_frac=st.sampled_from([0.0, 0.5, 0.95]),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_random(dtype, shape, kind, sparse, codebook, zero_frac, seed):
    rng = np.random.default_rng(seed)
    u = UINT[dtype]
    bits = rng.integers(0, np.iinfo(u).max, size=shape, dtype=u, endpoint=True)
    if dtype in SPECIAL and bits.size:
        sp = np.array(SPECIAL[dtype], dtype=u)
        m = rng.random(shape) < 0.3
        bits[m] = sp[rng.integers(0, sp.size, size=int(m.sum()))]
    if codebook is True or rng.random() < 0.3:  # few distinct values: the quantized case
        pool = bits.reshape(-1)[:7].copy() if bits.size else bits.reshape(-1)
        if pool.size:
            bits = pool[rng.integers(0, pool.size, size=shape)]
    bits = np.asarray(bits, dtype=u)
    bits[rng.random(shape) < zero_frac] = 0
    r = ras.encode(bits, dtype=dtype, kind=kind, sparse=sparse, codebook=codebook,
                   max_distance=int(rng.choice([1, 2, 3])) if rng.random() < 0.5 else None)
    assert r.dtype == dtype and r.shape == bits.shape and r.kind == kind
    if sparse is not None:
        assert r.sparse is sparse
    if codebook is True:
        assert r.codebook is not None
    if codebook is False:
        assert r.codebook is None
    _check(r, bits)


@pytest.mark.parametrize("dtype", sorted(SPECIAL))
@pytest.mark.parametrize("kind", ["block", "element"])
@pytest.mark.parametrize("sparse", [False, True])
def test_special_values(dtype, kind, sparse):
    u = UINT[dtype]
    bits = np.array(SPECIAL[dtype] * 6, dtype=u)[: 6 * len(SPECIAL[dtype])].reshape(2, 3, -1)
    for codebook in (False, True):
        r = ras.encode(bits, dtype=dtype, kind=kind, sparse=sparse, codebook=codebook)
        _check(r, bits)


@pytest.mark.parametrize("np_dtype", NP_DTYPES)
def test_native_numpy_dtypes(np_dtype):
    """dtype=None reads the array's own dtype; decode returns the unsigned view."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 5)) * 50).astype(np_dtype)
    r = ras.encode(x, kind="element")
    assert r.dtype == np_dtype
    _check(r, x.view(UINT[np_dtype]))


def test_float_view_reinterpretation_and_out():
    x = np.random.default_rng(2).standard_normal((8, 4, 3)).astype(np.float32)
    r = ras.encode(x.view(np.uint32), dtype="float32")
    out = np.zeros(x.shape, np.uint32)
    assert r.decode(out=out) is out
    assert np.array_equal(out.view(np.float32), x) and np.array_equal(out, x.view(np.uint32))
    rows = np.zeros((3, 4, 3), np.uint32)
    assert r.decode_rows(2, 5, out=rows) is rows
    assert np.array_equal(rows, x.view(np.uint32)[2:5])


def test_overflowing_relative_distances():
    """Runs of zeros longer than max_distance are cut by (max_distance, 0) fillers."""
    bits = np.zeros((3, 40), np.uint32)
    bits[0, 0] = 7  # distance 0
    bits[0, 39] = 9  # 38 zeros between: fillers with max_distance=3
    bits[1, 20] = 5  # 20 zeros from the row start
    # row 2 all zero: no entries at all
    for kind in ("block", "element"):
        r = ras.encode(bits, dtype="uint32", kind=kind, sparse=True, max_distance=3, codebook=False)
        assert r.sparse and r.max_distance == 3
        # entries: row 0: 1 + 38 // 4 fillers + 1; row 1: 20 // 4 fillers + 1
        assert r.n_entries == (1 + 9 + 1) + (5 + 1)
        dist = r.dist_wm.decode(0, r.n_entries)
        assert dist.max() == 3 and (dist == 3).sum() == 9 + 5
        _check(r, bits)
        big = ras.encode(bits, dtype="uint32", kind=kind, sparse=True, max_distance=255)
        assert big.n_entries == 3
        _check(big, bits)


def test_auto_forms_pick_smaller():
    rng = np.random.default_rng(3)
    dense = (rng.standard_normal((64, 64)) * 0.02).astype(np.float32)
    assert not ras.encode(dense).sparse and ras.encode(dense).codebook is None
    pruned = dense.copy()
    pruned[rng.random(pruned.shape) < 0.9] = 0
    rp = ras.encode(pruned)
    assert rp.sparse and rp.nbytes < ras.encode(pruned, sparse=False).nbytes
    levels = np.linspace(-0.05, 0.05, 16, dtype=np.float32)
    quant = levels[rng.integers(0, 16, size=(64, 64))]
    rq = ras.encode(quant)
    assert rq.codebook is not None and rq.codebook.size == 16
    assert rq.nbytes < ras.encode(quant, codebook=False).nbytes
    assert rq.bits_per_weight < 6


def test_size_near_field_split_bound():
    """float32 N(0, 0.02): bits/weight within 2% of the field-split order-0 bound."""
    x = (np.random.default_rng(4).standard_normal((256, 1024)) * 0.02).astype(np.float32)
    r = ras.encode(x)
    sym = x.view(np.uint32) >> 23
    p = np.bincount(sym.ravel()) / sym.size
    p = p[p > 0]
    bound = float(-(p * np.log2(p)).sum()) + 23
    assert bound <= r.h0_bits + 1e-9
    assert r.bits_per_weight <= 1.02 * bound
    assert r.delimiter_bits > 0


def test_delimiter_overhead_element_vs_block():
    x = (np.random.default_rng(5).standard_normal((16, 8, 3, 3)) * 0.02).astype(np.float32)
    rb, re = ras.encode(x, kind="block"), ras.encode(x, kind="element")
    assert rb.n_stream == x.size + 16
    assert re.n_stream == x.size + 16 + 16 * 8 + 16 * 8 * 3
    assert re.delimiter_bits > rb.delimiter_bits > 0


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: ras.encode([1.0, 2.0]), TypeError, "numpy array"),
        (lambda: ras.encode(np.zeros(3, np.float32), kind="row"), ValueError, "kind"),
        (lambda: ras.encode(np.zeros(3, np.complex64)), TypeError, "int/uint/float"),
        (lambda: ras.encode(np.zeros(3, np.int64)), ValueError, "unsupported dtype"),
        (lambda: ras.encode(np.zeros(3, np.uint32), dtype="float16"), ValueError, "2-byte"),
        (lambda: ras.encode(np.zeros(3, np.uint16), dtype="bfloat8"), ValueError, "unsupported"),
        (lambda: ras.encode(np.zeros(3, np.float32), sparse="yes"), TypeError, "sparse"),
        (lambda: ras.encode(np.zeros(3, np.float32), codebook="maybe"), ValueError, "codebook"),
        (lambda: ras.encode(np.zeros(3, np.float32), max_distance=0), ValueError, "max_distance"),
        (lambda: ras.encode(np.arange(70000, dtype=np.float32), codebook=True), ValueError,
         "distinct"),
    ],
)
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bad_out_and_rows():
    r = ras.encode(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="out must be"):
        r.decode(out=np.empty((3, 4), np.uint32))
    with pytest.raises(ValueError, match="out must be"):
        r.decode(out=np.empty((4, 3), np.float32))
    with pytest.raises(TypeError, match="numpy array"):
        r.decode(out=[0] * 12)
    with pytest.raises(IndexError, match="out of range"):
        r.decode_rows(2, 5)
    with pytest.raises(IndexError, match="at least one dimension"):
        ras.encode(np.array(1.0, np.float32)).decode_rows(0, 1)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "float64"])
def test_sign_field_choice(dtype):
    """Symmetric weights store the sign raw (exponent-only symbols); one-signed ones keep it in
    the symbol. Both round-trip, incl. -0.0 and negative NaN payloads."""
    rng = np.random.default_rng(6)
    w = (rng.standard_normal((64, 130)) * 0.02).astype(np.float32)
    for values, expect in ((w, True), (np.abs(w) + 0.001, False)):
        if dtype == "bfloat16":
            bits = (values.view(np.uint32) >> 16).astype(np.uint16)
        else:
            bits = values.astype(dtype).view(UINT[dtype])
        bits = bits.copy()
        bits.reshape(-1)[:len(SPECIAL[dtype])] = SPECIAL[dtype]
        for sparse in (False, True):
            r = ras.encode(bits, dtype=dtype, sparse=sparse, codebook=False)
            assert r.sign_raw is expect
            assert r.raw_bits == SPLITS[dtype].raw_bits + expect
            _check(r, bits)
            acc = r.accessor()
            for idx in [(0, 0), (0, 1), (0, 4), (63, 129), (10, 77)]:
                assert r.access_bits(idx) == bits[idx] == acc.access_bits(idx)
