"""The :class:`RAS` object: decoding, queries, sizes, serialization (grammar: :mod:`sckit.ras`;
building: :mod:`sckit.ras.encoder`)."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from sckit.errors import FormatError
from sckit.ras import grammar
from sckit.ras import sparse as sp
from sckit.ras.bound_call import BIND_AFTER, next_state, out_ok
from sckit.ras.codebook import MAX_CODEBOOK
from sckit.ras.fields import SPLITS, FieldSplit, n_raw_words, split_for
from sckit.ras.grammar import Layout, make_layout

_TLS = threading.local()


def _scratch() -> np.ndarray:
    """This thread's fused-decoder scratch (``grammar.SCRATCH`` uint16): one allocation per
    thread (decode-ahead threads get their own), not a 16 KB one per call."""
    buf = getattr(_TLS, "scratch", None)
    if buf is None:
        buf = _TLS.scratch = np.empty(grammar.SCRATCH, np.uint16)
    return buf

__all__ = ["DTYPES", "RAS", "from_bytes"]

FORMAT_KIND = "sckit.ras"
FORMAT_VERSION = 1


def _wm_class() -> Any:
    # imported lazily: sckit.succinct pulls in numba kernels
    from sckit.succinct.huffman_wm import HuffmanWaveletMatrix

    return HuffmanWaveletMatrix


def _h0_total(counts: np.ndarray) -> float:
    return sp._h0_bits(counts)


def _counts(a: np.ndarray, minlength: int = 0) -> np.ndarray:
    """``np.bincount`` for unsigned arrays of any width (bincount refuses uint64)."""
    return np.bincount(a.astype(np.intp, copy=False), minlength=minlength).astype(np.int64)


def _counts_of(wm: Any) -> tuple[np.ndarray, np.ndarray]:
    """(distinct symbols, their counts) of a wavelet matrix (from its build's histogram when it
    was built here, else one count query per symbol)."""
    if wm is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return wm.symbol_counts()


def _stream_dtype(sigma: int) -> type:
    return np.uint16 if sigma <= 1 << 16 else np.uint32


class RAS:
    """A tensor's Runtime-Accessible Sequence: symbol stream (+ distances) in wavelet matrices.

    Build with :func:`encode`; see :mod:`sckit.ras` for the grammar. Attributes: ``kind``
    ("block"/"element"), ``sparse`` (bool), ``dtype`` (str), ``shape``, ``n_weights``,
    ``codebook`` (ndarray of bit patterns, or None), ``max_distance`` (sparse only).
    """

    def __init__(self, *, layout: Layout, split: FieldSplit, sparse: bool,
                 codebook: np.ndarray | None, max_distance: int | None, wm: Any, dist_wm: Any,
                 raw: np.ndarray, n_stream: int, n_entries: int,
                 h0_total_bits: float | None = None, delimiter_bits: float | None = None,
                 sign_raw: bool = False) -> None:
        self.layout = layout
        self.split = split
        self.kind = layout.kind
        self.sparse = bool(sparse)
        self.dtype = split.dtype
        self.shape = layout.shape
        self.n_weights = layout.n_weights
        self.codebook = codebook
        self.sign_raw = bool(sign_raw)  # float sign stored raw beside the mantissa (fields.py)
        self.max_distance = max_distance
        self.wm = wm
        self.dist_wm = dist_wm
        self.raw = raw
        self.n_stream = int(n_stream)
        self.n_entries = int(n_entries)
        # order-0 statistics: computed on first use from the matrices' symbol counts unless
        # given (container format 2 and older RAS blobs stored them, ~12 header bytes a tensor)
        self._order0 = (None if h0_total_bits is None or delimiter_bits is None
                        else (float(h0_total_bits), float(delimiter_bits)))
        self._nbytes: int | None = None

    # ------------------------------------------------------------------ sizes
    @property
    def raw_bits(self) -> int:
        """Raw bits stored per entry: mantissa (+ sign when ``sign_raw``); 0 with a codebook."""
        return 0 if self.codebook is not None else self.split.raw_width(self.sign_raw)

    @property
    def _shift_sign(self) -> tuple[int, int]:
        """Kernel field parameters ``(mantissa shift, raw sign position or -1)``."""
        if self.codebook is not None:
            return 0, -1
        return self.split.raw_bits, self.split.sign_pos if self.sign_raw else -1

    def _order0_bits(self) -> tuple[float, float]:
        """``(h0 total bits, delimiter bits)``, in whole bits (the bound rounded up)."""
        if self._order0 is None:
            syms, counts = _counts_of(self.wm)
            h0_stream = _h0_total(counts)
            h0_values = _h0_total(counts[syms < self.layout.alphabet])
            total = h0_stream + self.n_entries * self.raw_bits
            if self.dist_wm is not None:
                total += _h0_total(_counts_of(self.dist_wm)[1])
            if self.codebook is not None:
                total += self.codebook.size * self.split.itemsize * 8
            self._order0 = (float(math.ceil(total)), float(round(h0_stream - h0_values)))
        return self._order0

    @property
    def _h0_total_bits(self) -> float:
        return self._order0_bits()[0]

    @property
    def delimiter_bits(self) -> float:
        """Bits the delimiters add to the order-0 bound: ``n_stream * H0(stream) - n_entries *
        H0(value symbols)``, whole bits."""
        return self._order0_bits()[1]

    @property
    def h0_bits(self) -> float:
        """Order-0 bound of what is encoded, bits per weight: ``(n_stream * H0(symbol stream
        incl. delimiters) + n_entries * raw_bits [+ n_entries * H0(distances)] [+ codebook
        bits]) / n_weights``."""
        return self._h0_total_bits / self.n_weights if self.n_weights else 0.0

    @property
    def nbytes(self) -> int:
        """Exact ``len(self.to_bytes())``."""
        if self._nbytes is None:
            from sckit.succinct import _serial

            meta, arrays = self.to_arrays()
            self._nbytes = _serial.packed_size(FORMAT_KIND, meta, arrays)
        return self._nbytes

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.nbytes / self.n_weights if self.n_weights else 0.0

    def space(self) -> dict[str, int]:
        """Bytes per component; the values sum to :attr:`nbytes`."""
        meta, arrays = self.to_arrays()
        out = {"symbols": 0, "distances": 0, "raw_bits": 0, "codebook": 0}
        for name, a in arrays.items():
            key = {"wm": "symbols", "dist": "distances", "raw": "raw_bits", "codebook": "codebook"}
            out[key[name.split(".")[0]]] += int(a.nbytes)
        out["header"] = self.nbytes - sum(out.values())
        return out

    def __repr__(self) -> str:
        return (f"RAS(kind={self.kind!r}, dtype={self.dtype!r}, shape={self.shape}, "
                f"sparse={self.sparse}, codebook={None if self.codebook is None else self.codebook.size}, "
                f"nbytes={self.nbytes})")

    # ------------------------------------------------------------------ decoding
    def _check_out(self, out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
        dt = self._dense_args()[0]
        if out is None:
            return np.empty(shape, dtype=dt)
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
        if out.shape != tuple(shape) or out.dtype != dt:
            raise ValueError(f"out must be {dt}{tuple(shape)}, got {out.dtype}{out.shape}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("out must be C-contiguous and writeable")
        return out

    def _fit_out(self, out: np.ndarray | None, dt: np.dtype) -> np.ndarray:
        """The array a whole decode fills: a new one, or ``out`` when it fits. A model of
        hundreds of small tensors pays this per tensor, so the common cases take one test;
        anything else goes to ``_check_out``, which raises the error that names the problem."""
        if out is None:
            return np.empty(self.shape, dt)
        if (type(out) is np.ndarray and out.dtype == dt and out.shape == self.shape
                and out.flags.c_contiguous and out.flags.writeable):
            return out
        return self._check_out(out, self.shape)

    def _symbols(self, start: int, stop: int) -> np.ndarray:
        # always uint32 (not the smallest dtype): one numba specialization of the decode kernels
        # per output dtype instead of two; costs ~1 ms per 4M symbols
        buf = np.empty(stop - start, dtype=np.uint32)
        if stop > start:
            self.wm.decode_into(start, stop, buf)
        return buf

    def _entries_before(self, p: int) -> int:
        """Entries (value symbols) before stream position ``p``: ``p`` minus delimiter ranks."""
        lay = self.layout
        return p - sum(self.wm.rank(lay.delimiter(lev), p) for lev in range(lay.n_levels))

    def _fill(self, sym: np.ndarray, base: int, r0: int, r1: int, out_flat: np.ndarray) -> None:
        lay = self.layout
        cb = self.codebook if self.codebook is not None else np.zeros(1, out_flat.dtype)
        use_cb = self.codebook is not None
        raw = self.raw if self.raw.size else np.zeros(2, np.uint64)
        if not self.sparse:
            done = grammar.merge_dense(sym, base, r0, r1, lay.row_len, lay.rps_array(), raw,
                                       *self._shift_sign, cb, use_cb, out_flat)
            if done < 0:
                raise FormatError("RAS: a codebook symbol is out of range (corrupt stream)")
            return
        out_flat[:] = 0
        if base == 0 and sym.size == self.n_stream:
            e0, n_vals = 0, self.n_entries
        else:  # entries = positions minus delimiters (rank) at both ends of the span
            e0 = self._entries_before(base)
            n_vals = self._entries_before(base + sym.size) - e0
            if e0 < 0 or n_vals < 0 or e0 + n_vals > self.n_entries:
                raise FormatError("sparse RAS stream is inconsistent (entries out of range)")
        dist = np.empty(n_vals, dtype=np.uint32)
        if n_vals:
            self.dist_wm.decode_into(e0, e0 + n_vals, dist)
        k = sp.scatter_sparse(sym, dist, e0, lay.alphabet, lay.alphabet + lay.n_levels - 1,
                              lay.n_levels > 0, lay.row_len, raw, *self._shift_sign, cb, use_cb,
                              out_flat)
        if k != n_vals:
            raise FormatError(f"sparse RAS stream is inconsistent ({k} != {n_vals} entries)")

    def _dense_args(self) -> tuple:
        """``(out dtype, fused-decoder arguments or None)``, built once per RAS: decode_rows is
        called per chunk of rows by the engine, so per-call Python work is kept minimal."""
        args = self.__dict__.get("_dense_args_cache")
        if args is None:
            dt = np.dtype(self.split.uint)
            # the fused decoder's scratch is uint16: wider alphabets (int32 halves) go two-pass
            fused_ok = not self.sparse and self.n_stream and self.wm.sigma <= 1 << 16
            kargs = self.wm.decode_kernel_args(0) if fused_ok else None
            fused = None
            if kargs is not None:
                cb = self.codebook if self.codebook is not None else np.zeros(1, dt)
                raw = self.raw if self.raw.size else np.zeros(2, np.uint64)
                from sckit.succinct.huffman_wm import _EAGER_SYMBOLS_PER_NODE

                hw, rdir, *tables, mark, _ = kargs
                packed = grammar.pack_tables(*tables, self.layout.rps_array())
                fused = ((hw, rdir, packed, mark), self.layout.row_len, raw, *self._shift_sign,
                         cb, self.codebook is not None,
                         kargs[4].shape[0] * _EAGER_SYMBOLS_PER_NODE)  # fmt: skip
            args = (dt, fused)
            self.__dict__["_dense_args_cache"] = args
        return args

    def _fill_rows(self, p0: int, p1: int, r0: int, r1: int, out_flat: np.ndarray) -> None:
        """Rows ``[r0, r1)`` into ``out_flat``; ``[p0, p1)`` is their stream range (-1: compute
        it from the shape). Dense streams go through the fused decoder: the symbols never leave
        an L1-sized scratch buffer (measured whole-model 2x faster than symbols-then-merge)."""
        fused = self._dense_args()[1]
        if fused is None:
            lay = self.layout
            if p0 < 0:
                p0, p1 = lay.row_position(r0), lay.row_position(r1 - 1) + lay.row_len
            self._fill(self._symbols(p0, p1), p0, r0, r1, out_flat)
            return
        kargs, row_len, raw, shift, sign, cb, use_cb, eager_min = fused
        # lazy cursors for short ranges over big trees (see huffman_wm._EAGER_SYMBOLS_PER_NODE)
        lazy = eager_min > (r1 - r0) * row_len
        done = grammar.decode_packed(*kargs, lazy, r0, r1, row_len, raw, shift, sign, cb,  # type: ignore[call-arg]
                                     use_cb, _scratch(), out_flat)
        if done < 0:
            raise FormatError("RAS: a codebook symbol is out of range (corrupt stream)")

    def decode(self, out: np.ndarray | None = None) -> np.ndarray:
        """The whole tensor as its integer bit-pattern view (uint32 for float32, ...), shape
        :attr:`shape`. ``out``: a C-contiguous array of that dtype and shape to fill."""
        whole = self.__dict__.get("_whole_call") or self._whole_args()
        fits = out is None
        out = self._fit_out(out, whole[0])
        self._decode_flat(out.reshape(-1), fits or out_ok(out))
        return out

    def _whole_args(self) -> list:
        """``[out dtype, the fused whole-tensor call's arguments or None, entry point state
        (see sckit.ras.bound_call.BIND_AFTER)]``, built once."""
        dt, fused = self._dense_args()
        if fused is not None and self.n_weights:
            kargs, row_len, raw, shift, sign, cb, use_cb, eager_min = fused
            n_rows = self.layout.n_rows
            whole = [dt, (*kargs, eager_min > n_rows * row_len, 0, n_rows, row_len, raw,
                          shift, sign, cb, use_cb), BIND_AFTER]
        else:
            whole = [dt, None, -1]
        self.__dict__["_whole_call"] = whole
        return whole

    def _decode_flat(self, flat: np.ndarray, bound_ok: bool) -> None:
        """The whole tensor into ``flat``: a 1-d C-contiguous writeable array of the bit
        patterns' dtype, checked by the caller (``bound_ok``: also aligned, a base ndarray:
        the bound entry point may take it)."""
        whole = self.__dict__.get("_whole_call") or self._whole_args()
        call, entry = whole[1], whole[2]
        if call is None:
            if self.n_weights:
                self._fill_rows(0, self.n_stream, 0, self.layout.n_rows, flat)
            return
        if bound_ok and type(entry) is not int:
            bad = entry(*call, _scratch(), flat) < 0
        else:
            bad = grammar.decode_packed(*call, _scratch(), flat) < 0  # type: ignore[call-arg]
            if bound_ok and type(entry) is int and entry >= 0:
                whole[2] = next_state(entry, grammar.decode_packed, (*call, _scratch(), flat))
        if bad:
            raise FormatError("RAS: a codebook symbol is out of range (corrupt stream)")

    def decode_rows(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Dim-0 slices ``[start, stop)`` (blocks, for block-wise RAS), decoding only their part
        of the stream: ``select`` on the level-0 delimiter finds the range (paper 5, step 2);
        dense streams compute the same positions from the shape."""
        if not self.shape:
            raise IndexError("decode_rows needs a tensor with at least one dimension")
        n0 = self.shape[0]
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= n0:
            raise IndexError(f"rows [{start}, {stop}) out of range for dim 0 of size {n0}")
        out = self._check_out(out, (stop - start, *self.shape[1:]))
        if start == stop or out.size == 0:
            return out
        lay = self.layout
        if len(self.shape) == 1:  # one row / one block: decode it and cut
            out[:] = self.decode()[start:stop]
            return out
        rpd = lay.rows_per_dim0()
        r0, r1 = start * rpd, stop * rpd
        if self.sparse:  # entry counts vary: find the range with select on the delimiter
            from sckit.ras.access import stream_errors

            d0 = lay.delimiter(0)
            with stream_errors():
                p0 = self.wm.select(d0, start)
                p1 = self.wm.select(d0, stop) if stop < n0 else self.n_stream
        else:  # computed from the shape (same positions as select gives, tested) when needed
            p0 = p1 = -1
        self._fill_rows(p0, p1, r0, r1, out.reshape(-1))
        return out

    def access(self, index: tuple[int, ...] | int) -> Any:
        """One weight's value, without decoding the rest (select-based slicing, B.1): a numpy
        scalar of the tensor's dtype (``np.float32``, ``np.int8``, ...; a Python float for
        bfloat16, which numpy lacks). Bit-exact: NaN payloads and -0.0 come back as stored.
        The raw bit pattern: :meth:`access_bits`."""
        from sckit.ras.access import value_of

        return value_of(self.split, self.access_bits(index))

    def access_bits(self, index: tuple[int, ...] | int) -> int:
        """One weight's integer bit pattern (``uint32`` bits of a float32 as an int, ...)."""
        from sckit.ras.access import access

        return access(self, index)

    def access_many(self, indices: Any) -> np.ndarray:
        """Values of many weights (``indices``: shape (m, ndim)) as an array of the tensor's
        dtype (float32 for bfloat16, exactly); bit patterns: :meth:`access_many_bits`."""
        from sckit.ras.access import values_of

        return values_of(self.split, self.access_many_bits(indices))

    def access_many_bits(self, indices: Any) -> np.ndarray:
        """Bit patterns of many weights in the tensor's unsigned dtype, each level's selects
        and ranks batched over the whole set; see :func:`sckit.ras.access.access_many`."""
        from sckit.ras.access import access_many

        return access_many(self, indices)

    def accessor(self) -> Any:
        """A cached-rank accessor (Algorithm 1) for runs of nearby :meth:`access` calls."""
        from sckit.ras.access import Accessor

        return Accessor(self)

    # ------------------------------------------------------------------ serialization
    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able meta + named arrays (no copies); inverse: :meth:`RAS.from_arrays`."""
        meta: dict[str, Any] = {
            "version": FORMAT_VERSION, "kind": self.kind, "dtype": self.dtype,
            "shape": list(self.shape), "sparse": self.sparse,
            "codebook": self.codebook is not None, "sign_raw": self.sign_raw,
            "max_distance": self.max_distance,
            "n_stream": self.n_stream, "n_entries": self.n_entries,
        }
        arrays: dict[str, np.ndarray] = {}
        for prefix, wm in (("wm", self.wm), ("dist", self.dist_wm)):
            if wm is not None:
                m, a = wm.to_arrays()
                meta[prefix] = m
                arrays.update({f"{prefix}.{k}": v for k, v in a.items()})
        if self.raw.size:
            arrays["raw"] = self.raw
        if self.codebook is not None:
            arrays["codebook"] = self.codebook
        return meta, arrays

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], *,
                    validate: str = "full") -> RAS:
        """Rebuild from :meth:`to_arrays` output without copying (arrays may be memory-mapped).

        Nothing stored is trusted (checks: :mod:`sckit.ras.validate` and the wavelet matrices'
        ``from_arrays``); FormatError names the first inconsistent field. ``validate="full"``
        (default) also recomputes the wavelet matrices' rank directories from their bits;
        ``"fast"`` skips that O(bits / 64) pass, relying on the kernels' index clamps.
        """
        if isinstance(meta, dict) and "layout" in meta:  # not the paper's grammar: see layouts
            from sckit.ras.bytegroup import load_layout

            return load_layout(meta, arrays)
        from sckit.ras import validate as V

        if not isinstance(meta, dict) or not isinstance(arrays, dict):
            raise FormatError("RAS: meta and arrays must be dicts")
        try:
            V.meta_int(meta, "version", FORMAT_VERSION, FORMAT_VERSION)
            if not isinstance(meta.get("dtype"), str) or not isinstance(meta.get("kind"), str):
                raise FormatError("RAS: meta 'dtype' and 'kind' must be strings")
            split = split_for(meta["dtype"])
            has_cb = V.meta_bool(meta, "codebook")
            codebook = np.asarray(arrays["codebook"]) if has_cb else None
            if codebook is not None and (codebook.dtype != np.dtype(split.uint) or codebook.ndim != 1):
                raise FormatError("RAS: codebook has the wrong dtype")
            if codebook is not None and codebook.size > MAX_CODEBOOK:
                raise FormatError(f"RAS: codebook has {codebook.size} entries (at most {MAX_CODEBOOK})")
            sign_raw = V.meta_bool(meta, "sign_raw")
            if sign_raw and (has_cb or not split.has_sign):
                raise FormatError("RAS: sign_raw set for a tensor without a raw float sign")
            alphabet = codebook.size if codebook is not None else split.alphabet(sign_raw)
            layout = make_layout(meta["kind"], V.meta_shape(meta), alphabet)
            n_stream = V.meta_int(meta, "n_stream", 0, V.MAX_WEIGHTS * 2)
            n_entries = V.meta_int(meta, "n_entries", 0, V.MAX_WEIGHTS)
            wm_cls = _wm_class()

            def sub(prefix: str) -> Any:
                if prefix not in meta:
                    return None
                a = {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + ".")}
                return wm_cls.from_arrays(meta[prefix], a, validate=validate)

            wm, dist_wm = sub("wm"), sub("dist")
            raw_bits = 0 if has_cb else split.raw_width(sign_raw)
            raw = np.asarray(arrays["raw"]) if raw_bits and n_entries else np.zeros(0, np.uint64)
            sparse = V.meta_bool(meta, "sparse")
            max_d = meta["max_distance"]
            if sparse:
                max_d = V.meta_int(meta, "max_distance", 0, (1 << 32) - 1)
            # stored by container format 2 and older blobs; absent: computed when asked for
            h0_total_bits = V.meta_float(meta, "h0_total_bits") if "h0_total_bits" in meta else None
            delimiter_bits = V.meta_float(meta, "delimiter_bits") if "delimiter_bits" in meta else None
        except FormatError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"RAS: bad meta or arrays ({type(e).__name__}: {e})") from None
        if (wm is None) != (n_stream == 0) or (wm is not None and len(wm) != n_stream):
            raise FormatError("RAS: symbol stream length does not match the meta")
        if raw.dtype != np.uint64 or raw.ndim != 1 or raw.size != n_raw_words(n_entries, raw_bits):
            raise FormatError("RAS: raw bit array has the wrong size")
        if sparse:
            if (dist_wm is None) != (n_entries == 0) or (
                    dist_wm is not None and len(dist_wm) != n_entries):
                raise FormatError("RAS: distance stream does not match the meta")
        elif n_stream != layout.dense_length() or n_entries != layout.n_weights:
            raise FormatError("RAS: dense stream length does not match the shape")
        V.check_streams(layout, wm, dist_wm, sparse, n_stream, n_entries)
        return cls(layout=layout, split=split, sparse=sparse, codebook=codebook,
                   max_distance=max_d, wm=wm, dist_wm=dist_wm, raw=raw, n_stream=n_stream,
                   n_entries=n_entries, h0_total_bits=h0_total_bits,
                   delimiter_bits=delimiter_bits, sign_raw=sign_raw)

    def to_bytes(self) -> bytes:
        """Self-contained serialization (sckit.succinct._serial layout, kind ``sckit.ras``)."""
        from sckit.succinct import _serial

        meta, arrays = self.to_arrays()
        return _serial.pack(FORMAT_KIND, meta, arrays)

    @classmethod
    def from_bytes(cls, b: bytes | bytearray | memoryview, *, validate: str = "full") -> RAS:
        """Inverse of :meth:`to_bytes`; :class:`~sckit.errors.FormatError` if corrupt
        (``validate``: see :meth:`from_arrays`)."""
        from sckit.succinct import _serial

        meta, arrays = _serial.unpack(b, FORMAT_KIND)
        return cls.from_arrays(meta, arrays, validate=validate)


def from_bytes(b: bytes | bytearray | memoryview, *, validate: str = "full") -> RAS:
    """Load a :class:`RAS` serialized with :meth:`RAS.to_bytes`."""
    return RAS.from_bytes(b, validate=validate)


DTYPES = tuple(sorted(SPLITS))
