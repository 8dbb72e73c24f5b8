"""Plain-numpy reference of the Huffman-shaped wavelet matrix: a readable oracle for the numba
kernels of :mod:`sckit.succinct.huffman_wm` (used by the tests, never on a hot path)."""

from __future__ import annotations

import numpy as np

from sckit.succinct.huffman import WMCode

__all__ = ["ref_access", "ref_level_bits"]


def ref_level_bits(symbols: np.ndarray, code: WMCode) -> list[np.ndarray]:
    """Each level's bits (uint8 0/1) by the paper's definition: level ``l`` holds bit ``l`` of
    the code of each symbol whose code is longer than ``l``; the next level keeps, stably, the
    zeros then the ones among those whose code is longer than ``l + 1``."""
    k = np.searchsorted(code.symbols, np.asarray(symbols).astype(np.uint64))
    codes, lens = code.codes[k], code.lengths[k].astype(np.int64)
    levels = []
    for lev in range(code.max_length):
        bits = ((codes >> np.uint64(lev)) & np.uint64(1)).astype(np.uint8)
        levels.append(bits)
        go_on = lens > lev + 1
        order = np.concatenate(
            [np.flatnonzero((bits == 0) & go_on), np.flatnonzero((bits == 1) & go_on)]
        )
        codes, lens = codes[order], lens[order]
    return levels


def ref_access(levels: list[np.ndarray], code: WMCode, i: int) -> int:
    """``access`` by walking the levels with ``np.count_nonzero`` as rank (O(n) per level)."""
    c, lev = 0, 0
    internal = code.internal_counts
    node = 0  # index of the current internal node within its level
    while True:
        bits = levels[lev]
        b = int(bits[i])
        c |= b << lev
        ones_before = int(np.count_nonzero(bits[:i]))
        zeros = int(bits.size - np.count_nonzero(bits))
        i = zeros + ones_before if b else i - ones_before
        slot = b * int(internal[lev]) + node
        if slot >= internal[lev + 1]:  # a leaf: the slots past the internal ones, in order
            return int(code.leaf_symbols[code.leaf_offsets[lev + 1] + slot - internal[lev + 1]])
        node, lev = slot, lev + 1
