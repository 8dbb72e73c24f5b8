"""HuffmanWaveletMatrix against naive oracles, known answers, space bound and serialization."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sckit.errors import FormatError
from sckit.succinct import _hwm_reference, huffman_wm
from sckit.succinct.huffman import huffman_code_lengths
from sckit.succinct.huffman_wm import HuffmanWaveletMatrix


def float_exponents(n: int, seed: int = 0) -> np.ndarray:
    """Sign + exponent (top 9 bits) of float32 N(0, 0.02) weights: the project's hot stream."""
    w = np.random.default_rng(seed).standard_normal(n).astype(np.float32) * np.float32(0.02)
    return (w.view(np.uint32) >> 23).astype(np.uint16)


def check_all(hwm: HuffmanWaveletMatrix, x: np.ndarray, rng: np.random.Generator) -> None:
    """Every query against a naive oracle on ``x``."""
    n = x.size
    assert len(hwm) == n
    assert np.array_equal(hwm.decode(), x)
    assert np.array_equal(hwm.access_many(np.arange(n)), x)
    for _ in range(5):
        a, b = np.sort(rng.integers(0, n + 1, 2))
        assert np.array_equal(hwm.decode(int(a), int(b)), x[a:b])
        assert np.array_equal(hwm[int(a) : int(b)], x[a:b])
    if n:
        i = int(rng.integers(n))
        assert hwm.access(i) == x[i] and hwm[-1] == x[-1]
    present = np.unique(x)
    absent = [
        c
        for c in (0, 1, int(x.max(initial=0)) - 1)
        if 0 <= c < hwm.sigma and c not in set(present.tolist())
    ]
    for c in list(present[:12]) + absent[:1]:
        c = int(c)
        idx = np.arange(n + 1)
        assert np.array_equal(hwm.rank_many(c, idx), np.concatenate([[0], np.cumsum(x == c)]))
        pos = np.flatnonzero(x == c)
        assert np.array_equal(hwm.select_many(c, np.arange(pos.size)), pos)
        assert hwm.count(c) == pos.size
        if pos.size:
            k = int(rng.integers(pos.size))
            assert hwm.select(c, k) == pos[k] and hwm.rank(c, int(pos[k])) == k


