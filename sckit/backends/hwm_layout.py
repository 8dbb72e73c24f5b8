"""Flatten a Huffman-shaped wavelet matrix into the GPU layout of ``kernels_cu/hwm_core.cuh``.

Built only from the CPU structure's public surface (``to_arrays()``, ``code_table()``,
``level_sizes``) and :func:`sckit.succinct.huffman.wm_canonical_code`, so the GPU copy follows
the serialized format rather than the structure's private attributes. As in ``wm_layout``, the
compact CPU rank directory is replaced by a uint32 count of ones before every 64-bit word: one
directory read per rank on the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GpuHwmLayout", "layout_from_huffman_wm"]


@dataclass(frozen=True)
class GpuHwmLayout:
    """Arrays in the order the kernels take them (see hwm_core.cuh). Every array has at least
    one element so that device pointers are always valid."""

    words: np.ndarray  # uint64[max(1, n_words)]
    cum: np.ndarray  # uint32[n_words + 1]
    child: np.ndarray  # int32[max(1, 2 * n_internal)]
    leaf_sym: np.ndarray  # uint32[max(1, n_leaves)]
    node_level: np.ndarray  # uint32[max(1, n_internal)]
    lvl_off: np.ndarray  # uint64[n_levels + 1]
    lvl_zeros: np.ndarray  # uint64[max(1, n_levels)]
    lvl_base: np.ndarray  # uint64[n_levels + 1]
    n_internal: int
    n: int
    n_bits: int
    sigma: int

    @property
    def n_levels(self) -> int:
        return int(self.lvl_off.size - 1)

    @property
    def nbytes(self) -> int:
        return int(sum(getattr(self, f).nbytes for f in ("words", "cum", "child", "leaf_sym",
                                                          "node_level", "lvl_off", "lvl_zeros",
                                                          "lvl_base")))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The eight arrays in kernel argument order."""
        return (self.words, self.cum, self.child, self.leaf_sym, self.node_level, self.lvl_off,
                self.lvl_zeros, self.lvl_base)


def _at_least_one(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a) if a.size else np.zeros(1, dtype=a.dtype)


def layout_from_huffman_wm(hwm) -> GpuHwmLayout:
    """The GPU layout of a :class:`sckit.succinct.HuffmanWaveletMatrix` (same symbols, order)."""
    from sckit.succinct.huffman import wm_canonical_code

    meta, arrays = hwm.to_arrays()
    n, n_bits, sigma = int(meta["n"]), int(meta["n_bits"]), int(meta["sigma"])
    if n_bits >= 1 << 32:
        raise ValueError(f"GPU layout keeps uint32 rank counts: n_bits={n_bits} must be < 2**32")
    if sigma > 1 << 32:
        raise ValueError(f"symbols must fit in uint32, sigma={sigma}")
    n_words = (n_bits + 63) // 64
    words = np.zeros(max(1, n_words), dtype=np.uint64)
    words[:n_words] = np.asarray(arrays["words"], dtype=np.uint64)[:n_words]
    cum = np.zeros(n_words + 1, dtype=np.uint32)
    np.cumsum(np.bitwise_count(words[:n_words]).astype(np.uint32), out=cum[1:])

    symbols, lengths, _ = hwm.code_table()
    code = wm_canonical_code(symbols, lengths)
    child, leaf_sym, node_level = code.tree_tables()
    if child.size and int(child.max()) >= 1 << 31:
        raise ValueError("code tree too large for int32 node ids")
    sizes = np.asarray(hwm.level_sizes, dtype=np.int64)
    lvl_off = np.zeros(sizes.size + 1, dtype=np.uint64)
    np.cumsum(sizes, out=lvl_off[1:])
    # ones before each level's first bit, from the per-word counts
    w, r = lvl_off >> np.uint64(6), lvl_off & np.uint64(63)
    partial = np.zeros(lvl_off.size, dtype=np.uint64)
    has = r != 0
    low = (np.uint64(1) << r[has]) - np.uint64(1)
    partial[has] = np.bitwise_count(words[w[has].astype(np.int64)] & low)
    lvl_base = cum[w.astype(np.int64)].astype(np.uint64) + partial
    lvl_zeros = (sizes.astype(np.uint64) - np.diff(lvl_base)).astype(np.uint64)
    return GpuHwmLayout(
        words=words, cum=cum,
        child=_at_least_one(child.astype(np.int32)),
        leaf_sym=_at_least_one(leaf_sym.astype(np.uint32)),
        node_level=_at_least_one(node_level.astype(np.uint32)),
        lvl_off=lvl_off, lvl_zeros=_at_least_one(lvl_zeros), lvl_base=lvl_base,
        n_internal=int(node_level.size), n=n, n_bits=n_bits, sigma=sigma,
    )
