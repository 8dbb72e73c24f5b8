"""Read and rewrite a version-2 container's header in tests (checksums recomputed, so only the
reader's semantic checks can object)."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from sckit.container._layout import HEADER_INFO, MAGIC
from sckit.container._zdict import DICTIONARIES


def split_header(raw: bytes) -> tuple[Any, int]:
    """(parsed header, header offset) of a version-2 file's bytes."""
    _, version, _, hoff, hlen, info = struct.unpack("<8sIIQQ32s", raw[:64])
    assert version == 2
    _, zid = HEADER_INFO.unpack(info)
    d = zlib.decompressobj(zdict=DICTIONARIES[zid]) if DICTIONARIES[zid] else zlib.decompressobj()
    return json.loads(d.decompress(raw[hoff : hoff + hlen]) + d.flush()), hoff


def rewrite_header(raw: bytes, header: Any, *, text: bytes | None = None, zid: int = 1) -> bytes:
    """``raw`` with ``header`` (or the bytes ``text``) as its header, every checksum recomputed."""
    _, hoff = split_header(raw)
    hj = text if text is not None else json.dumps(header).encode()
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARIES[zid]) \
        if DICTIONARIES[zid] else zlib.compressobj(9)
    hb = c.compress(hj) + c.flush()
    prefix = struct.pack("<8sIIQQ", MAGIC, 2, zlib.crc32(hb), hoff, len(hb)) + HEADER_INFO.pack(len(hj), zid)
    return prefix + raw[64:hoff] + hb
