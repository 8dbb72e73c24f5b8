"""Select-based slicing and single-weight access equal tensor indexing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sckit import ras


def _weights(shape, seed, zero_frac):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape) * 0.02, dtype=np.float32)
    x[rng.random(shape) < zero_frac] = 0
    x[rng.random(shape) < 0.05] = -0.0  # -0.0 is not "zero" for the sparse form
    return x.view(np.uint32)


@settings(max_examples=30, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4),
    kind=st.sampled_from(["block", "element"]),
    sparse=st.booleans(),
    zero_frac=st.sampled_from([0.0, 0.7]),
    seed=st.integers(0, 1000),
)
def test_access_and_rows_equal_indexing(shape, kind, sparse, zero_frac, seed):
    bits = _weights(shape, seed, zero_frac)
    r = ras.encode(bits, dtype="float32", kind=kind, sparse=sparse, max_distance=2)
    acc = r.accessor()
    for idx in np.ndindex(*shape):
        assert r.access_bits(idx) == bits[idx]
        assert acc.access_bits(idx) == bits[idx]
    assert acc.hits + acc.misses == bits.size
    # the batched gather: every index, then a shuffled, repeated, negative-index batch
    every = np.array(list(np.ndindex(*shape)), dtype=np.int64).reshape(bits.size, len(shape))
    got = r.access_many_bits(every)
    assert got.dtype == np.uint32 and np.array_equal(got, bits.reshape(-1))
    rng = np.random.default_rng(seed)
    pick = every[rng.integers(0, bits.size, 50)] - rng.integers(0, 2, (50, len(shape))) * shape
    want = [bits[tuple(int(v) % n for v, n in zip(row, shape, strict=True))] for row in pick]
    assert np.array_equal(r.access_many_bits(pick.astype(np.int64)), np.array(want, np.uint32))
    if bits.ndim:
        n0 = shape[0]
        for a in range(n0 + 1):
            for b in range(a, n0 + 1):
                assert np.array_equal(r.decode_rows(a, b), bits[a:b])


def test_select_positions_match_grammar():
    """select on the delimiters finds exactly the positions the grammar documents."""
    x = _weights((3, 2, 4, 5), 0, 0.0)
    r = ras.encode(x, dtype="float32", kind="element")
    lay = r.layout
    stream = r.wm.decode(0, r.n_stream)
    A = lay.alphabet
    # d1 d2 d3 v*5 d3 v*5 ... : level l delimiter count = prod(shape[:l+1])
    assert [int((stream == A + lev).sum()) for lev in range(3)] == [3, 6, 24]
    for r_ in range(lay.n_rows):
        p = lay.row_position(r_)
        assert stream[p - 1] == A + 2 and (stream[p:p + 5] < A).all()
    # appendix B.1: T[2][1][3] by one select per level
    from sckit.ras.access import _row_start

    start = _row_start(r, (2, 1, 3))
    assert start == lay.row_position((2 * 2 + 1) * 4 + 3)
    assert r.access_bits((2, 1, 3, 4)) == x[2, 1, 3, 4]
    rb = ras.encode(x, dtype="float32", kind="block")
    sb = rb.wm.decode(0, rb.n_stream)
    assert list(np.flatnonzero(sb == rb.layout.alphabet)) == [k * 41 for k in range(3)]


def test_negative_indices_and_errors():
    x = _weights((4, 6), 1, 0.5)
    r = ras.encode(x, dtype="float32", sparse=True)
    assert r.access_bits((-1, -2)) == x[-1, -2]
    assert ras.encode(x[0], dtype="float32").access_bits(3) == x[0, 3]
    with pytest.raises(IndexError, match="out of range"):
        r.access_bits((4, 0))
    with pytest.raises(IndexError, match="2 dims"):
        r.access_bits((1,))
    with pytest.raises(TypeError, match="int"):
        r.access_bits((1, 2.0))
    with pytest.raises(TypeError, match="tuple"):
        r.access_bits([1, 2])


def test_accessor_reuses_rows():
    x = _weights((8, 64), 2, 0.8)
    r = ras.encode(x, dtype="float32", sparse=True)
    acc = r.accessor()
    for j in range(64):
        assert acc.access_bits((5, j)) == x[5, j]
    assert acc.misses == 1 and acc.hits == 63


@pytest.mark.parametrize("kind", ["block", "element"])
def test_dense_row_positions_equal_select(kind):
    """decode_rows on dense streams uses positions from the shape; they equal select's."""
    x = _weights((5, 3, 4), 3, 0.0)
    r = ras.encode(x, dtype="float32", kind=kind, sparse=False)
    lay, rpd = r.layout, r.layout.rows_per_dim0()
    for i in range(5):
        assert r.wm.select(lay.delimiter(0), i) < lay.row_position(i * rpd)
        start = r.wm.select(lay.delimiter(0), i)
        # only delimiters between the level-0 delimiter and the slice's first weight
        assert (r.wm.decode(start, lay.row_position(i * rpd)) >= lay.alphabet).all()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "int8", "uint16"])
