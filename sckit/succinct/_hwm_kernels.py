"""numba kernels for the Huffman-shaped wavelet matrix (:mod:`sckit.succinct.huffman_wm`).

Layout the kernels share (built in ``huffman_wm``):

- All levels live in ONE bit vector: level ``l`` is bits ``[lvl_off[l], lvl_off[l] + n_l)``.
  ``words`` is that vector's word array plus zero padding (``(n_bits >> 6) + 2`` words in
  all), so the hot loop can read two words at any cursor, even one at ``n_bits``, without a
  branch. ``rdir``/``s1``/``s0`` are the vector's rank
  directory and select samples (:mod:`sckit.succinct._bitops` layout).
- Internal nodes are numbered level by level in matrix order (``gid``); the root is 0.
  ``child[2 * gid + b]`` is the gid of the ``b``-child, or ``-(k + 1)`` for leaf ``k``, whose
  symbol is ``leaf_sym[k]`` (leaves numbered level by level in slot order).
  ``node_level[gid]`` is its level. Per level: ``lvl_off`` (absolute first bit, one extra entry
  for the level after the last), ``lvl_zeros`` (zeros in the level) and ``lvl_base`` (ones before
  the level: ``rank1(lvl_off[l])``).

Moving from absolute position ``p`` of level ``l`` to the next level (Claude, Navarro, Ordonez
2015): with ``r1 = rank1(p) - lvl_base[l]``, a 0 goes to ``lvl_off[l+1] + (p - lvl_off[l]) - r1``
and a 1 to ``lvl_off[l+1] + lvl_zeros[l] + r1``.

Helpers used from :mod:`sckit.succinct._bitops` (owned by the plain wavelet matrix):
``pdep``, ``popcount``, ``tzcnt``, ``rank1``, ``select0``, ``select1`` and the AVX-512
``masked_store`` (used here as :data:`masked_fill`). Added here: the branch-free 64-bit read
:func:`_read64`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sckit.succinct._bitops import masked_store, pdep, popcount, rank1, select0, select1

# "write symbol s at the set bits of a 64-bit mask" is _bitops.masked_store: one to eight AVX-512BW
# masked vector stores, or a tzcnt loop without AVX-512BW. Measured (float32 sign+exponent, CPU
# time, Zen 4): 814 M sym/s with masked stores, 215 with the tzcnt loop.
masked_fill = masked_store

_STACK = 72  # > max code length + 1: the depth-first stack never holds more entries


@njit(cache=True)
def package_merge_lengths(w, max_length):
    """Optimal length-limited code lengths for ascending weights ``w`` (package-merge; the
    numpy formulation in ``sckit.succinct.huffman`` explains it, and this gives its exact
    output: originals before packages on ties). O(n * max_length): ~14 us for the 196-324 pair
    symbols of a byte-grouped tensor, where the numpy version takes 140-210 us. Flat arrays and
    two ping-pong lists: a 2-d flag array and swapped list objects took 2.2 s to compile, this
    0.5 s."""
    n = w.shape[0]
    lengths = np.zeros(n, np.int64)
    if n < 2:
        return lengths
    width = 2 * n
    is_orig = np.zeros(max_length * width, np.uint8)  # row k: list max_length - k
    buf = np.empty(2 * width, np.int64)  # the current list and the next one
    for t in range(n):
        is_orig[t] = 1
        buf[t] = w[t]
    m = n
    cur = 0
    for lev in range(1, max_length):
        k = m // 2
        src = cur * width
        dst = (1 - cur) * width
        row = lev * width
        i = 0
        j = 0
        o = 0
        p = 0
        while i < n or j < k:
            if j < k:
                p = buf[src + 2 * j] + buf[src + 2 * j + 1]
            if j >= k or (i < n and w[i] <= p):
                buf[dst + o] = w[i]
                is_orig[row + o] = 1
                i += 1
            else:
                buf[dst + o] = p
                j += 1
            o += 1
        cur = 1 - cur
        m = o
    take = 2 * n - 2
    for lev in range(max_length - 1, -1, -1):
        if take == 0:
            break
        n_orig = 0
        row = lev * width
        for t in range(take):
            n_orig += is_orig[row + t]
        for t in range(n_orig):
            lengths[t] += 1
        take = 2 * (take - n_orig)
    return lengths


@njit(cache=True)
def minimum_redundancy_inplace(a):
    """Moffat and Katajainen (WADS 1995): ascending frequencies -> code lengths, in place, O(n).

    Three passes over one array: parent pointers of the Huffman tree, internal node depths,
    then leaf depths. ``a[i]`` becomes the length of the ``i``-th cheapest symbol.
    """
    n = a.shape[0]
    if n == 0:
        return
    if n == 1:
        a[0] = 0
        return
    a[0] += a[1]
    root = 0
    leaf = 2
    for nxt in range(1, n - 1):
        if leaf >= n or a[root] < a[leaf]:
            a[nxt] = a[root]
            a[root] = nxt
            root += 1
        else:
            a[nxt] = a[leaf]
            leaf += 1
        if leaf >= n or (root < nxt and a[root] < a[leaf]):
            a[nxt] += a[root]
            a[root] = nxt
            root += 1
        else:
            a[nxt] += a[leaf]
            leaf += 1
    a[n - 2] = 0
    for nxt in range(n - 3, -1, -1):
        a[nxt] = a[a[nxt]] + 1
    avbl = 1
    used = 0
    depth = 0
    root = n - 2
    nxt = n - 1
    while avbl > 0:
        while root >= 0 and a[root] == depth:
            used += 1
            root -= 1
        while avbl > used:
            a[nxt] = depth
            nxt -= 1
            avbl -= 1
        avbl = 2 * used
        depth += 1
        used = 0


@njit(cache=True, nogil=True)
def build_levels(items, tab, level_sizes, words, buf_a, buf_b, direct):
    """Write all levels into ``words`` (zeroed, padded) by one stable partition per level.

    ``tab[x]`` is the code of item ``x`` LSB-first with a sentinel bit at position ``length``
    (so "code continues past level l + 1" is ``tab[x] >> (l + 2) != 0``). Level ``l`` gets bit
    ``l`` of each item still alive, in order; the items whose code continues go on, zeros
    first, to the next level (Claude, Navarro, Ordonez 2015: the matrix's stable partition;
    items whose code ends drop off the end by construction of the canonical code). Both
    buffers are written for every item and only one cursor advances, so there is no
    data-dependent branch. O(sum of code lengths) sequential passes; ``buf_a``/``buf_b``
    hold ``len(items)`` items each. ``direct``: the items already are ``tab`` values (used for
    big alphabets, whose table lookups would miss the cache at every level).
    """
    # Unsigned indices and a separate last-level loop: 1.7x faster than the signed version
    # (numba's negative-index wraparound and a per-item branch dominated).
    one = np.uint64(1)
    src = items
    pos = np.uint64(0)  # absolute first bit of the current level
    n_lev = level_sizes.shape[0]
    for lev in range(n_lev):
        n_l = np.uint64(level_sizes[lev])
        sh = np.uint64(lev)
        sh2 = np.uint64(lev + 2)
        pa = np.uint64(0)
        pb = np.uint64(0)
        last = lev == n_lev - 1
        n_blk = (n_l + np.uint64(63)) >> np.uint64(6)
        for blk in range(n_blk):
            base = np.uint64(blk) << np.uint64(6)
            cnt = min(np.uint64(64), n_l - base)
            acc = np.uint64(0)
            if last:
                for j in range(cnt):
                    x = src[base + np.uint64(j)]
                    t = np.uint64(x) if direct else tab[x]
                    acc |= ((t >> sh) & one) << np.uint64(j)
            else:
                for j in range(cnt):
                    x = src[base + np.uint64(j)]
                    t = np.uint64(x) if direct else tab[x]
                    b = (t >> sh) & one
                    acc |= b << np.uint64(j)
                    keep = np.uint64((t >> sh2) != np.uint64(0))
                    buf_a[pa] = x
                    buf_b[pb] = x
                    pb += keep & b
                    pa += keep & (b ^ one)
            a = pos + base
            wi = a >> np.uint64(6)
            off = a & np.uint64(63)
            words[wi] |= acc << off
            words[wi + one] |= (acc >> one) >> (np.uint64(63) - off)
        pos += n_l
        if not last:
            # a loop: an array slice assignment costs a first run ~2 s compiling numba's error text
            for q in range(pb):
                buf_a[pa + q] = buf_b[q]
            src = buf_a
            buf_a, buf_b = buf_b, buf_a


@njit(cache=True)
def _child_cursor(words, rdir, node_level, lvl_off, lvl_zeros, lvl_base, v, p, b):
    # Position in the next level of the first element of v's b-child at or after v's cursor p.
    lev = node_level[v]
    r1 = rank1(words, rdir, p) - lvl_base[lev]
    if b:
        return lvl_off[lev + 1] + lvl_zeros[lev] + r1
    return lvl_off[lev + 1] + (p - lvl_off[lev]) - r1


@njit(cache=True, inline="always")
def _read64(words, p):
    # 64 bits from bit p (any alignment), branch-free: ``words`` carries padding words, and the
    # double shift avoids the undefined shift by 64 when p is word-aligned.
    # (unsigned index: spares numba's negative-index wraparound code in the hot loop)
    # (the callers keep p <= 64 * (len(words) - 2): see the guard in decode_steps)
    wi = np.uint64(p) >> np.uint64(6)
    off = np.uint64(p) & np.uint64(63)
    return (words[wi] >> off) | (
        (words[wi + np.uint64(1)] << np.uint64(1)) << (np.uint64(63) - off)
    )


@njit(cache=True, inline="always")
def _split(words, p, m):
    # the node's next popcount(m) bits, deposited at the set bits of m; and the new cursor
    return pdep(_read64(words, p), m), p + np.int64(popcount(m))


@njit(cache=True, inline="always")
def _fill4(out, o, a, b, c, d, s, width):
    masked_fill(out, o, a, s, width)
    masked_fill(out, o + 64, b, s, width)
    masked_fill(out, o + 128, c, s, width)
    masked_fill(out, o + 192, d, s, width)


@njit(cache=True)
def init_cursors(words, rdir, child, node_level, lvl_off, lvl_zeros, lvl_base, start, cur):
    """Every internal node's cursor at ``start`` (gid order is top-down): one rank per node."""
    cur[0] = start
    for v in range(cur.shape[0]):
        p = cur[v]
        for b in range(2):
            ch = child[2 * v + b]
            if ch >= 0:
                cur[ch] = _child_cursor(
                    words, rdir, node_level, lvl_off, lvl_zeros, lvl_base, v, p, b
                )


