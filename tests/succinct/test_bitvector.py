"""BitVector against naive oracles (cumsum, flatnonzero) and the numpy reference directory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sckit.succinct.bitvector import BitVector, _ref_rank1, _ref_rank_dir, _ref_select


@st.composite
def bit_arrays(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(0, 6000))
    p = draw(st.sampled_from([0.0, 0.001, 0.05, 0.5, 0.95, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return (np.random.default_rng(seed).random(n) < p).astype(np.uint8)


def check_all(b: np.ndarray) -> None:
    bv = BitVector(b)
    n = b.shape[0]
    cs = np.concatenate([[0], np.cumsum(b, dtype=np.int64)])
    i = np.arange(n + 1)
    assert len(bv) == n and bv.n_ones == int(b.sum())
    assert np.array_equal(bv.rank1_many(i), cs)
    assert np.array_equal(bv.rank0_many(i), i - cs)
    assert np.array_equal(bv.access_many(np.arange(n)), b)
    ones, zeros = np.flatnonzero(b), np.flatnonzero(1 - b)
    assert np.array_equal(bv.select1_many(np.arange(ones.size)), ones)
    assert np.array_equal(bv.select0_many(np.arange(zeros.size)), zeros)
    # select1(rank1(i)) == i where bit i is set
    assert np.array_equal(bv.select1_many(bv.rank1_many(ones)), ones)
    # the numpy reference implementation agrees with the numba kernels
    assert np.array_equal(_ref_rank_dir(bv.words, n), bv._rdir)
    assert np.array_equal(_ref_rank1(bv.words, bv._rdir, i), cs)
    assert np.array_equal(_ref_select(b, np.arange(ones.size), True), ones)
    assert np.array_equal(bv.to_numpy(), b)


@settings(max_examples=40, deadline=None)
@given(bit_arrays())
def test_rank_select_access_match_oracles(b: np.ndarray) -> None:
    check_all(b)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 511, 512, 2047, 2048, 2049, 300_001])
@pytest.mark.parametrize("p", [0.0, 0.0005, 0.5, 0.9995, 1.0])
def test_block_boundaries_and_densities(n: int, p: float) -> None:
    check_all((np.random.default_rng(n).random(n) < p).astype(np.uint8))


def test_sparse_select_spans_many_blocks() -> None:
    # a few ones far apart: select must binary-search many directory blocks between samples
    n = 3_000_000
    pos = np.array([5, 70_000, 1_999_999, 2_999_999])
    b = np.zeros(n, np.uint8)
    b[pos] = 1
    bv = BitVector(b)
    assert bv.select1_many(np.arange(4)).tolist() == pos.tolist()
    assert bv.select0(5) == 6 and bv.select0(n - 5) == n - 2
    assert bv.rank1(2_000_000) == 3


def test_scalar_queries_small_example() -> None:
    bv = BitVector([1, 0, 1, 1, 0, 0, 1])
    assert [bv.access(i) for i in range(7)] == [1, 0, 1, 1, 0, 0, 1]
    assert [bv.rank1(i) for i in range(8)] == [0, 1, 1, 2, 3, 3, 3, 4]
    assert [bv.rank0(i) for i in range(8)] == [0, 0, 1, 1, 1, 2, 3, 3]
    assert [bv.select1(k) for k in range(4)] == [0, 2, 3, 6]
    assert [bv.select0(k) for k in range(3)] == [1, 4, 5]
    assert bv[6] == 1


def test_bool_input_and_from_words() -> None:
    rng = np.random.default_rng(1)
    b = rng.random(1000) < 0.3
    bv = BitVector(b)
    assert BitVector(b.astype(np.int64)) == bv
    w = np.packbits(b, bitorder="little")
    words = np.zeros(16, np.uint64)
    words.view(np.uint8)[: w.size] = w
    assert BitVector.from_words(words, 1000) == bv
    dirty = words.copy()
    dirty[-1] |= np.uint64(1) << np.uint64(63)  # bit 1023 lies past n: must be ignored
    assert BitVector.from_words(dirty, 1000) == bv
    assert dirty[-1] >> np.uint64(63) == 1  # the caller's array is not modified


def test_space_overhead_within_budget() -> None:
    bv = BitVector(np.random.default_rng(2).random(1_000_000) < 0.5)
    sp = bv.space()
    assert sum(sp.values()) == bv.nbytes == len(bv.to_bytes())
    # rank directory + select samples <= 6.25% of the bits (issue 2)
    assert (sp["rank_directory"] + sp["select_samples"]) / sp["bits"] <= 0.0625
    assert sp["rank_directory"] / sp["bits"] <= 0.0315  # 3.125% + the sentinel entry


def test_serialization_round_trip_and_zero_copy() -> None:
    for n in [0, 1, 100, 5000]:
        b = (np.random.default_rng(n).random(n) < 0.4).astype(np.uint8)
        bv = BitVector(b)
        raw = bv.to_bytes()
        assert len(raw) == bv.nbytes
        bv2 = BitVector.from_bytes(raw)
        assert bv2 == bv and np.array_equal(bv2.rank1_many(np.arange(n + 1)), bv.rank1_many(np.arange(n + 1)))
        meta, arrays = bv.to_arrays()
        bv3 = BitVector.from_arrays(meta, arrays)
        assert n == 0 or np.shares_memory(bv3.words, arrays["words"])
        if bv.n_ones:
            assert bv3.select1(bv.n_ones - 1) == int(np.flatnonzero(b)[-1])


@pytest.mark.parametrize(
    "bits, exc",
    [
        ([0, 1, 2], ValueError),
        ([0, -1], ValueError),
        ([0.5, 1.0], ValueError),
        ([[0, 1], [1, 0]], ValueError),
    ],
)
def test_bad_bits(bits: list, exc: type) -> None:
    with pytest.raises(exc):
        BitVector(bits)


def test_bad_positions() -> None:
    bv = BitVector([1, 0, 1])
    for f, arg in [(bv.access, 3), (bv.access, -1), (bv.rank1, 4), (bv.rank0, -1), (bv.select1, 2),
                   (bv.select0, 1), (bv.select1, -1)]:
        with pytest.raises(IndexError):
            f(arg)
    with pytest.raises(IndexError):
        bv.rank1_many([0, 4])
    with pytest.raises(IndexError):
        bv.select0_many([1])
    with pytest.raises(TypeError):
        bv.access(1.0)
    with pytest.raises(TypeError):
        bv.rank1_many(np.array([0.5]))
    with pytest.raises(ValueError):
        BitVector.from_words(np.zeros(2, np.uint64), 200)
    with pytest.raises(ValueError):
        BitVector.from_words(np.zeros(2, np.int64), 100)
    with pytest.raises(IndexError):
        BitVector([]).select1(0)