@pytest.mark.parametrize("kind", ["block", "element"])
@pytest.mark.parametrize("codebook", [False, True])
def test_access_many_every_dtype_layout_and_codebook(dtype, kind, codebook):
    rng = np.random.default_rng(3)
    u = {"float32": np.uint32, "bfloat16": np.uint16, "float16": np.uint16, "int8": np.uint8,
         "uint16": np.uint16}[dtype]
    vals = rng.integers(0, 30, (7, 5, 66)) if codebook else None
    if codebook:
        table = rng.integers(0, np.iinfo(u).max, 30).astype(u)
        bits = table[vals]
    else:
        bits = rng.integers(0, np.iinfo(u).max, (7, 5, 66)).astype(u)
    r = ras.encode(bits, dtype=dtype, kind=kind, sparse=False, codebook=codebook)
    idx = np.stack([rng.integers(0, n, 3000) for n in bits.shape], 1)
    got = r.access_many_bits(idx)
    assert got.dtype == u and np.array_equal(got, bits[tuple(idx.T)])
    assert r.access_many_bits(np.zeros((0, 3), np.int64)).shape == (0,)


def test_access_many_bad_indices_say_what_is_wrong():
    bits = _weights((4, 5), 0, 0.0)
    r = ras.encode(bits, dtype="float32")
    with pytest.raises(ValueError, match=r"shape \(m, 2\)"):
        r.access_many_bits([1, 2, 3])
    with pytest.raises(TypeError, match="integers"):
        r.access_many_bits(np.array([[0.5, 1.0]]))
    with pytest.raises(IndexError, match="dim 1 of size 5"):
        r.access_many_bits([[0, 1], [3, 5]])
    r1 = ras.encode(bits.reshape(-1), dtype="float32", kind="element")
    assert np.array_equal(r1.access_many_bits([0, -1, 7]), bits.reshape(-1)[[0, -1, 7]])


def test_access_returns_values_of_the_tensor_dtype():
    x = np.array([[1.5, -0.0, np.inf], [-0.1048, 3e-41, 7.0]], np.float32)
    x.view(np.uint32)[0, 2] = 0x7FC01234  # a NaN with a payload
    for kind, sparse in (("block", False), ("element", True)):
        r = ras.encode(x, kind=kind, sparse=sparse)
        v = r.access((1, 0))
        assert isinstance(v, np.float32) and v == np.float32(-0.1048)
        assert r.access((0, 1)).view(np.uint32) == 0x80000000  # -0.0 kept
        assert r.access((0, 2)).view(np.uint32) == 0x7FC01234  # NaN payload kept
        assert r.access_bits((1, 1)) == int(x.view(np.uint32)[1, 1])
        got = r.access_many([[1, 0], [0, 2], [1, 1]])
        assert got.dtype == np.float32
        assert np.array_equal(got.view(np.uint32), x.view(np.uint32)[[1, 0, 1], [0, 2, 1]])
        assert r.access_many_bits([[1, 1]]).dtype == np.uint32
        acc = r.accessor()
        assert acc.access((1, 2)) == np.float32(7.0) and acc.access_bits((1, 2)) == 0x40E00000
    i8 = np.array([[-128, 5], [7, 127]], np.int8)
    v = ras.encode(i8).access((0, 0))
    assert isinstance(v, np.int8) and v == -128
    h = ras.encode(np.array([[0.5, -2.0]], np.float16)).access((0, 1))
    assert isinstance(h, np.float16) and h == -2.0
    bf = (np.array([[1.25, -3.0]], np.float32).view(np.uint32) >> 16).astype(np.uint16)
    rb = ras.encode(bf, dtype="bfloat16")
    assert rb.access((0, 1)) == -3.0 and isinstance(rb.access((0, 1)), float)
    assert rb.access_many([[0, 0], [0, 1]]).tolist() == [1.25, -3.0]


def test_encode_accepts_torch_tensors_directly():
    torch = pytest.importorskip("torch")
    w = torch.randn(6, 5, requires_grad=True)
    r = ras.encode(w)
    assert r.dtype == "float32"
    assert np.array_equal(r.decode(), w.detach().numpy().view(np.uint32))
    assert r.access((2, 3)) == w[2, 3].item()
    b = torch.randn(4, 8).to(torch.bfloat16)
    rb = ras.encode(b, kind="element")
    assert rb.dtype == "bfloat16"
    assert np.array_equal(rb.decode(), b.view(torch.int16).numpy().view(np.uint16))
    assert rb.access((1, 2)) == b[1, 2].float().item()
    q = torch.randint(-128, 127, (3, 7), dtype=torch.int8)
    assert np.array_equal(ras.encode(q).decode().view(np.int8), q.numpy())
    with pytest.raises(TypeError, match="array"):
        ras.encode([[1.0, 2.0]])
