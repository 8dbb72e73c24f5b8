"""Batched queries on the Huffman-shaped wavelet matrix: the batch-level strategies of the plain
one (:mod:`sckit.succinct._wm_kernels`) on the one-vector layout of :mod:`._hwm_kernels`.

- ``rank_lanes``: 16 queries walk down together, so their dependent rank chains overlap in the
  CPU instead of running one after the other (latency-bound); the start of ``c``'s node is
  computed once per level instead of once per query. ``access_walk`` stays one query at a time.
- ``select_walk_sorted``: for non-decreasing ranks, the answers are non-decreasing at every
  level (select is monotone), so each level is one forward sweep
  (``_wm_kernels._select_sweep``) over the rank directory instead of one sampled select per
  query. ``HuffmanWaveletMatrix.select_many`` feeds it sorted ranks: as given, all ranks of a
  dense batch, or radix-sorted ones.

Positions are absolute bit positions in the one vector while walking; a level's relative
position is ``p - lvl_off[level]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sckit.succinct._bitops import rank1
from sckit.succinct._hwm_kernels import _child_cursor, leaf_range
from sckit.succinct._wm_kernels import _select_sweep

__all__ = ["access_walk", "rank_lanes", "select_walk_sorted"]

_LANES = 16


@njit(cache=True, nogil=True)
def rank_lanes(words, rdir, lvl_off, lvl_zeros, lvl_base, code, length, idx, out):
    """``out[q]`` = occurrences of the symbol (``code``/``length``) in ``[0, idx[q])``: one rank
    per level per query; the node starts (query-independent) once per level."""
    s_end = leaf_range(words, rdir, lvl_off, lvl_zeros, lvl_base, code, length, 0)[0]
    nq = idx.shape[0]
    pos = np.empty(_LANES, np.int64)
    for q0 in range(0, nq, _LANES):
        k = min(_LANES, nq - q0)
        for t in range(k):
            pos[t] = idx[q0 + t]
        for lev in range(length):
            off = lvl_off[lev]
            base = lvl_base[lev]
            if (code >> np.uint64(lev)) & np.uint64(1):
                z = lvl_zeros[lev]
                for t in range(k):
                    pos[t] = z + rank1(words, rdir, off + pos[t]) - base
            else:
                for t in range(k):
                    p = pos[t]
                    pos[t] = p - (rank1(words, rdir, off + p) - base)
        for t in range(k):
            out[q0 + t] = pos[t] - s_end


@njit(cache=True, nogil=True)
def select_walk_sorted(words, rdir, lvl_off, lvl_zeros, lvl_base, code, length, pos, tmp):
    """Walk non-decreasing positions ``pos`` of the virtual level ``length`` up the symbol's
    code, one sweep per level; returns the array (``pos`` or ``tmp``) holding the level-0
    positions (= sequence positions)."""
    a = pos
    o = tmp
    for lev in range(length - 1, -1, -1):
        off = lvl_off[lev]
        base = lvl_base[lev]
        # select1(base + p - zeros) for a 1, select0(off - base + p) for a 0 (see select_many)
        if (code >> np.uint64(lev)) & np.uint64(1):
            _select_sweep(words, rdir, a, lvl_zeros[lev] - base, True, o)
        else:
            _select_sweep(words, rdir, a, base - off, False, o)
        for j in range(o.shape[0]):
            o[j] -= off
        a, o = o, a
    return a


@njit(cache=True, nogil=True)
def access_walk(words, rdir, child, node_level, lvl_off, lvl_zeros, lvl_base, leaf_sym, idx, out):
    """``out[q] = S[idx[q]]``: one rank per internal node on the path (none at the leaf).
    One query at a time: 16 in lockstep, as ``rank_lanes`` does, measured slower here on
    float-exponent-like symbols (36 -> 48 ns per query; 2M symbols, 20K queries, 2-core EPYC),
    the lanes ending at different depths (no gain at sigma 16); only uniform sigma = 256 gained
    (145-169 -> 125-144 ns)."""
    nw1 = np.uint64(words.shape[0] - 1)
    n_int = node_level.shape[0]
    for q in range(idx.shape[0]):
        p = idx[q]
        v = np.int64(0)
        out[q] = 0
        # the code tree is acyclic with at most n_int internal nodes: bounded even if damaged
        for _ in range(n_int + 1):
            pu = np.uint64(p)
            b = np.int64((words[min(pu >> np.uint64(6), nw1)] >> (pu & np.uint64(63))) & np.uint64(1))
            ch = child[2 * v + b]
            if ch < 0:
                out[q] = leaf_sym[-ch - 1]
                break
            p = _child_cursor(words, rdir, node_level, lvl_off, lvl_zeros, lvl_base, v, p, b)
            v = ch

