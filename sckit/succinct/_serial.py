"""Shared binary format for succinct structures: a small header + named, 8-byte-aligned arrays.

Layout (all integers little-endian)::

    0   magic     b"SCKS"
    4   version   uint16 (= 1)
    6   reserved  uint16 (= 0)
    8   json_len  uint64   length of the UTF-8 JSON header
    16  json_crc  uint32   zlib.crc32 of the JSON header
    20  data_crc  uint32   zlib.crc32 of everything after the padded JSON header
    24  JSON      {"kind": str, "meta": {...}, "arrays": [[name, dtype, shape, offset], ...]}
        zero padding to a multiple of 8
        arrays, each at an 8-byte-aligned ``offset`` (relative to the data start), C order

``packed_size`` gives the exact length without building the bytes, so a structure's
``nbytes`` can equal ``len(to_bytes())``. ``unpack`` returns read-only zero-copy views into the
buffer and raises :class:`sckit.errors.FormatError` for anything malformed (bad magic, wrong
kind, truncation, checksum mismatch, arrays out of bounds).
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

from sckit.errors import FormatError

__all__ = ["MAGIC", "check_arrays", "pack", "packed_size", "readonly", "unpack"]

MAGIC = b"SCKS"
VERSION = 1
_FIXED = struct.Struct("<4sHHQII")  # 24 bytes


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


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def _layout(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[bytes, int]:
    table = []
    off = 0
    for name, a in arrays.items():
        a = np.asarray(a)
        table.append([name, a.dtype.newbyteorder("<").str, list(a.shape), off])
        off = _pad8(off + a.nbytes)
    header = json.dumps(
        {"kind": kind, "meta": meta, "arrays": table}, separators=(",", ":"), sort_keys=True
    ).encode()
    return header, off


def packed_size(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> int:
    """Exact ``len(pack(kind, meta, arrays))``. O(number of arrays)."""
    header, data_len = _layout(kind, meta, arrays)
    return _FIXED.size + _pad8(len(header)) + data_len


def header_size(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> int:
    """Bytes spent on everything except the arrays' own bytes (header + alignment padding)."""
    return packed_size(kind, meta, arrays) - sum(np.asarray(a).nbytes for a in arrays.values())


def pack(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Serialize JSON-able ``meta`` and named numpy ``arrays`` under a ``kind`` tag."""
    header, data_len = _layout(kind, meta, arrays)
    data = bytearray(data_len)
    off = 0
    for a in arrays.values():
        a = np.ascontiguousarray(a)
        le = a.astype(a.dtype.newbyteorder("<"), copy=False)
        data[off : off + a.nbytes] = le.tobytes()
        off = _pad8(off + a.nbytes)
    fixed = _FIXED.pack(MAGIC, VERSION, 0, len(header), zlib.crc32(header), zlib.crc32(data))
    pad = b"\0" * (_pad8(len(header)) - len(header))
    return b"".join([fixed, header, pad, bytes(data)])


def unpack(
    buf: bytes | bytearray | memoryview | np.ndarray, kind: str, *, verify: bool = True
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of :func:`pack`: ``(meta, arrays)`` with arrays viewing ``buf`` (no copy).

    ``verify=False`` skips the data checksum (the header is always checked).
    """
    if isinstance(buf, np.ndarray):
        buf = buf.view(np.uint8).reshape(-1).data  # a memoryview of the bytes
    mv = memoryview(buf).cast("B")
    if len(mv) < _FIXED.size:
        raise FormatError(f"{kind}: truncated input ({len(mv)} bytes, need at least {_FIXED.size})")
    magic, version, _res, hlen, hcrc, dcrc = _FIXED.unpack_from(mv, 0)
    if magic != MAGIC:
        raise FormatError(f"{kind}: bad magic {bytes(magic)!r} (expected {MAGIC!r})")
    if version != VERSION:
        raise FormatError(f"{kind}: unsupported format version {version} (this reader: {VERSION})")
    data_start = _FIXED.size + _pad8(hlen)
    if data_start > len(mv):
        raise FormatError(f"{kind}: truncated header ({len(mv)} bytes, header needs {data_start})")
    header = bytes(mv[_FIXED.size : _FIXED.size + hlen])
    if zlib.crc32(header) != hcrc:
        raise FormatError(f"{kind}: header checksum mismatch (corrupt header)")
    try:
        h = json.loads(header)
        got_kind, meta, table = h["kind"], h["meta"], h["arrays"]
    except (ValueError, KeyError, TypeError) as e:
        raise FormatError(f"{kind}: unreadable header ({e})") from None
    if got_kind != kind:
        raise FormatError(f"expected a {kind}, got a {got_kind!r}")
    data = mv[data_start:]
    if verify and zlib.crc32(data) != dcrc:
        raise FormatError(f"{kind}: data checksum mismatch (corrupt or truncated data)")
    arrays: dict[str, np.ndarray] = {}
    try:
        for name, dtype, shape, off in table:
            dt = np.dtype(dtype)
            count = int(np.prod(shape, dtype=np.int64))
            if off < 0 or off % 8 or off + count * dt.itemsize > len(data) or count < 0:
                raise FormatError(f"{kind}: array {name!r} lies outside the data ({len(data)} bytes)")
            a = np.frombuffer(data, dtype=dt, count=count, offset=off).reshape(shape)
            if not dt.isnative:
                a = a.astype(dt.newbyteorder("="))
            arrays[name] = a
    except FormatError:
        raise
    except (ValueError, TypeError) as e:
        raise FormatError(f"{kind}: bad array table ({e})") from None
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
