"""Shared binary format for succinct structures and RAS tensors: a compact header + named arrays.

Every serialized structure used to carry a ~600-byte JSON header; for the small tensors of a
pruned and quantized network that header was a large part of the file. This format (version 2)
spends a few dozen bytes instead. Layout (integers little-endian, ``uvarint`` = unsigned LEB128)::

    0   magic     b"SK"
    2   version   uint8 (= 2)
    3   flags     uint8 (= 0, reserved)
    4   crc32     uint32: zlib.crc32 of every byte from offset 8 to the end
    8   kind      value (see below; a known kind costs one byte)
        meta      value (normally a dict)
        n_arrays  uvarint
        table     per array: name (string value), one byte ``dtype code | ndim << 4``,
                  ``ndim`` uvarint dimensions
        zero padding to a multiple of 8
        data      the arrays' bytes, C order, back to back, ordered by decreasing alignment
                  (8-byte dtypes first, then 4, 2, 1; stable), so each array is naturally
                  aligned with no padding between arrays; offsets are implied by the table

The total length is implied by the table and must match the input exactly, so truncation or
trailing bytes are detected before the checksum; one CRC32 covers header, table and data.

Values (the meta) are a compact binary JSON: one tag byte, then

    0x00-0x7f  the integer 0..127            0x88  string: uvarint length + UTF-8
    0x80 None, 0x81 False, 0x82 True          0x89  list: uvarint count + values
    0x83  integer >= 128: uvarint              0x8a  dict: uvarint count + (key, value) pairs
    0x84  negative integer: uvarint(-x - 1)    0x8b  schema dict: schema id byte, count byte,
    0x85  float64, 0x86 float32 (exact)              then the values of ``SCHEMAS[id][:count]``
    0x87  integral float: zigzag uvarint       0x90-0xff  ``STRINGS[tag - 0x90]``

``STRINGS`` and ``SCHEMAS`` are part of the format: append only, never reorder.
``packed_size`` gives the exact length without building the bytes, so a structure's ``nbytes``
can equal ``len(to_bytes())``. ``unpack`` returns read-only zero-copy views into the buffer and
raises :class:`sckit.errors.FormatError` for anything malformed.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any

import numpy as np

from sckit.errors import FormatError

__all__ = [
    "MAGIC", "check_arrays", "header_size", "meta_int", "pack", "packed_size", "readonly", "unpack",
]

MAGIC = b"SK"
VERSION = 2
_FIXED = struct.Struct("<2sBBI")  # magic, version, flags, crc32: 8 bytes

# Common strings (kinds, meta keys and values, array names) cost one byte. Append only.
STRINGS: tuple[str, ...] = (
    "BitVector", "WaveletMatrix", "HuffmanWaveletMatrix", "sckit.ras",
    # meta keys and values
    "n", "n_bits", "sigma", "levels", "max_code_length", "symbols_as", "values", "bitmap",
    "version", "kind", "dtype", "shape", "sparse", "codebook", "sign_raw", "max_distance",
    "n_stream", "n_entries", "h0_total_bits", "delimiter_bits", "wm", "dist", "block", "element",
    "float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "uint16", "int32",
    "uint32", "int64", "uint64",
    # array names
    "words", "rank_dir", "sel1", "sel0", "bits", "zeros", "sel", "sel_off", "symbols", "lengths",
    "level_sizes", "raw",
    "wm.words", "wm.rank_dir", "wm.sel1", "wm.sel0", "wm.symbols", "wm.lengths", "wm.level_sizes",
    "dist.words", "dist.rank_dir", "dist.sel1", "dist.sel0", "dist.symbols", "dist.lengths",
    "dist.level_sizes",
    # byte-grouped RAS (sckit.ras.bytegroup)
    "layout", "bytegroup", "pairs", "total_bits",
)  # fmt: skip
# Key sequences of the structures' meta dicts: a dict whose keys are a prefix of one of these
# (in order) is written as its values only. Append only.
SCHEMAS: tuple[tuple[str, ...], ...] = (
    ("version", "kind", "dtype", "shape", "sparse", "codebook", "sign_raw", "max_distance",
     "n_stream", "n_entries", "h0_total_bits", "delimiter_bits", "wm", "dist"),  # RAS
    ("n", "sigma", "max_code_length", "n_bits", "symbols_as"),  # HuffmanWaveletMatrix
    ("n", "sigma", "levels"),  # WaveletMatrix
    ("n_bits",),  # BitVector
    ("version", "layout", "kind", "dtype", "shape", "codebook", "pairs", "total_bits",
     "h0_total_bits"),  # byte-grouped RAS
)  # fmt: skip
# dtype codes (low 4 bits of the table byte). Append only.
DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(d).newbyteorder("<")
    for d in ("?", "u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8")
)

_STR_ID = {s: i for i, s in enumerate(STRINGS)}
_DT_ID = {d: i for i, d in enumerate(DTYPES)}
_STR0, _SMALL = 0x90, 0x80
assert len(STRINGS) <= 0x100 - _STR0 and len(SCHEMAS) < 256


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (``a`` itself if already read-only).

    Structures keep their arrays read-only so numba compiles each kernel once: arrays from
    ``from_bytes`` / memory maps are read-only, and numba specializes on the flag.
    """
    if not a.flags.writeable:
        return a
    v = a.view()
    v.flags.writeable = False
    return v


