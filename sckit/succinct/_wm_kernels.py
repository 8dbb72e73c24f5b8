"""numba kernels for the wavelet matrix (Claude, Navarro and Ordonez, Inf. Syst. 2015).

Arrays (see :class:`sckit.succinct.wavelet_matrix.WaveletMatrix`): ``bits`` uint64[L, nw] (level
``l`` holds bit ``L-1-l`` of each symbol, in the order left by the stable partitions of the levels
above), ``rdir`` uint64[L, nd] (one :mod:`._bitops` rank directory per level), ``zeros`` int64[L]
(zeros per level), ``sel`` uint32 (per-level select samples, ones then zeros, concatenated) with
``sel_off`` int64[2L+1] (sample ``t`` of level ``l``'s ones is ``sel[sel_off[2l] + t]``, of its
zeros ``sel[sel_off[2l+1] + t]``). Build and queries here; range decode in :mod:`._wm_decode`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sckit.succinct._bitops import _select, build_rank_dir, build_select_samples, popcount, rank1


@njit(cache=True, nogil=True)
def wm_build(sym, L):
    """Levels by stable partition (zeros first). O(n L); one pass per level, branch-free."""
    n = sym.shape[0]
    nw = (n + 63) >> 6
    bits = np.zeros((max(L, 0), nw), dtype=np.uint64)
    zeros = np.zeros(max(L, 0), dtype=np.int64)
    cur = sym.copy()
    zbuf = np.empty_like(sym)
    obuf = np.empty_like(sym)
    for lv in range(L):
        sh = L - 1 - lv
        p0 = 0
        p1 = 0
        last = lv == L - 1
        for w in range(nw):
            acc = np.uint64(0)
            base = w << 6
            m = min(64, n - base)
            for j in range(m):
                v = cur[base + j]
                b = (v >> sh) & 1
                acc |= np.uint64(b) << np.uint64(j)
                if not last:
                    # write to both buffers, advance one: no data-dependent branch
                    zbuf[p0] = v
                    obuf[p1] = v
                    p0 += 1 - b
                    p1 += b
            bits[lv, w] = acc
            if last:
                p1 += popcount(acc)
        if last:
            p0 = n - p1
        zeros[lv] = p0
        if not last:
            cur[:p0] = zbuf[:p0]
            cur[p0:] = obuf[:p1]
    return bits, zeros


def build_dirs(bits: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank directories and select samples of every level."""
    L = bits.shape[0]
    nd = (n + 2047) // 2048 + 1
    rdir = np.zeros((L, nd), dtype=np.uint64)
    samples = []
    for lv in range(L):
        rdir[lv] = build_rank_dir(bits[lv], n)
        samples.append(build_select_samples(bits[lv], rdir[lv], n, True))
        samples.append(build_select_samples(bits[lv], rdir[lv], n, False))
    off = np.zeros(2 * L + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(s) for s in samples])
    sel = np.concatenate(samples).astype(np.uint32) if samples else np.zeros(0, np.uint32)
    return rdir, sel, off


@njit(cache=True, nogil=True)
def _access(bits, rdir, zeros, L, i):
    c = 0
    for lv in range(L):
        b = np.int64((bits[lv, i >> 6] >> np.uint64(i & 63)) & np.uint64(1))
        r = rank1(bits[lv], rdir[lv], i)
        i = zeros[lv] + r if b else i - r
        c = (c << 1) | b
    return c


@njit(cache=True, nogil=True)
def _rank(bits, rdir, zeros, L, c, s, e):
    # occurrences of c in [s, e): follow c's path with both ends
    for lv in range(L):
        b = (c >> (L - 1 - lv)) & 1
        rs = rank1(bits[lv], rdir[lv], s)
        re = rank1(bits[lv], rdir[lv], e)
        if b:
            s = zeros[lv] + rs
            e = zeros[lv] + re
        else:
            s -= rs
            e -= re
    return e - s, s


_LANES = 16  # queries advanced in lockstep: their rank chains are independent, so they overlap