@njit(cache=True, nogil=True)
def decode_range(
    words,
    rdir,
    child,
    leaf_sym,
    node_level,
    lvl_off,
    lvl_zeros,
    lvl_base,
    start,
    stop,
    out,
    width,
    lazy,
):
    """Symbols ``[start, stop)`` into elements ``[0, stop - start)`` of ``out``, a byte view of
    an integer array with ``width`` bytes per element (one compiled kernel for every dtype).

    Per-node cursors, 256 symbols per step: the root's next 256 bits (four 64-bit masks) say
    which positions go left or right; each internal node present in the step reads the next
    ``popcount(mask)`` bits of its own stream at its cursor for each of the four masks and
    deposits them at the masks' set bits (``pdep``), which splits its masks between its two
    children, depth first; a leaf writes its symbol at the positions of its masks
    (:data:`masked_fill`). Cursors only stream forward: O(1) word operations per node present per
    64 symbols, never one ``access`` per symbol (cf. Claude, Navarro, Ordonez 2015).

    Cursors: all set up front by :func:`init_cursors` (one rank per internal node), or, when
    ``lazy`` (big trees, short ranges), each set by one rank when its node is first reached.

    Releases the GIL (``nogil``): callers may decode several ranges or tensors in threads.

    Why 4 x 64: a visit's cost is mostly control (stack, mispredicted branches), shared by the
    four masks. Measured on float32 sign+exponent streams (CPU time, Zen 4): 64 symbols per step
    ~600 M sym/s, 128: ~830, 256: ~930, 512: ~810; on uniform 256 symbols 38 -> 73.
    """
    cur, sv, sm = decoder_state(
        words, rdir, child, node_level, lvl_off, lvl_zeros, lvl_base, start, lazy
    )
    decode_steps(
        words, rdir, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
        cur, sv, sm, lazy, start, stop, out, 0, width,
    )  # fmt: skip


