"""The kernels' decode logic, run on the CPU, equals sckit.succinct bit for bit.

The primitives in kernels_cu/wm_core.cuh are __host__ __device__; tests/gpu/host_harness.cu
compiles them as host code with nvcc, so this differential test runs on machines without a GPU
(the `gpu`-marked tests in test_cuda_backend.py repeat it through the real kernels).
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from sckit.backends.wm_layout import layout_from_wavelet_matrix
from sckit.succinct.wavelet_matrix import WaveletMatrix
from tests.gpu.conftest import ptr

U64_MAX = np.iinfo(np.uint64).max


def _args(lay):
    return (ptr(lay.words), ptr(lay.cum), ptr(lay.zeros), ctypes.c_uint32(lay.n_levels),
            ctypes.c_uint64(lay.n), ctypes.c_uint64(lay.n_words))


@pytest.mark.parametrize("sigma,n", [(1, 10), (2, 1), (5, 63), (16, 1000), (256, 4099),
                                     (3000, 2500), (2**20, 700)])
def test_host_primitives_match_cpu_structure(host_kernels, sigma, n):
    rng = np.random.default_rng(sigma * 7 + n)
    # skewed data: a few symbols dominate, like float exponents
    sym = np.minimum(rng.geometric(0.3, n) - 1, sigma - 1).astype(np.uint32)
    sym[rng.integers(0, n, max(1, n // 10))] = rng.integers(0, sigma, max(1, n // 10))
    wm = WaveletMatrix(sym, sigma=sigma)
    lay = layout_from_wavelet_matrix(wm)

    pos = np.arange(n, dtype=np.uint64)
    out = np.zeros(n, dtype=np.uint32)
    host_kernels.host_wm_access_many(*_args(lay), ptr(pos), ctypes.c_uint64(n), ptr(out))
    assert np.array_equal(out, sym)

    for c in np.unique(np.r_[sym[:3], 0, sigma - 1]):
        qs = np.r_[0, rng.integers(0, n + 1, 50), n].astype(np.uint64)
        ranks = np.zeros(qs.size, dtype=np.uint64)
        host_kernels.host_wm_rank_many(*_args(lay), ctypes.c_uint32(int(c)), ptr(qs),
                                       ctypes.c_uint64(qs.size), ptr(ranks))
        assert np.array_equal(ranks, wm.rank_many(int(c), qs.astype(np.int64)))

        count = int(np.count_nonzero(sym == c))
        ks = np.arange(count + 2, dtype=np.uint64)  # the last two do not exist
        sel = np.zeros(ks.size, dtype=np.uint64)
        host_kernels.host_wm_select_many(*_args(lay), ctypes.c_uint32(int(c)), ptr(ks),
                                         ctypes.c_uint64(ks.size), ptr(sel))
        assert np.array_equal(sel[:count], np.flatnonzero(sym == c))
        assert (sel[count:] == U64_MAX).all()


def test_layout_counts_are_ranks():
    sym = np.arange(200, dtype=np.uint32) % 7
    wm = WaveletMatrix(sym)
    lay = layout_from_wavelet_matrix(wm)
    assert lay.n_levels == wm.n_levels and np.array_equal(lay.zeros, wm.zeros)
    cum = lay.cum.reshape(lay.n_levels, lay.n_words + 1)
    for lvl in range(lay.n_levels):
        bits = wm.level_bits(lvl)
        assert cum[lvl, -1] == bits.sum()
        assert cum[lvl, 1] == bits[:64].sum()
