"""Checks that loaded (possibly hostile) succinct structures are what a build would produce.

The query and decode kernels trust the stored rank directories, zero counts and select samples
for speed. A file edited with its checksums recomputed could therefore send them outside their
arrays, so every ``from_arrays`` recomputes what those kernels trust from the bit words (at
memory speed: one popcount pass, the same pass that built them) and compares. A structure that
passes decodes to *some* sequence in range, maybe not the one that was saved (no checksum can
tell), and every kernel stays inside its arrays. The kernels also clamp their indices
(:mod:`._bitops`), a second line of defence should a check here ever miss a case.

``validate="fast"`` on the constructors skips the popcount pass (O(n) -> O(n / 2048) work); the
kernels' clamps then still keep every read inside the arrays, but a damaged directory gives
wrong symbols instead of a :class:`~sckit.errors.FormatError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from sckit.errors import FormatError
from sckit.succinct._bitops import ABS_MASK, block_entry, build_select_samples

__all__ = [
    "VALIDATE_MODES", "check_mode", "rank_dir_mismatch", "require", "verify_bits", "verify_samples",
]

VALIDATE_MODES = ("full", "fast")


def check_mode(validate: Any) -> bool:
    """True for ``"full"``, False for ``"fast"``; ValueError for anything else."""
    if validate not in VALIDATE_MODES:
        raise ValueError(f"validate must be 'full' or 'fast', got {validate!r}")
    return validate == "full"


def require(ok: Any, kind: str, what: str) -> None:
    """FormatError ``"{kind}: {what}"`` unless ``ok``."""
    if not ok:
        raise FormatError(f"{kind}: {what}")


@njit(cache=True, nogil=True)
def rank_dir_mismatch(words, rdir, n_bits):
    """-1 when ``rdir`` is exactly the directory ``build_rank_dir(words, n_bits)`` would build,
    else the index of the first entry that differs. One popcount per word, nothing allocated."""
    nb = (n_bits + 2047) >> 11
    if rdir.shape[0] != nb + 1:
        return np.int64(0)
    total = np.uint64(0)
    for b in range(nb):
        e, total = block_entry(words, b, total)
        if rdir[b] != e:
            return np.int64(b)
    if rdir[nb] != total:
        return np.int64(nb)
    return np.int64(-1)


def verify_bits(kind: str, name: str, words: np.ndarray, rdir: np.ndarray, n_bits: int,
                full: bool) -> int:
    """Check one packed bit vector's tail and rank directory; return its number of ones.

    Always: the bits past ``n_bits`` in the last word are zero (rank and select rely on it) and
    the total count is at most ``n_bits``. ``full``: the whole directory is recomputed and
    compared (O(n / 64) popcounts).
    """
    if n_bits & 63 and words.shape[0] and int(words[(n_bits - 1) >> 6]) >> (n_bits & 63):
        raise FormatError(f"{kind}: {name} has bits set past n_bits={n_bits}")
    sentinel = int(rdir[-1]) if rdir.shape[0] else 0
    ones = sentinel & ABS_MASK
    if sentinel >> 34:  # the sentinel holds the total only
        raise FormatError(f"{kind}: {name} rank directory sentinel is malformed")
    if ones > n_bits:
        raise FormatError(f"{kind}: {name} rank directory counts {ones} ones in {n_bits} bits")
    if full:
        bad = int(rank_dir_mismatch(words, rdir, n_bits))
        if bad >= 0:
            raise FormatError(
                f"{kind}: {name} rank directory entry {bad} does not match the bits"
            )
    return ones


def verify_samples(kind: str, name: str, words: np.ndarray, rdir: np.ndarray, n_bits: int,
                   s1: np.ndarray, s0: np.ndarray) -> None:
    """Stored select samples must be exactly those the (checked) directory gives.
    O(n / 2048)."""
    for ones, got in ((True, s1), (False, s0)):
        want = build_select_samples(words, rdir, n_bits, ones)
        if got.shape != want.shape or not np.array_equal(got, want):
            which = "sel1" if ones else "sel0"
            raise FormatError(f"{kind}: {name} select samples {which} do not match the bits")
