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

from sckit.succinct._bitops import (
    _before,
    _select,
    build_rank_dir,
    build_select_samples,
    popcount,
    rank1,
    select_in_word,
)


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
            # loops: an array slice assignment costs a first run ~2 s compiling numba's error text
            for k in range(p0):
                cur[k] = zbuf[k]
            for k in range(p1):
                cur[p0 + k] = obuf[k]
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
    nw1 = max(bits.shape[1] - 1, 0)
    for lv in range(L):
        # clamped word index: a damaged structure (refused on load) cannot read past the level
        b = np.int64((bits[lv, min(max(i, 0) >> 6, nw1)] >> np.uint64(i & 63)) & np.uint64(1))
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
    nw1 = np.uint64(max(bits.shape[1] - 1, 0))
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
                iu = np.uint64(i)  # unsigned index: no wraparound check; clamped (cmov)
                b = np.int64((w[min(iu >> np.uint64(6), nw1)] >> (iu & np.uint64(63))) & np.uint64(1))
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
def wm_count_less(bits, rdir, zeros, L, c, n):
    """Symbols of the whole sequence that are smaller than ``c`` (``0 <= c < 2**L``): follow
    c's path, adding the 0-side of every level where c has a 1. O(L) ranks (Claude, Navarro and
    Ordonez 2015, sec. 5's range counting)."""
    s = np.int64(0)
    e = np.int64(n)
    less = np.int64(0)
    for lv in range(L):
        rs = rank1(bits[lv], rdir[lv], s)
        re = rank1(bits[lv], rdir[lv], e)
        if (c >> (L - 1 - lv)) & 1:
            less += (e - s) - (re - rs)
            s = zeros[lv] + rs
            e = zeros[lv] + re
        else:
            s -= rs
            e -= re
    return less


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


# -- batch-level paths: sorted sweeps instead of independent queries ------------------------------
#
# ``select_many(c, ks)`` walks every query up the same path of levels (c's). When the ranks to
# select are non-decreasing, so are the answers (select is monotone), so each level's selects for
# the whole batch are one forward sweep over the rank directory and the words: O(n_level / 64 + m)
# per level, sequential memory access, no binary searches. Two ways to get sorted ranks:
#
# - the ``ks`` are already sorted (checked in O(m)): sweep them directly;
# - the batch is dense (``count(c) <= SELECT_DENSE_FACTOR * m``): enumerate the positions of *all*
#   occurrences of c (ranks 0 .. count-1 are sorted by construction) and gather ``ks`` from them;
# - otherwise, if ``SELECT_SORT_FACTOR * m >= blocks per level``: LSD radix sort, sweeps, scatter.
#
# ``access_many`` on a dense batch (``n <= ACCESS_DECODE_FACTOR * m``) decodes the whole sequence
# (one sequential pass, :mod:`._wm_decode`) and gathers; ``rank_many`` (``n <= RANK_DENSE_FACTOR
# * m``) decodes and ranks on the bitmap of c (both in ``WaveletMatrix``). Otherwise the per-query
# kernels above run. The factors are module attributes so tests can force either path (0
# disables, huge forces).

SELECT_DENSE_FACTOR = 1
ACCESS_DECODE_FACTOR = 16


@njit(cache=True, nogil=True)
def is_sorted(a):
    """True iff ``a`` (1-d) is non-decreasing."""
    for j in range(1, a.shape[0]):
        if a[j] < a[j - 1]:
            return False
    return True


@njit(cache=True, nogil=True)
def _select_sweep(words, rdir, pos, z, ones, out):
    """``out[j] = select(pos[j] - z)`` (select1 if ``ones`` else select0) for non-decreasing
    ``pos``: one cursor (block ``b``, word ``w``, count ``acc`` before ``w``) moves forward only.
    The first block is found by binary search, so a sweep whose answers lie far into the vector
    (a deep level of the Huffman-shaped matrix, which stores all levels in one vector) does not
    walk the directory from block 0."""
    nb = rdir.shape[0] - 1
    nw = words.shape[0]
    b = 0
    if nb <= 0 or nw == 0:  # nothing to select in (only a damaged structure asks)
        out[:] = 0
        return
    if pos.shape[0]:
        k0 = pos[0] - z
        hi = nb - 1
        while b < hi:  # last block with before(b) <= k0
            mid = (b + hi + 1) >> 1
            if _before(rdir, mid, ones) <= k0:
                b = mid
            else:
                hi = mid - 1
    w = 0
    acc = np.int64(0)
    for j in range(pos.shape[0]):
        k = pos[j] - z
        while b + 1 < nb and _before(rdir, b + 1, ones) <= k:
            b += 1
        if (w >> 5) < b:  # the answer lies in a later block: jump there, skip its sub-blocks
            w = b << 5
            acc = _before(rdir, b, ones)
            e = rdir[b]
            for s in range(3):
                c = np.int64((e >> np.uint64(34 + 10 * s)) & np.uint64(1023))
                if not ones:
                    c = 512 - c
                if k - acc < c:
                    break
                acc += c
                w += 8
        # bounded by the words: a damaged directory (refused on load) cannot run past them
        while w < nw:
            x = words[w] if ones else ~words[w]
            c = np.int64(popcount(x))
            if k - acc < c:
                out[j] = (w << 6) + select_in_word(x, max(k - acc, 0))
                break
            acc += c
            w += 1
        if w >= nw:
            out[j] = (nw << 6) - 1
            w = nw - 1
            acc = np.int64(1) << 62  # every later rank is below it: they all land here too