# -- writing -------------------------------------------------------------------------------------
def _uvarint(x: int, out: bytearray) -> None:
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)


def _enc_str(s: str, out: bytearray) -> None:
    i = _STR_ID.get(s)
    if i is not None:
        out.append(_STR0 + i)
    else:
        b = s.encode()
        out.append(0x88)
        _uvarint(len(b), out)
        out += b


def _enc(v: Any, out: bytearray) -> None:
    """Append the encoding of the JSON-able value ``v``; TypeError for anything else."""
    if v is None:
        out.append(0x80)
    elif isinstance(v, (bool, np.bool_)):
        out.append(0x82 if v else 0x81)
    elif isinstance(v, (int, np.integer)):
        v = int(v)
        if 0 <= v < _SMALL:
            out.append(v)
        else:
            out.append(0x83 if v >= 0 else 0x84)
            _uvarint(v if v >= 0 else -v - 1, out)
    elif isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            raise TypeError(f"meta float {v} is not JSON-able")
        if v.is_integer() and abs(v) < 2**53 and math.copysign(1.0, v) > 0:
            out.append(0x87)
            i = int(v)
            _uvarint(2 * i if i >= 0 else -2 * i - 1, out)
        elif abs(v) < 3e38 and float(np.float32(v)) == v:
            out.append(0x86)
            out += struct.pack("<f", v)
        else:
            out.append(0x85)
            out += struct.pack("<d", v)
    elif isinstance(v, str):
        _enc_str(v, out)
    elif isinstance(v, (list, tuple)):
        out.append(0x89)
        _uvarint(len(v), out)
        for x in v:
            _enc(x, out)
    elif isinstance(v, dict):
        keys = tuple(v)
        if not all(isinstance(k, str) for k in keys):
            raise TypeError("meta dict keys must be strings")
        for sid, schema in enumerate(SCHEMAS):
            if keys and schema[: len(keys)] == keys:
                out += bytes((0x8B, sid, len(keys)))
                break
        else:
            out.append(0x8A)
            _uvarint(len(keys), out)
            for k in keys:
                _enc_str(k, out)
                _enc(v[k], out)
            return
        for k in keys:
            _enc(v[k], out)
    else:
        raise TypeError(f"meta value of type {type(v).__name__} is not JSON-able")


def _align(dt: np.dtype) -> int:
    return min(dt.itemsize, 8)


