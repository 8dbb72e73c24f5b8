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

Decoding a dense stream (:func:`decode_dense`) fuses the wavelet-matrix range decode with the
field merge: symbols are decoded a few thousand at a time into an L1-resident scratch buffer and
merged with the raw fields straight into the output, so no full-length symbol array is ever
written or read back (ResNet-50, one core: 1.2-1.5 -> 3.0 GB/s of float32 output).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from sckit.ras.fields import read_next, reader_at, split_params
from sckit.succinct._hwm_kernels import decode_steps, decoder_state
from sckit.succinct._hwm_split import CHUNK, decode_split, split_buffers

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


# Symbols decoded per scratch fill by decode_dense: a multiple of the HWM decoder's 256-symbol
# step; 16 KB of uint16 stays in L1, so the symbol stream never makes a round trip to memory
# (2048..16384 measured within noise of each other on ResNet-50). uint16, not uint32: the
# leaves' masked stores (64 lanes each) are half as many.
SCRATCH = 8192


@njit(cache=True, nogil=True)
def decode_dense(hw, rdir, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
                 child_top, leaf_top, cut_gid, mark, lazy, r0, r1, row_len, rps, words, shift,
                 sign_pos, codebook, use_codebook, scratch, out):
    """Rows ``[r0, r1)`` of a dense RAS straight from its Huffman wavelet matrix into ``out``.

    Fuses :func:`~sckit.succinct._hwm_kernels.decode_range` and :func:`merge_dense`: the stream
    is decoded ``SCRATCH`` symbols at a time into ``scratch`` (uint16, ``SCRATCH`` long, cursors
    kept between fills; so the stream's alphabet must fit in 16 bits) and each fill is merged with the raw fields at once, skipping
    delimiters by position arithmetic. Same return value as :func:`merge_dense`. Big trees
    (``mark >= 0``: ``child_top`` ... ``mark`` from ``_hwm_split.split_tables``) fill the scratch
    with the two-group decoder when the cursors are eager.
    """
    width, mmask, smask, spos, sflag = split_params(shift, sign_pos)
    sh = np.uint64(shift)
    wmask = (np.uint64(1) << np.uint64(width)) - np.uint64(1)
    one = np.uint64(1)
    n_cb = codebook.size
    q = r0 * row_len  # stream position of row r0's first weight
    for lev in range(rps.size):
        q += r0 // rps[lev] + 1
    stop = (r1 - 1) * row_len + row_len
    for lev in range(rps.size):
        stop += (r1 - 1) // rps[lev] + 1
    cur, sv, sm = decoder_state(hw, rdir, child, node_level, lvl_off, lvl_zeros, lvl_base, q,
                                lazy)
    split = mark >= 0 and not lazy
    hi, low, cnt, ptr = split_buffers(cut_gid.shape[0], CHUNK) if split else split_buffers(0, 0)
    scr8 = scratch.view(np.uint8)
    w, acc, avail = 0, np.uint64(0), 0
    if width > 0 and not use_codebook:
        w, acc, avail = reader_at(words, r0 * row_len, width)
    # byte-aligned raw fields (float32 / bfloat16 with the sign stored raw: entry e = bytes
    # [e * width / 8, ...) of the little-endian words) are read bytewise: no accumulator branch,
    # and LLVM vectorizes the loop (measured 1.6 vs 4.9-7 ms per 4M float32 weights, CPU time)
    # (constant shifts matter: with the shifts as variables the loop ran 2x slower)
    b8 = words.view(np.uint8)
    e = np.uint64(r0 * row_len * (width >> 3))
    f32s = not use_codebook and shift == 23 and sign_pos == 31
    bf16s = not use_codebook and shift == 7 and sign_pos == 15
    o = np.uint64(0)
    r = r0
    k = 0  # weights of row r already written
    cs = q
    while cs < stop:
        ce = min(cs + SCRATCH, stop)
        if split:
            decode_split(hw, rdir, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
                         child_top, leaf_top, cut_gid, mark, cur, sv, sm, cs, ce, scr8, 0, 2,
                         hi, low, cnt, ptr)
        else:
            decode_steps(hw, rdir, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
                         cur, sv, sm, lazy, cs, ce, scr8, 0, 2)
        while q < ce:
            n = min(row_len - k, ce - q)
            s = np.uint64(q - cs)
            if use_codebook:
                # check first, then a branch-free gather: both loops vectorize (one loop with
                # the check inside ran at ~1 ns per weight, slower than decoding the symbols)
                mx = np.uint16(0)
                for t in range(n):
                    mx = max(mx, scratch[s + np.uint64(t)])
                if mx >= n_cb:  # corrupt stream: never read outside the codebook
                    return -1
                for t in range(n):
                    out[o + np.uint64(t)] = codebook[scratch[s + np.uint64(t)]]
                o += np.uint64(n)
            elif f32s:  # float32 + raw sign: 3 whole bytes per entry, constant shifts
                for _ in range(n):
                    v = (np.uint32(b8[e]) | (np.uint32(b8[e + one]) << np.uint32(8))
                         | (np.uint32(b8[e + np.uint64(2)]) << np.uint32(16)))
                    out[o] = ((np.uint32(scratch[s]) << np.uint32(23)) | (v & np.uint32(0x7FFFFF))
                              | ((v >> np.uint32(23)) << np.uint32(31)))
                    o += one
                    s += one
                    e += np.uint64(3)
            elif bf16s:  # bfloat16 + raw sign: 1 byte per entry, constant shifts
                for _ in range(n):
                    v = np.uint32(b8[e])
                    out[o] = ((np.uint32(scratch[s]) << np.uint32(7)) | (v & np.uint32(0x7F))
                              | ((v >> np.uint32(7)) << np.uint32(15)))
                    o += one
                    s += one
                    e += one
            elif width > 0:
                for _ in range(n):
                    v, w, acc, avail = read_next(words, w, acc, avail, width, wmask)
                    out[o] = (np.uint64(scratch[s]) << sh) | (v & mmask) | ((v >> sh) << spos)
                    o += one
                    s += one
            else:
                for _ in range(n):
                    out[o] = scratch[s]
                    o += one
                    s += one
            q += n
            k += n
            if k == row_len:  # next row: skip the delimiters before it
                r += 1
                k = 0
                if r == r1:
                    break
                q = r * row_len
                for lev in range(rps.size):
                    q += r // rps[lev] + 1
        cs = ce
    return np.int64(o)