@pytest.fixture(params=["eager", "lazy"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with node cursors set up front and set lazily (normally chosen per call from
    the range length and the size of the code tree)."""
    per_node = 0 if request.param == "eager" else 10**12
    monkeypatch.setattr(huffman_wm, "_EAGER_SYMBOLS_PER_NODE", per_node)
    return request.param


alphabets = st.sampled_from(["small", "skewed", "sparse", "huge_values"])


# the decoder fixture only patches a module constant, which is meant to hold for every input
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 700), alphabets, st.integers(0, 2**31))
def test_against_oracles(decoder: str, n: int, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    if kind == "small":
        x = rng.integers(0, int(rng.integers(1, 20)), n)
    elif kind == "skewed":
        x = np.minimum(rng.geometric(float(rng.uniform(0.05, 0.9)), n), 300) - 1
    elif kind == "sparse":  # few distinct values spread up to 2**20
        x = rng.choice(rng.integers(0, 2**20, int(rng.integers(1, 40))), n)
    else:
        x = rng.choice(rng.integers(0, 2**32, int(rng.integers(1, 40)), dtype=np.uint64), n)
    x = x.astype(np.uint32 if kind == "huge_values" else np.int64)
    hwm = HuffmanWaveletMatrix(x)
    check_all(hwm, x, rng)
    assert hwm.n_levels == (0 if np.unique(x).size <= 1 else int(hwm.code_table()[1].max()))


def test_crosses_directory_blocks_and_select_samples(decoder: str) -> None:
    # > 2048-bit rank blocks and > 4096 ones/zeros per select sample, levels not word aligned
    rng = np.random.default_rng(7)
    x = float_exponents(30_001, seed=3)
    hwm = HuffmanWaveletMatrix(x)
    check_all(hwm, x, rng)
    out = np.full(30_010, 77, dtype=np.int64)
    hwm.decode_into(5, 30_001, out)
    assert np.array_equal(out[:29_996], x[5:]) and np.all(out[29_996:] == 77)


def test_known_answer_levels() -> None:
    # counts 5:5, 9:2, 700:1 -> lengths 1, 2, 2; code(5) = "1", code(9) = "00", code(700) = "01"
    x = [5, 5, 5, 5, 9, 9, 700, 5]
    hwm = HuffmanWaveletMatrix(x)
    syms, lens, codes = hwm.code_table()
    assert (
        syms.tolist() == [5, 9, 700] and lens.tolist() == [1, 2, 2] and codes.tolist() == [1, 0, 2]
    )
    assert hwm.level_sizes.tolist() == [8, 3]  # level 1: only the 9, 9, 700 go on
    bits = np.unpackbits(hwm._words.view(np.uint8), bitorder="little")[:11]
    assert bits.tolist() == [1, 1, 1, 1, 0, 0, 0, 1] + [0, 0, 1]
    assert hwm.access(6) == 700 and hwm.rank(5, 8) == 5 and hwm.select(9, 1) == 5
    assert hwm.sigma == 701 and hwm.n_distinct == 3 and hwm.dtype == np.uint16


def test_code_lengths_are_optimal_huffman() -> None:
    x = float_exponents(50_000, seed=1)
    hwm = HuffmanWaveletMatrix(x)
    vals, counts = np.unique(x, return_counts=True)
    syms, lens, _ = hwm.code_table()
    assert np.array_equal(syms, vals)
    assert np.array_equal(lens, huffman_code_lengths(counts, max_length=None))
    assert hwm.level_sizes.sum() == int(np.dot(counts, lens))


def test_space_close_to_entropy() -> None:
    x = float_exponents(200_000, seed=2)
    hwm = HuffmanWaveletMatrix(x)
    _, counts = np.unique(x, return_counts=True)
    p = counts / x.size
    h0 = float(-(p * np.log2(p)).sum())
    assert h0 <= hwm.avg_code_length < h0 + 1  # Huffman's bound
    assert hwm.bits_per_symbol <= 1.07 * hwm.avg_code_length
    sp = hwm.space()
    assert sum(sp.values()) == hwm.nbytes == len(hwm.to_bytes())
    assert sp["levels"] * 8 >= hwm.level_sizes.sum()


def test_length_limited_build() -> None:
    fib = [1, 1]
    while len(fib) < 16:
        fib.append(fib[-1] + fib[-2])
    x = np.repeat(np.arange(16) * 1000, fib)
    np.random.default_rng(0).shuffle(x)
    free = HuffmanWaveletMatrix(x)
    assert free.n_levels == 15
    lim = HuffmanWaveletMatrix(x, max_code_length=6)
    assert lim.n_levels == 6
    assert np.array_equal(lim.decode(), x) and lim.rank(0, x.size) == 1
    assert lim.avg_code_length >= free.avg_code_length
    with pytest.raises(ValueError, match="max_length"):
        HuffmanWaveletMatrix(x, max_code_length=3)


def test_large_sparse_alphabet() -> None:
    # many distinct symbols with values up to 2**20 (dense histogram) and up to 2**32 (sorted)
    rng = np.random.default_rng(5)
    for hi in (2**20, 2**32):
        vals = rng.choice(hi, 3000, replace=False).astype(np.uint64)
        x = rng.choice(vals, 20_000).astype(np.uint32)
        hwm = HuffmanWaveletMatrix(x)
        check_all(hwm, x, rng)


def test_empty_and_single_symbol() -> None:
    e = HuffmanWaveletMatrix(np.zeros(0, dtype=np.uint8))
    assert len(e) == 0 and e.decode().size == 0 and e.rank(0, 0) == 0 and e.sigma == 1
    with pytest.raises(IndexError):
        e.access(0)
    with pytest.raises(IndexError):
        e.select(0, 0)
    assert len(HuffmanWaveletMatrix.from_bytes(e.to_bytes())) == 0
    s = HuffmanWaveletMatrix([42] * 100)
    assert s.n_levels == 0 and s.avg_code_length == 0.0
    assert np.array_equal(s.decode(3, 50), np.full(47, 42)) and s.access(99) == 42
    assert s.rank(42, 37) == 37 and s.rank(41, 37) == 0 and s.select(42, 12) == 12
    with pytest.raises(IndexError):
        s.select(42, 100)
    r = HuffmanWaveletMatrix.from_bytes(s.to_bytes())
    assert np.array_equal(r.decode(), np.full(100, 42))


def test_serialization_round_trips() -> None:
    x = float_exponents(10_000, seed=4)
    hwm = HuffmanWaveletMatrix(x)
    b = hwm.to_bytes()
    assert len(b) == hwm.nbytes
    r = HuffmanWaveletMatrix.from_bytes(b)
    assert np.array_equal(r.decode(), x) and r.to_bytes() == b
    assert r.rank(int(x[0]), 5000) == int(np.sum(x[:5000] == x[0]))
    meta, arrays = hwm.to_arrays()
    r2 = HuffmanWaveletMatrix.from_arrays(meta, arrays)
    assert np.shares_memory(r2._words, arrays["words"])  # zero-copy
    assert np.array_equal(r2.decode(), x)


def test_corrupt_bytes() -> None:
    x = float_exponents(3000, seed=5)
    b = bytearray(HuffmanWaveletMatrix(x).to_bytes())
    for pos in (0, 30, len(b) - 9):
        bad = bytearray(b)
        bad[pos] ^= 0xFF
        with pytest.raises(FormatError):
            HuffmanWaveletMatrix.from_bytes(bytes(bad))
    with pytest.raises(FormatError):
        HuffmanWaveletMatrix.from_bytes(bytes(b[:-16]))
    with pytest.raises(FormatError):
        HuffmanWaveletMatrix.from_bytes(b"")
    meta, arrays = HuffmanWaveletMatrix(x).to_arrays()
    for name, fix in [
        ("level_sizes", lambda a: a + 1),
        ("lengths", lambda a: a * 0 + 1),
        ("symbols", lambda a: a[:-1].copy()),
        ("words", lambda a: a[:-1].copy()),
    ]:
        bad_arrays = dict(arrays)
        bad_arrays[name] = fix(arrays[name])
        with pytest.raises(FormatError):
            HuffmanWaveletMatrix.from_arrays(meta, bad_arrays)
    with pytest.raises(FormatError):
        HuffmanWaveletMatrix.from_arrays({"n": 1}, arrays)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        HuffmanWaveletMatrix([1, -2, 3])
    with pytest.raises(ValueError, match="integers"):
        HuffmanWaveletMatrix([1.0, 2.0])
    with pytest.raises(ValueError, match="1-d"):
        HuffmanWaveletMatrix(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="2\\*\\*32"):
        HuffmanWaveletMatrix(np.array([2**33], dtype=np.int64))
    hwm = HuffmanWaveletMatrix([3, 1, 4, 1, 5, 9, 2, 6])
    with pytest.raises(IndexError):
        hwm.access(8)
    with pytest.raises(IndexError):
        hwm.access_many([0, 8])
    with pytest.raises(IndexError):
        hwm.rank(1, 9)
    with pytest.raises(IndexError):
        hwm.select(1, 2)
    with pytest.raises(IndexError):
        hwm.select(7, 0)  # in the alphabet but absent
    with pytest.raises(IndexError):
        hwm.select_many(1, [0, -1])
    with pytest.raises(ValueError, match="alphabet"):
        hwm.rank(10, 3)
    with pytest.raises(ValueError, match="alphabet"):
        hwm.rank(-1, 3)
    with pytest.raises(IndexError):
        hwm.decode(3, 9)
    with pytest.raises(IndexError):
        hwm.decode(5, 4)
    with pytest.raises(ValueError, match="elements"):
        hwm.decode_into(0, 8, np.zeros(4, dtype=np.uint8))
    with pytest.raises(TypeError):
        hwm.decode_into(0, 8, np.zeros(8, dtype=np.float32))
    with pytest.raises(TypeError):
        hwm.access(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("depth_limit", [32, 12])
def test_build_carrying_codes(monkeypatch: pytest.MonkeyPatch, depth_limit: int) -> None:
    # the big-alphabet build path (codes instead of symbols through the levels), forced small
    monkeypatch.setattr(huffman_wm, "_DIRECT_CODES", 0)
    rng = np.random.default_rng(11)
    x = (rng.zipf(1.5, 5000) % 100_000).astype(np.uint32)
    hwm = HuffmanWaveletMatrix(x, max_code_length=depth_limit)
    check_all(hwm, x, rng)


def test_masked_store_fallback_matches() -> None:
    # the tzcnt fallback (CPUs without AVX-512BW) against the vector path, every width
    from numba import njit

    from sckit.succinct import _bitops as K

    soft = njit(K._masked_store_soft.py_func)
    fast = njit(K.masked_store.py_func) if K.HAS_AVX512BW else soft
    rng = np.random.default_rng(3)
    for dt in (np.uint8, np.uint16, np.uint32, np.int64):
        a, b, ref = np.zeros(70, dt), np.zeros(70, dt), np.zeros(70, dt)
        for _ in range(20):
            m = np.uint64(rng.integers(0, 2**63)) | np.uint64(rng.integers(0, 2)) << np.uint64(63)
            o, s = int(rng.integers(0, 6)), int(rng.integers(0, 200))
            soft(a.view(np.uint8), o, m, s, a.itemsize)
            fast(b.view(np.uint8), o, m, s, b.itemsize)
            ref[
                o + np.flatnonzero(np.unpackbits(np.array([m]).view(np.uint8), bitorder="little"))
            ] = s
            assert np.array_equal(a, ref) and np.array_equal(b, ref)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=2, max_size=300))
def test_kernels_match_numpy_reference(xs: list[int]) -> None:
    x = np.array(xs)
    hwm = HuffmanWaveletMatrix(x)
    levels = _hwm_reference.ref_level_bits(x, hwm._code)
    flat = np.concatenate(levels) if levels else np.zeros(0, np.uint8)
    got = np.unpackbits(hwm._words.view(np.uint8), bitorder="little")[: flat.size]
    assert np.array_equal(got, flat)
    assert [lv.size for lv in levels] == hwm.level_sizes.tolist()
    if levels:
        assert [_hwm_reference.ref_access(levels, hwm._code, i) for i in range(x.size)] == xs


def test_dense_large_alphabet_uses_bitmap_table() -> None:
    rng = np.random.default_rng(8)
    x = rng.integers(0, 2**16, 1_500_000).astype(np.uint32)  # all 65536 values occur
    hwm = HuffmanWaveletMatrix(x)
    meta, arrays = hwm.to_arrays()
    assert meta["symbols_as"] == "bitmap" and arrays["symbols"].nbytes == 2**16 // 8
    assert hwm.bits_per_symbol <= 1.07 * hwm.avg_code_length
    r = HuffmanWaveletMatrix.from_bytes(hwm.to_bytes())
    assert np.array_equal(r.code_table()[0], np.unique(x)) and np.array_equal(r.decode(), x)


def test_from_arrays_rejects_bits_that_do_not_fit_the_tree() -> None:
    # same sizes and checksum-free arrays, but level bits that route too many symbols to a node
    x = float_exponents(5000, seed=9)
    hwm = HuffmanWaveletMatrix(x)
    meta, arrays = hwm.to_arrays()
    from sckit.succinct.bitvector import BitVector

    words = arrays["words"].copy()
    words[0] ^= np.uint64(0xFFFF)  # flip bits of level 0 only
    n_bits = meta["n_bits"]
    _, bva = BitVector.from_words(words[: (n_bits + 63) // 64], n_bits).to_arrays()
    bad = dict(arrays, words=words, rank_dir=bva["rank_dir"], sel1=bva["sel1"], sel0=bva["sel0"])
    with pytest.raises(FormatError):
        HuffmanWaveletMatrix.from_arrays(meta, bad)


@pytest.mark.parametrize("symbols", [[5, 5, 5, 5, 9, 9, 700, 5], list(range(300)) * 2 + [7] * 50, [3]])
def test_symbol_counts_from_the_build_equal_counting_a_loaded_copy(symbols: list[int]) -> None:
    built = HuffmanWaveletMatrix(symbols)
    loaded = HuffmanWaveletMatrix.from_bytes(built.to_bytes())  # no histogram: counts by queries
    syms, counts = built.symbol_counts()
    assert np.array_equal(syms, built.code_table()[0])
    expected = np.array([symbols.count(int(c)) for c in syms], dtype=np.int64)
    assert np.array_equal(counts, expected)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.symbol_counts(), (syms, counts), strict=True))