@njit(cache=True)
def decoder_state(words, rdir, child, node_level, lvl_off, lvl_zeros, lvl_base, start, lazy):
    """Cursors at ``start`` (eager: :func:`init_cursors`; lazy: root only) + the DFS stacks."""
    n_int = node_level.shape[0]
    cur = np.empty(n_int, np.int64)
    if lazy:
        cur[:] = -1
        cur[0] = start
    else:
        init_cursors(words, rdir, child, node_level, lvl_off, lvl_zeros, lvl_base, start, cur)
    sv = np.empty(_STACK, np.int64)
    sm = np.empty((_STACK, 4), np.uint64)
    return cur, sv, sm


@njit(cache=True)  # called, not inlined: typed and compiled once for all its callers
def decode_steps(
    words, rdir, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
    cur, sv, sm, lazy, start, stop, out, o, width, root=0,
):  # fmt: skip
    """Symbols ``[start, stop)`` into elements ``o, o + 1, ...`` of the byte view ``out``, with
    every node's cursor (``cur``) at ``start``; leaves the cursors at ``stop``, so consecutive
    calls decode one stream in pieces (the fused RAS decoder does, through an L1-sized scratch
    buffer) without re-initialising them. See :func:`decode_range`. ``root``: decode the next
    ``stop - start`` symbols of that internal node's subtree instead (the two-group decode of
    :mod:`._hwm_split`; its cursors must be set)."""
    one = np.uint64(1)
    zero = np.uint64(0)
    uz = np.uint64(0)
    # Reads stay inside ``words``: a node's four reads span its cursor plus the popcount of its
    # masks, so one unsigned compare per node visit (not per read) bounds them. A consistent
    # structure never fails it (cursors stay inside their level); a damaged one loaded with
    # validate="fast" then decodes from bit 0 instead of reading outside the array.
    lim = np.uint64(64) * np.uint64(max(words.shape[0] - 2, 0)) + np.uint64(63)
    j = start
    while j < stop:
        for w in range(4):
            r = stop - j - 64 * w
            sm[0, w] = ~zero if r >= 64 else ((one << np.uint64(r)) - one if r > 0 else zero)
        sv[0] = root
        # unsigned stack pointer / node ids: numba drops its negative-index wraparound code
        sp = one
        while sp > uz:
            sp -= one
            v = np.uint64(sv[sp])
            p0 = cur[v]
            a, b, c, d = sm[sp, 0], sm[sp, 1], sm[sp, 2], sm[sp, 3]
            span = popcount(a) + popcount(b) + popcount(c) + popcount(d)
            if np.uint64(p0) + span > lim:  # unsigned: a negative cursor fails too
                p0 = np.int64(0)
            a1, p = _split(words, p0, a)
            b1, p = _split(words, p, b)
            c1, p = _split(words, p, c)
            d1, p = _split(words, p, d)
            cur[v] = p
            a0, b0, c0, d0 = a ^ a1, b ^ b1, c ^ c1, d ^ d1
            if a0 | b0 | c0 | d0:
                ch = child[v + v]
                if ch >= 0:
                    if lazy and cur[ch] < 0:
                        cur[ch] = _child_cursor(
                            words, rdir, node_level, lvl_off, lvl_zeros, lvl_base, v, p0, 0
                        )
                    sv[sp] = ch
                    sm[sp, 0], sm[sp, 1], sm[sp, 2], sm[sp, 3] = a0, b0, c0, d0
                    sp += one
                else:
                    _fill4(out, o, a0, b0, c0, d0, leaf_sym[np.uint64(-ch - 1)], width)
            if a1 | b1 | c1 | d1:
                ch = child[v + v + one]
                if ch >= 0:
                    if lazy and cur[ch] < 0:
                        cur[ch] = _child_cursor(
                            words, rdir, node_level, lvl_off, lvl_zeros, lvl_base, v, p0, 1
                        )
                    sv[sp] = ch
                    sm[sp, 0], sm[sp, 1], sm[sp, 2], sm[sp, 3] = a1, b1, c1, d1
                    sp += one
                else:
                    _fill4(out, o, a1, b1, c1, d1, leaf_sym[np.uint64(-ch - 1)], width)
        j += 256
        o += 256