# the arrays decode_dense takes from one packed int64 table (see :func:`pack_tables`)
N_PACKED = 10


def pack_tables(*tables: np.ndarray) -> np.ndarray:
    """decode_dense's ten int64 tables (``child`` ... ``cut_gid``, then ``rps``, in its argument
    order) as one array: ``N_PACKED + 1`` offsets, then the tables. numba unboxes each array
    argument of a call (~30 ns each); a model of hundreds of small tensors pays that per
    tensor, so the decoders pass one array, not ten."""
    if len(tables) != N_PACKED:
        raise ValueError(f"pack_tables takes {N_PACKED} tables, got {len(tables)}")
    parts = [np.ascontiguousarray(a, dtype=np.int64).reshape(-1) for a in tables]
    offs = np.cumsum([N_PACKED + 1] + [p.size for p in parts])
    return np.concatenate([offs.astype(np.int64), *parts])


@njit(cache=True, nogil=True)
def decode_packed(hw, rdir, tabs, mark, lazy, r0, r1, row_len, words, shift, sign_pos, codebook,
                  use_codebook, scratch, out):
    """:func:`decode_dense` with its int64 tables packed by :func:`pack_tables`."""
    o = tabs[:N_PACKED + 1]
    return decode_dense(hw, rdir, tabs[o[0]:o[1]], tabs[o[1]:o[2]], tabs[o[2]:o[3]],
                        tabs[o[3]:o[4]], tabs[o[4]:o[5]], tabs[o[5]:o[6]], tabs[o[6]:o[7]],
                        tabs[o[7]:o[8]], tabs[o[8]:o[9]], mark, lazy, r0, r1, row_len,
                        tabs[o[9]:o[10]], words, shift, sign_pos, codebook, use_codebook,
                        scratch, out)
