"""Field split of weight bit patterns: a high *symbol* field and a low *raw* field.

Each weight's integer bit pattern ``x`` (never a float: everything here works on integer views,
which is why NaN payloads, -0.0, infinities and denormals round-trip for free) is split into

- ``symbol = x >> raw_bits`` (sign + exponent for floats), entropy-coded in a Huffman-shaped
  wavelet matrix, and
- ``raw = x & (2**raw_bits - 1)`` (the mantissa), stored verbatim in a packed bit array.

Mantissas of trained weights are close to uniformly distributed, so entropy coding them gains
almost nothing while the exponent carries nearly all the redundancy; this is the observation
behind ZipNN (Hershcovitch et al. 2024) and DFloat11 (Zhang et al. 2025).

Sign: for IEEE floats the sign may instead be stored raw, on top of the mantissa (raw field =
``sign << raw_bits | mantissa``, symbol = exponent only). The sign of weights is close to a fair
coin, so entropy coding it gains nothing and costs the wavelet matrix's Huffman redundancy and
rank/select directory overhead on one more bit; DFloat11 likewise Huffman-codes only the
exponent. ``encode`` picks per tensor whichever the estimate says is smaller.

Both cases decode with one formula (``v`` = the raw field, ``m`` = mantissa width, ``s`` = sign
position; ``v >> m`` is 0 when the sign is in the symbol)::

    x = symbol << m | (v & (2**m - 1)) | (v >> m) << s

Packed raw bits: entry ``e`` occupies bits ``[e * raw_bits, (e + 1) * raw_bits)`` of a
``uint64`` word array, LSB-first (bit ``i`` is ``(words[i >> 6] >> (i & 63)) & 1``), plus one
zero padding word so that a two-word read at the last entry never leaves the array.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

__all__ = [
    "FieldSplit", "SPLITS", "as_bit_view", "as_numpy", "n_raw_words", "reader_at",
    "read_next", "split_for",
]


@dataclass(frozen=True)
class FieldSplit:
    """How one dtype's bit pattern is cut: ``symbol_bits`` high bits, ``raw_bits`` low bits."""

    dtype: str  # logical dtype name ("float32", "bfloat16", "int8", ...)
    uint: str  # numpy unsigned view dtype of the bit pattern ("uint32", ...)
    symbol_bits: int
    raw_bits: int  # the low field (mantissa); the symbol is ``x >> raw_bits``
    has_sign: bool = False  # IEEE float: the top bit is a sign that may be stored raw instead

    @property
    def sign_pos(self) -> int:
        """Bit position of the sign (``8 * itemsize - 1``); -1 for integer types."""
        return 8 * self.itemsize - 1 if self.has_sign else -1

    @property
    def itemsize(self) -> int:
        return np.dtype(self.uint).itemsize

    def alphabet(self, sign_raw: bool = False) -> int:
        """Number of distinct value symbols (delimiters are numbered from here on)."""
        return 1 << (self.symbol_bits - int(sign_raw))

    def raw_width(self, sign_raw: bool = False) -> int:
        """Raw bits stored per entry: the mantissa, plus the sign when it is stored raw."""
        return self.raw_bits + int(sign_raw)


# float: symbol = sign + exponent, raw = mantissa (IEEE 754 layouts; bfloat16 = float32's top half).
# 32-bit integers: 16 + 16 so the symbol alphabet stays small enough for the wavelet matrix;
# quantized int32 layers normally take the codebook path instead.
SPLITS: dict[str, FieldSplit] = {
    s.dtype: s
    for s in (
        FieldSplit("float32", "uint32", 9, 23, True),
        FieldSplit("float16", "uint16", 6, 10, True),
        FieldSplit("bfloat16", "uint16", 9, 7, True),
        FieldSplit("float64", "uint64", 12, 52, True),
        FieldSplit("int8", "uint8", 8, 0),
        FieldSplit("uint8", "uint8", 8, 0),
        FieldSplit("int16", "uint16", 16, 0),
        FieldSplit("uint16", "uint16", 16, 0),
        FieldSplit("int32", "uint32", 16, 16),
        FieldSplit("uint32", "uint32", 16, 16),
    )
}


def split_for(dtype: str) -> FieldSplit:
    """The :class:`FieldSplit` of a dtype name; ``ValueError`` naming the supported ones."""
    try:
        return SPLITS[dtype]
    except KeyError:
        raise ValueError(
            f"unsupported dtype {dtype!r}; supported: {', '.join(sorted(SPLITS))}"
        ) from None


