"""The sckit container (format in docs/format.md).

- ``save(obj, path)`` / ``load(path, model=None)``: a model, compressed or plain.
- :class:`Writer` / :class:`Reader`: the streaming API underneath, also for checkpoints (named
  tensors + string metadata, no model: ``kind="checkpoint"``), which ``sckit.pack``/``unpack``/
  ``open`` use.

Layout (integers little-endian)::

    [0, 64)            prefix: magic b"SCKITCF\\0", u32 version, u32 crc32(stored header),
                       u64 header offset, u64 stored header length, u64 header length,
                       u8 preset-dictionary id, 23 zero bytes
    [64, ...)          the tensors' sections, in header order, placement implied by their sizes
                       (64-aligned from 64 KiB, else aligned to their item size); one CRC32 per
                       >= 64 KiB group of consecutive tensors
    [header offset,..) the header: compact JSON deflated with a preset dictionary, last in the
                       file so the writer can stream sections and still know every offset

No pickle, no code execution on load. Every defect raises ``FormatError`` naming it.
"""

from __future__ import annotations

from sckit.container._layout import FORMAT_VERSION, MAGIC, TENSOR_DTYPES, TensorInfo
from sckit.container.models import load, save
from sckit.container.reader import Reader
from sckit.container.writer import Writer
from sckit.errors import FormatError

__all__ = ["FORMAT_VERSION", "MAGIC", "TENSOR_DTYPES", "FormatError", "Reader", "TensorInfo",
           "Writer", "load", "save"]
