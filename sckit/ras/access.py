"""Select-based slicing and single-weight access (paper appendix B.1, Algorithm 1).

``T[i0, ..., i_{d-1}]`` in an element-wise RAS: ``p = select_{d1}(i0)``, then for each deeper
level ``p = select_{d(l+1)}(rank_{d(l+1)}(p) + i_l)`` (one select per level, the rank turns the
global occurrence count into one relative to the enclosing slice); the row starts at ``p + 1``.
In a block-wise RAS one ``select`` on the block delimiter finds the block. The stream position
``q`` of the weight is then ``row start + column`` (dense) or found from the row's relative
distances (sparse), the symbol is ``access(q)`` on the wavelet matrix, and the raw (mantissa)
field is entry ``q - (delimiters before q)``, the delimiter count being a ``rank`` per level.

:class:`Accessor` is the cached-rank access of Algorithm 1 for runs of nearby accesses. It
reuses previous results at two levels: (1) per row, the select/rank results of the slicing
(and, for sparse rows, the decoded column positions), so a run inside one row (one conv filter,
one output row) slices once; (2) inside the wavelet matrix, a *window* of ``window`` symbols
starting at the accessed position is range-decoded, which computes each level's rank once at
the window start and then advances bit by bit -- the "start from the nearest recording"
of Algorithm 1 -- so the following accesses in the window cost no rank at all.

:func:`access_many` answers a batch with the same selects and ranks, each level's done for the
whole batch at once (the wavelet matrix's batched queries: sorted sweeps, lanes), so a gather of
many weights costs microseconds per batch level instead of tens of microseconds per weight.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sckit.errors import FormatError

if TYPE_CHECKING:
    from sckit.ras.core import RAS

__all__ = ["Accessor", "access", "access_many"]


def value_of(split: Any, bits: int) -> Any:
    """The value of a bit pattern as a numpy scalar of ``split``'s dtype (a Python float for
    bfloat16, which numpy lacks; exact: bfloat16 is float32's top half)."""
    if split.dtype == "bfloat16":
        return float(np.array(bits << 16, np.uint32).view(np.float32))
    return np.array(bits, split.uint).view(split.dtype)[()]


def values_of(split: Any, bits: np.ndarray) -> np.ndarray:
    """Bit patterns -> values of ``split``'s dtype (float32 for bfloat16), no copy where numpy
    has the dtype."""
    if split.dtype == "bfloat16":
        return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)
    return bits.view(split.dtype)


@contextmanager
def stream_errors() -> Iterator[None]:
    """Turn an IndexError/ValueError from the wavelet matrices into a FormatError.

    The user's index is checked before this is entered, so the queries below it only receive
    positions derived from the stream itself; one out of range means the delimiters do not sit
    where the shape says (a forged but otherwise self-consistent stream), not a caller's bug.
    """
    try:
        yield
    except (IndexError, ValueError) as e:
        raise FormatError(f"RAS: the stream does not match its shape ({e})") from None


@dataclass
class _Row:
    start: int  # stream position of the row's first entry
    entry: int  # entries (value symbols) before ``start``
    cols: np.ndarray | None  # sparse: column of each entry of the row (ascending)


def _normalize(r: RAS, index: Any) -> tuple[int, ...]:
    if isinstance(index, (int, np.integer)):
        index = (index,)
    if not isinstance(index, tuple):
        raise TypeError(f"index must be an int or a tuple of ints, got {type(index).__name__}")
    if len(index) != len(r.shape):
        raise IndexError(f"index {index} has {len(index)} entries, tensor has {len(r.shape)} dims")
    out = []
    for d, (i, n) in enumerate(zip(index, r.shape, strict=True)):
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"index entry {d} must be an int, got {type(i).__name__}")
        i = int(i) + (n if i < 0 else 0)
        if not 0 <= i < n:
            raise IndexError(f"index {index[d]} out of range for dim {d} of size {n}")
        out.append(i)
    return tuple(out)


