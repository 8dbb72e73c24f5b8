"""How packed checkpoints sit in the sckit container (``sckit.container.Writer`` / ``Reader``,
kind "checkpoint"): one container entry per checkpoint tensor, RAS-encoded or raw, or, for a
tensor too big to encode in one piece, one entry per row block (``layout["parts"]``: tensor name
-> ``[[entry name, first row, end row], ...]``), or, for small tensors, one 1-d RAS per group
of them (``layout["groups"]``: entry name -> ``[[tensor name, first weight], ...]``; read back
as ``layout["members"]``: tensor name -> ``(entry, first weight, weights)``).

A tensor whose dtype code torch has no name for (safetensors' sub-byte "F4", say) is stored as
its bytes (``uint8``, 1-d); its real dtype and shape live in the checkpoint layout metadata
(:data:`sckit.checkpoint.LAYOUT_KEY`), which unpack and ``sckit.open`` read first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from sckit.checkpoint_io import torch_name

__all__ = ["add_ras", "add_raw", "entry_bits", "reader", "stored_nbytes", "tensor_bytes",
           "writer"]


def writer(path: str | os.PathLike[str], metadata: dict[str, str]) -> Any:
    from sckit.container import Writer

    return Writer(path, kind="checkpoint", metadata=metadata)


def add_ras(w: Any, entry: str, ras: Any) -> None:
    w.add_tensor(entry, ras=ras)


def add_raw(w: Any, entry: str, code: str, shape: Sequence[int], data: np.ndarray) -> None:
    name = torch_name(code)
    if name is None:
        w.add_tensor(entry, raw_bytes=data, dtype="uint8", shape=(data.nbytes,))
    else:
        w.add_tensor(entry, raw_bytes=data, dtype=name, shape=tuple(shape))


def reader(path: str | os.PathLike[str], *, verify: bool = True) -> Any:
    from sckit.container import Reader

    return Reader(path, mmap=True, verify=verify)


def _parts(layout: dict[str, Any] | None, name: str) -> list[list[Any]] | None:
    return (layout or {}).get("parts", {}).get(name) if layout else None


def _member(layout: dict[str, Any] | None, name: str) -> tuple[str, int, int] | None:
    return layout.get("members", {}).get(name) if layout else None


# groups kept decoded per opened file (each at most GROUP_WEIGHTS weights, 128 KB of float32):
# members are read one after another, and decoding a member's range alone would decode its
# chunk again for each (PP-OCR's classifier, 202 members: 0.23 GB/s that way)
GROUP_CACHE = 8


def _group_bits(r: Any, name: str, member: tuple[str, int, int], layout: dict[str, Any],
                lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Weights ``[lo, hi)`` (default: all) of group member ``name`` as storage bytes (a
    read-only view of the decoded group, kept in ``layout["_decoded"]``)."""
    entry, off, n = member
    cache = layout.setdefault("_decoded", {})
    lock = layout.setdefault("_decoded_lock", threading.Lock())  # unpack reads on a pool
    whole = cache.get(entry)
    if whole is None:
        whole = decode_group(r, entry, name)
        whole.setflags(write=False)  # callers copy before handing it out
        with lock:
            while len(cache) >= GROUP_CACHE:
                cache.pop(next(iter(cache)), None)
            cache[entry] = whole
    return member_bits(r, whole, name, member)[lo * whole.itemsize: (n if hi is None else hi)
                                                 * whole.itemsize]


def decode_group(r: Any, entry: str, name: str) -> np.ndarray:
    """Group ``entry`` (holding tensor ``name``) decoded whole: a new 1-d array of bit patterns."""
    from sckit.errors import FormatError

    if r.entry(entry).storage != "ras":  # pack stores a group only encoded
        raise FormatError(f"{r.path}: group {entry!r} of tensor {name!r} is not encoded")
    ras = r.ras(entry)
    if len(ras.shape) != 1:
        raise FormatError(f"{r.path}: group {entry!r} has shape {list(ras.shape)}, not 1-d")
    return ras.decode()


