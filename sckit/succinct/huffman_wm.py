"""HuffmanWaveletMatrix: a wavelet matrix with Huffman-shaped levels (space ~ order-0 entropy).

Claude, Navarro and Ordonez, "The wavelet matrix: An efficient wavelet tree for large
alphabets", Information Systems 47 (2015), section 5. Each distinct symbol gets a canonical,
length-limited Huffman code laid out in matrix order (:mod:`sckit.succinct.huffman`); level
``l`` stores bit ``l`` of the code of every symbol whose code is longer than ``l``, in the order
the stable partitions of the levels above leave them. Because leaves take the rightmost slots of
every level, symbols whose code ends drop off the *end* of the next level, so the level sizes
are the only extra bookkeeping. All levels are stored back to back in a single
:class:`~sckit.succinct.bitvector.BitVector` (no per-level padding or directories).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from sckit.errors import FormatError
from sckit.succinct import _hwm_batch as B
from sckit.succinct import _hwm_kernels as H
from sckit.succinct import _hwm_split as S
from sckit.succinct import _serial
from sckit.succinct import _wm_kernels as W
from sckit.succinct._hwm_load import padded_words, rebuild
from sckit.succinct._hwm_split import split_tables
from sckit.succinct._sequence import SymbolSequence
from sckit.succinct.bitvector import BitVector, _as_index_array, _check_int
from sckit.succinct.huffman import (
    DEFAULT_MAX_CODE_LENGTH,
    WMCode,
    huffman_code_lengths,
    wm_canonical_code,
)
from sckit.succinct.wavelet_matrix import check_symbols, symbol_dtype

__all__ = ["HuffmanWaveletMatrix"]

_KIND = "HuffmanWaveletMatrix"
# A dense symbol -> code table costs 9 bytes per alphabet value; past this (or 2n) sort instead.
_DENSE_SIGMA = 1 << 22
# Past this many distinct symbols the build carries codes instead of symbols through the levels:
# the symbol -> code table no longer fits in L2 and every level's lookup missed the cache
# (zipf over 2**20 values, 600k distinct, 10M symbols: build_levels 1.5 s -> 0.5 s).
_DIRECT_CODES = 1 << 15


# The decoder sets every node's cursor up front (one rank each) when the range has at least this
# many symbols per internal node, else lazily when a node is first reached (big alphabets, short
# ranges). Eager saves a check per visit: ~3% on float exponents.
_EAGER_SYMBOLS_PER_NODE = 32


@functools.lru_cache(maxsize=256)
def _out_dtype_ok(dt: np.dtype, sigma: int) -> bool:
    # the decoder writes little-endian bytes of width itemsize (see _hwm_kernels.masked_fill)
    return (
        dt.kind in "iu"
        and dt.isnative
        and np.iinfo(dt).max >= sigma - 1
        and dt.itemsize in (1, 2, 4, 8)
    )


def _symbol_table(symbols: np.ndarray, sigma: int, dtype: np.dtype) -> np.ndarray:
    """The distinct symbols as serialized: their values, or a bitmap over ``[0, sigma)`` when
    that is smaller (large dense alphabets: 2**20 distinct values cost 128 KiB, not 4 MiB)."""
    if (sigma + 63) // 64 * 8 < symbols.size * dtype.itemsize:
        bits = np.zeros((sigma + 63) // 64 * 64, dtype=np.uint8)
        bits[symbols.astype(np.int64)] = 1
        return np.packbits(bits, bitorder="little").view(np.uint64)
    return np.ascontiguousarray(symbols, dtype=dtype)


def _histogram(sym: np.ndarray, sigma: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(distinct symbols, counts, inverse or None)``; inverse is None when the dense path
    lets the build index code tables by symbol value directly (no O(n log n) sort)."""
    if sigma <= max(_DENSE_SIGMA, 2 * sym.shape[0]):
        counts = np.bincount(sym, minlength=sigma)
        present = np.flatnonzero(counts)
        return present, counts[present], None
    present, inverse, counts = np.unique(sym, return_inverse=True, return_counts=True)
    return present, counts, inverse


