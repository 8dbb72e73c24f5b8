"""Rebuilding a :class:`~sckit.succinct.huffman_wm.HuffmanWaveletMatrix` from stored arrays,
trusting nothing: every size, table and level is checked against the others, and the code tree
against the bits, so a corrupt or hostile container raises ``FormatError`` instead of sending the
kernels (which do not bounds-check) outside their arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from sckit.errors import FormatError
from sckit.succinct import _serial
from sckit.succinct._bitops import MAX_BITS
from sckit.succinct.bitvector import BitVector
from sckit.succinct.huffman import _MAX_SUPPORTED_LENGTH, wm_canonical_code
from sckit.succinct.wavelet_matrix import symbol_dtype

__all__ = ["check_tree", "padded_words", "rebuild"]

_KIND = "HuffmanWaveletMatrix"


def padded_words(n_bits: int) -> int:
    """Two words past the last full word: cursors may sit at n_bits and the decoder reads 2."""
    return (n_bits >> 6) + 2


def rebuild(
    cls: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray], *, validate: str = "full"
) -> Any:
    """A ``cls`` instance over ``arrays`` (no copy of the bits); FormatError if inconsistent."""
    mi = _serial.meta_int
    n = mi(_KIND, meta, "n", 0, MAX_BITS - 1)
    sigma = mi(_KIND, meta, "sigma", 1, 1 << 32)
    limit = mi(_KIND, meta, "max_code_length", 1, _MAX_SUPPORTED_LENGTH)
    n_bits = mi(_KIND, meta, "n_bits", 0, MAX_BITS - 1)
    dt = symbol_dtype(sigma)
    symbols_as = meta.get("symbols_as", "values")
    if symbols_as not in ("values", "bitmap"):
        raise FormatError(f"{_KIND}: meta 'symbols_as' must be 'values' or 'bitmap', got {symbols_as!r}")
    as_bitmap = symbols_as == "bitmap"
    a = _serial.check_arrays(
        _KIND,
        arrays,
        {
            "words": (np.uint64, 1),
            "rank_dir": (np.uint64, 1),
            "symbols": (np.uint64 if as_bitmap else dt, 1),
            "lengths": (np.uint8, 1),
        },
    )
    if "level_sizes" not in arrays:
        raise FormatError(f"{_KIND}: missing array 'level_sizes'")
    sizes = np.asarray(arrays["level_sizes"])
    # any integer dtype: narrow unsigned since format 2, int64 in older containers
    if sizes.dtype.kind not in "iu" or sizes.ndim != 1:
        raise FormatError(f"{_KIND}: level_sizes must be a 1-d integer array, got {sizes.dtype}")
    if sizes.size and (int(sizes.min()) < 0 or int(sizes.max()) > n):
        raise FormatError(f"{_KIND}: level sizes outside [0, n={n}]")
    sizes = sizes.astype(np.int64)  # O(levels): a copy is fine
    words, syms, lens = a["words"], a["symbols"], a["lengths"]
    if as_bitmap:
        if syms.shape[0] != (sigma + 63) // 64:
            raise FormatError(
                f"{_KIND}: symbol bitmap of {syms.shape[0]} words for sigma={sigma}"
            )
        syms = np.flatnonzero(np.unpackbits(syms.view(np.uint8), bitorder="little")).astype(dt)
    if words.shape[0] != padded_words(n_bits) or np.any(words[(n_bits + 63) // 64 :]):
        raise FormatError(
            f"{_KIND}: {words.shape[0]} words do not hold n_bits={n_bits} plus padding"
        )
    try:
        code = wm_canonical_code(syms, lens)
    except ValueError as e:
        raise FormatError(f"{_KIND}: bad code table ({e})") from None
    depth = code.max_length if syms.size > 1 else 0
    if depth > limit:
        raise FormatError(f"{_KIND}: code lengths up to {depth} exceed max_code_length={limit}")
    if (n == 0) != (syms.size == 0) or (syms.size and int(syms[-1]) >= sigma):
        raise FormatError(f"{_KIND}: code table does not match n={n}, sigma={sigma}")
    internal = code.internal_counts[:depth]
    if (
        sizes.shape != (depth,)
        or int(sizes.sum()) != n_bits
        or (depth and (sizes[0] != n or np.any(np.diff(sizes) > 0) or np.any(sizes < internal)))
    ):
        raise FormatError(f"{_KIND}: level sizes are inconsistent with n={n} and the code")
    try:
        bv = BitVector.from_arrays(
            {"n_bits": n_bits},
            {
                "words": words[: (n_bits + 63) // 64],
                "rank_dir": a["rank_dir"],
                # select samples if given (older containers), else BitVector rebuilds them
                **{k: arrays[k] for k in ("sel1", "sel0") if k in arrays},
            },
            validate=validate,
        )
    except FormatError as e:
        raise FormatError(f"{_KIND}: {e}") from None
    hwm = cls.__new__(cls)
    hwm._set(n, sigma, limit, code, sizes, words, bv)
    check_tree(hwm)
    return hwm


def check_tree(hwm: Any) -> None:
    """FormatError unless the internal nodes' intervals tile every level exactly, as the bits of
    a real build do. Guarantees the kernels stay inside each node's interval on loaded data.
    O(sigma) vectorized ranks."""
    internal = hwm._code.internal_counts
    lo = np.zeros(1, np.int64)
    hi = np.full(1, hwm._n, np.int64)
    for lev in range(hwm.n_levels):
        off, size = int(hwm._lvl_off[lev]), int(hwm._level_sizes[lev])
        if (lo.size != internal[lev] or lo[0] != off or hi[-1] != off + size
                or np.any(hi < lo) or np.any(lo[1:] != hi[:-1])):  # fmt: skip
            raise FormatError(f"{_KIND}: level {lev} does not match its code tree")
        base, zeros, nxt = hwm._lvl_base[lev], hwm._lvl_zeros[lev], hwm._lvl_off[lev + 1]
        r_lo, r_hi = hwm._bv.rank1_many(lo) - base, hwm._bv.rank1_many(hi) - base
        slots_lo = np.concatenate([nxt + lo - off - r_lo, nxt + zeros + r_lo])
        slots_hi = np.concatenate([nxt + hi - off - r_hi, nxt + zeros + r_hi])
        lo, hi = slots_lo[: internal[lev + 1]], slots_hi[: internal[lev + 1]]