def _split(r: RAS, idx: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """(row key, column in the row) of a normalized index."""
    if len(idx) <= 1:
        return (), idx[0] if idx else 0
    if r.kind == "block":
        return idx[:1], int(np.ravel_multi_index(idx[1:], r.shape[1:]))
    return idx[:-1], idx[-1]


def _row_start(r: RAS, key: tuple[int, ...]) -> int:
    """Stream position of the row's first entry, by select on the delimiters (B.1)."""
    lay, wm = r.layout, r.wm
    if lay.n_levels == 0:
        return 0
    p = wm.select(lay.delimiter(0), key[0] if key else 0)
    for lev in range(1, lay.n_levels):
        d = lay.delimiter(lev)
        p = wm.select(d, wm.rank(d, p) + key[lev])
    return p + 1


def _load_row(r: RAS, key: tuple[int, ...]) -> _Row:
    start = _row_start(r, key)
    entry = r._entries_before(start)
    if not r.sparse:
        return _Row(start, entry, None)
    lay, wm = r.layout, r.wm
    end = r.n_stream
    for lev, total in enumerate(lay.n_delimiters()):  # the row ends at the next delimiter
        d = lay.delimiter(lev)
        k = wm.rank(d, start)
        if k < total:
            end = min(end, wm.select(d, k))
    m = end - start
    if m < 0 or entry + m > r.n_entries:
        raise FormatError(f"RAS: row {key} spans [{start}, {end}) of the stream (corrupt)")
    if m == 0:
        return _Row(start, entry, np.zeros(0, np.int64))
    dist = np.asarray(r.dist_wm.decode(entry, entry + m), dtype=np.int64)
    return _Row(start, entry, np.cumsum(dist + 1) - 1)


def _value(r: RAS, q: int, e: int, s: int | None = None) -> int:
    """Bit pattern of the entry at stream position ``q`` (entry index ``e``); ``s``: its symbol
    when the caller already has it."""
    if not 0 <= q < r.n_stream or not 0 <= e < max(r.n_entries, 1):
        raise FormatError(f"RAS: weight at stream position {q}, entry {e} (corrupt stream)")
    if s is None:
        s = int(r.wm.access(q))
    if s >= r.layout.alphabet:
        raise FormatError(f"RAS: a delimiter where a weight belongs (position {q}; corrupt stream)")
    if r.codebook is not None:
        return int(r.codebook[s])
    rb = r.raw_bits
    if rb == 0:
        return s
    bit = e * rb
    w, o = bit >> 6, bit & 63
    v = ((int(r.raw[w]) >> o) | (int(r.raw[w + 1]) << (64 - o))) & ((1 << rb) - 1)
    shift, sign_pos = r._shift_sign  # raw = [sign] mantissa (see fields.py)
    out = (s << shift) | (v & ((1 << shift) - 1))
    return out | ((v >> shift) << sign_pos) if sign_pos >= 0 else out


def _in_row(r: RAS, row: _Row, j: int) -> int:
    if row.cols is None:
        return _value(r, row.start + j, row.entry + j)
    k = int(np.searchsorted(row.cols, j))
    if k < row.cols.size and row.cols[k] == j:
        return _value(r, row.start + k, row.entry + k)
    return 0


def access(r: RAS, index: Any) -> int:
    """Bit pattern of ``T[index]`` (see module docstring). O(levels * log sigma) for dense rows;
    sparse rows also decode the row's distances."""
    key, j = _split(r, _normalize(r, index))
    with stream_errors():
        return _in_row(r, _load_row(r, key), j)


def _indices(r: RAS, indices: Any) -> np.ndarray:
    """``indices`` as an int64 array of shape (m, ndim), negatives wrapped, bounds checked."""
    a = np.asarray(indices)
    nd = len(r.shape)
    if a.dtype == bool or not (a.dtype.kind in "iu" or (a.size == 0 and a.dtype.kind == "f")):
        raise TypeError(f"indices must be integers, got dtype {a.dtype}")
    if a.ndim == 1 and nd == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] != nd:
        raise ValueError(f"indices must have shape (m, {nd}) for a {nd}-d tensor"
                         + (" (or (m,))" if nd == 1 else "") + f", got {a.shape}")
    a = a.astype(np.int64)
    dims = np.asarray(r.shape, dtype=np.int64)
    a = np.where(a < 0, a + dims, a)
    bad = (a < 0) | (a >= dims)
    if bad.any():
        k, d = map(int, np.argwhere(bad)[0])
        raise IndexError(f"index {np.asarray(indices)[k].tolist()} out of range for dim {d} "
                         f"of size {r.shape[d]}")
    return a


def access_many(r: RAS, indices: Any) -> np.ndarray:
    """Bit patterns of ``T[i]`` for each row ``i`` of ``indices`` (shape (m, ndim), or (m,) for
    a 1-d tensor), in the RAS's unsigned dtype (``.view(np.float32)`` etc. for the values).

    Dense rows: :func:`access`'s selects and ranks, one batched query per level for the whole
    batch. Sparse rows (relative distances) go through :class:`Accessor`, grouped by row.
    """
    idx = _indices(r, indices)
    with stream_errors():
        return _access_many(r, idx)


