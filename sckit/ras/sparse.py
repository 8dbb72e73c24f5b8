"""Sparse RAS (paper 3.3): ``(relative distance, value)`` tuples for the non-zero weights.

Within a row (a block for block-wise RAS, a last-dimension row for element-wise RAS) each
non-zero weight becomes one *entry*: its value's symbol goes into the symbol stream (beside the
delimiters, exactly where a dense weight would go) and its *distance* -- the number of zero
weights between it and its left neighbour (the previous entry, or the row start) -- goes into a
separate distance stream, entry-aligned. "Zero" means the all-zero bit pattern, so ``-0.0`` is
a value like any other and round-trips.

Distances are capped at ``max_distance``. A longer run of zeros is cut by *filler* entries
``(max_distance, 0)``: skip ``max_distance`` zeros, then store one explicit zero, i.e. a filler
consumes ``max_distance + 1`` positions. Deep Compression (Han et al., Deep Compression) pads
relative indices the same way. Zeros at the end of a row need no entries: the row length is
known.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sckit.ras.fields import read_next, reader_at, split_params

__all__ = [
    "DISTANCE_CHOICES", "choose_max_distance", "encode_sparse", "huffman_bits", "scatter_sparse"
]

# candidate caps for max_distance="auto": 2**b - 1 for b in 2, 4, 8, 16
DISTANCE_CHOICES = (3, 15, 255, 65535)


def _h0_bits(counts: np.ndarray) -> float:
    """Total order-0 entropy (bits) of a sequence with these symbol counts."""
    c = counts[counts > 0].astype(np.float64)
    n = c.sum()
    return float((c * np.log2(n / c)).sum()) if n else 0.0


def huffman_bits(counts: np.ndarray) -> float:
    """Total Huffman-coded length (bits) of a sequence with these symbol counts, times the
    bit vector's 3.9% rank/select overhead: what the wavelet matrix will really spend. Unlike
    H0 it charges at least one bit per symbol, which matters for very skewed streams."""
    from sckit.succinct.huffman import huffman_code_lengths

    c = counts[counts > 0].astype(np.int64)
    if c.size <= 1:
        return 0.0
    return 1.039 * float((c * huffman_code_lengths(c)).sum())


def row_gaps(x: np.ndarray, row_len: int) -> np.ndarray:
    """Zeros before each non-zero weight within its row (flat ``x`` in C order)."""
    nz = np.flatnonzero(x)
    if nz.size == 0:
        return nz
    col = nz % row_len
    prev = np.empty_like(nz)
    prev[0] = -1
    prev[1:] = nz[:-1]
    same_row = (prev // row_len == nz // row_len) & (prev >= 0)
    return np.where(same_row, nz - prev - 1, col)


def choose_max_distance(gaps: np.ndarray, value_bits: float) -> tuple[int, float]:
    """Pick the cap from :data:`DISTANCE_CHOICES` minimizing the estimated size (bits).

    Estimate: every entry (non-zero or filler) costs ``value_bits`` plus its share of the
    distance stream's order-0 entropy.
    """
    best = (DISTANCE_CHOICES[0], float("inf"))
    for m in DISTANCE_CHOICES:
        q = gaps // (m + 1)
        n_fill = int(q.sum())
        counts = np.bincount(gaps % (m + 1), minlength=m + 1).astype(np.int64)
        counts[m] += n_fill
        est = (gaps.size + n_fill) * value_bits + huffman_bits(counts)
        if est < best[1]:
            best = (m, est)
        if n_fill == 0:  # larger caps change nothing but the alphabet
            break
    return best


@njit(cache=True, nogil=True)
def encode_sparse(x, shift, sign_pos, row_len, n_rows, rps, alphabet, max_distance, stream, dist,
                  words):
    """Write the sparse symbol stream, distance stream and packed raw fields.

    Returns ``(stream_length, n_entries)``. ``x`` holds bit patterns (or codebook codes with
    code 0 = the zero pattern, ``shift == 0`` and ``sign_pos == -1``); fields as in
    :func:`sckit.ras.grammar.encode_dense`. Buffers are sized for the worst case by the caller
    (``n + delimiters`` symbols, ``n`` entries) and ``words`` is zeroed.
    """
    raw_bits, mmask, smask, spos, sflag = split_params(shift, sign_pos)
    sh = np.uint64(shift)
    one = np.uint64(1)  # unsigned counters: no negative-index wraparound code
    p = np.uint64(0)
    e = np.uint64(0)
    f = np.uint64(0)
    w, acc, nb = np.uint64(0), np.uint64(0), 0
    for r in range(n_rows):
        for lev in range(rps.size):
            if r % rps[lev] == 0:
                stream[p] = alphabet + lev
                p += one
        gap = 0
        for _ in range(row_len):
            v = np.uint64(x[f])
            f += one
            if v == 0:
                gap += one
                continue
            while gap > max_distance:  # filler: skip max_distance zeros, store one zero
                stream[p] = 0
                dist[e] = max_distance
                if raw_bits > 0:  # a zero raw field: only advance the accumulator
                    nb += raw_bits
                    if nb >= 64:
                        words[w] = acc
                        w += one
                        nb -= 64
                        acc = np.uint64(0)
                p += one
                e += one
                gap -= max_distance + 1
            stream[p] = (v >> sh) & smask
            dist[e] = gap
            if raw_bits > 0:  # inline 64-bit accumulator (see fields.py)
                m = (v & mmask) | (((v >> spos) & sflag) << sh)
                acc |= m << np.uint64(nb)
                nb += raw_bits
                if nb >= 64:
                    words[w] = acc
                    w += one
                    nb -= 64
                    acc = m >> np.uint64(raw_bits - nb)
            p += one
            e += one
            gap = 0
    if raw_bits > 0 and nb > 0:
        words[w] = acc
    return np.int64(p), np.int64(e)


@njit(cache=True, nogil=True)
def scatter_sparse(sym, dist, e0, alphabet, deepest, has_levels, row_len, words, shift,
                   sign_pos, codebook, use_codebook, out):
    """Decode a sparse stream span into ``out`` (flat, zero-filled by the caller).

    ``sym`` starts at a row boundary (at its delimiters when ``has_levels``); ``dist[k]`` and raw
    entry ``e0 + k`` belong to the k-th value symbol of ``sym``. Returns the number of entries, or
    -1 if the stream would write outside ``out`` (corrupt input).
    """
    raw_bits, mmask, smask, spos, sflag = split_params(shift, sign_pos)
    mask = (np.uint64(1) << np.uint64(raw_bits)) - np.uint64(1)
    sh = np.uint64(shift)
    row = -1 if has_levels else 0
    pos = 0
    k = 0
    n_out = out.size
    w, cur, avail = 0, np.uint64(0), 0
    if raw_bits > 0 and not use_codebook:
        w, cur, avail = reader_at(words, e0, raw_bits)
    for p in range(sym.size):
        s = np.int64(sym[p])
        if s >= alphabet:
            if s == deepest:
                row += 1
                pos = row * row_len
            continue
        if k >= dist.size:
            return -1
        pos += np.int64(dist[k])
        if pos >= n_out or pos < 0 or pos >= (row + 1) * row_len:
            return -1
        if use_codebook:
            if s >= codebook.size:
                return -1
            out[pos] = codebook[s]
        elif raw_bits > 0:
            v, w, cur, avail = read_next(words, w, cur, avail, raw_bits, mask)
            out[pos] = (np.uint64(s) << sh) | (v & mmask) | ((v >> sh) << spos)
        else:
            out[pos] = s
        pos += 1
        k += 1
    return k
