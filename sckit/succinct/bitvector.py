"""BitVector: packed bits with O(1) rank and sampled select.

Rank: Jacobson, "Space-efficient static trees and graphs" (FOCS 1989), with the interleaved
two-level directory of Zhou, Andersen and Kaminsky (SEA 2013): 3.125% overhead.
Select: sampled select (every 4096-th one / zero) + binary search of the rank directory + in-word
select with ``pdep``/``tzcnt`` (Vigna 2008 "Broadword implementation of rank/select queries";
Pandey, Bender and Johnson 2017). Layout details: :mod:`sckit.succinct._bitops`.

The ``_ref_*`` functions at the end are plain-numpy reference implementations over the same
layout; tests use them as an oracle beside naive ``cumsum`` answers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sckit.errors import FormatError
from sckit.succinct import _bitops as K
from sckit.succinct import _serial
from sckit.succinct._validate import check_mode, verify_bits, verify_samples

__all__ = ["BitVector"]

_KIND = "BitVector"


def _as_index_array(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0:
            return np.zeros(arr.shape, dtype=np.int64)
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _check_int(x: Any, name: str) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(x).__name__}")
    return int(x)


class BitVector:
    """A static bit vector of ``n`` bits with rank/select.

    ============================  ==========================  ================================
    query                         complexity                  source
    ============================  ==========================  ================================
    ``access(i)``                 O(1)                        --
    ``rank1(i)`` / ``rank0(i)``   O(1) (<= 8 popcounts)       Jacobson 1989; Zhou et al. 2013
    ``select1(k)``/``select0(k)`` O(1) typical, O(log n)      sampled select, Navarro 2016 4.3.3;
                                  worst case                  in-word select: Pandey et al. 2017
    ============================  ==========================  ================================

    Space: ``n`` bits + 3.125% rank directory + 0.78% select samples + a small header.

    >>> bv = BitVector([1, 0, 1, 1, 0])
    >>> bv.rank1(3), bv.select1(2), bv.select0(1)
    (2, 3, 4)
    """

    __slots__ = ("_n", "_words", "_rdir", "_s1", "_s0")

    def __init__(self, bits: Any) -> None:
        b = np.asarray(bits)
        if b.ndim != 1:
            raise ValueError(f"bits must be 1-d, got shape {b.shape}")
        if b.dtype != bool:
            if b.size and not np.issubdtype(b.dtype, np.integer):
                raise ValueError(f"bits must be 0/1 or bool, got dtype {b.dtype}")
            if b.size and (b.min() < 0 or b.max() > 1):
                raise ValueError("bits must contain only 0 and 1")
        words = K.pack_bits(np.ascontiguousarray(b, dtype=np.uint8))
        self._init(words, b.shape[0])

    def _init(self, words: np.ndarray, n_bits: int) -> None:
        if n_bits >= K.MAX_BITS:
            raise ValueError(f"n_bits={n_bits} exceeds the supported maximum 2**34 - 1")
        self._n = int(n_bits)
        rdir = K.build_rank_dir(words, self._n)
        s1 = K.build_select_samples(words, rdir, self._n, True)
        s0 = K.build_select_samples(words, rdir, self._n, False)
        ro = _serial.readonly
        self._words, self._rdir, self._s1, self._s0 = ro(words), ro(rdir), ro(s1), ro(s0)

    @classmethod
    def from_words(cls, words: np.ndarray, n_bits: int) -> BitVector:
        """Wrap packed LSB-first ``uint64`` words (bit ``i`` = ``(words[i>>6] >> (i&63)) & 1``).

        Bits past ``n_bits`` are cleared in a copy if set. O(n / 64).
        """
        n_bits = _check_int(n_bits, "n_bits")
        w = np.asarray(words)
        if w.dtype != np.uint64 or w.ndim != 1:
            raise ValueError(f"words must be a 1-d uint64 array, got {w.dtype}[{w.ndim}-d]")
        if n_bits < 0 or (n_bits + 63) // 64 != w.shape[0]:
            raise ValueError(f"n_bits={n_bits} does not match {w.shape[0]} words")
        w = np.ascontiguousarray(w)
        if n_bits & 63 and w[-1] >> np.uint64(n_bits & 63):
            w = w.copy()
            w[-1] &= (np.uint64(1) << np.uint64(n_bits & 63)) - np.uint64(1)
        self = cls.__new__(cls)
        self._init(w, n_bits)
        return self

    # -- queries --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def n_ones(self) -> int:
        """Number of set bits."""
        return int(self._rdir[-1] & np.uint64(K.ABS_MASK))

    @property
    def words(self) -> np.ndarray:
        """The packed words (read-only)."""
        return self._words

    def _pos(self, i: Any, hi: int, name: str = "i") -> int:
        i = _check_int(i, name)
        if not 0 <= i < hi:
            raise IndexError(f"{name}={i} out of range [0, {hi})")
        return i

    def access(self, i: int) -> int:
        """Bit ``i``. O(1)."""
        return int(K.access(self._words, self._pos(i, self._n)))

    def __getitem__(self, i: int) -> int:
        return self.access(i)

    def rank1(self, i: int) -> int:
        """Number of ones in ``[0, i)``, ``0 <= i <= n``. O(1)."""
        return int(K.rank1(self._words, self._rdir, self._pos(i, self._n + 1)))

    def rank0(self, i: int) -> int:
        """Number of zeros in ``[0, i)``, ``0 <= i <= n``. O(1)."""
        i = self._pos(i, self._n + 1)
        return i - int(K.rank1(self._words, self._rdir, i))

    def select1(self, k: int) -> int:
        """Position of the ``k``-th one (0-based). O(1) typical (sampled select)."""
        k = self._pos(k, self.n_ones, "k")
        return int(K.select1(self._words, self._rdir, self._s1, self._n, k))

    def select0(self, k: int) -> int:
        """Position of the ``k``-th zero (0-based). O(1) typical (sampled select)."""
        k = self._pos(k, self._n - self.n_ones, "k")
        return int(K.select0(self._words, self._rdir, self._s0, self._n, k))

    def _idx(self, a: Any, hi: int, name: str) -> np.ndarray:
        idx = _as_index_array(a, name)
        if idx.size and (idx.min() < 0 or idx.max() >= hi):
            raise IndexError(f"{name} out of range [0, {hi})")
        return idx

    def access_many(self, idx: Any) -> np.ndarray:
        """Bits at ``idx`` as uint8. O(1) per query."""
        i = self._idx(idx, self._n, "idx")
        out = np.empty(i.shape, dtype=np.uint8)
        K.access_many(self._words, i.reshape(-1), out.reshape(-1))
        return out

    def rank1_many(self, idx: Any) -> np.ndarray:
        """``rank1`` of each index (int64). O(1) per query."""
        i = self._idx(idx, self._n + 1, "idx")
        out = np.empty(i.shape, dtype=np.int64)
        K.rank1_many(self._words, self._rdir, i.reshape(-1), out.reshape(-1))
        return out

    def rank0_many(self, idx: Any) -> np.ndarray:
        """``rank0`` of each index (int64). O(1) per query."""
        i = self._idx(idx, self._n + 1, "idx")
        return i - self.rank1_many(i)

    def select1_many(self, ks: Any) -> np.ndarray:
        """``select1`` of each rank (int64)."""
        k = self._idx(ks, self.n_ones, "ks")
        out = np.empty(k.shape, dtype=np.int64)
        K.select_many(self._words, self._rdir, self._s1, self._n, k.reshape(-1), True, out.reshape(-1))
        return out

    def select0_many(self, ks: Any) -> np.ndarray:
        """``select0`` of each rank (int64)."""
        k = self._idx(ks, self._n - self.n_ones, "ks")
        out = np.empty(k.shape, dtype=np.int64)
        K.select_many(self._words, self._rdir, self._s0, self._n, k.reshape(-1), False, out.reshape(-1))
        return out

    def to_numpy(self) -> np.ndarray:
        """All bits as a uint8 array."""
        return np.unpackbits(self._words.view(np.uint8), bitorder="little")[: self._n]

    # -- space and serialization ----------------------------------------------------------
    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(meta, arrays)`` for the container; :meth:`from_arrays` rebuilds without copying."""
        meta = {"n_bits": self._n}
        return meta, {"words": self._words, "rank_dir": self._rdir, "sel1": self._s1, "sel0": self._s0}

    @classmethod
    def from_arrays(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], *, validate: str = "full"
    ) -> BitVector:
        """Zero-copy reconstruction from :meth:`to_arrays` output (arrays may be memory-mapped).

        ``sel1`` and ``sel0`` may both be left out: they are then rebuilt from the rank
        directory in O(n / 2048) (serializations of larger structures omit them to save 0.78%).

        Nothing stored is trusted: ``validate="full"`` (default) recomputes the rank directory
        from the words (O(n / 64) popcounts, memory speed) and compares; ``"fast"`` checks only
        sizes, the tail and the select samples, relying on the kernels' index clamps. Either
        way FormatError names the first inconsistent field (:mod:`._validate`).
        """
        full = check_mode(validate)
        spec: dict[str, tuple[Any, int]] = {"words": (np.uint64, 1), "rank_dir": (np.uint64, 1)}
        rebuild = "sel1" not in arrays and "sel0" not in arrays
        if not rebuild:
            spec.update(sel1=(np.uint32, 1), sel0=(np.uint32, 1))
        a = _serial.check_arrays(_KIND, arrays, spec)
        n = _serial.meta_int(_KIND, meta, "n_bits", 0, K.MAX_BITS - 1)
        if a["words"].shape[0] != (n + 63) // 64:
            raise FormatError(f"{_KIND}: n_bits={n} does not match {a['words'].shape[0]} words")
        nb = (n + 2047) // 2048
        if a["rank_dir"].shape[0] != nb + 1:
            raise FormatError(f"{_KIND}: rank directory has {a['rank_dir'].shape[0]} entries, expected {nb + 1}")
        verify_bits(_KIND, "bit vector", a["words"], a["rank_dir"], n, full)
        if rebuild:
            a["sel1"] = K.build_select_samples(a["words"], a["rank_dir"], n, True)
            a["sel0"] = K.build_select_samples(a["words"], a["rank_dir"], n, False)
        else:
            verify_samples(_KIND, "bit vector", a["words"], a["rank_dir"], n, a["sel1"], a["sel0"])
        self = cls.__new__(cls)
        ro = _serial.readonly
        self._n, self._words, self._rdir = n, ro(a["words"]), ro(a["rank_dir"])
        self._s1, self._s0 = ro(a["sel1"]), ro(a["sel0"])
        return self

    def space(self) -> dict[str, int]:
        """Bytes by component: ``bits``, ``rank_directory``, ``select_samples``, ``header``.
        Sums to :attr:`nbytes`."""
        meta, arrays = self.to_arrays()
        return {
            "bits": self._words.nbytes,
            "rank_directory": self._rdir.nbytes,
            "select_samples": self._s1.nbytes + self._s0.nbytes,
            "header": _serial.header_size(_KIND, meta, arrays),
        }

    @property
    def nbytes(self) -> int:
        """Exact serialized size: ``len(self.to_bytes())``."""
        return _serial.packed_size(_KIND, *self.to_arrays())

    def to_bytes(self) -> bytes:
        """Serialize (format: :mod:`sckit.succinct._serial`)."""
        return _serial.pack(_KIND, *self.to_arrays())

    @classmethod
    def from_bytes(cls, b: bytes | bytearray | memoryview, *, validate: str = "full") -> BitVector:
        """Inverse of :meth:`to_bytes` (zero-copy views into ``b``); FormatError if corrupt
        (``validate``: see :meth:`from_arrays`)."""
        return cls.from_arrays(*_serial.unpack(b, _KIND), validate=validate)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BitVector):
            return NotImplemented
        return self._n == other._n and np.array_equal(self._words, other._words)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BitVector(n={self._n}, ones={self.n_ones}, nbytes={self.nbytes})"


