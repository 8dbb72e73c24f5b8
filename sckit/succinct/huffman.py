"""Canonical, length-limited Huffman codes laid out for a Huffman-shaped wavelet matrix.

Two steps, kept apart so each can be tested against a textbook answer:

1. :func:`huffman_code_lengths` turns symbol frequencies into optimal code lengths: Moffat and
   Katajainen's in-place algorithm ("In-place calculation of minimum-redundancy codes", WADS
   1995) when the optimal code fits the length limit, otherwise the package-merge algorithm of
   Larmore and Hirschberg ("A fast algorithm for optimal length-limited Huffman codes", JACM 1990),
   which is optimal among codes no longer than the limit.
2. :func:`wm_canonical_code` assigns code words of those lengths in the order a wavelet matrix
   needs (Claude, Navarro and Ordonez, "The wavelet matrix", Inf. Syst. 47, 2015, section 5): at
   every level the nodes are ordered as the matrix orders them (all 0-children, then all
   1-children, each group in the order of the parents) and the *leaves* of that level take the
   rightmost slots. Elements whose code ends at a level then form a suffix of the next level's
   virtual sequence, so level ``l`` stores bits only for symbols with code length ``> l`` and no
   bookkeeping beyond one count per level is needed. Within one length, symbols take the slots in
   increasing symbol order, so ``(symbols, lengths)`` alone determines the code (canonical).

Codes are returned LSB-first: bit ``l`` of ``codes[i]`` is the bit of level ``l``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEFAULT_MAX_CODE_LENGTH",
    "WMCode",
    "huffman_code_lengths",
    "wm_canonical_code",
]

# 32 levels is far more than any real weight stream needs (an optimal code over at most 2**32
# symbols only exceeds 32 bits for Fibonacci-like frequency tables) and keeps every code word in
# a uint64 with room to spare.
DEFAULT_MAX_CODE_LENGTH = 32
_MAX_SUPPORTED_LENGTH = 62


def _minimum_redundancy_lengths(sorted_freqs: np.ndarray) -> np.ndarray:
    """Optimal code lengths for ascending ``sorted_freqs`` (Moffat-Katajainen, in place, O(n))."""
    from sckit.succinct._hwm_kernels import minimum_redundancy_inplace

    a = sorted_freqs.astype(np.int64, copy=True)
    minimum_redundancy_inplace(a)
    return a


def _package_merge_lengths(sorted_freqs: np.ndarray, max_length: int) -> np.ndarray:
    """Optimal length-limited code lengths for ascending ``sorted_freqs`` (package-merge).

    The coin-collector formulation: list ``L`` holds the weights; list ``j`` merges the weights
    with pairwise "packages" of list ``j+1``. Taking the ``2n - 2`` cheapest items of list 1 and
    expanding packages back down, a symbol's code length is the number of lists in which it is
    taken. Because weights are sorted, the originals taken from each list are a prefix, so only
    "is this item an original" needs remembering per list. O(n L) time, O(n L) bits of memory.
    """
    n = sorted_freqs.size
    w = sorted_freqs.astype(np.int64)
    is_orig: list[np.ndarray] = []  # is_orig[k] belongs to list max_length - k
    items = w
    is_orig.append(np.ones(n, dtype=bool))
    for _ in range(max_length - 1):
        k = items.size // 2
        packages = items[0 : 2 * k : 2] + items[1 : 2 * k : 2]
        # Merge two sorted arrays; originals go first on ties (any fixed rule is optimal).
        pos_w = np.arange(n) + np.searchsorted(packages, w, side="left")
        pos_p = np.arange(k) + np.searchsorted(w, packages, side="right")
        merged = np.empty(n + k, dtype=np.int64)
        merged[pos_w] = w
        merged[pos_p] = packages
        flags = np.zeros(n + k, dtype=bool)
        flags[pos_w] = True
        items = merged
        is_orig.append(flags)
    lengths = np.zeros(n, dtype=np.int64)
    take = 2 * n - 2
    for flags in reversed(is_orig):  # list 1 first, down to list max_length
        if take == 0:
            break
        n_orig = int(np.count_nonzero(flags[:take]))
        lengths[:n_orig] += 1
        take = 2 * (take - n_orig)
    # Ascending weights were passed; lengths[i] counts how often weight i was taken, so the
    # cheapest symbols got the most (longest codes), as it must be.
    return lengths


def huffman_code_lengths(
    freqs: np.ndarray, *, max_length: int | None = DEFAULT_MAX_CODE_LENGTH
) -> np.ndarray:
    """Code lengths of an optimal prefix code for ``freqs``, optionally length-limited.

    Args:
        freqs: positive integer frequencies, one per symbol.
        max_length: longest allowed code word (``None``: unlimited). Must be at least
            ``ceil(log2(len(freqs)))``.

    Returns:
        ``uint8`` lengths aligned with ``freqs``. A single symbol gets length 0 (nothing needs
        storing); the lengths of two or more symbols satisfy Kraft's equality exactly.

    Complexity: O(n log n) for sorting, then O(n) (Moffat-Katajainen 1995) or, when the optimal
    code is longer than ``max_length``, O(n * max_length) (Larmore-Hirschberg package-merge 1990).
    (``_hwm_kernels.package_merge_lengths`` is the same package-merge as a numba kernel, ~10x
    faster and 0.5 s to compile once: the byte-grouped loader's, not the first compress's.)

    >>> huffman_code_lengths(np.array([45, 13, 12, 16, 9, 5])).tolist()  # CLRS, 3rd ed., fig. 16.3
    [1, 3, 3, 3, 4, 4]
    """
    f = np.asarray(freqs)
    if f.ndim != 1:
        raise ValueError(f"freqs must be one-dimensional, got shape {f.shape}")
    if f.size and not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"freqs must be integers, got dtype {f.dtype}")
    if f.size and int(f.min()) <= 0:
        raise ValueError("freqs must be positive")
    n = f.size
    if max_length is not None:
        if not 1 <= int(max_length) <= _MAX_SUPPORTED_LENGTH:
            raise ValueError(
                f"max_length must be in [1, {_MAX_SUPPORTED_LENGTH}], got {max_length}"
            )
        if n > 1 and (n - 1).bit_length() > max_length:
            raise ValueError(f"{n} symbols need codes longer than max_length={max_length}")
    out = np.zeros(n, dtype=np.uint8)
    if n <= 1:
        return out
    order = np.argsort(f, kind="stable")
    sorted_f = f[order].astype(np.int64)
    lengths = _minimum_redundancy_lengths(sorted_f)
    if max_length is not None and int(lengths[0]) > max_length:
        lengths = _package_merge_lengths(sorted_f, int(max_length))
    out[order] = lengths
    return out


@dataclass(frozen=True)
class WMCode:
    """A canonical prefix code laid out for a Huffman-shaped wavelet matrix.

    Attributes:
        symbols: the coded symbols, sorted ascending (``uint64``).
        lengths: code length of each symbol (``uint8``).
        codes: code word of each symbol, LSB-first (bit ``l`` is the level-``l`` bit).
        leaf_counts: ``leaf_counts[l]`` = number of codes of length ``l`` (index 0 unused but
            for the single-symbol code).
        internal_counts: ``internal_counts[l]`` = number of internal nodes at level ``l``,
            i.e. of matrix nodes whose elements still have a bit at level ``l``.
        leaf_symbols: all symbols ordered by (length, matrix slot): the leaves of level ``l``
            are ``leaf_symbols[leaf_offsets[l]:leaf_offsets[l + 1]]`` in slot order.
        leaf_offsets: see ``leaf_symbols``.
        leaf_order: indices into ``symbols`` giving ``leaf_symbols``.
    """

    symbols: np.ndarray
    lengths: np.ndarray
    codes: np.ndarray
    leaf_counts: np.ndarray
    internal_counts: np.ndarray
    leaf_symbols: np.ndarray
    leaf_offsets: np.ndarray
    leaf_order: np.ndarray

    @property
    def max_length(self) -> int:
        """Longest code word (= number of matrix levels)."""
        return int(self.leaf_counts.size - 1)

    def tree_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Navigation tables of the code tree for the decoders, O(number of symbols).

        Internal nodes are numbered level by level in matrix order (``gid``, root 0); leaves in
        ``leaf_symbols`` order. Returns ``child`` (int64[2 * I]: ``child[2 * gid + b]`` is the
        gid of the ``b``-child, or ``-(leaf + 1)``), ``leaf_sym`` (int64[K]: the symbol of each
        leaf) and ``node_level`` (int64[I]: the level of each internal node).
        """
        internal = self.internal_counts
        depth = self.max_length
        goff = np.zeros(depth + 2, dtype=np.int64)
        goff[1:] = np.cumsum(internal)
        child = np.empty(2 * int(goff[depth]), dtype=np.int64)
        node_level = np.repeat(np.arange(depth + 1, dtype=np.int64), internal)
        for lev in range(depth):
            i_l, i_next = int(internal[lev]), int(internal[lev + 1])
            idx = np.arange(2 * i_l, dtype=np.int64)  # slot index at level lev + 1
            # internal slots -> gid; leaf slots -> -(leaf number + 1)
            first_leaf = self.leaf_offsets[lev + 1] - i_next
            val = np.where(idx < i_next, goff[lev + 1] + idx, -(first_leaf + idx) - 1)
            # node r of level lev has its b-child at slot b * i_l + r
            child[2 * goff[lev] : 2 * goff[lev + 1]] = val.reshape(2, i_l).T.reshape(-1)
        return child, self.leaf_symbols.astype(np.int64), node_level


