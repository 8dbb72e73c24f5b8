"""Differential tests of the real CUDA kernels against the CPU structures (marker ``gpu``).

They skip, saying why, on machines without a usable CUDA backend (driver + device + pycuda +
CUDA torch); run them on the lent GPU machine (see docs/benchmarks.md for how).
"""

from __future__ import annotations

import numpy as np
import pytest

from sckit.succinct.wavelet_matrix import WaveletMatrix

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("gpu_available")]

CASES = [(1, 33), (2, 1), (16, 31), (16, 100_003), (256, 65_537), (3000, 4097), (2**20, 1000)]


@pytest.mark.parametrize("sigma,n", CASES)
def test_range_decode_and_access(sigma, n):
    from sckit.backends.wm_decode import CudaWaveletMatrix

    rng = np.random.default_rng(n)
    sym = rng.integers(0, sigma, n).astype(np.uint32)
    wm = WaveletMatrix(sym, sigma=sigma)
    gpu = CudaWaveletMatrix(wm)
    full = gpu.decode().cpu().numpy()
    assert np.array_equal(full.astype(np.uint32), sym)
    for a, b in [(0, 0), (n // 3, n // 3), (1, min(n, 40)), (n // 2, n)]:
        assert np.array_equal(gpu.decode(a, b).cpu().numpy(), wm.decode(a, b))
    pos = rng.integers(0, n, 1000)
    assert np.array_equal(gpu.access_many(pos).cpu().numpy(), wm.access_many(pos))


@pytest.mark.parametrize("sigma,n", CASES[1:5])
def test_rank_select_many(sigma, n):
    from sckit.backends.wm_query import CudaWaveletQueries

    rng = np.random.default_rng(sigma)
    sym = rng.integers(0, sigma, n).astype(np.uint32)
    wm = WaveletMatrix(sym, sigma=sigma)
    gpu = CudaWaveletQueries(wm)
    c = int(sym[0])
    pos = rng.integers(0, n + 1, 1000)
    assert np.array_equal(gpu.rank_many(c, pos).cpu().numpy(), wm.rank_many(c, pos))
    ks = np.arange(int(np.count_nonzero(sym == c)))
    assert np.array_equal(gpu.select_many(c, ks).cpu().numpy(), wm.select_many(c, ks))
    with pytest.raises(IndexError):
        gpu.select_many(c, [len(ks)])
