"""The fused dense decoder (``grammar.decode_dense``: HWM decode through an L1 scratch buffer +
field merge in one pass) against the two-pass reference (``RAS._symbols`` + ``RAS._fill``) and the
input bits, across raw-field widths, layouts, scratch-boundary positions and row ranges."""

from __future__ import annotations

import numpy as np
import pytest

from sckit import ras
from sckit.ras import grammar


def _two_pass(r: ras.RAS, start: int, stop: int) -> np.ndarray:
    """Reference decode of dim-0 slices [start, stop): all symbols first, then the merge."""
    lay = r.layout
    rpd = lay.rows_per_dim0()
    r0, r1 = start * rpd, stop * rpd
    p0, p1 = lay.row_position(r0), lay.row_position(r1 - 1) + lay.row_len
    out = np.empty((stop - start, *r.shape[1:]), dtype=np.dtype(r.split.uint))
    r._fill(r._symbols(p0, p1), p0, r0, r1, out.reshape(-1))
    return out


def _float_bits(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, positive: bool) -> np.ndarray:
    x = rng.standard_normal(shape).astype(np.float32) * np.float32(0.02)
    if positive:  # skewed sign: the encoder keeps the sign in the symbol (raw width 23 / 10)
        x = np.abs(x)
    if dtype == "float32":
        return x.view(np.uint32)
    if dtype == "bfloat16":
        return (x.view(np.uint32) >> 16).astype(np.uint16)
    return x.astype(np.float16).view(np.uint16)


CASES = [  # (dtype, shape, kind, positive): row lengths below, at and above grammar.SCRATCH
    ("float32", (37, 3, 3, 5), "block", False),
    ("float32", (9, 5000), "block", False),
    ("float32", (3, 4096), "block", True),
    ("float32", (4, 3, 7, 11), "element", False),
    ("float32", (2, 3, 9000), "element", True),
    ("bfloat16", (20, 700), "block", False),
    ("float16", (6, 5, 333), "element", False),
    ("float16", (50, 99), "block", True),
]


@pytest.mark.parametrize("dtype,shape,kind,positive", CASES)
def test_fused_matches_two_pass_and_input(dtype, shape, kind, positive):
    rng = np.random.default_rng(len(shape) * 1000 + shape[-1])
    bits = _float_bits(rng, shape, dtype, positive)
    r = ras.encode(bits, dtype=dtype, kind=kind, sparse=False, codebook=False)
    assert r.wm.decode_kernel_args(r.n_stream) is not None  # the fused path is the one tested
    assert np.array_equal(r.decode(), bits)
    n0 = shape[0]
    for a, b in [(0, n0), (0, 1), (n0 - 1, n0), (n0 // 3, n0 - n0 // 4 or n0)]:
        want = bits[a:b]
        assert np.array_equal(r.decode_rows(a, b), want)
        assert np.array_equal(_two_pass(r, a, b), want)


def test_fused_raw_widths_covered():
    # the cases above reach every merge branch of decode_dense: 24-bit and 8-bit byte paths,
    # the generic bit reader (23 and 11/10 bits)
    widths = set()
    for dtype, shape, kind, positive in CASES:
        bits = _float_bits(np.random.default_rng(0), shape, dtype, positive)
        r = ras.encode(bits, dtype=dtype, kind=kind, sparse=False, codebook=False)
        widths.add(r.raw_bits)
    assert {24, 8, 23}.issubset(widths) and widths & {10, 11}


@pytest.mark.parametrize("dtype", ["int8", "uint16", "int32"])
def test_fused_integer_and_codebook(dtype):
    rng = np.random.default_rng(7)
    u = np.dtype({"int8": "uint8", "uint16": "uint16", "int32": "uint32"}[dtype])
    vals = rng.integers(0, 40, size=(13, 2 * grammar.SCRATCH + 5)).astype(u)
    for cb in (False, True):
        r = ras.encode(vals, dtype=dtype, kind="block", sparse=False, codebook=cb)
        assert (r.codebook is not None) == cb
        assert np.array_equal(r.decode(), vals)
        assert np.array_equal(r.decode_rows(4, 9), vals[4:9])
        assert np.array_equal(_two_pass(r, 4, 9), vals[4:9])


def test_fused_decode_into_out_and_one_symbol_stream():
    bits = np.full((5, 6000), 0x3F800000, np.uint32)
    bits[:, ::7] ^= 0x5A5A5  # mantissas vary, the exponent does not
    r = ras.encode(bits, dtype="float32", sparse=False, codebook=False)
    out = np.empty_like(bits)
    assert r.decode(out) is out and np.array_equal(out, bits)
    assert np.array_equal(r.decode_rows(1, 4), bits[1:4])
    # 1-d element-wise: no delimiters, one distinct symbol -> no tree, two-pass fallback
    flat = bits.reshape(-1)
    r1 = ras.encode(flat, dtype="float32", kind="element", sparse=False, codebook=False)
    assert r1.wm is None or r1.wm.decode_kernel_args(r1.n_stream) is None
    assert np.array_equal(r1.decode(), flat)
    assert np.array_equal(r1.decode_rows(3, 9000), flat[3:9000])


def test_fused_codebook_symbol_out_of_range_is_format_error():
    # a codebook shorter than the stream's symbols (a corrupt file) must raise, never read past it
    from sckit.errors import FormatError

    rng = np.random.default_rng(11)
    table = rng.integers(0, 2**32 - 1, 40).astype(np.uint32)
    bits = table[rng.integers(0, 40, (6, 3 * grammar.SCRATCH + 1))]
    r = ras.encode(bits, dtype="float32", kind="block", sparse=False, codebook=True)
    assert np.array_equal(r.decode(), bits)
    r.codebook = r.codebook[:39]
    r.__dict__.pop("_dense_args_cache", None)  # the decode calls' arguments, built once
    r.__dict__.pop("_whole_call", None)
    with pytest.raises(FormatError, match="codebook"):
        r.decode()
    with pytest.raises(FormatError, match="codebook"):
        r.decode_rows(2, 5)