def _access_many(r: RAS, idx: np.ndarray) -> np.ndarray:
    m = idx.shape[0]
    out = np.empty(m, dtype=np.dtype(r.split.uint))
    if m == 0:
        return out
    if r.sparse or r.wm is None:
        acc = Accessor(r)
        order = np.lexsort(idx.T[::-1]) if idx.shape[1] else range(m)
        for k in order:  # row by row: each row is sliced once
            out[k] = acc.access_bits(tuple(int(v) for v in idx[k]))
        return out
    lay, wm = r.layout, r.wm
    nd = idx.shape[1]
    if nd <= 1:
        keys, col = idx[:, :0], (idx[:, 0] if nd else np.zeros(m, np.int64))
    elif r.kind == "block":
        keys, col = idx[:, :1], np.ravel_multi_index(tuple(idx[:, 1:].T), r.shape[1:])
    else:
        keys, col = idx[:, :-1], idx[:, -1]
    if lay.n_levels == 0:
        q = col.astype(np.int64)
    else:
        p = wm.select_many(lay.delimiter(0), keys[:, 0] if keys.shape[1] else np.zeros(m, np.int64))
        for lev in range(1, lay.n_levels):
            d = lay.delimiter(lev)
            p = wm.select_many(d, wm.rank_many(d, p) + keys[:, lev])
        q = p + 1 + col
    if (q >= r.n_stream).any():
        raise FormatError("RAS: a row runs past the end of the stream (corrupt stream)")
    e = q.copy()
    for lev in range(lay.n_levels):
        e -= wm.rank_many(lay.delimiter(lev), q)
    sym = wm.access_many(q).astype(np.uint64)
    if (sym >= lay.alphabet).any():
        raise FormatError("RAS: a delimiter where a weight belongs (corrupt stream)")
    if r.codebook is not None:
        return np.asarray(r.codebook)[sym].astype(out.dtype)
    rb = r.raw_bits
    if rb == 0:
        return sym.astype(out.dtype)
    bit = e.astype(np.uint64) * np.uint64(rb)
    w, o = bit >> np.uint64(6), bit & np.uint64(63)
    raw = np.asarray(r.raw, dtype=np.uint64)
    # two words from bit o on; the double shift avoids the undefined shift by 64 when o == 0
    nxt = raw[np.minimum(w + np.uint64(1), np.uint64(raw.size - 1))]
    v = (raw[w] >> o) | ((nxt << np.uint64(1)) << (np.uint64(63) - o))
    v &= np.uint64((1 << rb) - 1)
    shift, sign_pos = r._shift_sign
    val = (sym << np.uint64(shift)) | (v & np.uint64((1 << shift) - 1))
    if sign_pos >= 0:
        val |= (v >> np.uint64(shift)) << np.uint64(sign_pos)
    return val.astype(out.dtype)


class Accessor:
    """Single-weight access with reuse of previous select/rank results (Algorithm 1).

    Keeps the last ``cache_rows`` rows' slicing results; ``hits``/``misses`` count row lookups.
    """

    def __init__(self, r: RAS, *, cache_rows: int = 16, window: int = 512) -> None:
        self.ras = r
        self.cache_rows = int(cache_rows)
        self.window = max(1, int(window))
        self._rows: OrderedDict[tuple[int, ...], _Row] = OrderedDict()
        self._wstart = 0
        self._wsym = np.zeros(0, np.uint32)
        self.hits = 0
        self.misses = 0

    def _symbol(self, q: int) -> int:
        off = q - self._wstart
        if not 0 <= off < self._wsym.size:
            r = self.ras
            stop = min(q + self.window, r.n_stream)
            if self._wsym.size < self.window:
                self._wsym = np.empty(self.window, np.uint32)
            self._wstart = q
            r.wm.decode_into(q, stop, self._wsym)
            self._wsym = self._wsym[: stop - q] if stop - q < self.window else self._wsym
            off = 0
        return int(self._wsym[off])

    def access(self, index: Any) -> Any:
        """Same result as :meth:`RAS.access` (the value); cheaper for runs inside one row."""
        return value_of(self.ras.split, self.access_bits(index))

    def access_bits(self, index: Any) -> int:
        """Same result as :meth:`RAS.access_bits` (the bit pattern)."""
        r = self.ras
        key, j = _split(r, _normalize(r, index))
        with stream_errors():
            return self._access(r, key, j)

    def _access(self, r: RAS, key: tuple[int, ...], j: int) -> int:
        row = self._rows.get(key)
        if row is None:
            self.misses += 1
            row = _load_row(r, key)
            self._rows[key] = row
            if len(self._rows) > self.cache_rows:
                self._rows.popitem(last=False)
        else:
            self.hits += 1
            self._rows.move_to_end(key)
        if row.cols is None:
            q, e = row.start + j, row.entry + j
        else:
            k = int(np.searchsorted(row.cols, j))
            if k >= row.cols.size or row.cols[k] != j:
                return 0
            q, e = row.start + k, row.entry + k
        return _value(r, q, e, self._symbol(q))