@njit(cache=True, nogil=True)
def leaf_range(words, rdir, lvl_off, lvl_zeros, lvl_base, code, length, n):
    """``(s, e)``: the symbol's occurrences are ``[s, e)`` of the virtual level ``length``."""
    s = np.int64(0)
    e = np.int64(n)
    for lev in range(length):
        off = lvl_off[lev]
        base = lvl_base[lev]
        rs = rank1(words, rdir, off + s) - base
        re = rank1(words, rdir, off + e) - base
        if (code >> np.uint64(lev)) & np.uint64(1):
            s = lvl_zeros[lev] + rs
            e = lvl_zeros[lev] + re
        else:
            s = s - rs
            e = e - re
    return s, e


@njit(cache=True, nogil=True)
def select_many(
    words, rdir, s1, s0, n_bits, lvl_off, lvl_zeros, lvl_base, code, length, n, ks, out
):
    """``out[q]`` = position of the ``ks[q]``-th (0-based) occurrence of the symbol, or -1 when
    there are not that many. Down the code with rank to find the leaf's range, then back up
    with one select per level: O(code length) (Claude, Navarro, Ordonez 2015, section 4)."""
    s, e = leaf_range(words, rdir, lvl_off, lvl_zeros, lvl_base, code, length, n)
    count = e - s
    for q in range(ks.shape[0]):
        k = ks[q]
        if k < 0 or k >= count:
            out[q] = -1
            continue
        p = s + k
        for lev in range(length - 1, -1, -1):
            off = lvl_off[lev]
            base = lvl_base[lev]
            if (code >> np.uint64(lev)) & np.uint64(1):
                p = select1(words, rdir, s1, n_bits, base + p - lvl_zeros[lev]) - off
            else:
                p = select0(words, rdir, s0, n_bits, (off - base) + p) - off
        out[q] = p
