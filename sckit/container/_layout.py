"""Constants and small records shared by the container's writer and reader (docs/format.md)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ALIGN", "BIG_SECTION_BYTES", "FORMAT_VERSION", "HEADER_INFO", "MAGIC", "PREFIX", "PREFIX_V3", "READS", "SECTION_DTYPES",
           "TENSOR_DTYPES", "Section", "TensorInfo", "align_for", "data_start", "itemsize_of"]

MAGIC = b"SCKITCF\x00"
FORMAT_VERSION = 3
READS = (1, 2, 3)  # the versions this reader takes
ALIGN = 64
# magic, version, crc32(stored header), header offset, header stored length, then 32 bytes:
# version 1 requires them zero; version 2 puts the header's decompressed length in the first 8
PREFIX = struct.Struct("<8sIIQQ32s")
assert PREFIX.size == ALIGN
# version 2's use of those 32 bytes: decompressed header length, preset dictionary id, zeros
HEADER_INFO = struct.Struct("<QB23x")
assert HEADER_INFO.size == 32
# Version 3's prefix is 32 bytes, the data starts right after it: magic, version, crc32(stored
# header), header offset, header stored length (u32), preset dictionary id, 3 zero bytes. The
# decompressed length is gone (inflating stops at MAX_HEADER_BYTES anyway); on a 6-tensor
# model those 32 bytes were 5 of the 48 bytes per tensor the format allows itself.
PREFIX_V3 = struct.Struct("<8sIIQIB3x")
assert PREFIX_V3.size == 32


def data_start(version: int) -> int:
    """Where a file's first section may start: right after its prefix."""
    return PREFIX_V3.size if version >= 3 else ALIGN
# A section this large starts on a 64-byte boundary (a cache line, for kernels that stream it);
# smaller ones only on their item size, which is all numpy and numba need for zero-copy views of
# a map. Version 1 padded every section to 64 bytes (30-60 bytes per section, several sections
# per RAS); at 64 KiB the padding is < 0.1% of the section.
BIG_SECTION_BYTES = 1 << 16

# numpy dtypes a section (an array of a RAS) may have: plain numbers only, never object or
# structured dtypes. The list order gives the version-2 codes: append only.
SECTION_DTYPES: tuple[str, ...] = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64", "float16", "float32", "float64")
_NP = {d: np.dtype(d).newbyteorder("<") for d in SECTION_DTYPES}

# tensor dtypes (torch's names) and their item sizes: what a raw tensor may be stored as, whether
# or not sckit can encode it (float8 and wide unsigned ints are stored raw, never refused)
TENSOR_DTYPES: dict[str, int] = {
    "float32": 4, "float64": 8, "float16": 2, "bfloat16": 2,
    "int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8, "bool": 1,
    "uint16": 2, "uint32": 4, "uint64": 8,
    "complex32": 4, "complex64": 8, "complex128": 16,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1,
    "float8_e8m0fnu": 1,
}  # fmt: skip


def np_dtype(name: str) -> np.dtype:
    return _NP[name]


def itemsize_of(dtype_name: str) -> int:
    return TENSOR_DTYPES[dtype_name]


def align_for(nbytes: int, itemsize: int, packed: bool = False) -> int:
    """Alignment of a version-2/3 section: 64 when big, else its item size (at most 8).
    ``packed`` (version 3's RAS arrays): small ones unaligned (the reader copies a misaligned
    small array, ~1 us, instead of every file paying padding bytes), big ones on their item
    size, which is all numpy and numba need (a 64-byte line start cost up to 63 bytes each)."""
    if packed:  # big ones stay zero-copy views: numpy and numba need only the item size
        return min(max(itemsize, 1), 8) if nbytes >= BIG_SECTION_BYTES else 1
    return ALIGN if nbytes >= BIG_SECTION_BYTES else min(max(itemsize, 1), 8)


def pad_to(offset: int, align: int) -> int:
    return (-offset) % align


@dataclass(frozen=True)
class Section:
    """One flat array in the file: ``[offset, offset + nbytes)`` viewed as ``dtype``/``shape``."""

    offset: int
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * _NP[self.dtype].itemsize


@dataclass(frozen=True)
class TensorInfo:
    """What the file says about one tensor (``Reader.entry``).

    ``storage``: "raw" (its bytes, any dtype of ``TENSOR_DTYPES``), "ras" (a ``sckit.ras.RAS``)
    or "tied" (the same parameter as ``tied_to``). ``role`` is "parameter" or "buffer" in model
    files, None in checkpoints. ``nbytes`` is what the tensor occupies in the file (its sections,
    0 when tied); ``raw_nbytes`` what it occupies decoded.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    storage: str
    role: str | None = None
    requires_grad: bool = False
    tied_to: str | None = None
    nbytes: int = 0

    @property
    def raw_nbytes(self) -> int:
        return math.prod(self.shape) * TENSOR_DTYPES[self.dtype]


@dataclass
class Entry:
    """The reader's record of one tensor: its info plus where its bytes are and how to check them."""

    info: TensorInfo
    raw: Section | None = None  # storage "raw": the tensor's bytes as uint8
    arrays: dict[str, Section] | None = None  # storage "ras": RAS.from_arrays' named arrays
    meta: dict[str, Any] | None = None  # storage "ras": RAS.from_arrays' meta
    checks: tuple[tuple[int, int, int], ...] = ()  # (start, end, crc32) byte ranges
    verified: bool = False
