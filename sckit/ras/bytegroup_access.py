"""Runs of nearby single-weight accesses to a byte-grouped RAS (``ByteGroupRAS.accessor()``):
the most recently decoded chunk is kept, Algorithm 1's reuse of nearby work in this layout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sckit.ras.bytegroup import ByteGroupRAS

__all__ = ["ChunkAccessor"]


class ChunkAccessor:
    """``access`` / ``access_bits`` with the most recently decoded chunk cached; ``hits`` /
    ``misses`` count."""

    def __init__(self, r: ByteGroupRAS) -> None:
        self.r = self.ras = r
        self.hits = 0
        self.misses = 0
        self._chunk = -1
        self._buf = np.empty(r.chunk, np.dtype(r.split.uint))

    def access(self, index: tuple[int, ...] | int) -> Any:
        """The value (as :meth:`RAS.access`)."""
        from sckit.ras.access import value_of

        return value_of(self.r.split, self.access_bits(index))

    def access_bits(self, index: tuple[int, ...] | int) -> int:
        """The bit pattern (as :meth:`RAS.access_bits`)."""
        from sckit.ras.access import _normalize

        r = self.r
        i = r._flat(_normalize(r, index))
        ch = r.chunk
        c = i // ch
        if c != self._chunk:
            self.misses += 1
            e0 = c * ch
            e1 = min(r.n_weights, e0 + ch)
            r._range(e0, e1, self._buf[: e1 - e0])
            self._chunk = c
        else:
            self.hits += 1
        return int(self._buf[i - c * ch])
