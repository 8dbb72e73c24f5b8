"""Two-group range decode for Huffman-shaped trees with many internal nodes.

The one-pass decoder (:func:`._hwm_kernels.decode_steps`) visits every internal node that has a
symbol among the 256 of a step, so its cost grows with the tree: about one node visit per symbol
for the ~235 internal nodes of 8-bit quantized weights (one codebook index per weight), which
decoded at ~0.5 GB/s against ~3.4 for float32 (whose sign+exponent tree has ~50 nodes).
Splitting the tree at level ``a``, as the plain wavelet matrix splits its levels
(:mod:`._wm_decode`):

1. decode the top levels with the *cut* tree, in which every internal node of level ``a`` is a
   pseudo-leaf whose "symbol" is ``mark + j``, into ``hi``: the final symbol of codes shorter
   than ``a``, else the cut node ``j`` the position continues in;
2. each cut node's symbols are the next run of its own stream: decode its subtree for as many
   symbols as ``hi`` sent it, into ``low``;
3. merge: each marked position takes the next symbol of its cut node.

Node visits per symbol drop to about (top nodes + average subtree) / 256, for a count and a
merge pass of about 1 ns per symbol each. Cursors must be set eagerly (every internal node's,
by ``decoder_state``); they are left at ``stop`` as by ``decode_steps``, so the fused RAS decoder
calls :func:`decode_split` chunk by chunk like ``decode_steps``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sckit.succinct._hwm_kernels import decode_steps, decoder_state

__all__ = ["CHUNK", "SPLIT_MIN_INTERNAL", "decode_range_split", "decode_split", "no_split",
           "split_buffers", "split_tables"]

# Below this many internal nodes the one-pass decoder is as fast or faster (see docs/benchmarks.md,
# "Huffman-shaped decode of large trees").
SPLIT_MIN_INTERNAL = 192
SPLIT_MAX_SCORE = 0.5  # ... and only when the cut's score is at most this fraction of the tree
CHUNK = 8192  # symbols per top-group pass: hi and low (uint32) stay in L1/L2


def no_split() -> tuple:
    """The split arguments that mean "one-pass decode" (``mark`` < 0)."""
    z = np.zeros(1, np.int64)
    return z, z, z, -1


def split_tables(child: np.ndarray, leaf_sym: np.ndarray, node_level: np.ndarray) -> tuple:
    """``(child_top, leaf_top, cut_gid, mark)`` for the best cut level, or :func:`no_split`
    when the tree is small or no level cuts it well.

    The cut level ``a`` minimises (internal nodes above ``a``) + (internal nodes at and below
    ``a``) / (nodes at ``a``): the top tree's visits plus an average subtree's.
    """
    n_int = node_level.shape[0]
    if n_int < SPLIT_MIN_INTERNAL:
        return no_split()
    internal = np.bincount(node_level)
    goff = np.concatenate([[0], np.cumsum(internal)])
    best_score, a = float(n_int), -1
    for lev in range(1, internal.size):
        if internal[lev]:
            score = goff[lev] + (n_int - goff[lev]) / internal[lev]
            if score < best_score:
                best_score, a = score, lev
    if a < 0 or best_score > SPLIT_MAX_SCORE * n_int:
        return no_split()
    lo, hi = int(goff[a]), int(goff[a + 1])
    mark = int(leaf_sym.max()) + 1 if leaf_sym.size else 0
    if mark + (hi - lo) >= 1 << 32:  # hi holds symbols and markers as uint32
        return no_split()
    child_top = child.copy()
    cut = (child >= lo) & (child < hi)
    child_top[cut] = -(leaf_sym.size + (child[cut] - lo) + 1)
    leaf_top = np.concatenate([leaf_sym, mark + np.arange(hi - lo, dtype=np.int64)])
    return child_top, leaf_top, np.arange(lo, hi, dtype=np.int64), mark


@njit(cache=True, nogil=True)
def split_buffers(n_cut, chunk=CHUNK):
    """``(hi, low, cnt, ptr)`` scratch of :func:`decode_split` (``chunk`` 0: none needed)."""
    return (np.empty(chunk, np.uint32), np.empty(chunk, np.uint32), np.empty(n_cut, np.int64),
            np.empty(n_cut, np.int64))


@njit(cache=True, nogil=True, inline="always")
def _merge_into(ov, o, hi, low, ptr, mark, mb):
    for t in range(mb):
        v = np.int64(hi[t])
        c = v - mark
        if c >= 0:
            q = ptr[c]
            ptr[c] = q + 1
            v = np.int64(low[q])
        ov[o + t] = v


@njit(cache=True, nogil=True)
def decode_split(words, rdir, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
                 child_top, leaf_top, cut_gid, mark, cur, sv, sm, start, stop, out, o, width,
                 hi, low, cnt, ptr):
    """Symbols ``[start, stop)`` into elements ``o, o + 1, ...`` of the byte view ``out``
    (``width`` bytes each); the contract of ``decode_steps`` with eager cursors."""
    hb = hi.view(np.uint8)
    lb = low.view(np.uint8)
    j = start
    while j < stop:
        mb = min(CHUNK, stop - j)
        decode_steps(words, rdir, child_top, leaf_top, node_level, lvl_off, lvl_zeros, lvl_base,
                     cur, sv, sm, False, 0, mb, hb, 0, 4, 0)
        cnt[:] = 0
        for t in range(mb):
            c = np.int64(hi[t]) - mark
            if c >= 0:
                cnt[c] += 1
        off = 0
        for c in range(cnt.shape[0]):
            ptr[c] = off
            k = cnt[c]
            if k:
                decode_steps(words, rdir, child, leaf_sym, node_level, lvl_off, lvl_zeros,
                             lvl_base, cur, sv, sm, False, 0, k, lb, off, 4, cut_gid[c])
                off += k
        if width == 1:
            _merge_into(out, o, hi, low, ptr, mark, mb)
        elif width == 2:
            _merge_into(out.view(np.uint16), o, hi, low, ptr, mark, mb)
        elif width == 4:
            _merge_into(out.view(np.uint32), o, hi, low, ptr, mark, mb)
        else:
            _merge_into(out.view(np.uint64), o, hi, low, ptr, mark, mb)
        j += mb
        o += mb


@njit(cache=True, nogil=True)
def decode_range_split(words, rdir, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
                       child_top, leaf_top, cut_gid, mark, start, stop, out, width):
    """:func:`._hwm_kernels.decode_range` by :func:`decode_split` (eager cursors)."""
    cur, sv, sm = decoder_state(words, rdir, child, node_level, lvl_off, lvl_zeros, lvl_base,
                                start, False)
    hi, low, cnt, ptr = split_buffers(cut_gid.shape[0])
    decode_split(words, rdir, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
                 child_top, leaf_top, cut_gid, mark, cur, sv, sm, start, stop, out, 0, width,
                 hi, low, cnt, ptr)
