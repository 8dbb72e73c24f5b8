"""The GPU RAS decode pipeline, run on the CPU, equals RAS.decode bit for bit.

Both stages are the __host__ __device__ code of the kernels (host build, tests/gpu/host_harness.cu):
hwm_core.cuh decodes the symbol stream of the wanted rows (with hwm_range_decode's warp mapping),
float_fields.cuh merges symbols + raw fields (or codebook codes) into bit patterns, with the
arguments the launcher derives (sckit.backends.float_fields.merge_plan). The `gpu`-marked tests
in test_cuda_backend.py repeat this through the real kernels.
"""

from __future__ import annotations

import ctypes
import zlib

import numpy as np
import pytest

from sckit import ras
from sckit.backends.float_fields import merge_plan, supports
from sckit.backends.hwm_layout import layout_from_huffman_wm
from tests.gpu.conftest import ptr
from tests.gpu.test_hwm_logic import host_decode


def host_merge(lib, r, r0=None, r1=None) -> tuple[np.ndarray, int]:
    """Rows [r0, r1) of a dense RAS through the host build of both kernels' logic."""
    plan = merge_plan(r, r0, r1)
    out = np.zeros(max(1, plan.count), dtype=np.uint64)
    if plan.count == 0:
        return out[:0], 0
    sym = host_decode(lib, layout_from_huffman_wm(r.wm), plan.sym_start, plan.sym_stop)
    sym = np.ascontiguousarray(sym, dtype=np.uint32)
    lib.host_ff_merge.restype = ctypes.c_uint64
    bad = lib.host_ff_merge(
        ptr(sym), ctypes.c_uint64(plan.sym_start), ptr(plan.raw), ptr(plan.rps),
        ctypes.c_uint32(plan.n_rps), ctypes.c_uint64(plan.row_len), ctypes.c_uint32(plan.shift),
        ctypes.c_int32(plan.sign_pos), ptr(plan.codebook), ctypes.c_uint64(plan.n_codebook),
        ctypes.c_uint64(plan.e0), ctypes.c_uint64(plan.count), ptr(out))
    return out[: plan.count], int(bad)


def _bits(dtype: str, shape: tuple[int, ...], rng, *, scale: float = 0.02) -> np.ndarray:
    """Zoo-like weights N(0, scale) as the bit patterns of ``dtype``."""
    w = rng.normal(0, scale, shape).astype(np.float32)
    if dtype == "float32":
        return w.view(np.uint32)
    if dtype == "float16":
        return w.astype(np.float16).view(np.uint16)
    # bfloat16: the top half of float32, round to nearest even
    u = w.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def _check(lib, r, ref_bits: np.ndarray) -> None:
    assert supports(r) and not r.sparse
    cpu = r.decode()
    assert np.array_equal(cpu.reshape(-1), ref_bits.reshape(-1))  # the CPU path is lossless
    got, bad = host_merge(lib, r)
    assert bad == 0
    assert np.array_equal(got.astype(cpu.dtype), cpu.reshape(-1))
    assert not np.any(got >> np.uint64(8 * cpu.dtype.itemsize))  # nothing above the item width
    if len(r.shape) >= 2 and r.shape[0] >= 3:  # row ranges, as decode_rows
        rpd = r.layout.rows_per_dim0()
        n0 = r.shape[0]
        for a, b in [(1, n0 - 1), (n0 - 1, n0), (2, 2)]:
            got, _ = host_merge(lib, r, a * rpd, b * rpd)
            assert np.array_equal(got.astype(cpu.dtype), r.decode_rows(a, b).reshape(-1)), (a, b)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("kind", ["block", "element"])
@pytest.mark.parametrize("shape", [(37, 3, 3, 3), (65, 33), (1001,), (3, 1, 31)])
def test_zoo_like_weights(host_kernels, dtype, kind, shape):
    rng = np.random.default_rng(zlib.crc32(repr((dtype, kind, shape)).encode()))
    bits = _bits(dtype, shape, rng)
    r = ras.encode(bits, dtype=dtype, kind=kind, sparse=False, codebook=False)
    _check(host_kernels, r, bits)


def test_sign_in_symbol_and_sign_raw_both_covered(host_kernels):
    rng = np.random.default_rng(1)
    seen = set()
    for w in (rng.normal(0, 0.02, (64, 100)), np.abs(rng.normal(0, 0.02, (64, 100))) + 1e-3):
        bits = w.astype(np.float32).view(np.uint32)
        r = ras.encode(bits, dtype="float32", sparse=False, codebook=False)
        seen.add(r.sign_raw)
        _check(host_kernels, r, bits)
    assert seen == {True, False}, "both sign placements must be exercised"


def test_special_values(host_kernels):
    # -0.0, infinities, NaN payloads, denormals: integer views round-trip like any pattern
    specials = np.array([0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0xFFFFFFFF, 1, 0x807FFFFF,
                         0], dtype=np.uint32)
    bits = np.tile(specials, 40).reshape(20, 16)
    r = ras.encode(bits, dtype="float32", sparse=False, codebook=False)
    _check(host_kernels, r, bits)


def test_codebook_layers(host_kernels):
    rng = np.random.default_rng(2)
    centers = rng.normal(0, 0.05, 16).astype(np.float32)
    bits = centers[rng.integers(0, 16, (50, 27))].view(np.uint32)
    r = ras.encode(bits, dtype="float32", sparse=False, codebook=True)
    assert r.codebook is not None
    _check(host_kernels, r, bits)
    one = ras.encode(np.full((9, 7), 3, np.float16), sparse=False, codebook=True)  # 1 symbol
    _check(host_kernels, one, np.full((9, 7), 3, np.float16).view(np.uint16))


