"""RAS layouts: where the delimiter symbols go, and the dense encode / decode kernels.

A tensor is walked in C order as ``n_rows`` *rows* of ``row_len`` weights. Before a row, zero
or more delimiter symbols are written, one per *level* whose slice starts at that row, outer
level first. Level ``l`` (0-based; the paper's ``d_{l+1}``) has code ``alphabet + l`` and starts
a new slice every ``rows_per_slice[l]`` rows.

- element-wise (paper 3.1, appendix B.1): rows are last-dimension rows (``row_len =
  shape[-1]``); there is one level per leading dimension, ``ndim - 1`` levels in all, level ``l``
  delimiting the slices ``T[i0, ..., il]`` (``rows_per_slice[l] = prod(shape[l+1:-1])``). A
  tensor of ``ndim <= 1`` is a single row without delimiters.
- block-wise (paper 3.2): a block is the operands of one computation kernel, one dim-0 slice
  (a conv filter, an output row of a Linear): rows are blocks (``row_len = prod(shape[1:])``) and
  there is one level with ``rows_per_slice = (1,)``. A tensor of ``ndim <= 1`` is one block.
- an empty tensor has an empty stream (no delimiters).

Dense stream position of row ``r``'s first weight: ``r * row_len + sum_l (r // rps[l] + 1)``, so
the decoder strips delimiters by arithmetic instead of scanning for them; ``access`` finds the
same positions with ``select`` as the paper does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from sckit.ras.fields import read_next, reader_at, split_params

__all__ = ["Layout", "make_layout"]

KINDS = ("block", "element")


@dataclass(frozen=True)
class Layout:
    """Row structure + delimiter levels of one tensor's RAS (see module docstring)."""

    kind: str
    shape: tuple[int, ...]
    row_len: int
    n_rows: int
    rows_per_slice: tuple[int, ...]  # one entry per delimiter level, outermost first
    alphabet: int  # value symbols are < alphabet; delimiter of level l is alphabet + l

    @property
    def n_weights(self) -> int:
        return math.prod(self.shape)

    @property
    def n_levels(self) -> int:
        return len(self.rows_per_slice)

    @property
    def sigma(self) -> int:
        """Symbol alphabet size of the stream: values + one delimiter per level."""
        return self.alphabet + self.n_levels

    def delimiter(self, level: int) -> int:
        return self.alphabet + level

    def n_delimiters(self) -> list[int]:
        """Delimiters of each level (= number of slices at that level)."""
        return [-(-self.n_rows // r) for r in self.rows_per_slice]

    def dense_length(self) -> int:
        return self.n_weights + sum(self.n_delimiters())

    def row_position(self, r: int) -> int:
        """Dense stream position of row ``r``'s first weight (``r == n_rows``: the stream end)."""
        if r >= self.n_rows:
            return self.dense_length()
        return r * self.row_len + sum(r // q + 1 for q in self.rows_per_slice)

    def rows_per_dim0(self) -> int:
        """Rows making up one dim-0 slice (the unit of ``decode_rows``)."""
        if len(self.shape) <= 1:
            return 1
        return self.n_rows // self.shape[0] if self.shape[0] else 0

    def rps_array(self) -> np.ndarray:
        return np.asarray(self.rows_per_slice, dtype=np.int64)


def make_layout(kind: str, shape: tuple[int, ...], alphabet: int) -> Layout:
    """The :class:`Layout` of a ``kind`` RAS over a tensor of ``shape``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be 'block' or 'element', got {kind!r}")
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    if n == 0:
        return Layout(kind, shape, 0, 0, (), alphabet)
    if kind == "block":
        if len(shape) <= 1:
            return Layout(kind, shape, n, 1, (1,), alphabet)
        return Layout(kind, shape, n // shape[0], shape[0], (1,), alphabet)
    if len(shape) <= 1:
        return Layout(kind, shape, n, 1, (), alphabet)
    rps = tuple(math.prod(shape[lev + 1 : -1]) for lev in range(len(shape) - 1))
    return Layout(kind, shape, shape[-1], n // shape[-1], rps, alphabet)


# ---------------------------------------------------------------------------- numba kernels


@njit(cache=True, nogil=True)
def encode_dense(x, shift, sign_pos, row_len, n_rows, rps, alphabet, stream, words):
    """Write the dense stream (symbols + delimiters) and pack the raw fields. Returns length.

    ``x`` is the flat bit-pattern view (or codebook codes with ``shift == 0, sign_pos == -1``);
    ``shift`` = mantissa bits, ``sign_pos`` = raw sign position or -1 (see fields.py). The raw
    field of weight ``f`` is entry ``f`` of ``words`` (whose padding word the caller zeroes).
    Counters are unsigned: no negative-index wraparound code in the loops.
    """
    width, mmask, smask, spos, sflag = split_params(shift, sign_pos)
    sh = np.uint64(shift)
    one = np.uint64(1)
    p = np.uint64(0)
    f = np.uint64(0)
    w, acc, nb = np.uint64(0), np.uint64(0), 0
    for r in range(n_rows):
        for lev in range(rps.size):
            if r % rps[lev] == 0:
                stream[p] = alphabet + lev
                p += one
        if width > 0:
            for _ in range(row_len):
                v = np.uint64(x[f])
                stream[p] = (v >> sh) & smask
                m = (v & mmask) | (((v >> spos) & sflag) << sh)
                acc |= m << np.uint64(nb)  # inline 64-bit accumulator (see fields.py)
                nb += width
                if nb >= 64:
                    words[w] = acc
                    w += one
                    nb -= 64
                    acc = m >> np.uint64(width - nb)
                p += one
                f += one
        else:
            for _ in range(row_len):
                stream[p] = x[f]
                p += one
                f += one
    if width > 0 and nb > 0:
        words[w] = acc
    return np.int64(p)


@njit(cache=True, nogil=True)
def merge_dense(sym, base, r0, r1, row_len, rps, words, shift, sign_pos, codebook, use_codebook,
                out):
    """Rows ``[r0, r1)`` of a dense stream -> bit patterns in ``out`` (flat, rows' weights only).

    ``sym[k]`` is stream position ``base + k``. Delimiters are skipped by position arithmetic.
    Returns the number of weights written, -1 for a codebook symbol out of range. Indices are
    unsigned so numba drops its negative-index wraparound code (2x faster).
    """
    width, mmask, smask, spos, sflag = split_params(shift, sign_pos)
    sh = np.uint64(shift)
    wmask = (np.uint64(1) << np.uint64(width)) - np.uint64(1)
    o = np.uint64(0)
    one = np.uint64(1)
    n_cb = codebook.size
    w, cur, avail = 0, np.uint64(0), 0
    if width > 0 and not use_codebook:
        w, cur, avail = reader_at(words, r0 * row_len, width)
    for r in range(r0, r1):
        p = r * row_len - base
        for lev in range(rps.size):
            p += r // rps[lev] + 1
        q = np.uint64(p)
        if use_codebook:
            for _ in range(row_len):
                c = sym[q]
                if c >= n_cb:  # corrupt stream: never read outside the codebook
                    return -1
                out[o] = codebook[c]
                o += one
                q += one
        elif width > 0:
            for _ in range(row_len):
                v, w, cur, avail = read_next(words, w, cur, avail, width, wmask)
                out[o] = (np.uint64(sym[q]) << sh) | (v & mmask) | ((v >> sh) << spos)
                o += one
                q += one
        else:
            for _ in range(row_len):
                out[o] = sym[q]
                o += one
                q += one
    return np.int64(o)