@njit(cache=True, nogil=True)
def wm_access_many(bits, rdir, zeros, L, idx, out, width):
    """``access`` per index into ``out``, a byte view of integers of ``width`` bytes. O(L) each; 16 queries walk the levels together so that their
    dependent rank chains overlap in the CPU (one at a time was latency-bound)."""
    nq = idx.shape[0]
    pos = np.empty(_LANES, dtype=np.int64)
    sym = np.empty(_LANES, dtype=np.int64)
    for q0 in range(0, nq, _LANES):
        k = min(_LANES, nq - q0)
        for t in range(k):
            pos[t] = idx[q0 + t]
            sym[t] = 0
        for lv in range(L):
            w = bits[lv]
            rd = rdir[lv]
            z = zeros[lv]
            for t in range(k):
                i = pos[t]
                iu = np.uint64(i)  # unsigned index: no wraparound check
                b = np.int64((w[iu >> np.uint64(6)] >> (iu & np.uint64(63))) & np.uint64(1))
                r = rank1(w, rd, i)
                pos[t] = z + r if b else i - r
                sym[t] = (sym[t] << 1) | b
        for t in range(k):
            for b in range(width):  # little-endian bytes: one compiled kernel for every dtype
                out[(q0 + t) * width + b] = (sym[t] >> (8 * b)) & 0xFF


@njit(cache=True, nogil=True)
def wm_rank_many(bits, rdir, zeros, L, c, idx, out):
    """``rank(c, i)`` per index. O(L) each. The start of ``c``'s node at each level does not
    depend on ``i``: computed once, so each query costs one rank per level (in lockstep)."""
    nq = idx.shape[0]
    starts = np.empty(L, dtype=np.int64)
    s = 0
    for lv in range(L):
        starts[lv] = s
        r = rank1(bits[lv], rdir[lv], s)
        s = zeros[lv] + r if (c >> (L - 1 - lv)) & 1 else s - r
    bottom = s
    pos = np.empty(_LANES, dtype=np.int64)
    for q0 in range(0, nq, _LANES):
        k = min(_LANES, nq - q0)
        for t in range(k):
            pos[t] = idx[q0 + t]
        for lv in range(L):
            w = bits[lv]
            rd = rdir[lv]
            z = zeros[lv]
            one = (c >> (L - 1 - lv)) & 1
            for t in range(k):
                r = rank1(w, rd, pos[t])
                pos[t] = z + r if one else pos[t] - r
        for t in range(k):
            out[q0 + t] = pos[t] - bottom


@njit(cache=True, nogil=True)
def wm_count_start(bits, rdir, zeros, L, c, n):
    """(occurrences of c, start of c's run in the virtual bottom level)."""
    return _rank(bits, rdir, zeros, L, c, 0, n)


@njit(cache=True, nogil=True)
def wm_select_many(bits, rdir, zeros, sel, sel_off, L, n, c, bottom, ks, out):
    """``select(c, k)`` per k: start at ``bottom + k`` below the last level and walk up with
    select0/select1. O(L) selects each (16 queries in lockstep, as in access)."""
    nq = ks.shape[0]
    pos = np.empty(_LANES, dtype=np.int64)
    for q0 in range(0, nq, _LANES):
        k = min(_LANES, nq - q0)
        for t in range(k):
            pos[t] = bottom + ks[q0 + t]
        for lv in range(L - 1, -1, -1):
            w = bits[lv]
            rd = rdir[lv]
            if (c >> (L - 1 - lv)) & 1:
                s = sel[sel_off[2 * lv] : sel_off[2 * lv + 1]]
                z = zeros[lv]
                for t in range(k):
                    pos[t] = _select(w, rd, s, n, pos[t] - z, True)
            else:
                s = sel[sel_off[2 * lv + 1] : sel_off[2 * lv + 2]]
                for t in range(k):
                    pos[t] = _select(w, rd, s, n, pos[t], False)
        for t in range(k):
            out[q0 + t] = pos[t]
