"""WaveletMatrix against naive oracles (indexing, slicing, cumsum, flatnonzero) and the paper's example."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sckit.succinct.wavelet_matrix import WaveletMatrix


@st.composite
def sequences(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    n = draw(st.integers(0, 3000))
    sigma = draw(st.sampled_from([1, 2, 3, 5, 16, 17, 64, 200, 256, 257, 4096, 70_000]))
    skew = draw(st.sampled_from(["uniform", "geometric", "constant"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if skew == "uniform":
        x = rng.integers(0, sigma, n)
    elif skew == "geometric":
        x = np.minimum(rng.geometric(0.3, n) - 1, sigma - 1)
    else:
        x = np.full(n, sigma - 1)
    return x, sigma


def check_all(x: np.ndarray, sigma: int) -> None:
    wm = WaveletMatrix(x, sigma=sigma)
    n = x.shape[0]
    assert len(wm) == n and wm.sigma == sigma and wm.n_levels == (sigma - 1).bit_length()
    assert np.array_equal(wm.access_many(np.arange(n)), x)
    assert np.array_equal(wm.decode(), x) and wm.decode().dtype == wm.dtype
    rng = np.random.default_rng(n)
    for a, b in [(0, n), (n // 3, n // 2), (min(7, n), n)] + [tuple(sorted(rng.integers(0, n + 1, 2))) for _ in range(3)]:
        assert np.array_equal(wm.decode(int(a), int(b)), x[a:b])
        assert np.array_equal(wm[a:b], x[a:b])
    symbols = set(np.unique(x)[:4].tolist()) | {sigma - 1, 0}
    for c in symbols:
        mask = x == c
        cs = np.concatenate([[0], np.cumsum(mask)])
        assert np.array_equal(wm.rank_many(c, np.arange(n + 1)), cs)
        pos = np.flatnonzero(mask)
        assert np.array_equal(wm.select_many(c, np.arange(pos.size)), pos)
        # rank and select are inverse: select(c, rank(c, p)) == p at occurrences of c
        assert np.array_equal(wm.select_many(c, wm.rank_many(c, pos)), pos)
        assert wm.count(c) == pos.size


@settings(max_examples=40, deadline=None)
@given(sequences())
def test_queries_match_oracles(seq: tuple[np.ndarray, int]) -> None:
    check_all(*seq)


def test_paper_example_levels() -> None:
    # Claude, Navarro and Ordonez 2015, Fig. 2: S = 4 7 6 5 3 2 1 0 1 4 1 7 over sigma = 8.
    # Level 0 holds the top bit of S; level 1 the middle bit of S stably partitioned by it
    # (3 2 1 0 1 1 | 4 7 6 5 4 7); level 2 the low bit of that sequence partitioned by its middle
    # bit (1 0 1 1 4 5 4 | 3 2 7 6 7).
    s = [4, 7, 6, 5, 3, 2, 1, 0, 1, 4, 1, 7]
    wm = WaveletMatrix(s)
    assert wm.n_levels == 3
    assert "".join(map(str, wm.level_bits(0))) == "111100000101"
    assert "".join(map(str, wm.level_bits(1))) == "110000011001"
    assert "".join(map(str, wm.level_bits(2))) == "101101010101"
    assert wm.zeros.tolist() == [6, 7, 5]
    assert wm.access(2) == 6 and wm.rank(1, 9) == 2 and wm.select(7, 1) == 11 and wm[3:6].tolist() == [5, 3, 2]


@pytest.mark.parametrize("sigma", [16, 256, 2**20])
def test_long_ranges_cross_decode_blocks(sigma: int) -> None:
    # > 2 blocks of the two-group decode (2**15 symbols) and unaligned starts
    x = np.random.default_rng(sigma).integers(0, sigma, 70_001)
    if sigma == 2**20:
        x = x[:5000]
    wm = WaveletMatrix(x, sigma=sigma)
    n = x.shape[0]
    for a, b in [(0, n), (1, n - 3), (4095, min(n, 4095 + 4096)), (n - 65, n)]:
        assert np.array_equal(wm.decode(a, b), x[a:b])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int64, np.int32, np.uint64])
def test_input_dtypes_give_the_same_structure(dtype: type) -> None:
    x = np.random.default_rng(3).integers(0, 200, 1000)
    ref = WaveletMatrix(x)
    wm = WaveletMatrix(x.astype(dtype))
    assert wm.to_bytes() == ref.to_bytes()
    assert WaveletMatrix(x.tolist()).to_bytes() == ref.to_bytes()


def test_edge_cases_empty_sigma1_large_sigma() -> None:
    empty = WaveletMatrix(np.zeros(0, np.uint8))
    assert len(empty) == 0 and empty.sigma == 1 and empty.decode().size == 0
    assert empty.rank(0, 0) == 0
    one = WaveletMatrix([0, 0, 0], sigma=1)
    assert one.n_levels == 0 and one.decode().tolist() == [0, 0, 0] and one.access(2) == 0
    assert one.rank(0, 2) == 2 and one.select(0, 2) == 2
    assert one.space()["levels"] == 0
    big = WaveletMatrix([2**20 - 1, 0, 5], sigma=2**20)
    assert big.n_levels == 20 and big.decode().tolist() == [2**20 - 1, 0, 5] and big.dtype == np.uint32
    assert big.select(2**20 - 1, 0) == 0 and big.rank(5, 3) == 1 and big.rank(7, 3) == 0


def test_decode_into_dtypes_alignment_and_bounds() -> None:
    x = np.random.default_rng(4).integers(0, 100, 5000)
    wm = WaveletMatrix(x)
    for dt in [np.uint8, np.int8, np.int16, np.uint32, np.int64]:
        buf = np.full(3000, 7, dt)
        out = wm.decode_into(100, 2100, buf)
        assert out is buf and np.array_equal(buf[:2000], x[100:2100]) and (buf[2000:] == 7).all()
    raw = np.full(2001, 9, np.uint8)
    unaligned = raw[1:]  # data pointer not 8-byte aligned: falls back to a copy
    wm.decode_into(5, 2005, unaligned)
    assert np.array_equal(unaligned, x[5:2005]) and raw[0] == 9
    with pytest.raises(ValueError, match="elements"):
        wm.decode_into(0, 10, np.empty(9, np.uint8))
    with pytest.raises(TypeError):
        wm.decode_into(0, 10, np.empty(10, np.float32))
    with pytest.raises(TypeError):
        WaveletMatrix([0, 300]).decode_into(0, 2, np.empty(2, np.uint8))  # too narrow
    ro = np.empty(10, np.uint8)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        wm.decode_into(0, 10, ro)
    with pytest.raises(IndexError):
        wm.decode(10, 5)
    with pytest.raises(IndexError):
        wm.decode(0, 5001)


def test_getitem_forms() -> None:
    x = np.arange(100) % 13
    wm = WaveletMatrix(x)
    assert wm[-1] == x[-1] and wm[5] == x[5]
    assert np.array_equal(wm[::7], x[::7]) and np.array_equal(wm[90:200], x[90:]) and wm[50:40].size == 0
    with pytest.raises(IndexError):
        wm[100]


def test_space_bound() -> None:
    rng = np.random.default_rng(5)
    for sigma in [2, 3, 16, 256, 1000]:
        wm = WaveletMatrix(rng.integers(0, sigma, 200_000), sigma=sigma)
        sp = wm.space()
        assert sum(sp.values()) == wm.nbytes == len(wm.to_bytes())
        assert wm.bits_per_symbol <= 1.07 * (sigma - 1).bit_length(), (sigma, sp)


def test_serialization_round_trip_and_zero_copy() -> None:
    x = np.random.default_rng(6).integers(0, 40, 3333)
    wm = WaveletMatrix(x, sigma=50)
    raw = wm.to_bytes()
    assert len(raw) == wm.nbytes
    wm2 = WaveletMatrix.from_bytes(raw)
    assert wm2.sigma == 50 and np.array_equal(wm2.decode(), x)
    assert np.array_equal(wm2.select_many(3, np.arange(wm.count(3))), np.flatnonzero(x == 3))
    meta, arrays = wm.to_arrays()
    wm3 = WaveletMatrix.from_arrays(meta, arrays)
    assert np.shares_memory(wm3._bits, arrays["bits"])
    assert np.array_equal(wm3.access_many([0, 3332]), x[[0, 3332]])
    import json

    json.dumps(meta)  # JSON-able


@pytest.mark.parametrize(
    "symbols, sigma, match",
    [
        ([1, -2, 3], None, "non-negative"),
        ([1.0, 2.0], None, "integers"),
        ([True, False], None, "integers"),
        ([[1, 2], [3, 4]], None, "1-d"),
        ([1, 5, 3], 5, "smaller than max symbol"),
        ([0], 0, "sigma must be >= 1"),
        ([0], 2**32 + 1, "exceeds"),
    ],
)
def test_bad_symbols(symbols: list, sigma: int | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WaveletMatrix(symbols, sigma=sigma)


def test_bad_queries() -> None:
    wm = WaveletMatrix([3, 1, 4, 1, 5], sigma=8)
    for f, args in [(wm.access, (5,)), (wm.access, (-1,)), (wm.rank, (1, 6)), (wm.select, (1, 2)),
                    (wm.select, (7, 0)), (wm.select, (1, -1))]:
        with pytest.raises(IndexError):
            f(*args)
    for f, args in [(wm.rank, (8, 0)), (wm.rank, (-1, 0)), (wm.select, (9, 0)), (wm.rank_many, (8, [0]))]:
        with pytest.raises(ValueError, match="alphabet"):
            f(*args)
    with pytest.raises(IndexError):
        wm.access_many([0, 5])
    with pytest.raises(IndexError):
        wm.rank_many(1, [6])
    with pytest.raises(IndexError):
        wm.select_many(1, [0, 2])
    with pytest.raises(TypeError):
        wm.access(1.5)
    with pytest.raises(TypeError):
        wm.rank(1.0, 2)
