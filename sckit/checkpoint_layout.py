"""The layout JSON a packed checkpoint keeps under ``LAYOUT_KEY``, read and checked.

What unpack and ``sckit.open`` trust it for: every tensor's dtype code, shape and shard, the row
blocks of a big tensor, the groups of small ones, tied names and the file order. A forged or
damaged layout (its checksum recomputed) must be a :class:`~sckit.errors.FormatError` naming
the field when the file is opened, never a ``TypeError`` from a JSON value of the wrong type,
numpy's "cannot reshape" when a shape disagrees with the bytes stored, or a ``KeyError`` when
a tensor is read. Given the container's reader, the layout is also checked against the
entries it names: present, of the byte size the layout's dtype and shape give.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from sckit.checkpoint_io import ITEMSIZE
from sckit.errors import FormatError

__all__ = ["LAYOUT_KEY", "read_layout"]

LAYOUT_KEY = "sckit.checkpoint"
# a shape's product beyond this cannot be a real tensor (2**48 elements: 256 TiB of bytes)
_MAX_ELEMENTS = 1 << 48
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,15}")


def _str(v: Any, what: str) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{what} must be a string, got {type(v).__name__}")
    return v


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{what} must be a non-negative int, got {v!r}")
    return v


def _list(v: Any, what: str, length: int | None = None) -> list[Any]:
    if not isinstance(v, list) or (length is not None and len(v) != length):
        raise ValueError(f"{what} must be a list" + (f" of {length}" if length else ""))
    return v


def _dict(v: Any, what: str) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError(f"{what} must be an object, got {type(v).__name__}")
    return v


def _tensors(layout: dict[str, Any]) -> list[tuple[str, str, tuple[int, ...], str | None]]:
    out, seen = [], set()
    for i, t in enumerate(_list(layout.get("tensors"), "tensors")):
        name, code, shape, shard = _list(t, f"tensors[{i}]", 4)
        name = _str(name, f"tensors[{i}] name")
        dims = tuple(_int(d, f"tensors[{i}] shape") for d in _list(shape, f"tensors[{i}] shape"))
        if len(dims) > 64 or math.prod(dims) > _MAX_ELEMENTS:
            raise ValueError(f"tensors[{i}] shape {list(dims)} is too large")
        if shard is not None:
            _str(shard, f"tensors[{i}] shard")
        if name in seen:
            raise ValueError(f"tensor {name!r} is listed twice")
        seen.add(name)
        code = _str(code, f"tensors[{i}] dtype")
        if not _CODE.fullmatch(code):  # a safetensors dtype code ("F32", "F8_E4M3", "F4", ...)
            raise ValueError(f"tensors[{i}] dtype {code!r} is not a dtype code")
        out.append((name, code, dims, shard))
    return out


def _parts(layout: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> dict[str, list[tuple[str, int, int]]]:
    """Row blocks ``(entry, first row, end row)`` per tensor; they must tile dim 0 in order."""
    parts = {}
    for name, blocks in _dict(layout.get("parts"), "parts").items():
        if name not in shapes or not shapes[name]:
            raise ValueError(f"row blocks of {name!r}: not a listed tensor of >= 1 dimension")
        rows = []
        for j, blk in enumerate(_list(blocks, f"parts[{name!r}]")):
            e, a, b = _list(blk, f"parts[{name!r}][{j}]", 3)
            rows.append((_str(e, "a row block's entry"), _int(a, "a row block's start"),
                         _int(b, "a row block's end")))
        ends = [0] + [b for _, _, b in rows]
        if (not rows or [a for _, a, _ in rows] != ends[:-1] or ends[-1] != shapes[name][0]
                or any(b <= a for _, a, b in rows)):
            raise ValueError(f"row blocks of {name!r} do not tile its first dimension")
        parts[name] = rows
    return parts


def _members(layout: dict[str, Any], shapes: dict[str, tuple[int, ...]],
             parts: dict[str, Any]) -> dict[str, tuple[str, int, int]]:
    """tensor name -> (group entry, first weight, weights) from ``layout["groups"]``: each
    member a listed tensor stored nowhere else, members in order without overlap."""
    out: dict[str, tuple[str, int, int]] = {}
    for entry, members in _dict(layout.get("groups"), "groups").items():
        if entry in shapes:
            raise ValueError(f"group entry {entry!r} is also a tensor name")
        end = 0
        for j, m in enumerate(_list(members, f"groups[{entry!r}]")):
            name, off = _list(m, f"groups[{entry!r}][{j}]", 2)
            name, off = _str(name, "a group member"), _int(off, "a group member's offset")
            if name not in shapes or name in out or name in parts:
                raise ValueError(f"group {entry!r} lists {name!r}: not a tensor, or stored twice")
            n = math.prod(shapes[name])
            if off < end or n < 1:
                raise ValueError(f"group {entry!r}: member {name!r} overlaps the one before")
            out[name] = (entry, off, n)
            end = off + n
    return out


def _check_entries(layout: dict[str, Any], reader: Any) -> None:
    """Every listed tensor is stored where the layout says, in as many bytes as its dtype code
    and shape give: an entry of its own name, its row blocks' entries, or its group's entry
    (of the members' item size, long enough for each). Codes without an item size (sub-byte
    "F4"...) are stored as their bytes, in an entry of their own name."""
    def entry(name: str, of: str) -> Any:
        if name not in reader:
            raise ValueError(f"tensor {of!r} is stored in {name!r}, which the file does not hold")
        return reader.entry(name)

    for name, code, shape, _ in layout["tensors"]:
        size = ITEMSIZE.get(code)
        member, blocks = layout["members"].get(name), layout["parts"].get(name)
        if size is None:
            if member or blocks:
                raise ValueError(f"tensor {name!r} of dtype code {code!r} is stored in a group or "
                                 "row blocks: only its bytes can be")
            entry(name, name)
        elif member:
            e = entry(member[0], name)
            if e.raw_nbytes != math.prod(e.shape) * size or member[1] + member[2] > math.prod(e.shape):
                raise ValueError(f"group {member[0]!r} does not hold {name!r} ({code}, weights "
                                 f"{member[1]} .. {member[1] + member[2]})")
        elif blocks:
            for e_name, a, b in blocks:
                _same(entry(e_name, name), (b - a, *shape[1:]), size, f"row block {e_name!r}")
        else:
            _same(entry(name, name), shape, size, f"tensor {name!r}")


def _same(e: Any, shape: tuple[int, ...], size: int, what: str) -> None:
    """Entry ``e`` holds items of ``size`` bytes in ``shape`` (a row slice reshapes rows by
    it: the same byte count in another shape would fail inside numpy)."""
    if tuple(e.shape) != shape or e.raw_nbytes != math.prod(shape) * size:
        raise ValueError(f"{what} is stored as {e.dtype}{list(e.shape)}, the layout says "
                         f"{list(shape)} of {size}-byte items")


def read_layout(metadata: dict[str, str], path: Path, reader: Any = None) -> dict[str, Any]:
    """The checked layout of a packed checkpoint (see the module docstring): ``tensors`` as
    ``(name, code, shape, shard)``, ``parts``, ``members`` (from ``groups``), ``aliases`` and
    ``order`` normalised; with ``reader`` (a :class:`~sckit.container.Reader` of the file) also
    checked against the entries."""
    text = metadata.get(LAYOUT_KEY)
    if text is None:
        raise FormatError(f"{path}: not a packed checkpoint (no {LAYOUT_KEY!r} metadata); "
                          "use sckit.load for models saved with sckit.save")
    try:
        layout = json.loads(text)
        if not isinstance(layout, dict):
            raise ValueError("not a JSON object")
        layout["format"] = _str(layout.get("format"), "format")
        layout["tensors"] = _tensors(layout)
        shapes = {n: sh for n, _, sh, _ in layout["tensors"]}
        layout["parts"] = _parts(layout, shapes)
        layout["members"] = _members(layout, shapes, layout["parts"])
        aliases = {}
        for alias, target in _dict(layout.get("aliases"), "aliases").items():
            if _str(target, "a tied name's target") not in shapes or alias in shapes:
                raise ValueError(f"tied name {alias!r} -> {target!r}: not a stored tensor")
            aliases[alias] = target
        layout["aliases"] = aliases
        if layout.get("order") is not None:
            order = [_str(n, "a name in the order") for n in _list(layout["order"], "order")]
            if any(n not in shapes and n not in aliases for n in order):
                raise ValueError("the tensor order names a tensor the layout does not list")
            layout["order"] = order
        if reader is not None:
            _check_entries(layout, reader)
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise FormatError(f"{path}: malformed {LAYOUT_KEY!r} metadata ({e})") from None
    return layout
