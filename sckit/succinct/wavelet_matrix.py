"""WaveletMatrix: access / rank / select / range decode over an integer sequence.

Claude, Navarro and Ordonez, "The wavelet matrix: An efficient wavelet tree for large
alphabets", Information Systems 47 (2015). Level ``l`` (0 = most significant) stores bit
``L-1-l`` of every symbol, in the order produced by stably partitioning the previous level by its
bit (zeros first); ``zeros[l]`` is that level's number of zeros. Rank/select on the levels:
:mod:`sckit.succinct._bitops`.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np

from sckit.errors import FormatError
from sckit.succinct import _serial
from sckit.succinct import _wm_decode as D
from sckit.succinct import _wm_kernels as W
from sckit.succinct._bitops import MAX_BITS
from sckit.succinct._sequence import SymbolSequence
from sckit.succinct._validate import check_mode, verify_bits, verify_samples
from sckit.succinct.bitvector import _check_int

__all__ = ["WaveletMatrix", "symbol_dtype"]

_KIND = "WaveletMatrix"
MAX_SIGMA = 1 << 32


def symbol_dtype(sigma: int) -> np.dtype:
    """Smallest unsigned dtype holding ``0 .. sigma-1`` (what ``decode`` returns)."""
    return np.dtype(np.uint8 if sigma <= 1 << 8 else np.uint16 if sigma <= 1 << 16 else np.uint32)


def check_symbols(symbols: Any, sigma: int | None) -> tuple[np.ndarray, int]:
    """Validate a 1-d sequence of non-negative integers; return it as the smallest uint dtype
    and the alphabet size. ValueError names the problem."""
    a = np.asarray(symbols)
    if a.ndim != 1:
        raise ValueError(f"symbols must be 1-d, got shape {a.shape}")
    if a.dtype == bool or (a.size and not np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"symbols must be integers, got dtype {a.dtype}")
    lo = int(a.min()) if a.size else 0
    hi = int(a.max()) if a.size else -1
    if lo < 0:
        raise ValueError(f"symbols must be non-negative, found {lo}")
    if sigma is None:
        sigma = max(hi + 1, 1)
    else:
        sigma = _check_int(sigma, "sigma")
        if sigma < 1:
            raise ValueError(f"sigma must be >= 1, got {sigma}")
        if sigma <= hi:
            raise ValueError(f"sigma={sigma} is smaller than max symbol + 1 = {hi + 1}")
    if sigma > MAX_SIGMA:
        raise ValueError(f"sigma={sigma} exceeds 2**32")
    if a.shape[0] >= MAX_BITS:
        raise ValueError(f"sequence of {a.shape[0]} symbols is too long (max 2**34 - 1)")
    return np.ascontiguousarray(a, dtype=symbol_dtype(sigma)), sigma


@functools.lru_cache(maxsize=256)
def _out_dtype_ok(dtype: np.dtype, sigma: int) -> bool:
    return bool(np.issubdtype(dtype, np.integer) and np.iinfo(dtype).max >= sigma - 1)


class WaveletMatrix(SymbolSequence):
    """A wavelet matrix over ``n`` symbols from ``[0, sigma)``, ``L = ceil(log2 sigma)`` levels.

    ==========================  ===================================  ===========================
    query                       complexity                           source
    ==========================  ===================================  ===========================
    ``access(i)``               O(L) ranks                           Claude et al. 2015, sec. 3
    ``rank(c, i)``              O(L) ranks (``[0, i)``)              Claude et al. 2015, sec. 3
    ``select(c, k)``            O(L) selects (0-based ``k``)         Claude et al. 2015, sec. 3
    ``decode(a, b)``            O((b - a) L / 64 * nodes) word ops   per-node cursors, 64 symbols
                                + one rank per visited node          per step (see ``_wm_kernels``)
    ==========================  ===================================  ===========================

    Space: ``n * L`` bits + 3.125% rank directories + 0.78% select samples + header, i.e.
    below ``1.07 * L`` bits per symbol for large ``n``. ``sigma == 1`` has zero levels.
    Decoded symbols have dtype :func:`symbol_dtype` (``sigma``).

    >>> wm = WaveletMatrix([4, 7, 6, 5, 3, 2, 1, 0, 1, 4, 1, 7])
    >>> wm.access(2), wm.rank(1, 9), wm.select(7, 1), wm[3:6].tolist()
    (6, 2, 11, [5, 3, 2])
    """

    _KIND = _KIND  # serialized kind tag, read by SymbolSequence
    __slots__ = ("_n", "_sigma", "_L", "_bits", "_zeros", "_rdir", "_sel", "_sel_off", "_dtype")

    def __init__(self, symbols: Any, sigma: int | None = None) -> None:
        sym, sigma = check_symbols(symbols, sigma)
        L = int(sigma - 1).bit_length()
        bits, zeros = W.wm_build(sym, L)
        rdir, sel, off = W.build_dirs(bits, sym.shape[0])
        self._set(sym.shape[0], sigma, bits, zeros, rdir, sel, off)

    def _set(self, n, sigma, bits, zeros, rdir, sel, off) -> None:
        self._n, self._sigma, self._L = int(n), int(sigma), int(bits.shape[0])
        ro = _serial.readonly
        self._bits, self._zeros, self._rdir = ro(bits), ro(zeros), ro(rdir)
        self._sel, self._sel_off = ro(sel), ro(off)
        self._dtype = symbol_dtype(self._sigma)

    # -- properties -----------------------------------------------------------------------
    @property
    def sigma(self) -> int:
        """Alphabet size: symbols are in ``[0, sigma)``."""
        return self._sigma

    @property
    def n_levels(self) -> int:
        """``ceil(log2 sigma)`` (0 for ``sigma == 1``)."""
        return self._L

    @property
    def dtype(self) -> np.dtype:
        """dtype of decoded symbols."""
        return self._dtype

    def level_bits(self, level: int) -> np.ndarray:
        """The bitmap of one level as uint8 0/1 (for inspection and textbook tests)."""
        if not 0 <= level < self._L:
            raise IndexError(f"level={level} out of range [0, {self._L})")
        return np.unpackbits(self._bits[level].view(np.uint8), bitorder="little")[: self._n]

    @property
    def zeros(self) -> np.ndarray:
        """Zeros per level (the paper's ``z_l``)."""
        return self._zeros.copy()

    # -- validation -----------------------------------------------------------------------
    def _sym(self, c: Any) -> int:
        c = _check_int(c, "symbol")
        if not 0 <= c < self._sigma:
            raise ValueError(f"symbol {c} outside the alphabet [0, {self._sigma})")
        return c

    # -- queries --------------------------------------------------------------------------
    def access(self, i: int) -> int:
        """Symbol at position ``i``. O(L)."""
        i = self._pos(i, self._n, "i")
        return int(W._access(self._bits, self._rdir, self._zeros, self._L, i))

    def rank(self, c: int, i: int) -> int:
        """Occurrences of symbol ``c`` in ``[0, i)``, ``0 <= i <= n``. O(L)."""
        c = self._sym(c)
        i = self._pos(i, self._n + 1, "i")
        return int(W.wm_count_start(self._bits, self._rdir, self._zeros, self._L, c, i)[0])

    def select(self, c: int, k: int) -> int:
        """Position of the ``k``-th (0-based) occurrence of ``c``. O(L) selects."""
        return int(self.select_many(c, np.array([self._pos(k, MAX_BITS, "k")]))[0])

    def access_many(self, idx: Any) -> np.ndarray:
        """Symbols at ``idx`` (any shape). O(L) per index; a dense batch
        (``n <= ACCESS_DECODE_FACTOR * len(idx)``, see ``_wm_kernels``) decodes the whole sequence
        once and gathers (O(n L / 64 + len(idx)), n symbols of temporary memory)."""
        i = self._idx(idx, self._n, "idx")
        if i.size and self._n <= W.ACCESS_DECODE_FACTOR * i.size and sys.byteorder == "little":
            # one sequential decode beats i.size random walks (big-endian decode_into comes here)
            return self.decode(0, self._n)[i]
        # the kernel writes little-endian bytes (one compiled kernel for every output dtype)
        out = np.empty(i.shape, dtype=self._dtype.newbyteorder("<"))
        W.wm_access_many(
            self._bits, self._rdir, self._zeros, self._L, i.reshape(-1), out.reshape(-1).view(np.uint8),
            self._dtype.itemsize,
        )
        return out.astype(self._dtype, copy=False)

    def rank_many(self, c: int, idx: Any) -> np.ndarray:
        """``rank(c, i)`` for each ``i`` in ``idx`` (int64). O(L) per index; a dense batch
        (``n <= RANK_DENSE_FACTOR * len(idx)``, see ``_wm_kernels``) decodes the sequence once and
        answers with one rank each on the bitmap of ``c`` (n bytes of temporary memory)."""
        c = self._sym(c)
        i = self._idx(idx, self._n + 1, "idx")
        if i.size and 0 < self._n <= W.RANK_DENSE_FACTOR * i.size and sys.byteorder == "little":
            return self._rank_dense(c, i)
        out = np.empty(i.shape, dtype=np.int64)
        W.wm_rank_many(self._bits, self._rdir, self._zeros, self._L, c, i.reshape(-1), out.reshape(-1))
        return out

    def select_many(self, c: int, ks: Any) -> np.ndarray:
        """``select(c, k)`` for each ``k`` in ``ks`` (int64). O(L) selects per rank; large
        batches are answered level by level with one forward sweep per level over sorted ranks
        (sorted input as is, dense batches by enumerating all occurrences of ``c``, others by
        radix sort; see ``_wm_kernels``)."""
        c = self._sym(c)
        count, bottom = W.wm_count_start(self._bits, self._rdir, self._zeros, self._L, c, self._n)
        k = self._idx(ks, int(count), "k")
        out = np.empty(k.shape, dtype=np.int64)
        kf, of = k.reshape(-1), out.reshape(-1)
        count, bottom = int(count), int(bottom)
        # batch-level paths (see _wm_kernels): one forward sweep per level when the ranks are
        # sorted or the batch is dense; independent per-query selects otherwise
        if kf.size > 1 and W.is_sorted(kf):
            W.wm_select_many_sorted(self._bits, self._rdir, self._zeros, self._L, c, bottom, kf, of)
        elif kf.size and count <= W.SELECT_DENSE_FACTOR * kf.size:
            W.wm_select_many_dense(self._bits, self._rdir, self._zeros, self._L, c, bottom, count, kf, of)
        elif kf.size > 1 and W.SELECT_SORT_FACTOR * kf.size >= self._rdir.shape[-1]:
            W.wm_select_many_sort(self._bits, self._rdir, self._zeros, self._L, c, bottom, kf, of)
        else:
            W.wm_select_many(
                self._bits, self._rdir, self._zeros, self._sel, self._sel_off, self._L, self._n, c,
                bottom, kf, of,
            )
        return out

    def count(self, c: int) -> int:
        """Occurrences of ``c`` in the whole sequence. O(L)."""
        return self.rank(c, self._n)

    def decode_into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Write symbols ``[start, stop)`` into ``out[:stop-start]`` (no allocation); return it.

        ``out`` must be a writable, contiguous 1-d integer array wide enough for ``sigma - 1``.
        """
        # cheap checks first: 4K-symbol decodes take only a few microseconds
        if not (type(start) is int and type(stop) is int and 0 <= start <= stop <= self._n):
            start, stop = self._range(start, stop)
        if not isinstance(out, np.ndarray) or out.ndim != 1 or not out.flags.c_contiguous:
            raise TypeError("out must be a contiguous 1-d numpy array")
        if not _out_dtype_ok(out.dtype, self._sigma):
            raise TypeError(f"out dtype {out.dtype} cannot hold symbols up to {self._sigma - 1}")
        if out.shape[0] < stop - start:
            raise ValueError(f"out has {out.shape[0]} elements, need {stop - start}")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
        m = stop - start
        if m:
            if sys.byteorder != "little":  # the kernel writes little-endian bytes
                out[:m] = self.access_many(np.arange(start, stop))  # slow but correct
                return out
            # a byte view: one compiled kernel serves every output dtype
            view = out[:m].view(np.uint8)
            D.wm_decode(self._bits, self._rdir, self._zeros, self._L, start, stop, view, out.dtype.itemsize)
        return out

    # -- space and serialization ----------------------------------------------------------
    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(meta, arrays)`` for the container; :meth:`from_arrays` rebuilds without copying."""
        meta = {"n": self._n, "sigma": self._sigma, "levels": self._L}
        arrays = {
            "bits": self._bits, "zeros": self._zeros, "rank_dir": self._rdir,
            "sel": self._sel, "sel_off": self._sel_off,
        }
        return meta, arrays

    @classmethod
    def from_arrays(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], *, validate: str = "full"
    ) -> WaveletMatrix:
        """Zero-copy reconstruction from :meth:`to_arrays` output; FormatError naming the field
        if anything is inconsistent.

        Checked: meta counts (integers, in range, ``levels = ceil(log2 sigma)``), every array's
        shape, each level's tail bits, zero count and select samples against its directory, and
        that no decoded symbol can reach ``sigma`` (O(L) ranks). ``validate="full"`` (default)
        also recomputes each level's rank directory from its bits (O(n L / 64) popcounts);
        ``"fast"`` relies on the kernels' index clamps for those (see :mod:`._validate`).
        """
        full = check_mode(validate)
        a = _serial.check_arrays(_KIND, arrays, {
            "bits": (np.uint64, 2), "zeros": (np.int64, 1), "rank_dir": (np.uint64, 2),
            "sel": (np.uint32, 1), "sel_off": (np.int64, 1),
        })
        n = _serial.meta_int(_KIND, meta, "n", 0, MAX_BITS - 1)
        sigma = _serial.meta_int(_KIND, meta, "sigma", 1, MAX_SIGMA)
        L = _serial.meta_int(_KIND, meta, "levels", 0, 32)
        if L != (sigma - 1).bit_length():
            raise FormatError(f"{_KIND}: levels={L} does not match sigma={sigma}")
        nd = (n + 2047) // 2048 + 1
        bits, zeros, rdir = a["bits"], a["zeros"], a["rank_dir"]
        if bits.shape != (L, (n + 63) // 64):
            raise FormatError(f"{_KIND}: bits has shape {bits.shape}, expected {(L, (n + 63) // 64)}")
        if rdir.shape != (L, nd):
            raise FormatError(f"{_KIND}: rank_dir has shape {rdir.shape}, expected {(L, nd)}")
        if zeros.shape != (L,):
            raise FormatError(f"{_KIND}: zeros has shape {zeros.shape}, expected {(L,)}")
        sel, off = a["sel"], a["sel_off"]
        want_off = [0]
        for lv in range(L):
            ones = verify_bits(_KIND, f"level {lv}", bits[lv], rdir[lv], n, full)
            if int(zeros[lv]) != n - ones:
                raise FormatError(f"{_KIND}: zeros[{lv}]={int(zeros[lv])}, its bits hold {n - ones}")
            # one sample per 4096 ones (zeros) plus a sentinel, ones first (see _bitops)
            want_off += [want_off[-1] + (ones + 4095) // 4096 + 1,
                         want_off[-1] + (ones + 4095) // 4096 + 1 + (n - ones + 4095) // 4096 + 1]
        if off.tolist() != want_off or sel.shape[0] != want_off[-1]:
            raise FormatError(f"{_KIND}: select sample offsets sel_off do not match the levels")
        for lv in range(L):
            verify_samples(_KIND, f"level {lv}", bits[lv], rdir[lv], n,
                           sel[off[2 * lv] : off[2 * lv + 1]], sel[off[2 * lv + 1] : off[2 * lv + 2]])
        if L and sigma < 1 << L:
            # any bit matrix is the wavelet matrix of some sequence; its symbols must be < sigma
            less = int(W.wm_count_less(bits, rdir, zeros, L, sigma, n))
            if less != n:
                raise FormatError(f"{_KIND}: {n - less} symbols are >= sigma={sigma}")
        self = cls.__new__(cls)
        self._set(n, sigma, bits, zeros, rdir, sel, off)
        return self

    def space(self) -> dict[str, int]:
        """Bytes by component (``levels``, ``rank_directories``, ``select_samples``, ``tables``
        (zeros per level + sample offsets), ``header``); sums to :attr:`nbytes`."""
        meta, arrays = self.to_arrays()
        return {
            "levels": self._bits.nbytes,
            "rank_directories": self._rdir.nbytes,
            "select_samples": self._sel.nbytes,
            "tables": self._zeros.nbytes + self._sel_off.nbytes,
            "header": _serial.header_size(_KIND, meta, arrays),
        }

    def __repr__(self) -> str:
        return f"WaveletMatrix(n={self._n}, sigma={self._sigma}, nbytes={self.nbytes})"
