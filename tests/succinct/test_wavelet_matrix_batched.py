"""Batched queries of both wavelet matrices: the batch-level paths (sorted sweeps, dense
enumeration, decode and gather, lockstep lanes) give exactly what the per-query kernels and
naive oracles give."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sckit.succinct import _hwm_batch as B
from sckit.succinct import _hwm_kernels as H
from sckit.succinct import _wm_kernels as W
from sckit.succinct.huffman_wm import HuffmanWaveletMatrix
from sckit.succinct.wavelet_matrix import WaveletMatrix

BIG = 1 << 62


@pytest.fixture(params=["per-query", "dense", "sort"])
def path(request, monkeypatch):
    # which select / access path runs for unsorted batches (sorted ks always take the sweep,
    # which is also checked against the per-query kernel directly): "per-query" turns the batch
    # paths off, "dense" forces enumeration of all occurrences (select), decode-and-gather
    # (access) and decode + bitmap rank (rank), "sort" forces radix sort + sweeps (select) and per-query access
    dense = BIG if request.param == "dense" else 0
    monkeypatch.setattr(W, "SELECT_DENSE_FACTOR", dense)
    monkeypatch.setattr(W, "ACCESS_DECODE_FACTOR", dense)
    monkeypatch.setattr(W, "RANK_DENSE_FACTOR", dense)
    monkeypatch.setattr(W, "SELECT_SORT_FACTOR", BIG if request.param == "sort" else 0)
    return request.param


@st.composite
def cases(draw: st.DrawFn):
    n = draw(st.integers(0, 6000))
    sigma = draw(st.sampled_from([1, 2, 3, 16, 17, 256, 300, 70_000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["uniform", "geometric", "constant", "runs"]))
    if kind == "uniform":
        x = rng.integers(0, sigma, n)
    elif kind == "geometric":
        x = np.minimum(rng.geometric(0.2, n) - 1, sigma - 1)
    elif kind == "constant":
        x = np.full(n, sigma - 1)
    else:  # long runs: many empty / full blocks in some levels
        x = np.repeat(rng.integers(0, sigma, max(n // 700, 1)), 700)[:n]
    order = draw(st.sampled_from(["random", "sorted", "duplicates", "empty", "reversed"]))
    return x, sigma, order, rng


def make_queries(hi: int, order: str, rng: np.random.Generator) -> np.ndarray:
    if hi == 0 or order == "empty":
        return np.zeros(0, dtype=np.int64)
    m = int(rng.integers(1, 3 * hi + 2))
    q = rng.integers(0, hi, m)
    if order == "sorted":
        q.sort()
    elif order == "duplicates":
        q = np.sort(np.repeat(q[: max(m // 4, 1)], 4))
    elif order == "reversed":
        q = np.sort(q)[::-1].copy()
    return q


def build(cls: type, x: np.ndarray, sigma: int):
    return WaveletMatrix(x, sigma=sigma) if cls is WaveletMatrix else cls(x)


def per_query_select(wm, c: int, ks: np.ndarray) -> np.ndarray:
    if isinstance(wm, HuffmanWaveletMatrix):
        leaf = wm._leaf(c)
        if leaf < 0 or wm.n_levels == 0:  # no levels to walk: select is the identity
            return ks.astype(np.int64)
        out = np.empty(ks.size, dtype=np.int64)
        H.select_many(wm._words, wm._rdir, wm._s1, wm._s0, wm._n_bits, *wm._code_args(leaf)[2:],
                      len(wm), ks.astype(np.int64), out)
        return out
    count, bottom = W.wm_count_start(wm._bits, wm._rdir, wm._zeros, wm._L, c, len(wm))
    out = np.empty(ks.size, dtype=np.int64)
    W.wm_select_many(wm._bits, wm._rdir, wm._zeros, wm._sel, wm._sel_off, wm._L, len(wm), c, int(bottom),
                     ks.astype(np.int64), out)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases())
@pytest.mark.parametrize("cls", [WaveletMatrix, HuffmanWaveletMatrix])
def test_batched_queries_match_reference(path, cls, case) -> None:
    x, sigma, order, rng = case
    wm = build(cls, x, sigma)
    n = x.size
    idx = make_queries(n, order, rng)
    assert np.array_equal(wm.access_many(idx), x[idx]) and wm.access_many(idx).dtype == wm.dtype
    assert np.array_equal(wm.access_many(idx.reshape(-1, 1)), x[idx].reshape(-1, 1))
    vals, cnts = np.unique(x, return_counts=True)
    symbols = {0, wm.sigma - 1} | set(vals[np.argsort(-cnts)][:3].tolist())
    for c in sorted(symbols):
        pos = np.flatnonzero(x == c)
        ks = make_queries(pos.size, order, rng)
        got = wm.select_many(c, ks)
        assert got.dtype == np.int64 and got.shape == ks.shape
        assert np.array_equal(got, pos[ks])
        assert np.array_equal(got, per_query_select(wm, c, ks))
        assert np.array_equal(wm.select_many(c, ks.reshape(1, -1)), pos[ks].reshape(1, -1))
        r = make_queries(n + 1, order, rng)
        assert np.array_equal(wm.rank_many(c, r), np.concatenate([[0], np.cumsum(x == c)])[r])
        with pytest.raises(IndexError):
            wm.select_many(c, np.append(ks, pos.size))
        with pytest.raises(IndexError):
            wm.select_many(c, np.append(np.sort(ks), -1))
    with pytest.raises(IndexError):
        wm.access_many(np.append(idx, n))
    with pytest.raises(IndexError):
        wm.access_many(np.append(idx, -1))


@pytest.mark.parametrize("cls", [WaveletMatrix, HuffmanWaveletMatrix])
@pytest.mark.parametrize("sigma", [2, 16, 256])
def test_sweeps_cross_many_blocks(path, cls, sigma: int) -> None:
    # n spans many 2048-bit blocks and 4096-rank samples; skewed so some levels are very unbalanced
    rng = np.random.default_rng(sigma)
    x = np.minimum(rng.geometric(0.05, 200_003) - 1, sigma - 1)
    wm = build(cls, x, sigma)
    idx = rng.integers(0, x.size, 50_000)
    assert np.array_equal(wm.access_many(idx), x[idx])
    r = rng.integers(0, x.size + 1, 20_000)
    for c in (0, 1, wm.sigma - 1, int(np.bincount(x).argmax())):
        assert np.array_equal(wm.rank_many(c, r), np.concatenate([[0], np.cumsum(x == c)])[r])
        pos = np.flatnonzero(x == c)
        if pos.size == 0:
            continue
        for ks in (rng.integers(0, pos.size, 30_000), np.sort(rng.integers(0, pos.size, 30_000)),
                   np.arange(pos.size)):
            assert np.array_equal(wm.select_many(c, ks), pos[ks])


def test_sorted_sweep_kernel_directly() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 5, 40_000)
    wm = WaveletMatrix(x, sigma=5)
    for c in range(5):
        pos = np.flatnonzero(x == c)
        _, bottom = W.wm_count_start(wm._bits, wm._rdir, wm._zeros, wm._L, c, x.size)
        ks = np.sort(rng.integers(0, pos.size, 5000))
        out = np.empty(ks.size, np.int64)
        W.wm_select_many_sorted(wm._bits, wm._rdir, wm._zeros, wm._L, c, int(bottom), ks, out)
        assert np.array_equal(out, pos[ks])
        assert np.array_equal(out, per_query_select(wm, c, ks))


@pytest.mark.parametrize("m", [0, 1, 2, 5, 3000])
@pytest.mark.parametrize("hi", [1, 3, 2048, 1 << 20, 1 << 33])
def test_radix_argsort(m: int, hi: int) -> None:
    keys = np.random.default_rng(m + hi).integers(0, hi, m)
    sk, perm = W.radix_argsort(keys)
    assert np.array_equal(sk, np.sort(keys)) and np.array_equal(keys[perm], sk)
    assert np.array_equal(np.sort(perm), np.arange(m))


def test_is_sorted() -> None:
    assert W.is_sorted(np.zeros(0, np.int64)) and W.is_sorted(np.array([3], np.int64))
    assert W.is_sorted(np.array([1, 1, 2], np.int64)) and not W.is_sorted(np.array([2, 1], np.int64))


def test_hwm_sorted_sweep_kernel_directly() -> None:
    # deep levels of the one-vector layout start far from block 0 (binary-searched start)
    rng = np.random.default_rng(8)
    x = np.minimum(rng.geometric(0.3, 300_000) - 1, 40)
    hwm = HuffmanWaveletMatrix(x)
    for c in np.unique(x):
        pos = np.flatnonzero(x == c)
        args = hwm._code_args(hwm._leaf(int(c)))
        s, e = H.leaf_range(*args, x.size)
        assert e - s == pos.size
        ks = np.sort(rng.integers(0, pos.size, 3000))
        got = B.select_walk_sorted(*args, ks + s, np.empty_like(ks))
        assert np.array_equal(got, pos[ks]), int(c)
