"""The byte-grouped layout's zero skip (:mod:`sckit.ras.bytegroup`): which tensors take it,
and the merge of their decoded exponent symbols with raw planes that hold no zeros.

A pruned tensor that is not quantized is mostly +-0.0. Where no weight is subnormal (so a zero
exponent means a zero) and none is inf or nan (so exponent symbol 255 is free), +0.0 keeps
symbol 0, -0.0 (what a pruning mask leaves on a negative weight) takes 255, and neither stores
raw bytes: a weight's raw index is the count of other symbols before it, from a per-chunk
offset. The merge is branch-free (the zeros fall at random), 64 weights at a time with AVX-512
VBMI2 expand-loads where the CPU has them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from sckit.ras.bytegroup_f16 import SUB_SYMBOL, ZERO_SKIP_FORM, ZERO_SKIP_MODE, ZERO_SKIP_SUB_MODE
from sckit.succinct._bitops import popcount
from sckit.succinct._wm_decode import HAS_VBMI2, _eqmask8

__all__ = ["MIN_ZERO_FRACTION", "join16", "join32", "merge_zero_skip", "raw_kept", "zero_skip_symbols"]

# taken when at least this fraction of the weights is +-0.0: below it the saving is small and
# the merge, a gather per weight, decodes slower than the plain layout's vectorized one
MIN_ZERO_FRACTION = 1 / 16


def zero_skip_symbols(bits: np.ndarray, ex: np.ndarray, dtype: str,
                      f16_form: str | None = None) -> np.ndarray | None:
    """The symbols ``ex`` of the flat bit patterns ``bits`` with -0.0 as 255, where the zero
    skip applies, else None. float32 / bfloat16 (``ex`` = exponent bytes): zeros present, no
    subnormal, no inf / nan. float16 in its high-byte form (``ex`` = high bytes, the sign in
    them): zeros present, no weight of high byte 0x7F or 0xFF (NaNs); positive subnormals of
    high byte 0x00 take ``SUB_SYMBOL`` (merge mode ``ZERO_SKIP_SUB_MODE``; -0.0's 0x80 is
    255, so negative ones keep theirs). The encoder's rule, and the size estimate's on a
    sample."""
    if dtype == "float16" and f16_form == ZERO_SKIP_FORM:
        sign, zero = 1 << 15, (bits & 0x7FFF) == 0
        if not zero.any() or ((ex & 0x7F) == SUB_SYMBOL).any():
            return None
        out = ex.copy()
        out[(ex == 0) & ~zero] = SUB_SYMBOL
    elif dtype in ("float32", "bfloat16"):
        sign = 1 << (31 if dtype == "float32" else 15)
        zero = ex == 0
        if not zero.any() or (ex == 255).any() or np.any(bits[zero] & (sign - 1)):
            return None
        out = ex.copy()
    else:  # (other dtypes, and float16's sign-plane form, whose symbols hold no sign)
        return None
    out[zero & (bits == sign)] = 255
    return out


def raw_kept(symbols: np.ndarray) -> np.ndarray:
    """Which weights of ``zero_skip_symbols`` output keep raw bytes: all but +-0.0."""
    return (symbols != 0) & (symbols != 255)


def _expand_codegen(bits: int, lanes: int) -> Any:
    """Codegen of ``dst[o + t] = src[q + j]`` for the j-th set bit t of ``mask``'s low
    ``lanes`` bits, 0 in the other lanes (``llvm.masked.expandload``: vpexpandb / vpexpandw
    with a zero pass-through, reading only popcount(mask) items of ``src``); all ``lanes``
    items of ``dst`` from ``o`` are written."""

    def codegen(context, builder, sig, args):
        vec_t = ir.VectorType(ir.IntType(bits), lanes)
        m = builder.bitcast(builder.trunc(args[4], ir.IntType(lanes)) if lanes < 64 else args[4],
                            ir.VectorType(ir.IntType(1), lanes))
        so = context.make_array(sig.args[2])(context, builder, args[2])
        sp = builder.gep(so.data, [args[3]])
        fty = ir.FunctionType(vec_t, [sp.type, m.type, vec_t])
        name = f"llvm.masked.expandload.v{lanes}i{bits}"
        vec = builder.call(cgutils.get_or_insert_function(builder.module, fty, name),
                           [sp, m, ir.Constant(vec_t, [0] * lanes)])
        da = context.make_array(sig.args[0])(context, builder, args[0])
        st = builder.store(vec, builder.bitcast(builder.gep(da.data, [args[1]]), vec_t.as_pointer()))
        st.align = 1
        return context.get_dummy_value()

    return codegen


@intrinsic
def _expand_load8(typingctx, dst, o, src, q, mask):
    """64 uint8 lanes (see :func:`_expand_codegen`)."""
    return types.void(dst, types.int64, src, types.int64, types.uint64), _expand_codegen(8, 64)


@intrinsic
def _expand_load16(typingctx, dst, o, src, q, mask):
    """32 uint16 lanes, ``mask``'s low 32 bits (see :func:`_expand_codegen`)."""
    return types.void(dst, types.int64, src, types.int64, types.uint64), _expand_codegen(16, 32)