def as_bit_view(values: object, dtype: str | None) -> tuple[np.ndarray, FieldSplit]:
    """Validate ``values`` and return its unsigned integer bit-pattern view (C order) + split.

    ``dtype=None`` takes the array's own dtype. ``dtype`` may name a type numpy lacks
    ("bfloat16") or re-interpret an integer view (``uint32`` bits with ``dtype="float32"``);
    the item sizes must agree.
    """
    if not isinstance(values, np.ndarray):
        values, native = as_numpy(values)
        if dtype is None:
            dtype = native
    if values.dtype.kind not in "uif" or values.dtype.byteorder == ">":
        raise TypeError(f"values must be a native-endian int/uint/float array, got {values.dtype}")
    if dtype is None:
        split = split_for(values.dtype.name)
    else:
        if not isinstance(dtype, str):
            raise TypeError(f"dtype must be a str name like 'float32', got {type(dtype).__name__}")
        split = split_for(dtype)
        if values.dtype.itemsize != split.itemsize:
            raise ValueError(
                f"dtype={dtype!r} needs {split.itemsize}-byte items, got a {values.dtype} array"
            )
    bits = np.ascontiguousarray(values).view(split.uint)
    return bits, split


def as_numpy(values: object) -> tuple[np.ndarray, str | None]:
    """A numpy view (or CPU copy) of an array-like tensor, and its logical dtype name when numpy
    has no such dtype (``"bfloat16"``; the array then holds the uint16 bit patterns).

    Duck-typed, so the core never imports torch: anything with ``detach``/``cpu``/``numpy``
    (torch tensors, on any device, with or without grad), ``__dlpack__`` or ``__array__``.
    Lists and other Python objects are refused: a weight tensor is an array, not a guess.
    """
    v: Any = values
    if hasattr(v, "detach"):
        v = v.detach()
    dt = str(getattr(v, "dtype", ""))
    if hasattr(v, "cpu") and hasattr(v, "numpy"):  # torch: copy to host memory if needed
        v = v.cpu()
        if dt.endswith("bfloat16"):  # numpy has no bfloat16: hand over the bit patterns
            mod = sys.modules.get(type(v).__module__.split(".")[0])
            if mod is not None and hasattr(mod, "int16"):
                return np.ascontiguousarray(v.contiguous().view(mod.int16).numpy()).view(np.uint16), "bfloat16"
        return np.asarray(v.numpy()), None
    if hasattr(v, "__array__"):
        return np.asarray(v), None
    if hasattr(v, "__dlpack__"):
        return np.from_dlpack(v), None
    raise TypeError(
        f"values must be a numpy array or an array-like tensor (torch, ...), got {type(values).__name__}"
    )


@njit(cache=True, nogil=True, inline="always")
def split_params(shift: np.int64, sign_pos: np.int64) -> tuple:
    """Kernel constants ``(raw width, mantissa mask, symbol mask, sign shift, sign flag)`` for a
    mantissa of ``shift`` bits and a raw sign at ``sign_pos`` (-1: sign inside the symbol)."""
    mmask = (np.uint64(1) << np.uint64(shift)) - np.uint64(1)
    if sign_pos >= 0:
        smask = (np.uint64(1) << np.uint64(sign_pos - shift)) - np.uint64(1)
        return shift + 1, mmask, smask, np.uint64(sign_pos), np.uint64(1)
    return shift, mmask, ~np.uint64(0), np.uint64(0), np.uint64(0)


def n_raw_words(n_entries: int, raw_bits: int) -> int:
    """Length of the packed raw array: ceil(n * raw_bits / 64) words + 1 padding word."""
    if raw_bits == 0 or n_entries == 0:
        return 0
    return (n_entries * raw_bits + 63) // 64 + 1


# Sequential access: decoding and encoding walk the entries in order, so a 64-bit accumulator
# beats a random-access two-word read per entry (measured 12.8 vs 24.5 ms, 4M float32 mantissas).


@njit(cache=True, nogil=True, inline="always")
def reader_at(words: np.ndarray, e: np.int64, raw_bits: np.int64) -> tuple:
    """Reader state ``(word index, current word shifted, bits left in it)`` at entry ``e``."""
    bit = e * raw_bits
    w = bit >> 6
    o = bit & 63
    return w, words[w] >> np.uint64(o), 64 - o


@njit(cache=True, nogil=True, inline="always")
def read_next(words: np.ndarray, w: np.int64, cur: np.uint64, avail: np.int64,
              raw_bits: np.int64, mask: np.uint64) -> tuple:
    """Next raw field: ``(value, w, cur, avail)``."""
    if avail >= raw_bits:
        return cur & mask, w, cur >> np.uint64(raw_bits), avail - raw_bits
    w += 1
    nxt = words[w]
    v = (cur | (nxt << np.uint64(avail))) & mask
    return v, w, nxt >> np.uint64(raw_bits - avail), 64 - (raw_bits - avail)

# (Writers inline their 64-bit accumulator: the same code as a helper returning a tuple ran 6x
# slower in numba 0.68, measured 55 vs 8 ms for 4M float32 mantissas.)
