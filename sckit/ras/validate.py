"""Checks of a loaded RAS's meta and streams against each other (used by ``RAS.from_arrays``).

A container's CRCs only say the bytes are the ones written; a file edited with its checksums
recomputed must still never crash, hang or allocate without bound. The wavelet matrices check
themselves (:mod:`sckit.succinct._validate`); here the RAS-level facts the decoders rely on:

- meta fields have their JSON types (an int is an int, not a bool, float or string) and
  negative counts are refused before anything is sized from them;
- the shape's product is bounded (``MAX_WEIGHTS``), the dense stream length follows from it;
- the symbol stream's alphabet fits the layout (values + one delimiter per level), each level has
  exactly the delimiters the shape asks for, and the value symbols number ``n_entries`` (O(levels
  * code length) ranks), so ``select`` on a delimiter and the entry arithmetic stay in range;
- the codebook has at most ``MAX_CODEBOOK`` entries of the tensor's unsigned dtype (the
  decoders range-check every code against its size);
- the raw-bit array and the distance stream have the lengths the entry count gives.

Every failure is a :class:`~sckit.errors.FormatError` naming the field.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sckit.errors import FormatError
from sckit.succinct import _serial

__all__ = ["MAX_WEIGHTS", "meta_bool", "meta_float", "meta_int", "meta_shape", "check_streams"]

# A tensor of more weights than a wavelet matrix can index (2**34 - 1 symbols) cannot be dense;
# sparse tensors are held to the same bound so a forged shape cannot ask decode for terabytes.
MAX_WEIGHTS = (1 << 34) - 1


def _fail(field: str, what: str) -> FormatError:
    return FormatError(f"RAS: meta {field!r} {what}")


def meta_int(meta: dict[str, Any], key: str, lo: int, hi: int, kind: str = "RAS") -> int:
    return _serial.meta_int(kind, meta, key, lo, hi)


def _field(meta: dict[str, Any], key: str, kind: str) -> Any:
    if key not in meta:
        raise FormatError(f"{kind}: meta lacks {key!r}")
    return meta[key]


def meta_bool(meta: dict[str, Any], key: str, kind: str = "RAS") -> bool:
    v = _field(meta, key, kind)
    if not isinstance(v, (bool, np.bool_)):
        raise FormatError(f"{kind}: meta {key!r} must be a bool, got {type(v).__name__}")
    return bool(v)


def meta_float(meta: dict[str, Any], key: str) -> float:
    v = _field(meta, key, "RAS")
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise _fail(key, f"must be a number, got {type(v).__name__}")
    f = float(v)
    if not math.isfinite(f):
        raise _fail(key, f"must be finite, got {f}")
    return f


def meta_shape(meta: dict[str, Any]) -> tuple[int, ...]:
    """The shape: a list of at most 32 non-negative ints whose product is <= MAX_WEIGHTS."""
    if "shape" not in meta:
        raise FormatError("RAS: meta lacks 'shape'")
    s = meta["shape"]
    if not isinstance(s, (list, tuple)) or len(s) > 32:
        raise _fail("shape", f"must be a list of at most 32 ints, got {type(s).__name__}")
    out = []
    for i, d in enumerate(s):
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or d < 0:
            raise _fail("shape", f"entry {i} must be a non-negative int, got {d!r}")
        out.append(int(d))
    if math.prod(out) > MAX_WEIGHTS or any(d > MAX_WEIGHTS for d in out):
        raise _fail("shape", f"{out} has more than 2**34 - 1 weights")
    return tuple(out)


def check_streams(layout: Any, wm: Any, dist_wm: Any, sparse: bool, n_stream: int,
                  n_entries: int) -> None:
    """The symbol stream against the layout: alphabet, delimiters per level, entry count
    (see module docstring). O(levels * code length) ranks."""
    if wm is None:
        return
    if wm.sigma > layout.sigma:
        raise FormatError(
            f"RAS: symbol stream alphabet {wm.sigma} exceeds values + delimiters = {layout.sigma}"
        )
    delims = 0
    for lev, want in enumerate(layout.n_delimiters()):
        d = layout.delimiter(lev)
        got = wm.count(d) if d < wm.sigma else 0
        if got != want:
            raise FormatError(
                f"RAS: symbol stream has {got} level-{lev} delimiters, the shape needs {want}"
            )
        delims += got
    if n_stream - delims != n_entries:
        raise FormatError(
            f"RAS: symbol stream holds {n_stream - delims} values, meta 'n_entries' = {n_entries}"
        )
    if not sparse and dist_wm is not None:
        raise FormatError("RAS: a dense tensor carries a distance stream")