def wm_canonical_code(symbols: np.ndarray, lengths: np.ndarray) -> WMCode:
    """Assign wavelet-matrix-ordered canonical code words to ``symbols`` with ``lengths``.

    At level ``l + 1`` there are ``2 * I[l]`` slots: slot ``r`` (``r < I[l]``) is the 0-child of
    internal node ``r`` of level ``l`` and slot ``I[l] + r`` its 1-child -- the order in which the
    wavelet matrix lays out level ``l + 1``. The first ``I[l + 1] = 2 I[l] - K[l + 1]`` slots stay
    internal; the last ``K[l + 1]`` are leaves, filled with the length-``l + 1`` symbols in
    ascending order (Claude, Navarro, Ordonez 2015, section 5). O(sigma + max length).

    Args:
        symbols: distinct non-negative symbols, ascending.
        lengths: their code lengths (Kraft equality must hold; one symbol: length 0).

    Raises:
        ValueError: when symbols are not strictly ascending or lengths violate Kraft's equality.
    """
    syms = np.asarray(symbols).astype(np.uint64)
    lens = np.asarray(lengths).astype(np.int64)
    if syms.ndim != 1 or syms.shape != lens.shape:
        raise ValueError("symbols and lengths must be one-dimensional and of equal size")
    if syms.size > 1 and not bool(np.all(syms[1:] > syms[:-1])):
        raise ValueError("symbols must be strictly ascending")
    n = syms.size
    codes = np.zeros(n, dtype=np.uint64)
    if n <= 1:
        if n == 1 and int(lens[0]) != 0:
            raise ValueError("a single symbol must have code length 0")
        return WMCode(
            syms,
            lens.astype(np.uint8),
            codes,
            np.array([n], np.int64),
            np.zeros(1, np.int64),
            syms.copy(),
            np.array([0, n], np.int64),
            np.arange(n),
        )
    if int(lens.min()) < 1 or int(lens.max()) > _MAX_SUPPORTED_LENGTH:
        raise ValueError(f"code lengths must be in [1, {_MAX_SUPPORTED_LENGTH}]")
    depth = int(lens.max())
    leaf_counts = np.bincount(lens, minlength=depth + 1).astype(np.int64)
    internal = np.zeros(depth + 1, dtype=np.int64)
    internal[0] = 1
    for lev in range(depth):
        internal[lev + 1] = 2 * internal[lev] - leaf_counts[lev + 1]
        if internal[lev + 1] < 0:
            raise ValueError("code lengths violate Kraft's inequality")
    if internal[depth] != 0:
        raise ValueError("code lengths do not form a complete code (Kraft sum < 1)")
    # Leaves ordered by (length, symbol); stable sort on lengths keeps symbols ascending.
    by_len = np.argsort(lens, kind="stable")
    leaf_offsets = np.zeros(depth + 2, dtype=np.int64)
    leaf_offsets[1:] = np.cumsum(leaf_counts)
    node_codes = np.zeros(1, dtype=np.uint64)  # codes of the internal nodes of the current level
    for lev in range(depth):
        i_l = int(internal[lev])
        slot_codes = np.concatenate([node_codes, node_codes | np.uint64(1 << lev)])
        i_next = int(internal[lev + 1])
        leaves = by_len[leaf_offsets[lev + 1] : leaf_offsets[lev + 2]]
        codes[leaves] = slot_codes[i_next : 2 * i_l]
        node_codes = slot_codes[:i_next]
    return WMCode(
        symbols=syms,
        lengths=lens.astype(np.uint8),
        codes=codes,
        leaf_counts=leaf_counts,
        internal_counts=internal,
        leaf_symbols=syms[by_len],
        leaf_offsets=leaf_offsets,
        leaf_order=by_len,
    )
