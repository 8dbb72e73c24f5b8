"""Byte-grouped RAS: ZipNN's byte grouping with random access kept.

ZipNN (Hershcovitch et al., "ZipNN: Lossless Compression for AI Models", 2024) separates the
exponent byte of each float from its sign and mantissa, entropy-codes the exponents and keeps
the rest raw. This layout does the same per tensor and keeps every query of a
:class:`~sckit.ras.core.RAS` (``decode``, ``decode_rows``, ``access``, ``access_many``):

- *symbols*: the exponent byte (float32, bfloat16; or, where signs follow magnitudes, the sign
  and top 7 exponent bits), the exponent, with or without the top mantissa bits, or the whole
  high byte of float16 (:mod:`sckit.ras.bytegroup_f16`), the codebook index
  (quantized tensors of at most 256 distinct values) or, for codebooks of 257 .. 65,536 entries
  ("wide"), the index's high byte (its low byte is a raw plane), Huffman-coded with one
  canonical, length-limited (16 bits) code per tensor, either one symbol per weight or one per
  *pair* of weights (chosen by exact size, and on tensors of >= 16K weights only where they
  save >= 0.05 bits per weight: pair codes cut Huffman's redundancy on the skewed exponent
  alphabet from ~0.05 to ~0.02 bits per weight but decode 8-20% slower);
- *directory*: the bit offset of every chunk (8192 weights; a quarter of a tensor under 32K
  weights, so four chunks decode side by side), 32 bits each, so a row range or one weight
  decodes from the nearest chunk start, never from the stream start;
- *raw*: the sign and mantissa bytes, stored as they are (float32: a uint16 plane of mantissa
  bits 0-15 and a uint8 plane of sign << 7 | bits 16-22; bfloat16: sign << 7 | mantissa;
  float16: mantissa bits 0-7 and what its form leaves out of the symbol; wide codebook: the
  index's low byte).

A wide codebook exists for tensors of many distinct values (a fixed STFT basis, fine
quantization grids): there the wavelet matrix's Huffman tree is 12-20 levels deep and decodes
at 0.05-0.5 GB/s, while the index's high byte plus a raw low byte decodes at table speed and
costs ~H(high byte) + 8 bits per weight, often less than the tree (Silero VAD's 66K-weight STFT
basis, 10,925 distinct values: 18.7 vs 20.1 bits per weight).

No delimiters are stored: rows are found from the shape, as the dense grammar does. Decoding
(:mod:`sckit.ras.bytegroup_kernels`) uses a multi-symbol table and four chunks at a time.
:func:`sckit.ras.encode` builds this form beside the wavelet-matrix one and keeps the smaller.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from sckit.errors import FormatError
from sckit.ras import bytegroup_alphabet
from sckit.ras import bytegroup_f16 as f16
from sckit.ras import bytegroup_kernels as K
from sckit.ras.bound_call import BIND_AFTER, next_state, out_ok
from sckit.ras.codebook import MAX_CODEBOOK
from sckit.ras.core import RAS
from sckit.ras.fields import FieldSplit

if TYPE_CHECKING:
    from sckit.ras.bytegroup_access import ChunkAccessor

__all__ = ["CHUNK", "LAYOUT", "ByteGroupRAS", "chunk_for", "encode_bytegroup", "supports"]

LAYOUT = "bytegroup"
CHUNK = 8192  # weights per directory entry (even: pairs never straddle chunks)
SPLIT_MIN = 2048  # tensors from this size on are cut into >= 4 chunks (four-stream decoding)


def chunk_for(n: int) -> int:
    """Weights per chunk of an ``n``-weight tensor (a function of ``n`` only, so not stored):
    ``CHUNK``, or for tensors under ``4 * CHUNK`` a quarter of them (even), so the four-stream
    decoder runs on mid-sized tensors too; tensors under ``SPLIT_MIN`` are one chunk."""
    if n >= 4 * CHUNK:
        return CHUNK
    if n < SPLIT_MIN:
        return max(2, n + (n & 1))
    q = -(-n // 4)
    return q + (q & 1)
MAX_CODE_LENGTH = 16
MAX_PAIR_ALPHABET = 64  # pair codes for at most 64 distinct symbols (4096 pair symbols)
# Pair codes decode 8-20% slower than one-symbol codes (a table window holds whole code
# words only, and a pair wastes more of it: bfloat16 N(0, 0.02) 3.4 -> 3.0 G weights/s) for
# ~0.02 bits per weight (0.1-0.2%). From PAIR_MIN_N weights on, where a tensor's decode time is
# its table decoding (not its fixed cost, as in small tensors and pack groups), they are kept
# only when they save at least PAIR_MIN_GAIN bits per weight (tiny alphabets: a 4-level
# codebook saves 0.16)
PAIR_MIN_N = 1 << 14
PAIR_MIN_GAIN = 0.05
# float32 / bfloat16's high-byte form (sign and top 7 exponent bits coded; merge modes
# HIGH_BYTE_MODES) is taken on such tensors where it saves at least this much (see
# bytegroup_encode._high_byte_pays)
HIGH_BYTE_MIN_GAIN = 0.05
HIGH_BYTE_MODES = {"float32": 12, "bfloat16": 7}
BYTE_CODEBOOK = 256  # codebooks up to this size: the index is the symbol; above: "wide"
MAX_WEIGHTS = (1 << 34) - 1
# field modes of the kernels (bytegroup_kernels._merge); 2 = codebook, 3 = wide, 4 / 5 =
# float32 / bfloat16 zero skip, 6 / 7 / 11 and 9 / 10 = float16's forms and zero skips
# (sckit.ras.bytegroup_f16), 12 / 7 = float32 / bfloat16's high byte (HIGH_BYTE_MODES)
_MODES = {"float32": 0, "bfloat16": 1, "float16": 6}
# raw bits per weight of float32 / bfloat16 (float16: bytegroup_f16.RAW_BITS, by form)
_RAW_BITS = {"float32": 24, "bfloat16": 8}


def supports(dtype: str, codebook: np.ndarray | None = None) -> bool:
    """Whether a tensor of ``dtype`` (and optional codebook) can take this layout."""
    if codebook is not None:
        return 1 <= codebook.size <= MAX_CODEBOOK
    return dtype in _MODES


# Code lengths come from 8-bit quantized symbol probabilities, q = round(-16 log2 p), stored
# per symbol: the decoder re-derives the same code, so a pair code (d * d symbols, weighted by
# the product of its halves' probabilities) costs no more table than a one-symbol code. Weights
# are exact integers (a fixed table of 2**(-k/16)), so both sides build the identical code.
_POW16 = np.array([round(2.0 ** (16 - k / 16)) for k in range(16)], np.int64)


_TLS = threading.local()


def _scratch() -> np.ndarray:
    """This thread's decode scratch, large enough for any tensor's whole decode (four chunks;
    decode-ahead threads each get their own): one allocation per thread, not per call."""
    buf = getattr(_TLS, "scratch", None)
    if buf is None:
        buf = _TLS.scratch = np.empty(4 * (CHUNK + K.SLACK), np.uint8)
    return buf


def lut_bits_for(n: int) -> int:
    """First-level decoding table bits for a tensor of ``n`` weights: small tensors get a small
    table (built per tensor); long codes go through the second level."""
    return K.LUT_BITS if n >= 1 << 14 else 9 if n >= 1 << 10 else 6


def code_lengths(q: np.ndarray, pairs: bool) -> np.ndarray:
    """Length-limited Huffman code lengths (uint8) of every symbol (one q each) or every pair
    of symbols (``a * d + b``, weight = product of the halves' probabilities). The encoder's
    (numpy); the loader derives the same lengths with its table in one kernel
    (``bytegroup_kernels.load_tables``)."""
    from sckit.succinct.huffman import huffman_code_lengths

    qq = q.astype(np.int64)
    if pairs:
        qq = (qq[:, None] + qq[None, :]).reshape(-1)  # up to 510: weights stay >= 2**8
    w = (_POW16[qq & 15] << 24) >> (qq >> 4)
    return huffman_code_lengths(w, max_length=MAX_CODE_LENGTH).astype(np.uint8)


def _h0(counts: np.ndarray) -> float:
    c = counts[counts > 0].astype(np.float64)
    return float((c * np.log2(c.sum() / c)).sum()) if c.size else 0.0


def encode_bytegroup(bits: np.ndarray, split: FieldSplit, shape: tuple[int, ...], kind: str,
                     codebook: np.ndarray | None = None, pairs: bool | None = None,
                     zero_skip: bool | None = None, f16_form: str | None = None,
                     high_byte: bool | None = None) -> ByteGroupRAS:
    """Build the byte-grouped form (:func:`sckit.ras.bytegroup_encode.encode`, which says
    what each argument picks)."""
    from sckit.ras.bytegroup_encode import encode

    return encode(bits, split, shape, kind, codebook=codebook, pairs=pairs,
                  zero_skip=zero_skip, f16_form=f16_form, high_byte=high_byte)


def _code_words(total_bits: int) -> int:
    return -(-total_bits // 64)


def _n_words(total_bits: int, plane_nbytes: list[int]) -> int:
    """Words of the one stored array: code bits, then each plane (raw lo, raw hi, codebook)
    padded to 8 bytes. A plane always follows the code, so the decoder's 8-byte reads past
    the last code word stay inside the array (no padding word)."""
    return _code_words(total_bits) + sum(-(-b // 8) for b in plane_nbytes)


class ByteGroupRAS(RAS):
    """A :class:`~sckit.ras.core.RAS` in the byte-grouped layout (see the module docstring):
    same queries and sizes, ``wm`` is None, ``layout_name == "bytegroup"``."""

    layout_name = LAYOUT

    def __init__(self, *, layout: Any, split: FieldSplit, n_codebook: int, pairs: bool,
                 alpha: np.ndarray, q: np.ndarray, lengths: np.ndarray, words: np.ndarray,
                 starts: np.ndarray, total_bits: int, lut: np.ndarray | None = None,
                 raw_at: np.ndarray | None = None, n_raw: int | None = None,
                 f16_form: str | None = None, zero_skip_sub: bool = False,
                 high_byte: bool = False) -> None:
        n = layout.n_weights
        # zero skip: raw bytes only for weights of a non-zero exponent (``raw_at``: each
        # chunk's first raw index; ``n_raw`` raw entries in all)
        zero_skip = raw_at is not None
        nr = n if n_raw is None else n_raw
        # views of the planes inside ``words`` (zero-copy, also for memory-mapped files)
        wb = words.view(np.uint8)
        pos = 8 * _code_words(total_bits)
        planes: list[np.ndarray] = []
        wide = n_codebook > BYTE_CODEBOOK
        specs = ([("uint8", n), (split.uint, n_codebook)] if wide else
                 [(split.uint, n_codebook)] if n_codebook else
                 [("uint16", nr), ("uint8", nr)] if split.dtype == "float32" else
                 [("uint8", b) for b in f16.plane_sizes(nr, f16_form or "sign_plane")]
                 if split.dtype == "float16" else [("uint8", nr)])
        for dt, count in specs:
            nb = np.dtype(dt).itemsize * count
            planes.append(wb[pos:pos + nb].view(dt))
            pos += 8 * -(-nb // 8)
        codebook = planes[-1] if n_codebook else None
        super().__init__(layout=layout, split=split, sparse=False, codebook=codebook,
                         max_distance=None, wm=None, dist_wm=None, raw=np.zeros(0, np.uint64),
                         n_stream=n, n_entries=n, h0_total_bits=0.0, delimiter_bits=0.0,
                         sign_raw=codebook is None and f16_form != "high_byte" and not high_byte)
        # float16's form (sckit.ras.bytegroup_f16), None for other tensors
        is_f16 = split.dtype == "float16" and not n_codebook
        self.f16_form = (f16_form or "sign_plane") if is_f16 else None
        self.pairs = bool(pairs)
        self.alpha = alpha
        self.q = q
        self.lengths = lengths
        self.words = words
        self.starts = starts
        self.total_bits = int(total_bits)
        self.wide = wide
        self.lo = None if n_codebook and not wide else planes[0]  # wide: the indices' low bytes
        self.hi = planes[1] if len(planes) > 1 and not wide else None
        # float32 / bfloat16's high-byte form (sign and top 7 exponent bits are the symbol)
        self.high_byte = bool(high_byte) and not is_f16 and not n_codebook
        self._mode = (3 if wide else 2 if codebook is not None
                      else HIGH_BYTE_MODES[split.dtype] if self.high_byte
                      else _MODES[split.dtype] + (4 if zero_skip else 0) if not self.f16_form
                      else f16.MODES[self.f16_form] if not zero_skip
                      else f16.ZERO_SKIP_SUB_MODE if zero_skip_sub else f16.ZERO_SKIP_MODE)
        self.zero_skip = zero_skip
        # float16's zero skip with positive subnormals under bytegroup_f16.SUB_SYMBOL
        self.zero_skip_sub = bool(zero_skip_sub)
        self.n_raw = nr
        self.raw_at = (raw_at if raw_at is not None else np.zeros(1, np.int64)).astype(np.int64)
        self._dt = np.dtype(split.uint)
        self.chunk = chunk_for(n)
        self._h0: float | None = None
        self._kernel_args: tuple | None = None
        self._whole: tuple | None = None
        # decode_range's entry point state (see sckit.ras.bound_call.BIND_AFTER)
        self._entry: Any = BIND_AFTER
        self._lut = lut  # the decoding table, when the loader built it with the lengths

    def __repr__(self) -> str:
        return (f"ByteGroupRAS(kind={self.kind!r}, dtype={self.dtype!r}, shape={self.shape}, "
                f"pairs={self.pairs}, codebook={None if self.codebook is None else self.codebook.size}, "
                f"nbytes={self.nbytes})")

    @property
    def h0_bits(self) -> float:
        """Order-0 bound per weight of what is encoded: H0 of the exponent bytes (codebook
        indices) + raw bits [+ codebook bits]; computed from a decode after loading."""
        if self._h0 is None:
            sym = self.decode().reshape(-1)
            if self.codebook is not None:
                sym = np.searchsorted(self.codebook, sym) >> (8 if self.wide else 0)
            elif self.f16_form:
                sym = f16.symbols(sym, self.f16_form)
            elif self.high_byte:
                sym = sym >> (24 if self.dtype == "float32" else 8)
            else:
                sign = 1 << (31 if self.dtype == "float32" else 15)
                neg_zero = sym == sign
                sym = (sym >> (23 if self.dtype == "float32" else 7)) & 0xFF
                if self.zero_skip:  # -0.0 is a symbol of its own there
                    sym[neg_zero] = 255
            extra = (self.n_raw * self.raw_bits if self.codebook is None
                     else self.codebook.size * self.split.itemsize * 8
                     + (8 * self.n_weights if self.wide else 0))
            self._h0 = _h0(np.bincount(sym.astype(np.intp), minlength=256)) + extra
        return self._h0 / self.n_weights

    @property
    def raw_bits(self) -> int:
        """Raw bits stored per weight (see ``_RAW_BITS``); 0 with a codebook, as for
        :class:`RAS` (a wide codebook's raw low bytes are part of its index)."""
        if self.codebook is not None:
            return 0
        return f16.RAW_BITS[self.f16_form] if self.f16_form else _RAW_BITS[self.dtype]

    # ------------------------------------------------------------------ decoding
    def _args(self) -> tuple:
        """Kernel arguments, the decoding table built once (tens of microseconds)."""
        if self._kernel_args is None:
            lut_bits = lut_bits_for(self.n_weights)
            lut = self._lut
            if lut is None:  # built here when the encoder made this RAS
                d = self.alpha.size
                if self.pairs:
                    out_bytes = np.stack([np.repeat(self.alpha, d), np.tile(self.alpha, d)], 1)
                    out_bytes = np.ascontiguousarray(out_bytes.reshape(-1))
                else:
                    out_bytes = np.ascontiguousarray(self.alpha)
                lut = K.build_lut(self.lengths, K.canonical_codes(self.lengths), out_bytes,
                                  2 if self.pairs else 1, lut_bits)
            dt = np.dtype(self.split.uint)
            # 256 entries: a symbol byte always indexes it (a corrupt stream can only name
            # the unused sibling of a one-entry codebook, which decodes as 0 bits); wide: up
            # to the last high byte's 256 indices, so any stored low byte indexes it too (a
            # forged one past the codebook decodes as 0 bits)
            n_cb = 0 if self.codebook is None else self.codebook.size
            cb = np.zeros(max(256 * (int(self.alpha[-1]) + 1), n_cb) if self.wide else 256, dt)
            if self.codebook is not None:
                cb[: self.codebook.size] = self.codebook
            # a codebook tensor reads no raw plane: its stand-in takes the dtype the float
            # tensors of the same model pass, so numba compiles one signature, not two
            # (~1 s of a fresh install's first compress)
            # (wide: the low bytes go in as ``hi``, the uint8 plane every signature has)
            lo = self.lo if self.lo is not None and not self.wide else np.zeros(
                1, np.uint16 if self.split.dtype == "float32" else np.uint8)
            hi = (self.lo if self.wide else self.hi if self.hi is not None
                  else np.zeros(1, np.uint8))
            starts = self.starts.astype(np.int64)
            self._kernel_args = (self.words.view(np.uint8), starts, self.total_bits, lut,
                                 lut_bits, lo, hi, cb, self.raw_at)
        return self._kernel_args

    def _dense_args(self) -> tuple:
        return np.dtype(self.split.uint), None

    def _range(self, e0: int, e1: int, out_flat: np.ndarray) -> None:
        wb, starts, total, lut, lut_bits, lo, hi, cb, raw_at = self._args()
        # this thread's scratch (decode-ahead threads may share a RAS), four chunks long: a
        # range over two or three chunks may take the four-stream path too
        ok = K.decode_range(wb, starts, total, self.chunk, self.n_weights, self.pairs, lut,
                            lut_bits, self._mode, lo, hi, cb, raw_at, e0, e1, out_flat,
                            _scratch())
        if not ok:
            raise FormatError("RAS (bytegroup): the code stream does not match its directory "
                              "(corrupt stream)")

    def decode(self, out: np.ndarray | None = None) -> np.ndarray:
        """The whole tensor as its integer bit patterns (see :meth:`RAS.decode`); the common
        case (no ``out`` or a fitting one) skips the generic checks: a few microseconds per
        call matter for models of hundreds of small tensors."""
        if out is None:  # a new 1-d array, shaped after (0.1-0.2 of ~2.7 us per small tensor)
            flat = np.empty(self.n_weights, self._dt)
            self._decode_flat(flat, True)
            # (a 1-d tensor, most small ones: biases, norms, needs no reshape, another ~0.15 us)
            return flat if len(self.shape) == 1 else flat.reshape(self.shape)
        out = self._fit_out(out, self._dt)
        self._decode_flat(out.reshape(-1), out_ok(out))
        return out

    def _decode_flat(self, flat: np.ndarray, bound_ok: bool) -> None:
        """See :meth:`RAS._decode_flat`."""
        whole = self._whole
        if whole is None:  # the whole-tensor call's arguments, built once
            if not self.n_weights:
                return
            wb, starts, total, lut, lut_bits, lo, hi, cb, raw_at = self._args()
            n = self.n_weights
            whole = self._whole = (wb, starts, total, self.chunk, n, self.pairs, lut, lut_bits,
                                   self._mode, lo, hi, cb, raw_at, 0, n)
        # (a wrapper kernel taking the scalars as one array dispatched 0.1 us faster and cost
        # 0.5 s more of the first compress's compile: not taken; the bound entry point below
        # skips the dispatch's typing instead)
        entry = self._entry
        if bound_ok and type(entry) is not int:
            ok = entry(*whole, flat, _scratch())
        else:
            ok = K.decode_range(*whole, flat, _scratch())  # type: ignore[call-arg]
            if bound_ok and type(entry) is int and entry >= 0:
                self._entry = next_state(entry, K.decode_range, (*whole, flat, _scratch()))
        if not ok:
            raise FormatError("RAS (bytegroup): the code stream does not match its directory "
                              "(corrupt stream)")

    def _fill_rows(self, p0: int, p1: int, r0: int, r1: int, out_flat: np.ndarray) -> None:
        rl = self.layout.row_len
        self._range(r0 * rl, r1 * rl, out_flat)

    def _flat(self, idx: tuple[int, ...]) -> int:
        return int(np.ravel_multi_index(idx, self.shape)) if idx else 0

    def access_bits(self, index: tuple[int, ...] | int) -> int:
        """One weight's bit pattern: its chunk is decoded (at most ``CHUNK`` symbols);
        :meth:`access` (inherited) gives the value."""
        from sckit.ras.access import _normalize

        i = self._flat(_normalize(self, index))
        out = np.empty(1, np.dtype(self.split.uint))
        self._range(i, i + 1, out)
        return int(out[0])

    def access_many_bits(self, indices: Any) -> np.ndarray:
        """Bit patterns of many weights: each chunk they touch is decoded once."""
        from sckit.ras.access import _indices

        a = _indices(self, indices)
        flat = (np.ravel_multi_index(tuple(a.T), self.shape) if a.shape[1] else
                np.zeros(a.shape[0], np.int64)).astype(np.int64)
        out = np.empty(flat.size, np.dtype(self.split.uint))
        if not flat.size:
            return out
        ch = self.chunk
        buf = np.empty(ch, out.dtype)
        chunk_of = flat // ch
        for c in np.unique(chunk_of):
            e0 = int(c) * ch
            e1 = min(self.n_weights, e0 + ch)
            self._range(e0, e1, buf[: e1 - e0])
            sel = chunk_of == c
            out[sel] = buf[flat[sel] - e0]
        return out

    def accessor(self) -> ChunkAccessor:
        """Access with the last decoded chunk kept (Algorithm 1's reuse of nearby work)."""
        from sckit.ras.bytegroup_access import ChunkAccessor

        return ChunkAccessor(self)

    # ------------------------------------------------------------------ sizes, serialization
    def space(self) -> dict[str, int]:
        meta, arrays = self.to_arrays()
        code = 8 * _code_words(self.total_bits)
        planes = self.words.nbytes - code
        cb = 0 if self.codebook is None else 8 * -(-self.codebook.nbytes // 8)
        out = {"symbols": code + sum(int(a.nbytes) for k, a in arrays.items() if k != "words"),
               "distances": 0, "raw_bits": planes - cb, "codebook": cb}
        out["header"] = self.nbytes - sum(out.values())
        return out

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Meta (no float: the order-0 bound is recomputed when asked) + three arrays: the code
        words followed by the raw / codebook planes, chunk offsets, symbols and their q."""
        version, stored_alpha = bytegroup_alphabet.store(self.alpha)
        meta: dict[str, Any] = {
            "version": version, "layout": LAYOUT, "kind": self.kind, "dtype": self.dtype,
            "shape": list(self.shape), "codebook": self.codebook is not None,
            "pairs": self.pairs, "total_bits": self.total_bits,
        }
        # the alphabet (sckit.ras.bytegroup_alphabet, its form = the meta version), the q of
        # each symbol, and (codebook form) the codebook size - 1 as a last byte; a wide
        # codebook's size is a meta int instead
        tail = ([np.array([self.codebook.size - 1], np.uint8)]
                if self.codebook is not None and not self.wide else [])
        if self.wide and self.codebook is not None:
            meta["codebook_entries"] = int(self.codebook.size)
        if self.zero_skip:
            meta["zero_skip_raw"] = int(self.n_raw)
        if self.zero_skip_sub:
            meta["zero_skip_sub"] = True
        if self.f16_form and self.f16_form != "sign_plane":
            meta["f16_form"] = self.f16_form
        if self.high_byte:
            meta["form"] = "high_byte"
        arrays: dict[str, np.ndarray] = {"words": self.words,
                                         "symbols": np.concatenate([stored_alpha, self.q, *tail])}
        if self.starts.size > 1:  # the first chunk starts at bit 0
            sel_dt = np.uint32 if self.total_bits < 1 << 32 else np.uint64
            arrays["sel"] = self.starts[1:].astype(sel_dt)
            if self.zero_skip:  # (the first chunk's raw entries start at 0)
                arrays["raw_at"] = self.raw_at[1:].astype(
                    np.uint32 if self.n_raw < 1 << 32 else np.uint64)
        return meta, arrays

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], **_: Any
                    ) -> ByteGroupRAS:
        """Rebuild from :meth:`to_arrays` output, checking every field the decoder relies on
        (FormatError naming it): the kernels then never read outside the arrays."""
        from sckit.ras.bytegroup_load import load

        return load(meta, arrays)


def load_layout(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RAS:
    """``RAS.from_arrays`` for a meta that names a ``layout``: the byte-grouped form, or a
    FormatError naming an unknown layout."""
    from sckit.ras.bytegroup_load import load

    if meta.get("layout") != LAYOUT:
        raise FormatError(f"RAS: unknown layout {meta.get('layout')!r} (known: {LAYOUT!r})")
    return load(meta, arrays)
