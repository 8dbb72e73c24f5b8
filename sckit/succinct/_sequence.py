"""What every sckit symbol sequence (plain and Huffman-shaped wavelet matrix) shares: argument
checks, the decode conveniences built on ``decode_into``/``access``/``access_many``, and
serialization through :mod:`sckit.succinct._serial` under the class's ``_KIND``."""

from __future__ import annotations

from typing import Any

import numpy as np

from sckit.succinct import _serial
from sckit.succinct._bitops import build_rank_dir, rank1_many
from sckit.succinct.bitvector import _as_index_array, _check_int

__all__ = ["SymbolSequence"]


class SymbolSequence:
    """Mixin; subclasses set ``_KIND`` and the slots ``_n`` and ``_dtype``, and implement
    ``access``, ``access_many``, ``decode_into``, ``to_arrays`` and ``from_arrays``."""

    __slots__ = ()
    _KIND: str
    _n: int
    _dtype: np.dtype

    def __len__(self) -> int:
        return self._n

    # -- validation (ValueError/TypeError for bad values, IndexError for out-of-range) --------
    def _pos(self, i: Any, hi: int, name: str) -> int:
        i = _check_int(i, name)
        if not 0 <= i < hi:
            raise IndexError(f"{name}={i} out of range [0, {hi})")
        return i

    def _idx(self, a: Any, hi: int, name: str) -> np.ndarray:
        idx = _as_index_array(a, name)
        if idx.size and (idx.min() < 0 or idx.max() >= hi):
            raise IndexError(f"{name} out of range [0, {hi})")
        return idx

    def _range(self, start: Any, stop: Any) -> tuple[int, int]:
        start, stop = _check_int(start, "start"), _check_int(stop, "stop")
        if not 0 <= start <= stop <= self._n:
            raise IndexError(f"range [{start}, {stop}) not within [0, {self._n}]")
        return start, stop

    # -- decode conveniences ------------------------------------------------------------------
    def decode(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Symbols ``[start, stop)`` as a new array (dtype :attr:`dtype`)."""
        stop = self._n if stop is None else stop
        start, stop = self._range(start, stop)
        return self.decode_into(start, stop, np.empty(stop - start, dtype=self._dtype))  # type: ignore[attr-defined]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            start, stop, step = key.indices(self._n)
            if step == 1:
                return self.decode(start, max(start, stop))
            return self.access_many(np.arange(start, stop, step))  # type: ignore[attr-defined]
        i = _check_int(key, "index")
        return self.access(i + self._n if i < 0 else i)  # type: ignore[attr-defined]

    def to_numpy(self) -> np.ndarray:
        """The whole sequence."""
        return self.decode(0, self._n)

    def _rank_dense(self, c: int, i: np.ndarray) -> np.ndarray:
        """``rank(c, i)`` for a dense batch: decode once and rank on the bitmap of ``c`` (n / 8
        bytes, cache-resident) instead of one cache-missing rank per level per query."""
        n = self._n
        nw = (n + 63) >> 6
        packed = np.zeros(nw * 8, dtype=np.uint8)
        packed[: (n + 7) >> 3] = np.packbits(self.decode(0, n) == c, bitorder="little")
        words = packed.view(np.uint64)
        out = np.empty(i.shape, dtype=np.int64)
        rank1_many(words, build_rank_dir(words, n), i.reshape(-1), out.reshape(-1))
        return out

    # -- serialization ---------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Exact serialized size: ``len(self.to_bytes())``."""
        return _serial.packed_size(self._KIND, *self.to_arrays())  # type: ignore[attr-defined]

    @property
    def bits_per_symbol(self) -> float:
        """``8 * nbytes / n`` (everything included)."""
        return 8 * self.nbytes / max(self._n, 1)

    def to_bytes(self) -> bytes:
        """Serialize (format: :mod:`sckit.succinct._serial`)."""
        return _serial.pack(self._KIND, *self.to_arrays())  # type: ignore[attr-defined]

    @classmethod
    def from_bytes(cls, b: bytes | bytearray | memoryview, *, validate: str = "full") -> Any:
        """Inverse of :meth:`to_bytes` (zero-copy views into ``b``); FormatError if corrupt
        (``validate``: ``"full"`` or ``"fast"``, see the class's ``from_arrays``)."""
        return cls.from_arrays(*_serial.unpack(b, cls._KIND), validate=validate)  # type: ignore[attr-defined]