@njit(cache=True, nogil=True)
def _select_walk_sorted(bits, rdir, zeros, L, c, pos, tmp):
    """Walk non-decreasing bottom positions ``pos`` up c's path, level by level (sweeps);
    returns the array (``pos`` or ``tmp``) holding the level-0 positions."""
    a = pos
    o = tmp
    for lv in range(L - 1, -1, -1):
        if (c >> (L - 1 - lv)) & 1:
            _select_sweep(bits[lv], rdir[lv], a, zeros[lv], True, o)
        else:
            _select_sweep(bits[lv], rdir[lv], a, 0, False, o)
        a, o = o, a
    return a


@njit(cache=True, nogil=True)
def wm_select_many_sorted(bits, rdir, zeros, L, c, bottom, ks, out):
    """``select(c, k)`` for non-decreasing ``ks`` (level sweeps)."""
    m = ks.shape[0]
    pos = np.empty(m, dtype=np.int64)
    for j in range(m):
        pos[j] = bottom + ks[j]
    res = _select_walk_sorted(bits, rdir, zeros, L, c, pos, np.empty(m, dtype=np.int64))
    for j in range(m):
        out[j] = res[j]


@njit(cache=True, nogil=True)
def wm_select_many_dense(bits, rdir, zeros, L, c, bottom, count, ks, out):
    """``select(c, k)`` for any ``ks``: positions of all ``count`` occurrences of c (level sweeps
    over ranks ``0 .. count-1``), then a gather."""
    pos = np.empty(count, dtype=np.int64)
    for j in range(count):
        pos[j] = bottom + j
    res = _select_walk_sorted(bits, rdir, zeros, L, c, pos, np.empty(count, dtype=np.int64))
    for j in range(ks.shape[0]):
        out[j] = res[ks[j]]


SELECT_SORT_FACTOR = 4  # sort unsorted ks when SELECT_SORT_FACTOR * m >= blocks per level


@njit(cache=True, nogil=True)
def radix_argsort(keys):
    """(sorted keys, permutation) of non-negative int64 ``keys``: LSD radix sort, 11 bits a pass
    (stable; as many passes as the largest key needs)."""
    m = keys.shape[0]
    k0 = keys.copy()
    p0 = np.arange(m)
    if m < 2:
        return k0, p0
    mx = k0.max()
    k1 = np.empty(m, dtype=np.int64)
    p1 = np.empty(m, dtype=np.int64)
    cnt = np.empty(2049, dtype=np.int64)
    sh = 0
    while (mx >> sh) > 0:
        cnt[:] = 0
        for j in range(m):
            cnt[((k0[j] >> sh) & 2047) + 1] += 1
        for d in range(2048):
            cnt[d + 1] += cnt[d]
        for j in range(m):
            d = (k0[j] >> sh) & 2047
            t = cnt[d]
            cnt[d] = t + 1
            k1[t] = k0[j]
            p1[t] = p0[j]
        k0, k1 = k1, k0
        p0, p1 = p1, p0
        sh += 11
    return k0, p0


@njit(cache=True, nogil=True)
def wm_select_many_sort(bits, rdir, zeros, L, c, bottom, ks, out):
    """``select(c, k)`` for any ``ks``: radix-sort them, level sweeps, scatter back."""
    m = ks.shape[0]
    sk, perm = radix_argsort(ks)
    for j in range(m):
        sk[j] += bottom
    res = _select_walk_sorted(bits, rdir, zeros, L, c, sk, np.empty(m, dtype=np.int64))
    for j in range(m):
        out[perm[j]] = res[j]



RANK_DENSE_FACTOR = 16  # rank_many decodes once and ranks on c's bitmap when n <= factor * m
