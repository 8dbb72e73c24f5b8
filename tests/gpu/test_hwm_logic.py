"""The Huffman-shaped wavelet-matrix kernels' logic, run on the CPU, equals sckit.succinct.

kernels_cu/hwm_core.cuh is __host__ __device__; tests/gpu/host_harness.cu compiles it as host
code and replays hwm_range_decode's warp mapping (rank of the first lane + popcount of the
ballot), so the decode that runs on the GPU is checked here without one. The `gpu`-marked tests
in test_cuda_backend.py repeat this through the real kernels.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from sckit.backends.hwm_layout import layout_from_huffman_wm
from sckit.succinct.huffman_wm import HuffmanWaveletMatrix
from tests.gpu.conftest import ptr


def _args(lay):
    return (*(ptr(a) for a in lay.arrays()), ctypes.c_uint32(lay.n_internal),
            ctypes.c_uint64(lay.n))


def host_decode(lib, lay, start: int, stop: int) -> np.ndarray:
    out = np.zeros(max(1, stop - start), dtype=np.uint32)
    lib.host_hwm_range_decode(*_args(lay), ctypes.c_uint64(start), ctypes.c_uint64(stop - start),
                              ptr(out))
    return out[: stop - start]


def host_access(lib, lay, pos: np.ndarray) -> np.ndarray:
    pos = np.ascontiguousarray(pos, dtype=np.uint64)
    out = np.zeros(max(1, pos.size), dtype=np.uint32)
    lib.host_hwm_access_many(*_args(lay), ptr(pos if pos.size else np.zeros(1, np.uint64)),
                             ctypes.c_uint64(pos.size), ptr(out))
    return out[: pos.size]


def _symbols(kind: str, sigma: int, n: int, rng) -> np.ndarray:
    if kind == "uniform":
        return rng.integers(0, sigma, n).astype(np.uint32)
    if kind == "skewed":  # a few symbols dominate, like float exponents
        sym = np.minimum(rng.geometric(0.3, n) - 1, sigma - 1).astype(np.uint32)
        k = max(1, n // 10)
        sym[rng.integers(0, n, k)] = rng.integers(0, sigma, k)
        return sym
    # sparse large alphabet: few distinct values spread over [0, sigma)
    values = np.unique(rng.integers(0, sigma, 40)).astype(np.uint32)
    return values[np.minimum(rng.geometric(0.15, n) - 1, values.size - 1)]


CASES = [("uniform", 1, 10), ("uniform", 2, 1), ("skewed", 5, 63), ("uniform", 16, 1000),
         ("skewed", 256, 4099), ("uniform", 3000, 2500), ("sparse", 2**20, 700),
         ("sparse", 2**32 - 5, 333), ("skewed", 513, 31)]


@pytest.mark.parametrize("kind,sigma,n", CASES)
def test_host_decode_and_access_match_cpu(host_kernels, kind, sigma, n):
    rng = np.random.default_rng(sigma % 10_007 + n)
    sym = _symbols(kind, sigma, n, rng)
    hwm = HuffmanWaveletMatrix(sym)
    lay = layout_from_huffman_wm(hwm)
    assert lay.n == n and lay.n_levels == hwm.n_levels

    assert np.array_equal(host_decode(host_kernels, lay, 0, n), sym)
    # ranges that start and end mid-warp, empty ranges, one symbol
    for a, b in [(0, 0), (n // 3, n // 3), (n, n), (1, min(n, 40)), (n // 2, n), (n - 1, n),
                 (min(5, n), min(n, 5 + 64 + 7))]:
        assert np.array_equal(host_decode(host_kernels, lay, a, b), hwm.decode(a, b)), (a, b)
    pos = rng.integers(0, n, 500)
    assert np.array_equal(host_access(host_kernels, lay, pos), hwm.access_many(pos))
    assert host_access(host_kernels, lay, np.zeros(0)).size == 0


def test_float_exponent_stream(host_kernels):
    # the RAS use: sign + exponent symbols of N(0, 0.02) float32 weights, length not a multiple
    # of 32, plus a delimiter symbol every 75 weights
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.02, 30_001).astype(np.float32).view(np.uint32)
    sym = (w >> np.uint32(23)).astype(np.uint32)
    sym = np.insert(sym, np.arange(0, sym.size, 75), 512)
    hwm = HuffmanWaveletMatrix(sym)
    lay = layout_from_huffman_wm(hwm)
    assert lay.n_levels > 8  # a real Huffman shape, not a balanced tree
    assert np.array_equal(host_decode(host_kernels, lay, 0, sym.size), sym)
    assert np.array_equal(host_decode(host_kernels, lay, 7777, 12345), sym[7777:12345])


def test_layout_matches_serialized_structure():
    rng = np.random.default_rng(3)
    sym = rng.integers(0, 50, 1000) ** 2
    hwm = HuffmanWaveletMatrix(sym)
    lay = layout_from_huffman_wm(hwm)
    meta, arrays = hwm.to_arrays()
    assert lay.n_bits == meta["n_bits"] and int(lay.cum[-1]) == int(
        np.bitwise_count(arrays["words"]).sum())
    sizes = hwm.level_sizes
    assert np.array_equal(np.diff(lay.lvl_off.astype(np.int64)), sizes)
    # zeros + ones of each level = its size
    ones = np.diff(lay.lvl_base.astype(np.int64))
    assert np.array_equal(lay.lvl_zeros.astype(np.int64) + ones, sizes)
    assert lay.child.dtype == np.int32 and lay.n_internal == lay.node_level.size


def test_empty_and_single_symbol_layouts(host_kernels):
    empty = layout_from_huffman_wm(HuffmanWaveletMatrix(np.zeros(0, np.uint32)))
    assert empty.n == 0 and empty.words.size >= 1 and empty.child.size >= 1
    assert host_decode(host_kernels, empty, 0, 0).size == 0
    one = layout_from_huffman_wm(HuffmanWaveletMatrix(np.full(77, 4242, np.uint32)))
    assert one.n_internal == 0 and one.n_bits == 0
    assert (host_decode(host_kernels, one, 3, 77) == 4242).all()
    assert (host_access(host_kernels, one, np.array([0, 76])) == 4242).all()


def test_oversized_layout_is_refused():
    class Fake:  # only the n_bits check runs before anything else is read
        def to_arrays(self):
            return {"n": 1, "n_bits": 1 << 32, "sigma": 2}, {}

    with pytest.raises(ValueError, match="uint32 rank"):
        layout_from_huffman_wm(Fake())


@pytest.mark.parametrize("kind,sigma,n", [("uniform", 1, 40), ("skewed", 200, 999),
                                          ("uniform", 3000, 2500), ("sparse", 2**20, 700)])
def test_launcher_against_emulated_kernels(emulated_kernels, kind, sigma, n):
    # the launcher's argument list, types and output dtype checked against hwm_decode.cu's
    # signature, and its results against the CPU structure (conftest.emulated_kernels)
    from sckit.backends.hwm_decode import CudaHuffmanWaveletMatrix

    rng = np.random.default_rng(n)
    sym = _symbols(kind, sigma, n, rng)
    hwm = HuffmanWaveletMatrix(sym)
    gpu = CudaHuffmanWaveletMatrix(hwm)
    full = gpu.decode().numpy()
    assert full.dtype == hwm.dtype or full.dtype.itemsize <= 4
    assert np.array_equal(full.astype(np.uint32), sym)
    assert np.array_equal(gpu.decode(n // 3, n - 1).numpy(), hwm.decode(n // 3, n - 1))
    assert gpu.decode(5, 5).numel() == 0
    pos = rng.integers(0, n, 300)
    assert np.array_equal(gpu.access_many(pos).numpy(), hwm.access_many(pos))
    wide = CudaHuffmanWaveletMatrix(hwm, out_dtype=np.uint32)
    assert np.array_equal(wide.decode().numpy(), sym)
    assert {d["OUT_T"] for _, _, d in emulated_kernels} >= {2}
    with pytest.raises(IndexError):
        gpu.decode(0, n + 1)
    with pytest.raises(IndexError):
        gpu.access_many([n])
    with pytest.raises(ValueError, match="out_dtype"):
        CudaHuffmanWaveletMatrix(hwm, out_dtype=np.int32)


def test_launch_defines_are_compile_tested():
    # every -D set the launchers can pass is one test_kernels_compile.py compiles for sm_80/90
    from sckit.backends.float_fields import launch_defines as ff_defines
    from sckit.backends.hwm_decode import launch_defines as hwm_defines
    from tests.gpu.test_kernels_compile import LAUNCH_DEFINES

    for sigma in (1, 256, 257, 1 << 16, (1 << 16) + 1, 1 << 32):
        assert hwm_defines(sigma) in LAUNCH_DEFINES["hwm_decode"]
    for itemsize in (1, 2, 4, 8):
        assert ff_defines(itemsize) in LAUNCH_DEFINES["float_fields"]
    with pytest.raises(ValueError):
        ff_defines(3)