@njit(cache=True, nogil=True)
def _kept(exs):
    """How many of the symbols ``exs`` keep raw bytes (neither 0 nor 255). Loops here run on
    slices, not on ``ex[s0 + k]``: numba's index arithmetic kept LLVM from vectorizing them
    (0.56 against 0.12 ns per weight; the joins below 0.8 against 0.1 on a Xeon)."""
    kept = 0
    for k in range(exs.size):
        x = exs[k]
        kept += (x != 0) & (x != 255)
    return kept


@njit(cache=True, nogil=True, inline="always")
def join32(e, lo, h):
    """A float32 weight from its exponent symbol ``e`` and raw planes: ``lo`` = mantissa bits
    0-15, ``h`` = sign << 7 | mantissa bits 16-22 (the plain merge's too)."""
    h = np.uint32(h)
    return np.uint32(lo) | (((h & np.uint32(0x7F)) | ((h & np.uint32(0x80)) << np.uint32(8))
                             | (np.uint32(e) << np.uint32(7))) << np.uint32(16))


@njit(cache=True, nogil=True)
def _join_f32(exs, tlo, thi, out):
    for k in range(out.size):
        e = np.uint32(exs[k])
        out[k] = np.uint32(0x80000000) if e == np.uint32(255) else join32(e, tlo[k], thi[k])


@njit(cache=True, nogil=True)
def _zero_skip_f32_vector(ex, s0, lo, hi, r, count, out):
    """Mode 4's merge 64 weights at a time, as :func:`_zero_skip_bf16_vector` (the uint16
    plane with two vpexpandw, the uint8 plane with one vpexpandb)."""
    full = count - count % 64
    tlo = np.empty(full + 64, np.uint16)
    thi = np.empty(full + 64, np.uint8)
    for base in range(0, full, 64):
        nz = ~(_eqmask8(ex, s0 + base, 0) | _eqmask8(ex, s0 + base, 255))
        _expand_load8(thi, base, hi, r, nz)
        low = nz & np.uint64(0xFFFFFFFF)
        _expand_load16(tlo, base, lo, r, low)
        _expand_load16(tlo, base + 32, lo, r + np.int64(popcount(low)), nz >> np.uint64(32))
        r += np.int64(popcount(nz))
    _join_f32(ex[s0:s0 + full], tlo[:full], thi[:full], out[:full])
    return full, r


@njit(cache=True, nogil=True, inline="always")
def join16(mode, e, v):
    """A 16-bit weight from its symbol and raw byte: bfloat16 (modes 1 and 5: exponent, sign
    << 7 | mantissa) or float16's high and low bytes (mode 9; mode 10: symbol SUB_SYMBOL is
    high byte 0x00)."""
    if mode == ZERO_SKIP_MODE:
        return (e << np.uint32(8)) | v
    if mode == ZERO_SKIP_SUB_MODE:
        return ((e & (np.uint32(0) - np.uint32(e != SUB_SYMBOL))) << np.uint32(8)) | v
    return (v & np.uint32(0x7F)) | (e << np.uint32(7)) | ((v & np.uint32(0x80)) << np.uint32(8))