# -- plain numpy reference implementations (readable oracle for the numba kernels) -----------
def _ref_rank_dir(words: np.ndarray, n_bits: int) -> np.ndarray:
    """Same directory as ``_bitops.build_rank_dir``, vectorized in numpy."""
    nb = (n_bits + 2047) // 2048
    w = np.zeros(nb * 32, dtype=np.uint64)
    w[: words.shape[0]] = words
    sub = np.bitwise_count(w).astype(np.uint64).reshape(nb, 4, 8).sum(axis=2)  # per 512-bit sub-block
    blk = sub.sum(axis=1)
    absolute = np.concatenate([[0], np.cumsum(blk)]).astype(np.uint64)
    rdir = absolute.copy()
    for s in range(3):
        rdir[:-1] |= sub[:, s] << np.uint64(34 + 10 * s)
    return rdir


def _ref_rank1(words: np.ndarray, rdir: np.ndarray, i: np.ndarray) -> np.ndarray:
    """rank1 for an index array: directory entry + sub-block counts + popcount of words."""
    i = np.asarray(i, dtype=np.int64)
    e = rdir[i >> 11]
    r = (e & np.uint64(K.ABS_MASK)).astype(np.int64)
    sb = (i >> 9) & 3
    for s in range(3):
        r += np.where(sb > s, ((e >> np.uint64(34 + 10 * s)) & np.uint64(1023)).astype(np.int64), 0)
    pc = np.concatenate([[0], np.cumsum(np.bitwise_count(words).astype(np.int64))])
    first = (i >> 9) << 3
    r += pc[i >> 6] - pc[first]
    wi = np.minimum(i >> 6, max(words.shape[0] - 1, 0))
    off = (i & 63).astype(np.uint64)
    part = words[wi] & ((np.uint64(1) << off) - np.uint64(1)) if words.size else np.zeros(i.shape, np.uint64)
    r += np.where((i & 63) != 0, np.bitwise_count(part).astype(np.int64), 0)
    return r


def _ref_select(bits: np.ndarray, k: np.ndarray, ones: bool) -> np.ndarray:
    """select via ``np.flatnonzero`` (positions of ones/zeros)."""
    pos = np.flatnonzero(bits if ones else 1 - bits)
    return pos[np.asarray(k, dtype=np.int64)]