class HuffmanWaveletMatrix(SymbolSequence):
    """A Huffman-shaped wavelet matrix over ``n`` non-negative integer symbols.

    ``h(c)`` below is the length of the code of symbol ``c`` (at most ``max_code_length``).

    ==========================  ======================================  =========================
    query                       complexity                              source
    ==========================  ======================================  =========================
    ``access(i)``               O(h(S[i])) ranks                        Claude et al. 2015, s. 5
    ``rank(c, i)``              O(h(c)) ranks (``[0, i)``)              Claude et al. 2015, s. 5
    ``select(c, k)``            O(h(c)) ranks + O(h(c)) selects         Claude et al. 2015, s. 5
    ``decode(a, b)``            O(1) word ops per node present, per     per-node cursors (cf.
                                64 symbols, + one rank per node         Claude et al. 2015),
                                reached; never one ``access`` per       64 symbols per step
                                symbol                                  with ``pdep``; see
                                                                        ``_hwm_kernels``
    ==========================  ======================================  =========================

    Measured on one core of a shared 2-core AMD EPYC (Zen 4), CPU time, 10M sign+exponent
    symbols of float32 N(0, 0.02) weights (49 symbols, 3.55 bits of entropy): build ~100 M
    sym/s, whole-sequence decode ~790 M sym/s (random 4K-symbol ranges ~340), 3.73 bits per
    symbol all included. For near-uniform data prefer
    :class:`~sckit.succinct.wavelet_matrix.WaveletMatrix`: same space, faster decode (uniform
    over 256 symbols: ~64 M sym/s here, ~370 there).

    Args:
        symbols: 1-d non-negative integers (< 2**32).
        max_code_length: keyword-only limit on code length (package-merge when needed).

    >>> hwm = HuffmanWaveletMatrix([5, 5, 5, 5, 9, 9, 700, 5])
    >>> hwm.access(6), hwm.rank(5, 8), hwm.select(9, 1), hwm[3:7].tolist()
    (700, 5, 5, [5, 9, 9, 700])
    """

    _KIND = _KIND  # serialized kind tag, read by SymbolSequence
    __slots__ = (
        "_n", "_sigma", "_limit", "_bv", "_words", "_rdir", "_s1", "_s0", "_n_bits", "_code",
        "_level_sizes", "_lvl_off", "_lvl_zeros", "_lvl_base", "_child", "_leaf_sym",
        "_node_level", "_dtype", "_syms", "_split", "_counts",
    )  # fmt: skip

    def __init__(self, symbols: Any, *, max_code_length: int = DEFAULT_MAX_CODE_LENGTH) -> None:
        sym, sigma = check_symbols(symbols, None)
        limit = _check_int(max_code_length, "max_code_length")
        present, counts, inverse = _histogram(sym, sigma)
        lengths = huffman_code_lengths(counts, max_length=limit)
        code = wm_canonical_code(present, lengths)
        depth = code.max_length
        # Level l holds every symbol whose code is longer than l.
        per_len = np.bincount(code.lengths, weights=counts, minlength=depth + 1).astype(np.int64)
        level_sizes = np.cumsum(per_len[::-1])[::-1][1:].copy()
        n_bits = int(level_sizes.sum())
        words = np.zeros(padded_words(n_bits), dtype=np.uint64)
        if depth:
            # code | sentinel bit at its length (see _hwm_kernels.build_levels)
            tab_codes = code.codes | (np.uint64(1) << code.lengths.astype(np.uint64))
            direct = present.size > _DIRECT_CODES
            if inverse is None:  # dense: index the table by symbol value, no remapping pass
                tab = np.zeros(sigma, np.uint64)
                tab[present] = tab_codes
                items = sym
            else:
                tab = tab_codes
                items = inverse.astype(symbol_dtype(present.size))
            if direct:  # one gather pass instead of a cache-missing table lookup per level
                items = tab[items].astype(np.uint32 if depth < 32 else np.uint64)
            bufs = np.empty((2, items.shape[0]), dtype=items.dtype)
            H.build_levels(items, tab, level_sizes, words, bufs[0], bufs[1], direct)
        bv = BitVector.from_words(words[: (n_bits + 63) // 64], n_bits)
        # the build's histogram, in code_table order (``present`` is sorted), for symbol_counts
        counts_by_code = counts[np.searchsorted(present, code.symbols)].astype(np.int64)
        self._set(sym.shape[0], sigma, limit, code, level_sizes, words, bv, counts_by_code)

    def _set(
        self,
        n: int,
        sigma: int,
        limit: int,
        code: WMCode,
        level_sizes: np.ndarray,
        words: np.ndarray,
        bv: BitVector,
        counts: np.ndarray | None = None,
    ) -> None:
        self._counts = counts
        self._n, self._sigma, self._limit, self._code = int(n), int(sigma), int(limit), code
        self._level_sizes, self._words, self._bv, self._n_bits = level_sizes, words, bv, len(bv)
        _, arr = bv.to_arrays()
        self._rdir, self._s1, self._s0 = arr["rank_dir"], arr["sel1"], arr["sel0"]
        self._child, self._leaf_sym, self._node_level = code.tree_tables()
        # big trees decode in two groups of levels (see _hwm_split); small ones in one pass
        self._split = split_tables(self._child, self._leaf_sym, self._node_level)
        self._lvl_off = np.concatenate([[0], np.cumsum(level_sizes)]).astype(np.int64)
        self._lvl_base = np.array([bv.rank1(int(o)) for o in self._lvl_off], dtype=np.int64)
        self._lvl_zeros = (level_sizes - np.diff(self._lvl_base)).astype(np.int64)
        if np.any(self._lvl_zeros < 0) or np.any(self._lvl_zeros > level_sizes):
            raise FormatError(f"{_KIND}: zero counts out of range")
        self._dtype = symbol_dtype(self._sigma)
        self._syms = _symbol_table(code.symbols, self._sigma, self._dtype)  # as serialized

    # -- properties -----------------------------------------------------------------------
    @property
    def sigma(self) -> int:
        """Alphabet bound: symbols are in ``[0, sigma)`` (``max symbol + 1``; 1 when empty)."""
        return self._sigma

    @property
    def n_distinct(self) -> int:
        """Number of distinct symbols (each has a code)."""
        return int(self._code.symbols.size)

    @property
    def n_levels(self) -> int:
        """Number of levels = longest code length."""
        return int(self._level_sizes.size)

    @property
    def level_sizes(self) -> np.ndarray:
        """Bits stored per level (symbols whose code is longer than the level)."""
        return self._level_sizes.copy()

    @property
    def dtype(self) -> np.dtype:
        """dtype of decoded symbols."""
        return self._dtype

    def code_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(symbols, code lengths, codes LSB-first)`` of the canonical code."""
        c = self._code
        return c.symbols.copy(), c.lengths.copy(), c.codes.copy()

    @property
    def avg_code_length(self) -> float:
        """Average code length in bits per symbol (``n_bits / n``)."""
        return self._n_bits / self._n if self._n else 0.0

    # -- validation -----------------------------------------------------------------------
    def _leaf(self, c: Any) -> int:
        """Index of ``c`` in the code table, or -1 when ``c`` does not occur."""
        c = _check_int(c, "symbol")
        if not 0 <= c < self._sigma:
            raise ValueError(f"symbol {c} outside the alphabet [0, {self._sigma})")
        syms = self._code.symbols
        k = int(np.searchsorted(syms, c))
        return k if k < syms.size and int(syms[k]) == c else -1

    def _kargs(self) -> Any:  # the 7 arrays every navigation kernel takes first
        return (
            self._words,
            self._rdir,
            self._child,
            self._node_level,
            self._lvl_off,
            self._lvl_zeros,
            self._lvl_base,
        )

    # -- queries --------------------------------------------------------------------------
    def access(self, i: int) -> int:
        """Symbol at position ``i``. O(h(S[i])) ranks."""
        i = self._pos(i, self._n, "i")
        return int(self.access_many(np.array([i], dtype=np.int64))[0])

    def access_many(self, idx: Any) -> np.ndarray:
        """Symbols at ``idx`` (any shape), dtype :attr:`dtype`. O(h) ranks per index; a dense
        batch (``n <= ACCESS_DECODE_FACTOR * len(idx)``, as in ``WaveletMatrix``) decodes the
        whole sequence once and gathers."""
        i = self._idx(idx, self._n, "idx")
        if i.size and self._n <= W.ACCESS_DECODE_FACTOR * i.size:
            return self.decode(0, self._n)[i]
        # int64 scratch then cast: one compiled kernel for every output dtype
        out = np.empty(i.shape, dtype=np.int64)
        if i.size and self.n_levels == 0:
            out[...] = self._code.symbols[0]
        elif i.size:
            w, r, c, nl, lo, z, b = self._kargs()
            B.access_walk(w, r, c, nl, lo, z, b, self._leaf_sym, i.reshape(-1), out.reshape(-1))
        return out.astype(self._dtype)

    def rank(self, c: int, i: int) -> int:
        """Occurrences of ``c`` in ``[0, i)``, ``0 <= i <= n``. O(h(c)) ranks."""
        return int(self.rank_many(c, np.array([self._pos(i, self._n + 1, "i")]))[0])

    def _code_args(self, leaf: int) -> Any:  # the 7 arguments of the per-symbol kernels
        return (self._words, self._rdir, self._lvl_off, self._lvl_zeros, self._lvl_base,
                self._code.codes[leaf], int(self._code.lengths[leaf]))

    def rank_many(self, c: int, idx: Any) -> np.ndarray:
        """``rank(c, i)`` for each ``i`` in ``idx`` (int64). O(h(c)) ranks per index (16 in
        lockstep); a dense batch (``n <= RANK_DENSE_FACTOR * len(idx)``) decodes once and ranks
        on the bitmap of ``c``."""
        k = self._leaf(c)
        i = self._idx(idx, self._n + 1, "idx")
        if k < 0:
            return np.zeros(i.shape, dtype=np.int64)
        if self.n_levels == 0:
            return i.copy()
        if i.size and self._n <= W.RANK_DENSE_FACTOR * i.size:
            return self._rank_dense(c, i)
        out = np.empty(i.shape, dtype=np.int64)
        w, r, lo, z, b, code, length = self._code_args(k)
        B.rank_lanes(w, r, lo, z, b, code, length, i.reshape(-1), out.reshape(-1))
        return out

    def count(self, c: int) -> int:
        """Occurrences of ``c`` in the whole sequence. O(h(c))."""
        return self.rank(c, self._n)

    def symbol_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """``(symbols as in code_table, occurrences of each)``. O(sigma) for a matrix built here
        (kept from the build's histogram: no pass over the data, and no rank kernel to compile on a
        fresh install); one :meth:`count` per symbol for a loaded one."""
        syms = self._code.symbols.copy()
        if self._counts is not None:
            return syms, self._counts.copy()
        return syms, np.array([self.count(int(c)) for c in syms], dtype=np.int64)

    def select(self, c: int, k: int) -> int:
        """Position of the ``k``-th (0-based) occurrence of ``c``. O(h(c)) ranks and selects."""
        return int(self.select_many(c, np.array([_check_int(k, "k")]))[0])

    def select_many(self, c: int, ks: Any) -> np.ndarray:
        """``select(c, k)`` for each ``k`` in ``ks`` (int64); IndexError if any ``k`` is not
        below ``count(c)``. O(h(c)) selects per rank; large batches go level by level with one
        forward sweep per level over sorted ranks (as given, all ranks of a dense batch, or
        radix-sorted: the strategies and factors of ``WaveletMatrix.select_many``)."""
        leaf = self._leaf(c)
        k = _as_index_array(ks, "ks")
        out = np.empty(k.shape, dtype=np.int64)
        if leaf < 0 or self.n_levels == 0:
            cnt = 0 if leaf < 0 else self._n
            if k.size and (k.min() < 0 or k.max() >= cnt):
                raise IndexError(f"k out of range [0, {cnt}) for symbol {c}")
            out[...] = k
            return out
        w, r, lo, z, b, code, length = self._code_args(leaf)
        s, e = H.leaf_range(w, r, lo, z, b, code, length, self._n)
        count = int(e - s)
        kf, of = k.reshape(-1), out.reshape(-1)
        if kf.size and (kf.min() < 0 or kf.max() >= count):
            raise IndexError(f"k out of range [0, {count}) for symbol {c}")
        if kf.size > 1 and W.is_sorted(kf):
            of[:] = B.select_walk_sorted(w, r, lo, z, b, code, length, kf + s, np.empty_like(kf))
        elif kf.size and count <= W.SELECT_DENSE_FACTOR * kf.size:
            every = np.arange(s, e, dtype=np.int64)
            tmp = np.empty_like(every)
            of[:] = B.select_walk_sorted(w, r, lo, z, b, code, length, every, tmp)[kf]
        elif kf.size > 1 and W.SELECT_SORT_FACTOR * kf.size >= (self._n >> 11) + 1:
            # (n >> 11) + 1: 2048-bit blocks of level 0, the longest sweep
            sk, perm = W.radix_argsort(kf)
            of[perm] = B.select_walk_sorted(w, r, lo, z, b, code, length, sk + s, np.empty_like(sk))
        elif kf.size:
            H.select_many(w, r, self._s1, self._s0, self._n_bits, lo, z, b, code, length, self._n,
                          kf, of)
        return out

    def decode_into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Write symbols ``[start, stop)`` into ``out[:stop-start]`` (no allocation); return it.

        ``out``: writable, contiguous 1-d integer array wide enough for ``sigma - 1``. Cost:
        O(nodes present per 64 symbols) per 64 symbols + one rank per node reached (never one
        ``access`` per symbol).
        """
        # Validation is kept lean: this is called per block of rows by the inference engine.
        if type(start) is int and type(stop) is int and 0 <= start <= stop <= self._n:
            pass
        else:
            start, stop = self._range(start, stop)
        if not isinstance(out, np.ndarray) or out.ndim != 1 or not out.flags.c_contiguous:
            raise TypeError("out must be a contiguous 1-d numpy array")
        if not _out_dtype_ok(out.dtype, self._sigma):
            raise TypeError(
                f"out dtype {out.dtype} is not a native integer type holding symbols up to {self._sigma - 1}"
            )
        if out.shape[0] < stop - start:
            raise ValueError(f"out has {out.shape[0]} elements, need {stop - start}")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
        if stop > start:
            lazy = self._node_level.shape[0] * _EAGER_SYMBOLS_PER_NODE > stop - start
            if self._child.shape[0] == 0:
                out[: stop - start] = self._code.symbols[0]
            elif self._split[3] >= 0 and not lazy:
                child_top, leaf_top, cut_gid, mark = self._split
                S.decode_range_split(
                    self._words, self._rdir, self._child, self._leaf_sym, self._node_level,
                    self._lvl_off, self._lvl_zeros, self._lvl_base, child_top, leaf_top, cut_gid,
                    mark, start, stop, out.view(np.uint8), out.dtype.itemsize,
                )  # fmt: skip
            else:
                H.decode_range(
                    self._words, self._rdir, self._child, self._leaf_sym, self._node_level,
                    self._lvl_off, self._lvl_zeros, self._lvl_base, start, stop,
                    out.view(np.uint8), out.dtype.itemsize, lazy,
                )  # fmt: skip
        return out

    def decode_kernel_args(self, n: int) -> tuple | None:
        """Arguments ``(words, rdir, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
        child_top, leaf_top, cut_gid, mark, lazy)`` for fused decoders built on
        ``_hwm_kernels.decoder_state``/``decode_steps`` and ``_hwm_split.decode_split``
        (``sckit.ras.grammar.decode_dense``) decoding ``n`` symbols; ``None`` when the tree has
        no internal node (one distinct symbol: nothing to navigate)."""
        if self._child.shape[0] == 0:
            return None
        n_int = self._node_level.shape[0]
        return (self._words, self._rdir, self._child, self._leaf_sym, self._node_level,
                self._lvl_off, self._lvl_zeros, self._lvl_base, *self._split,
                n_int * _EAGER_SYMBOLS_PER_NODE > n)  # fmt: skip

    # -- space and serialization ----------------------------------------------------------
    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(meta, arrays)`` for the container; :meth:`from_arrays` rebuilds without copying
        the bits (code tables of size O(sigma) and select samples are re-derived)."""
        meta = {
            "n": self._n,
            "sigma": self._sigma,
            "max_code_length": self._limit,
            "n_bits": self._n_bits,
            "symbols_as": "bitmap" if self._syms.dtype != self._dtype else "values",
        }
        _, bva = self._bv.to_arrays()
        arrays = {
            "words": self._words,  # the bit vector's words + zero padding (branch-free decode)
            "rank_dir": bva["rank_dir"],
            # no select samples: from_arrays rebuilds them from rank_dir in O(n / 2048) (saves
            # 0.78% of the bits, and 16 bytes on tiny tensors)
            "symbols": self._syms,
            "lengths": self._code.lengths,
            # the narrowest unsigned dtype holding n: 8 bytes per level would cost more than the
            # whole header on small tensors (from_arrays widens this O(levels) array again)
            "level_sizes": self._level_sizes.astype(np.min_scalar_type(self._n), copy=False),
        }
        return meta, arrays

    @classmethod
    def from_arrays(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], *, validate: str = "full"
    ) -> HuffmanWaveletMatrix:
        """Zero-copy reconstruction from :meth:`to_arrays` output; FormatError naming the field
        if inconsistent (every check: :mod:`sckit.succinct._hwm_load`). ``validate="full"``
        (default) recomputes the rank directory from the bits; ``"fast"`` skips that O(n / 64)
        pass and relies on the kernels' index clamps (:mod:`sckit.succinct._validate`)."""
        return rebuild(cls, meta, arrays, validate=validate)

    def space(self) -> dict[str, int]:
        """Bytes by component: ``levels`` (code bits), ``directories`` (rank directory; select
        samples are rebuilt on load, not stored),
        ``tables`` (code table + level sizes), ``header``. Sums to :attr:`nbytes`."""
        meta, arrays = self.to_arrays()
        return {
            "levels": self._words.nbytes,
            "directories": arrays["rank_dir"].nbytes
            + sum(arrays[k].nbytes for k in ("sel1", "sel0") if k in arrays),
            "tables": arrays["symbols"].nbytes
            + arrays["lengths"].nbytes
            + arrays["level_sizes"].nbytes,
            "header": _serial.header_size(_KIND, meta, arrays),
        }

    def __repr__(self) -> str:
        return (
            f"HuffmanWaveletMatrix(n={self._n}, sigma={self._sigma}, distinct={self.n_distinct}, "
            f"levels={self.n_levels}, nbytes={self.nbytes})"
        )