def member_bits(r: Any, whole: np.ndarray, name: str, member: tuple[str, int, int]) -> np.ndarray:
    """Member ``name``'s storage bytes: a view of its decoded group ``whole``, bounds checked."""
    from sckit.errors import FormatError

    entry, off, n = member
    if off + n > whole.shape[0]:
        raise FormatError(f"{r.path}: tensor {name!r} (weights {off} .. {off + n}) lies outside "
                          f"its group {entry!r} of {whole.shape[0]} weights")
    return whole[off: off + n].view(np.uint8)


def stored_nbytes(r: Any, name: str, layout: dict[str, Any] | None = None) -> int:
    """Bytes of tensor ``name`` once decoded (all its row blocks)."""
    member = _member(layout, name)
    if member is not None:
        from sckit.container._layout import itemsize_of

        return member[2] * itemsize_of(r.entry(member[0]).dtype)
    parts = _parts(layout, name)
    if parts:
        return sum(int(r.entry(p[0]).raw_nbytes) for p in parts)
    return int(r.entry(name).raw_nbytes)


def entry_bits(r: Any, entry: str, rows: tuple[int, int] | None = None) -> np.ndarray:
    """One container entry's storage bytes (``uint8``), decoded if encoded; ``rows`` decodes
    only dim-0 rows ``[a, b)`` of it."""
    info = r.entry(entry)
    if info.tied_to is not None:  # model containers (sckit.save) tie parameters by name
        info = r.entry(info.tied_to)
        entry = info.name
    if info.storage == "ras":
        ras = r.ras(entry)
        bits = ras.decode() if rows is None else ras.decode_rows(*rows)
        return bits.reshape(-1).view(np.uint8)
    raw = np.asarray(r.raw(entry)).reshape(-1)
    if rows is None:
        return raw
    row = raw.nbytes // info.shape[0] if info.shape and info.shape[0] else 0
    return raw[rows[0] * row: rows[1] * row]


def tensor_bytes(r: Any, name: str, layout: dict[str, Any] | None = None, *,
                 threads: int | None = 1) -> np.ndarray:
    """Tensor ``name``'s storage bytes (``uint8``, little-endian, C order), decoded if encoded;
    a tensor stored in row blocks is decoded block by block straight into one buffer, on
    ``threads`` threads (None: all cores; unpack keeps 1, its pool already spans tensors)."""
    from sckit.parallel import imap_bounded

    member = _member(layout, name)
    if member is not None:
        return _group_bits(r, name, member, layout)  # type: ignore[arg-type]
    parts = _parts(layout, name)
    if not parts:
        return entry_bits(r, name)
    out = np.empty(stored_nbytes(r, name, layout), dtype=np.uint8)
    jobs, pos = [], 0
    for entry, _, _ in parts:
        info = r.entry(entry)
        jobs.append((entry, info, out[pos: pos + int(info.raw_nbytes)]))
        pos += int(info.raw_nbytes)

    def fill(job: tuple[str, Any, np.ndarray]) -> None:
        entry, info, dst = job
        if info.storage == "ras":  # decoded straight into place: no second copy of the block
            ras = r.ras(entry)
            ras.decode(out=dst.view(np.dtype(ras.split.uint)).reshape(ras.shape))
        else:
            dst[:] = np.asarray(r.raw(entry)).reshape(-1)

    for _ in imap_bounded(fill, jobs, threads=threads):
        pass
    return out


def rows_bytes(r: Any, name: str, lo: int, hi: int, layout: dict[str, Any] | None = None) -> np.ndarray:
    """Bytes of dim-0 rows ``[lo, hi)`` of tensor ``name``, decoding only the row blocks (and
    within them only the rows) that hold them."""
    member = _member(layout, name)
    if member is not None:
        shape = next(sh for n, _, sh, _ in layout["tensors"] if n == name)  # type: ignore[index]
        row = member[2] // shape[0] if shape and shape[0] else 0
        return _group_bits(r, name, member, layout, lo * row, hi * row)  # type: ignore[arg-type]
    parts = _parts(layout, name)
    if not parts:
        return entry_bits(r, name, (lo, hi))
    pieces = [entry_bits(r, entry, (max(lo, a) - a, min(hi, b) - a))
              for entry, a, b in parts if a < hi and lo < b]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.uint8)