@njit(cache=True, nogil=True)
def _zero_skip_bf16_vector(mode, ex, s0, lo, r, count, out):
    """Mode 5's (and 9's) merge 64 weights at a time (AVX-512 VBMI2): the raw bytes of a
    block's non-zero weights expanded into place (vpexpandb), then one vectorized pass.
    Returns the weights done (whole blocks) and the raw index after them."""
    full = count - count % 64
    tmp = np.empty(full + 64, np.uint8)
    for base in range(0, full, 64):
        nz = ~(_eqmask8(ex, s0 + base, 0) | _eqmask8(ex, s0 + base, 255))
        _expand_load8(tmp, base, lo, r, nz)
        r += np.int64(popcount(nz))
    _join_16(mode, ex[s0:s0 + full], tmp[:full], out[:full])
    return full, r


@njit(cache=True, nogil=True)
def _join_16(mode, exs, tmp, out):
    for k in range(out.size):
        e = np.uint32(exs[k])
        w = join16(mode, e, np.uint32(tmp[k]))
        out[k] = np.uint16(np.uint32(0x8000) if e == np.uint32(255) else w)


@njit(cache=True, nogil=True)
def merge_zero_skip(mode, ex, s0, skip, lo, hi, r, count, out):
    """Modes 4 / 5 / 9 / 10 (float32 / bfloat16 / float16's high-byte form, the weights of
    ``zero_skip_symbols``): symbol 0 is +0.0 and symbol 255 is -0.0, neither with raw bytes; the raw index is the chunk's ``r``
    plus the other symbols before ``ex[s0]`` in its chunk (``skip`` weights). With AVX-512
    VBMI2, 64 weights at a time (expand-loads; whole decodes of 1M weights at 20% density on
    a Xeon: 6.9 / 4.7 / 4.5 GB/s float32 / bfloat16 / float16, against 2.3 / 1.1 / 1.3
    scalar). False when the raw planes are too short for the stream (corrupt)."""
    r += _kept(ex[s0 - skip:s0])
    need = r + _kept(ex[s0:s0 + count])
    if need > lo.size or (mode == 4 and need > hi.size):
        return False
    if need == 0:  # all zeros here: no raw entry to read
        for k in range(count):
            out[k] = (np.uint32(0x80000000) if mode == 4 else np.uint16(0x8000)) * (ex[s0 + k] == 255)
        return True
    done = 0
    if HAS_VBMI2 and count >= 64:
        if mode != 4:
            done, r = _zero_skip_bf16_vector(mode, ex, s0, lo, r, count, out)
        else:
            done, r = _zero_skip_f32_vector(ex, s0, lo, hi, r, count, out)
        if done == count:
            return True
        s0 += done
        count -= done
        out = out[done:]
    # elsewhere (and for a block's last < 64 weights) branch-free scalar code (the zeros fall
    # at random: a branch per weight mispredicted half the time): every weight reads the raw
    # entry at r (clamped: zeros after the last entry) and keeps it only if its symbol is
    # neither 0 nor 255 (measured 1.8 / 1.0 GB/s float32 / bfloat16 at 20% density, against
    # 1.4 / 0.8 with the raw indices computed in a pass of their own)
    last = lo.size - 1
    exs = ex[s0:s0 + count]
    if mode == 4:
        for k in range(count):
            e = np.uint32(exs[k])
            nz = np.uint32(np.uint8(e + np.uint32(1)) > np.uint8(1))
            j = min(r, last)
            v = join32(e, lo[j], hi[j])
            out[k] = (v & (np.uint32(0) - nz)) | (np.uint32(0x80000000) * np.uint32(e == 255))
            r += nz
    else:
        for k in range(count):
            e = np.uint32(exs[k])
            nz = np.uint32(np.uint8(e + np.uint32(1)) > np.uint8(1))
            w = join16(mode, e, np.uint32(lo[min(r, last)]))
            out[k] = np.uint16((w & (np.uint32(0) - nz)) | (np.uint32(0x8000) * np.uint32(e == 255)))
            r += nz
    return True
