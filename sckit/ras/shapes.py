"""The array lengths a RAS's meta determines, so a container need not store them.

Most of a RAS's arrays have a length that follows from its meta: a wavelet matrix's words and
rank directory from its bit count, the raw mantissa words from the entry count and dtype, the
byte-grouped layout's code words and chunk offsets from its bit total and size. On an 8-tensor
model those lengths were ~40% of the header's per-tensor bytes. Container format 3 leaves out
each array this function derives for every tensor of a header schema (the writer checks the
derivation against the real arrays first), and the reader calls it to lay the sections out.

The formulas are part of the container format: change one only together with a new format
version. The meta comes from an untrusted header here: anything malformed is a FormatError.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from sckit.errors import FormatError

__all__ = ["derived_lengths"]

_MAX = 2**62


def _int(meta: dict[str, Any], key: str) -> int:
    v = meta.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= _MAX:
        raise FormatError(f"RAS meta {key!r} must be an int in [0, 2**62] to derive array lengths")
    return v


def _n_weights(meta: dict[str, Any]) -> int:
    shape = meta.get("shape")
    if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                              and 0 <= s <= _MAX for s in shape):
        raise FormatError("RAS meta 'shape' must be a list of non-negative ints")
    n = math.prod(shape)
    if n > _MAX:
        raise FormatError(f"RAS meta 'shape' {shape} holds more than 2**62 weights")
    return n


@functools.cache
def _modules() -> tuple[Any, Any, Any]:
    """The layouts' modules, imported once (not at import time: no cycle with sckit.ras, and
    an import statement per header row cost ~1 us each)."""
    from sckit.ras import bytegroup, fields
    from sckit.succinct import _hwm_load

    return bytegroup, fields, _hwm_load


def _bytegroup(meta: dict[str, Any]) -> dict[str, int]:
    bg = _modules()[0]
    out: dict[str, int] = {}
    n = _n_weights(meta)
    if n == 0:
        return out
    dtype = meta.get("dtype")
    # with a codebook the planes hold the codebook, whose size the symbols array gives
    if meta.get("codebook") is False and dtype in bg._MODES:
        planes = [2 * n, n] if dtype == "float32" else [n]
        out["words"] = bg._n_words(_int(meta, "total_bits"), planes)
    n_chunks = -(-n // bg.chunk_for(n))
    if n_chunks > 1:
        out["sel"] = n_chunks - 1
    return out


def _wavelet(meta: dict[str, Any]) -> dict[str, int]:
    _, fields, hwm_load = _modules()
    out: dict[str, int] = {}
    for prefix in ("wm", "dist"):
        sub = meta.get(prefix)
        if not isinstance(sub, dict):
            continue
        n_bits = _int(sub, "n_bits")
        out[f"{prefix}.words"] = hwm_load.padded_words(n_bits)
        out[f"{prefix}.rank_dir"] = (n_bits + 2047) // 2048 + 1  # one entry per 2048-bit block + 1
        if sub.get("symbols_as") == "bitmap":
            out[f"{prefix}.symbols"] = (_int(sub, "sigma") + 63) // 64
    dtype = meta.get("dtype")
    if isinstance(dtype, str) and meta.get("codebook") is False and isinstance(meta.get("sign_raw"), bool):
        try:
            split = fields.split_for(dtype)
        except ValueError:
            raise FormatError(f"RAS meta 'dtype' {dtype!r} is not a RAS dtype") from None
        raw_bits = split.raw_width(meta["sign_raw"])
        n_entries = _int(meta, "n_entries")
        if raw_bits and n_entries:
            out["raw"] = fields.n_raw_words(n_entries, raw_bits)
    return out


def derived_lengths(meta: dict[str, Any]) -> dict[str, int]:
    """``{array name: length}`` for the 1-d arrays of a RAS (``RAS.to_arrays``'s names) whose
    length follows from ``meta`` alone (with ``dtype`` and ``shape`` set); arrays whose length
    depends on the data (symbol tables, level sizes) are absent."""
    if not isinstance(meta, dict):
        raise FormatError("RAS meta must be an object")
    return _bytegroup(meta) if meta.get("layout") == "bytegroup" else _wavelet(meta)
