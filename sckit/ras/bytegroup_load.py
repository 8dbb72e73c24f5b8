"""Loading a byte-grouped RAS (:mod:`sckit.ras.bytegroup`) from untrusted meta and arrays.

Every field the decoder relies on is checked, and a failure is a FormatError naming it: meta
types and ranges, the shape's size, the symbol table (strictly increasing bytes, pair codes
only for at most 64 symbols), the one stored array's exact length (code words + planes), the
chunk offsets (increasing, inside the stream). Code lengths are re-derived from the stored
quantized probabilities, so the code is complete by construction (every decoding-table window
starts a code word) and the decoder's reads stay inside the stream.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sckit.errors import FormatError
from sckit.ras import bytegroup_alphabet
from sckit.ras import bytegroup_f16 as f16
from sckit.ras.bytegroup import (
    _MODES,
    _POW16,
    BYTE_CODEBOOK,
    LAYOUT,
    MAX_CODE_LENGTH,
    MAX_PAIR_ALPHABET,
    MAX_WEIGHTS,
    ByteGroupRAS,
    _n_words,
    chunk_for,
    lut_bits_for,
)
from sckit.ras.bytegroup_kernels import load_tables
from sckit.ras.codebook import MAX_CODEBOOK
from sckit.ras.fields import split_for
from sckit.ras.grammar import KINDS, make_layout
from sckit.ras.validate import meta_bool, meta_int

__all__ = ["load"]


def _bad(field: str, what: str) -> FormatError:
    return FormatError(f"RAS (bytegroup): {field!r} {what}")


def _int(meta: dict[str, Any], key: str, lo: int, hi: int) -> int:
    return meta_int(meta, key, lo, hi, kind="RAS (bytegroup)")


def _bool(meta: dict[str, Any], key: str) -> bool:
    return meta_bool(meta, key, kind="RAS (bytegroup)")


def _array(arrays: dict[str, np.ndarray], name: str, dtype: Any, size: int | None) -> np.ndarray:
    if name not in arrays:
        raise _bad(name, "array is missing")
    a = np.asarray(arrays[name])
    if a.dtype != np.dtype(dtype) or a.ndim != 1:
        raise _bad(name, f"must be a 1-d {np.dtype(dtype)} array, got {a.dtype}{a.shape}")
    if size is not None and a.size != size:
        raise _bad(name, f"has {a.size} entries, the meta asks for {size}")
    return a


def load(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ByteGroupRAS:
    """A :class:`ByteGroupRAS` from ``to_arrays`` output, every field checked."""
    if not isinstance(meta, dict) or not isinstance(arrays, dict):
        raise FormatError("RAS (bytegroup): meta and arrays must be dicts")
    version = _int(meta, "version", 1, max(bytegroup_alphabet.VERSIONS))
    if meta.get("layout") != LAYOUT:
        raise _bad("layout", f"is {meta.get('layout')!r}, not {LAYOUT!r}")
    kind, dtype = meta.get("kind"), meta.get("dtype")
    if kind not in KINDS:
        raise _bad("kind", f"must be one of {list(KINDS)}, got {kind!r}")
    try:
        split = split_for(dtype) if isinstance(dtype, str) else None
    except ValueError:
        split = None
    if split is None:
        raise _bad("dtype", f"is not a supported dtype: {dtype!r}")
    shape = meta.get("shape")
    if (not isinstance(shape, list) or len(shape) > 32 or
            any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in shape)):
        raise _bad("shape", f"must be a list of at most 32 non-negative ints, got {shape!r}")
    n = math.prod(shape)
    if not 1 <= n <= MAX_WEIGHTS:
        raise _bad("shape", f"{shape} must hold 1 .. 2**34 - 1 weights")
    has_cb, pairs = _bool(meta, "codebook"), _bool(meta, "pairs")
    if not has_cb and dtype not in _MODES:
        raise _bad("dtype", f"{dtype} needs a codebook in this layout")
    sq = _array(arrays, "symbols", np.uint8, None)
    wide = "codebook_entries" in meta  # (a wide codebook's size is a meta int)
    if wide and not has_cb:
        raise _bad("codebook_entries", "present without a codebook")
    if wide:
        n_cb = _int(meta, "codebook_entries", BYTE_CODEBOOK + 1, MAX_CODEBOOK)
    else:
        n_cb = int(sq[-1]) + 1 if has_cb and sq.size else 0
        sq = sq[:-1] if has_cb else sq
    alpha, q = bytegroup_alphabet.read(version, sq)
    d = alpha.size
    if pairs and d > MAX_PAIR_ALPHABET:
        raise _bad("symbols", f"{d} symbols: pair codes allow at most {MAX_PAIR_ALPHABET}")
    # complete by construction (Huffman); the decoding table comes with it (one kernel call)
    lengths, lut = load_tables(np.ascontiguousarray(q), np.ascontiguousarray(alpha), pairs,
                               MAX_CODE_LENGTH, lut_bits_for(n), _POW16)
    total = _int(meta, "total_bits", 0, MAX_CODE_LENGTH * n)
    item = np.dtype(split.uint).itemsize
    f16_form = meta.get("f16_form", "sign_plane" if dtype == "float16" and not has_cb else None)
    if "f16_form" in meta and (has_cb or dtype != "float16" or f16_form not in f16.FORMS):
        raise _bad("f16_form", f"must be one of {list(f16.FORMS)}, for float16 without a "
                   f"codebook; got {f16_form!r} for {dtype}")
    if f16_form == "exponent" and int(alpha[-1]) > 31:
        raise _bad("symbols", f"symbol {int(alpha[-1])} is not a float16 exponent (0 .. 31)")
    zero_skip = "zero_skip_raw" in meta  # raw bytes only for non-zero exponents
    high_byte = "form" in meta  # float32 / bfloat16: sign and top 7 exponent bits coded
    if high_byte and (meta["form"] != "high_byte" or has_cb or dtype not in ("float32", "bfloat16")
                      or zero_skip):
        raise _bad("form", f"must be 'high_byte', for float32 / bfloat16 without a codebook or "
                   f"zero skip; got {str(meta['form'])[:20]!r} for {dtype}")
    if zero_skip and (has_cb or dtype not in ("float32", "bfloat16", "float16")
                      or f16_form not in (None, f16.ZERO_SKIP_FORM)):
        raise _bad("zero_skip_raw", f"present with a codebook or for {dtype} "
                   f"{f16_form or ''} (float32, bfloat16, float16's {f16.ZERO_SKIP_FORM} form "
                   "only)")
    sub = "zero_skip_sub" in meta and _bool(meta, "zero_skip_sub")
    if "zero_skip_sub" in meta and (not sub or not zero_skip or dtype != "float16"):
        raise _bad("zero_skip_sub", "must be true, and only with float16's zero skip")
    nr = _int(meta, "zero_skip_raw", 0, n) if zero_skip else n
    planes = ([n, n_cb * item] if wide else [n_cb * item] if has_cb
              else [2 * nr, nr] if dtype == "float32"
              else f16.plane_sizes(nr, f16_form) if f16_form else [nr])
    words = _array(arrays, "words", np.uint64, _n_words(total, planes))
    n_chunks = -(-n // chunk_for(n))
    starts = np.zeros(n_chunks, np.uint64)
    if n_chunks > 1:
        sel_dt = np.uint32 if total < 1 << 32 else np.uint64
        starts[1:] = _array(arrays, "sel", sel_dt, n_chunks - 1)
        if np.any(np.diff(starts.astype(np.int64)) < 1) or int(starts[-1]) >= max(1, total):
            raise _bad("sel", "chunk offsets must increase and stay inside the stream")
    elif "sel" in arrays:
        raise _bad("sel", "present for a one-chunk tensor")
    raw_at = None
    if zero_skip:
        # each chunk's first raw index: no more raw entries than weights before it, none
        # past the planes (the merge also checks each chunk's count against the planes)
        raw_at = np.zeros(n_chunks, np.int64)
        if n_chunks > 1:
            raw_at[1:] = _array(arrays, "raw_at", np.uint32 if nr < 1 << 32 else np.uint64,
                                n_chunks - 1)
            step = np.diff(raw_at)
            if np.any(step < 0) or np.any(step > chunk_for(n)) or int(raw_at[-1]) > nr:
                raise _bad("raw_at", "chunk raw offsets must not decrease, grow by at most a "
                           "chunk, or pass the raw planes")
        elif "raw_at" in arrays:
            raise _bad("raw_at", "present for a one-chunk tensor")
    elif "raw_at" in arrays:
        raise _bad("raw_at", "present without 'zero_skip_raw'")
    # (a one-entry codebook's code has an unused sibling symbol 1; the merge refuses it)
    if has_cb and int(alpha[-1]) >= max(2, -(-n_cb // 256) if wide else n_cb):
        raise _bad("symbols", f"{'high byte' if wide else 'index'} {int(alpha[-1])} outside "
                   f"the {n_cb}-entry codebook")
    return ByteGroupRAS(layout=make_layout(kind, tuple(shape), 256), split=split,
                        n_codebook=n_cb, pairs=pairs, alpha=alpha, q=q, lengths=lengths,
                        words=words, starts=starts, total_bits=total, lut=lut,
                        raw_at=raw_at, n_raw=nr if zero_skip else None, f16_form=f16_form,
                        zero_skip_sub=sub, high_byte=high_byte)
