"""Read and rewrite a version-2 or -3 container's header in tests (checksums recomputed, so only the
reader's semantic checks can object)."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from sckit.container._layout import HEADER_INFO, MAGIC, PREFIX_V3
from sckit.container._zdict import DICTIONARIES


def _prefix(raw: bytes) -> tuple[int, int, int, int, int]:
    """(version, header offset, stored length, dictionary id, data start) of a v2/v3 file."""
    version = struct.unpack_from("<I", raw, 8)[0]
    assert version in (2, 3)
    if version == 3:
        _, _, _, hoff, hlen, zid = PREFIX_V3.unpack_from(raw)
        return version, hoff, hlen, zid, PREFIX_V3.size
    _, _, _, hoff, hlen, info = struct.unpack("<8sIIQQ32s", raw[:64])
    return version, hoff, hlen, HEADER_INFO.unpack(info)[1], 64


def split_header(raw: bytes) -> tuple[Any, int]:
    """(parsed header, header offset) of a version-2 or -3 file's bytes."""
    _, hoff, hlen, zid, _ = _prefix(raw)
    d = zlib.decompressobj(zdict=DICTIONARIES[zid]) if DICTIONARIES[zid] else zlib.decompressobj()
    return json.loads(d.decompress(raw[hoff : hoff + hlen]) + d.flush()), hoff


def rewrite_header(raw: bytes, header: Any, *, text: bytes | None = None, zid: int = 2) -> bytes:
    """``raw`` with ``header`` (or the bytes ``text``) as its header, every checksum recomputed
    (the version stays the file's)."""
    version, hoff, _, _, start = _prefix(raw)
    hj = text if text is not None else json.dumps(header).encode()
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARIES[zid]) \
        if DICTIONARIES[zid] else zlib.compressobj(9)
    hb = c.compress(hj) + c.flush()
    if version == 3:
        prefix = PREFIX_V3.pack(MAGIC, 3, zlib.crc32(hb), hoff, len(hb), zid)
    else:
        prefix = struct.pack("<8sIIQQ", MAGIC, 2, zlib.crc32(hb), hoff, len(hb)) + HEADER_INFO.pack(len(hj), zid)
    return prefix + raw[start:hoff] + hb


def with_units(header: Any) -> Any:
    """``header`` with the engine's units written out (version 3 leaves out the default: each
    module's stored parameters, by index), so tests can edit them."""
    eng = header.get("engine") if isinstance(header, dict) else None
    if isinstance(eng, dict) and "units" not in eng:
        units: dict[str, list[int]] = {}
        for i, t in enumerate(header["tensors"]):
            if "b" not in t and "t" not in t:
                units.setdefault(t["n"].rpartition(".")[0], []).append(i)
        eng["units"] = units
    return header
