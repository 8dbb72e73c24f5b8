"""Exceptions shared across sckit (kept import-free so ``import sckit`` stays cheap)."""

from __future__ import annotations

__all__ = ["FormatError"]


class FormatError(ValueError):
    """A serialized sckit object (container file or structure bytes) is malformed.

    Raised for bad magic, unknown versions, truncation, out-of-bounds sections, checksum
    mismatches and headers that do not match the module they are loaded into. The message names
    what is wrong and where.
    """