def test_corrupt_codebook_symbol_is_reported(host_kernels):
    rng = np.random.default_rng(4)
    centers = np.arange(1, 9, dtype=np.float32)
    bits = centers[rng.integers(0, 8, (10, 10))].view(np.uint32)
    r = ras.encode(bits, dtype="float32", sparse=False, codebook=True)
    r.codebook = r.codebook[:4]  # codes 4..7 now point past the codebook
    stream = r.wm.decode()
    values = stream[stream < r.layout.alphabet]  # delimiters are numbered from the alphabet on
    _, bad = host_merge(host_kernels, r)
    assert bad == int(np.count_nonzero(values >= 4)) > 0


@pytest.mark.parametrize("dtype,values", [
    ("int8", lambda g: g.integers(-128, 128, (33, 5)).astype(np.int8)),
    ("uint16", lambda g: g.integers(0, 2**16, (7, 130)).astype(np.uint16)),
    ("int32", lambda g: g.integers(-2**31, 2**31, (17, 9)).astype(np.int32)),
])
def test_integer_dtypes(host_kernels, dtype, values):
    v = values(np.random.default_rng(5))
    r = ras.encode(v, sparse=False, codebook=False)
    _check(host_kernels, r, v.view(np.dtype(v.dtype.str.replace("i", "u"))))


def test_empty_and_sparse():
    r = ras.encode(np.zeros((0, 4), np.float32), sparse=False)
    plan = merge_plan(r)
    assert plan.count == 0 and plan.sym_stop == plan.sym_start
    w = np.zeros((40, 40), np.float32)
    w[::7, ::3] = 1.5
    sp = ras.encode(w, sparse=True)
    assert sp.sparse and not supports(sp)
    with pytest.raises(ValueError, match="dense"):
        merge_plan(sp)
    with pytest.raises(IndexError):
        merge_plan(ras.encode(np.ones((4, 4), np.float32), sparse=False), 0, 5)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("kind", ["block", "element"])
def test_launcher_against_emulated_kernels(emulated_kernels, dtype, kind):
    # CudaRAS end to end (hwm_range_decode then ff_merge) with the kernels' argument lists
    # checked against their signatures and run on host builds (conftest.emulated_kernels)
    import torch

    from sckit.backends.float_fields import CudaRAS

    bits = _bits(dtype, (70, 3, 5), np.random.default_rng(7))
    r = ras.encode(bits, dtype=dtype, kind=kind, sparse=False, codebook=False)
    gpu = CudaRAS(r)
    got = gpu.decode()
    assert got.dtype == getattr(torch, dtype) and tuple(got.shape) == r.shape
    iview = {4: torch.int32, 2: torch.int16}[got.element_size()]
    assert np.array_equal(got.view(iview).numpy().view(r.decode().dtype), r.decode())
    rows = gpu.decode_rows(3, 69)
    assert np.array_equal(rows.view(iview).numpy().view(bits.dtype), r.decode_rows(3, 69))
    assert gpu.decode_rows(4, 4).numel() == 0
    assert [name for _, name, _ in emulated_kernels[-2:]] == ["hwm_range_decode", "ff_merge"]
    with pytest.raises(IndexError):
        gpu.decode_rows(0, 71)
    with pytest.raises(ValueError, match="out must be"):
        gpu.decode(out=torch.empty(3))


def test_launcher_codebook_and_corruption(emulated_kernels):
    import torch

    from sckit.backends.float_fields import CudaRAS, decode_ras
    from sckit.errors import FormatError

    rng = np.random.default_rng(8)
    centers = rng.normal(0, 0.05, 16).astype(np.float32)
    bits = centers[rng.integers(0, 16, (40, 33))].view(np.uint32)
    r = ras.encode(bits, dtype="float32", sparse=False, codebook=True)
    assert r.codebook is not None
    assert np.array_equal(decode_ras(r).view(torch.int32).numpy().view(np.uint32), bits)
    v = rng.integers(-128, 128, (9, 31)).astype(np.int8)
    r8 = ras.encode(v, sparse=False, codebook=False)
    assert torch.equal(decode_ras(r8), torch.from_numpy(v))
    r.codebook = r.codebook[:3]
    with pytest.raises(FormatError, match="codebook"):
        CudaRAS(r).decode()
    w = np.zeros((30, 30), np.float32)
    w[::9] = 1.0
    with pytest.raises(ValueError, match="dense"):
        CudaRAS(ras.encode(w, sparse=True))


def test_stream_position_arithmetic_past_32_bits(host_kernels):
    # tensors of >= 2**32 weights take the 64-bit path; both must equal Layout.row_position
    f = host_kernels.host_ff_stream_pos
    f.restype = ctypes.c_uint64
    cases = [((1,), 75, [0, 74, 75, 2**32 - 1, 2**32, 2**40 + 3]),
             ((2**33, 6, 1), 5, [0, 29, 30, 2**31, 2**32 + 7, 2**35 * 5 + 4]),
             ((3, 1), 2**32 + 9, [0, 2**32 + 8, 2**32 + 9, 2**34])]
    for rps, row_len, es in cases:
        arr = np.asarray(rps, dtype=np.uint64)
        for e in es:
            r = e // row_len
            want = e + sum(r // q + 1 for q in rps)
            got = f(ptr(arr), ctypes.c_uint32(arr.size), ctypes.c_uint64(row_len),
                    ctypes.c_uint64(e))
            assert got == want, (rps, row_len, e)
