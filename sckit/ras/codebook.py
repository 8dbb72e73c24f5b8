"""Codebook path for quantized layers: few distinct bit patterns -> small integer codes.

A layer quantized to ``K`` levels (k-means, uniform, int8 static) holds at most ``K`` distinct
bit patterns. Coding ``code = index of the pattern in the sorted codebook`` lets the wavelet
matrix see the ``K``-symbol distribution directly, instead of a sign/exponent symbol plus raw
mantissa bits that are not random any more. The codebook is stored sorted ascending (as
unsigned integers), so the all-zero pattern, when present, is code 0 (the sparse form relies on
it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["MAX_CODEBOOK", "distinct_codes"]

MAX_CODEBOOK = 1 << 16


@njit(cache=True, nogil=True)
def _distinct(x, limit, codes):
    """Open-addressing hash of the values; codes in first-seen order. Returns the number of
    distinct values, or -1 as soon as there are more than ``limit`` (early exit keeps the check
    cheap for unquantized float weights: about ``limit`` elements are read)."""
    cap = 1
    log = 0
    while cap < 4 * limit:
        cap <<= 1
        log += 1
    shift = np.uint64(64 - log)
    keys = np.empty(cap, np.uint64)
    slot = np.full(cap, -1, np.int64)
    table = np.empty(limit, np.uint64)
    k = 0
    for i in range(x.size):
        v = np.uint64(x[i])
        h = np.int64((v * np.uint64(0x9E3779B97F4A7C15)) >> shift)
        while True:
            c = slot[h]
            if c < 0:
                if k == limit:
                    return -1, table
                slot[h] = k
                keys[h] = v
                table[k] = v
                codes[i] = k
                k += 1
                break
            if keys[h] == v:
                codes[i] = c
                break
            h = (h + 1) & (cap - 1)
    return k, table


def distinct_codes(
    flat: np.ndarray, limit: int = MAX_CODEBOOK, *, include_zero: bool = False
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(codes, codebook)`` with ``codebook[codes] == flat``, or None if > ``limit`` distinct.

    ``codebook`` is sorted ascending and has ``flat``'s dtype; ``codes`` is uint32.
    ``include_zero`` forces the zero pattern into the codebook (as code 0).
    """
    codes = np.empty(flat.size, np.uint32)
    k, table = _distinct(flat, limit, codes)
    if k < 0:
        return None
    table = table[:k].astype(flat.dtype)
    if include_zero and (k == 0 or 0 not in table):
        table = np.concatenate([np.zeros(1, flat.dtype), table])
        codes += 1
        k += 1
    order = np.argsort(table, kind="stable")
    rank = np.empty(k, np.uint32)
    rank[order] = np.arange(k, dtype=np.uint32)
    # uint32 codes even when uint16 would do: the encode kernels then share the float32
    # specialization (fewer numba compilations on a cold cache)
    return rank[codes], table[order]
