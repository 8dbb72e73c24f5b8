"""Flatten a wavelet matrix into the GPU layout of ``kernels_cu/wm_core.cuh``.

The CPU structure keeps a compact poppy-style rank directory (3.1% overhead) tuned for one core;
on the GPU we trade space for one directory read per rank: a uint32 count of ones before every
64-bit word (50% of the level bits). The appendix B.2 of the Succinct Compression paper makes the
same trade: flat level arrays, cheap rank0, at the cost of some memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GpuWmLayout", "layout_from_levels", "layout_from_wavelet_matrix"]


@dataclass(frozen=True)
class GpuWmLayout:
    """Arrays in the order the kernels take them (see wm_core.cuh)."""

    words: np.ndarray  # uint64[n_levels * n_words]
    cum: np.ndarray  # uint32[n_levels * (n_words + 1)]
    zeros: np.ndarray  # uint64[n_levels]
    n_levels: int
    n: int
    n_words: int

    @property
    def nbytes(self) -> int:
        return int(self.words.nbytes + self.cum.nbytes + self.zeros.nbytes)


def layout_from_levels(levels: list[np.ndarray], n: int) -> GpuWmLayout:
    """Build the layout from per-level LSB-first uint64 word arrays of ``n`` bits each."""
    if n >= 1 << 32:
        raise ValueError(f"GPU layout keeps uint32 rank counts: n={n} must be < 2**32")
    n_words = (n + 63) // 64
    n_levels = len(levels)
    words = np.zeros((n_levels, n_words), dtype=np.uint64)
    cum = np.zeros((n_levels, n_words + 1), dtype=np.uint32)
    zeros = np.zeros(n_levels, dtype=np.uint64)
    for lvl, w in enumerate(levels):
        w = np.asarray(w, dtype=np.uint64)
        if w.size < n_words:
            raise ValueError(f"level {lvl} has {w.size} words, need {n_words} for n={n}")
        words[lvl] = w[:n_words]
        counts = np.bitwise_count(words[lvl]).astype(np.uint32)
        np.cumsum(counts, out=cum[lvl, 1:])
        zeros[lvl] = n - int(cum[lvl, -1])
    return GpuWmLayout(words.reshape(-1), cum.reshape(-1), zeros, n_levels, n, n_words)


def layout_from_wavelet_matrix(wm) -> GpuWmLayout:
    """The GPU layout of a :class:`sckit.succinct.WaveletMatrix` (same symbols, same order)."""
    n = len(wm)
    n_words = (n + 63) // 64
    levels = []
    for lvl in range(wm.n_levels):
        # level_bits is the structure's public per-level view (uint8 0/1); repack LSB-first
        packed = np.zeros(n_words * 8, dtype=np.uint8)
        bits = np.packbits(wm.level_bits(lvl), bitorder="little")
        packed[: bits.size] = bits
        levels.append(packed.view(np.uint64))
    return layout_from_levels(levels, n)