def _layout(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[bytearray, int]:
    """``(header bytes incl. padding to 8, data length)``."""
    out = bytearray(_FIXED.size)
    _enc_str(kind, out)
    _enc(meta, out)
    _uvarint(len(arrays), out)
    data_len = 0
    for name, a in arrays.items():
        a = np.asarray(a)
        code = _DT_ID.get(a.dtype.newbyteorder("<"))
        if code is None:
            raise TypeError(f"array {name!r}: dtype {a.dtype} cannot be serialized")
        if a.ndim > 15:
            raise ValueError(f"array {name!r} has {a.ndim} dimensions (at most 15)")
        _enc_str(name, out)
        out.append(code | a.ndim << 4)
        for d in a.shape:
            _uvarint(d, out)
        data_len += a.nbytes
    out += bytes(-len(out) % 8)
    return out, data_len


def packed_size(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> int:
    """Exact ``len(pack(kind, meta, arrays))``. O(number of arrays + size of meta)."""
    header, data_len = _layout(kind, meta, arrays)
    return len(header) + data_len


def header_size(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> int:
    """Bytes spent on everything except the arrays' own bytes (header, table, padding)."""
    return len(_layout(kind, meta, arrays)[0])


def _data_order(dtypes: list[np.dtype]) -> list[int]:
    # decreasing alignment, stable: every array lands naturally aligned with no gaps
    return sorted(range(len(dtypes)), key=lambda i: -_align(dtypes[i]))


def pack(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Serialize JSON-able ``meta`` and named numpy ``arrays`` under a ``kind`` tag."""
    header, data_len = _layout(kind, meta, arrays)
    vals = [np.asarray(a) for a in arrays.values()]
    buf = bytearray(len(header) + data_len)
    buf[: len(header)] = header
    off = len(header)
    for i in _data_order([a.dtype for a in vals]):
        a = vals[i]
        if a.nbytes:
            le = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False)
            buf[off : off + a.nbytes] = le.reshape(-1).view(np.uint8).data
        off += a.nbytes
    crc = zlib.crc32(memoryview(buf)[_FIXED.size :])
    _FIXED.pack_into(buf, 0, MAGIC, VERSION, 0, crc)
    return bytes(buf)


# -- reading -------------------------------------------------------------------------------------
class _Reader:
    """Cursor over the header bytes; every malformed read raises FormatError."""

    def __init__(self, mv: memoryview, pos: int, kind: str) -> None:
        self.mv, self.pos, self.kind = mv, pos, kind

    def fail(self, what: str) -> FormatError:
        return FormatError(f"{self.kind}: {what}")

    def byte(self) -> int:
        if self.pos >= len(self.mv):
            raise self.fail("truncated header")
        b = self.mv[self.pos]
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.mv):
            raise self.fail("truncated header")
        b = bytes(self.mv[self.pos : self.pos + n])
        self.pos += n
        return b

    def uvarint(self) -> int:
        x = shift = 0
        while True:
            b = self.byte()
            x |= (b & 0x7F) << shift
            if not b & 0x80:
                return x
            shift += 7
            if shift > 63:
                raise self.fail("overlong integer in header")

    def string(self) -> str:
        v = self.value(0)
        if not isinstance(v, str):
            raise self.fail(f"expected a string in the header, got {type(v).__name__}")
        return v

    def value(self, depth: int) -> Any:
        if depth > 32:
            raise self.fail("header nested too deeply")
        t = self.byte()
        if t < _SMALL:
            return t
        if t >= _STR0:
            if t - _STR0 >= len(STRINGS):
                raise self.fail(f"unknown string id {t - _STR0}")
            return STRINGS[t - _STR0]
        if t <= 0x82:
            return (None, False, True)[t - 0x80]
        if t == 0x83:
            return self.uvarint()
        if t == 0x84:
            return -self.uvarint() - 1
        if t == 0x85:
            return struct.unpack("<d", self.take(8))[0]
        if t == 0x86:
            return float(struct.unpack("<f", self.take(4))[0])
        if t == 0x87:
            z = self.uvarint()
            return float(z >> 1 if not z & 1 else -(z >> 1) - 1)
        if t == 0x88:
            try:
                return self.take(self.uvarint()).decode()
            except UnicodeDecodeError:
                raise self.fail("header string is not UTF-8") from None
        if t == 0x89:
            return [self.value(depth + 1) for _ in range(self.count())]
        if t == 0x8A:
            return {self.string(): self.value(depth + 1) for _ in range(self.count())}
        if t == 0x8B:
            sid, k = self.byte(), self.byte()
            if sid >= len(SCHEMAS) or not 0 < k <= len(SCHEMAS[sid]):
                raise self.fail(f"unknown meta schema {sid}/{k}")
            return {key: self.value(depth + 1) for key in SCHEMAS[sid][:k]}
        raise self.fail(f"unknown header tag 0x{t:02x}")

    def count(self) -> int:
        n = self.uvarint()
        if n > len(self.mv) - self.pos:  # every item takes at least one byte
            raise self.fail("truncated header")
        return n


_MAX_DIM = 1 << 48


def unpack(
    buf: bytes | bytearray | memoryview | np.ndarray, kind: str, *, verify: bool = True
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of :func:`pack`: ``(meta, arrays)`` with arrays viewing ``buf`` (no copy).

    ``verify=False`` skips the checksum (the header is still parsed defensively and the length
    must still match).
    """
    if isinstance(buf, np.ndarray):
        buf = buf.view(np.uint8).reshape(-1).data  # a memoryview of the bytes
    mv = memoryview(buf).cast("B")
    if len(mv) < _FIXED.size:
        raise FormatError(f"{kind}: truncated input ({len(mv)} bytes, need at least {_FIXED.size})")
    magic, version, flags, crc = _FIXED.unpack_from(mv, 0)
    if magic != MAGIC:
        raise FormatError(f"{kind}: bad magic {bytes(magic)!r} (expected {MAGIC!r})")
    if version != VERSION:
        raise FormatError(f"{kind}: unsupported format version {version} (this reader: {VERSION})")
    if flags:
        raise FormatError(f"{kind}: unknown format flags 0x{flags:02x}")
    # the checksum first: a corrupt header should say "checksum", not fail somewhere in parsing
    if verify and zlib.crc32(mv[_FIXED.size :]) != crc:
        raise FormatError(f"{kind}: checksum mismatch (corrupt or truncated input)")
    r = _Reader(mv, _FIXED.size, kind)
    got_kind = r.string()
    if got_kind != kind:
        raise FormatError(f"expected a {kind}, got a {got_kind!r}")
    meta = r.value(0)
    if not isinstance(meta, dict):
        raise FormatError(f"{kind}: meta is a {type(meta).__name__}, expected a dict")
    table = []
    for _ in range(r.count()):
        name = r.string()
        b = r.byte()
        if (b & 15) >= len(DTYPES):
            raise r.fail(f"array {name!r}: unknown dtype code {b & 15}")
        shape = tuple(r.uvarint() for _ in range(b >> 4))
        if math.prod(d for d in shape if d) > _MAX_DIM:  # numpy refuses those even with a 0
            raise r.fail(f"array {name!r}: shape {list(shape)} spans over 2**48 elements")
        table.append((name, DTYPES[b & 15], shape))
    data_start = r.pos + (-r.pos % 8)
    sizes = [math.prod(shape) * dt.itemsize for _, dt, shape in table]
    if data_start + sum(sizes) != len(mv):
        raise FormatError(
            f"{kind}: input is {len(mv)} bytes, its table describes {data_start + sum(sizes)} "
            "(truncated or trailing data)"
        )
    if len({name for name, _, _ in table}) != len(table):
        raise FormatError(f"{kind}: duplicate array names")
    offsets = [0] * len(table)
    off = data_start
    for i in _data_order([dt for _, dt, _ in table]):
        offsets[i] = off
        off += sizes[i]
    arrays: dict[str, np.ndarray] = {}
    for (name, dt, shape), off, size in zip(table, offsets, sizes, strict=True):
        if size == 0:  # frombuffer refuses an offset at the very end
            a = readonly(np.zeros(shape, dt.newbyteorder("=")))
        else:
            a = np.frombuffer(mv, dtype=dt, count=math.prod(shape), offset=off).reshape(shape)
        if not dt.isnative:
            a = readonly(a.astype(dt.newbyteorder("=")))
        arrays[name] = a
    return meta, arrays


def check_arrays(
    kind: str, arrays: dict[str, np.ndarray], spec: dict[str, tuple[Any, int]]
) -> dict[str, np.ndarray]:
    """Check that ``arrays`` holds each ``name -> (dtype, ndim)`` of ``spec``; FormatError if not.

    Returns the arrays (as ndarrays, not copied) for ``from_arrays`` constructors.
    """
    out = {}
    for name, (dtype, ndim) in spec.items():
        if name not in arrays:
            raise FormatError(f"{kind}: missing array {name!r}")
        a = np.asarray(arrays[name])
        if a.dtype != np.dtype(dtype) or a.ndim != ndim:
            raise FormatError(
                f"{kind}: array {name!r} is {a.dtype}[{a.ndim}-d], expected {np.dtype(dtype)}[{ndim}-d]"
            )
        out[name] = a
    return out


def meta_int(kind: str, meta: Any, key: str, lo: int, hi: int) -> int:
    """``meta[key]`` as an int in ``[lo, hi]``; FormatError naming the field otherwise.

    Refuses bools, floats and strings (a forged header's ``"n": -1.5`` or ``"n": "7"``), and
    negative or huge counts up front, before anything is sized from them.
    """
    if not isinstance(meta, dict):
        raise FormatError(f"{kind}: meta is a {type(meta).__name__}, expected a dict")
    if key not in meta:
        raise FormatError(f"{kind}: meta lacks {key!r}")
    v = meta[key]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise FormatError(f"{kind}: meta {key!r} must be an integer, got {type(v).__name__}")
    v = int(v)
    if not lo <= v <= hi:
        raise FormatError(f"{kind}: meta {key!r}={v} outside [{lo}, {hi}]")
    return v
