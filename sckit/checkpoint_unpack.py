"""Writing a packed checkpoint back out: safetensors (the original header verbatim when there is
one), a sharded folder with its index JSON, or a PyTorch state dict. Used by
:func:`sckit.checkpoint.unpack`.

Tensors are decoded on a thread pool in file order and written as they come
(:func:`sckit.parallel.imap_bounded`), so unpacking to safetensors holds a few tensors at a
time. ``torch.save`` needs the whole dict, so unpacking to ``.pt`` holds the model once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sckit import checkpoint_store as _store
from sckit.checkpoint_io import build_header, torch_dtype, write_safetensors
from sckit.errors import FormatError

__all__ = ["unpack_to"]

# decoded bytes in flight (decoding or waiting to be written): a few tensors keep every core
# busy; more only raises the resident set (1 GiB here gave 0.91 GB peak on a 2.3 GB checkpoint)
DECODE_BUDGET_BYTES = 1 << 28
# a fresh file map after this many decoded bytes (see _Readers)
REMAP_BYTES = 1 << 29


class _Readers:
    """The container reader for each decode job, replaced by a fresh one after every
    :data:`REMAP_BYTES` of tensors: a reader keeps its file map (and the RAS built on it) alive,
    so the pages of the packed file read so far would stay in the resident set of a long
    unpack; a dropped reader's map is released once its last tensor is decoded."""

    def __init__(self, path: Any) -> None:
        self._path, self._reader, self._since = path, None, 0
        self._lock = threading.Lock()

    def get(self, nbytes: int) -> Any:
        with self._lock:
            if self._reader is None or self._since >= REMAP_BYTES:
                self._reader, self._since = _store.reader(self._path), 0
            self._since += nbytes
            return self._reader


def _user_metadata(reader: Any) -> dict[str, str]:
    from sckit.checkpoint import LAYOUT_KEY

    return {k: v for k, v in reader.metadata.items() if k != LAYOUT_KEY}


def _stream(reader: Any, layout: dict[str, Any], names: list[str], sizes: dict[str, int],
            threads: int | None, bar: Any) -> Iterator[tuple[str, np.ndarray]]:
    from sckit.parallel import imap_bounded

    readers = _Readers(reader.path)  # the caller's reader has read headers only

    def job(name: str) -> tuple[str, np.ndarray]:
        return name, _store.tensor_bytes(readers.get(sizes[name]), name, layout)

    for name, data in imap_bounded(job, names, threads=threads, cost=lambda n: sizes[n],
                                   budget=DECODE_BUDGET_BYTES):
        bar.update(data.nbytes)
        yield name, data


def _safetensors_files(layout: dict[str, Any], metadata: dict[str, str],
                       folder: bool) -> list[tuple[str | None, bytes, list[str]]]:
    """``(file name or None for "the output path", header bytes, tensor names in offset order)``
    of each safetensors file to write."""
    tensors = layout["tensors"]
    fmt = layout["format"]
    if fmt == "safetensors" or (fmt == "safetensors-sharded" and folder):
        headers = ({layout["file"]: layout["header"]} if fmt == "safetensors"
                   else {s: layout["headers"][s] for s in layout["shards"]})
        files = []
        for fname, text in headers.items():
            h = json.loads(text)
            order = sorted((k for k in h if k != "__metadata__"),
                           key=lambda k: int(h[k]["data_offsets"][0]))
            files.append((fname if folder else None, text.encode("utf-8"), order))
        return files
    if folder:
        raise ValueError("a checkpoint packed from a PyTorch file unpacks to a .safetensors "
                         "or .pt file, not a folder")
    entries = [(n, c, sh, _nbytes(c, sh, n)) for n, c, sh, _ in tensors]
    aliases = layout.get("aliases") or {}
    # tied weights become plain copies: safetensors has no shared tensors
    by_name = {e[0]: e for e in entries}
    entries += [(a, *by_name[t][1:]) for a, t in aliases.items()]
    return [(None, build_header(entries, metadata), [e[0] for e in entries])]


def _nbytes(code: str, shape: tuple[int, ...], name: str) -> int:
    from sckit.checkpoint_io import ITEMSIZE

    if code not in ITEMSIZE:
        raise FormatError(f"tensor {name!r}: dtype {code} cannot be written to a new "
                          "safetensors header (unpack to the original layout or to .pt)")
    return int(np.prod(shape, dtype=np.int64)) * ITEMSIZE[code]


def _check_out(out: Path, force: bool, folder: bool) -> None:
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass force=True (--force) to overwrite it")
    if folder:
        if out.exists() and not out.is_dir():
            raise FileExistsError(f"{out} is a file, not a folder")
        out.mkdir(parents=False, exist_ok=True)
    elif out.is_dir():
        raise IsADirectoryError(f"{out} is a folder; name a file to unpack to")
    elif not out.parent.is_dir():
        raise FileNotFoundError(f"cannot write {out}: folder {out.parent} does not exist")


def unpack_to(reader: Any, layout: dict[str, Any], out: Path, kind: str, *,
              threads: int | None, force: bool, progress: bool) -> Path:
    from tqdm.auto import tqdm

    _check_out(out, force, kind == "folder")
    sizes = {n: _store.stored_nbytes(reader, n, layout) for n, *_ in layout["tensors"]}
    total = sum(sizes.values())
    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1000,
               desc=f"unpack {out.name}", disable=not progress)
    try:
        if kind == "torch":
            _write_torch(reader, layout, out, sizes, threads, bar)
            return out
        files = _safetensors_files(layout, _user_metadata(reader), kind == "folder")
        aliases = layout.get("aliases") or {}
        for fname, hbytes, order in files:
            target = out / fname if fname is not None else out
            stored = [n for n in order if n not in aliases]
            chunks = _stream(reader, layout, stored, sizes, threads, bar)
            write_safetensors(target, hbytes, _with_aliases(chunks, order, aliases), order)
        if kind == "folder" and layout.get("index") is not None:
            from sckit.atomic import atomic_open

            with atomic_open(out / layout["index_name"], "w", encoding="utf-8") as f:
                f.write(layout["index"])
        return out
    finally:
        bar.close()


def _with_aliases(chunks: Iterator[tuple[str, np.ndarray]], order: list[str],
                  aliases: dict[str, str]) -> Iterator[tuple[str, np.ndarray]]:
    """Stored chunks in ``order``, with each tied name's bytes repeated after its target."""
    seen: dict[str, np.ndarray] = {}
    for name in order:
        if name in aliases:
            yield name, seen[aliases[name]]
            continue
        got, data = next(chunks)
        if got != name:
            raise FormatError(f"expected tensor {name!r}, got {got!r}")
        if name in aliases.values():
            seen[name] = data
        yield got, data


def _write_torch(reader: Any, layout: dict[str, Any], out: Path, sizes: dict[str, int],
                 threads: int | None, bar: Any) -> None:
    import torch

    from sckit.atomic import atomic_open

    meta = {n: (c, sh) for n, c, sh, _ in layout["tensors"]}
    sd: dict[str, torch.Tensor] = {}
    for name, data in _stream(reader, layout, list(meta), sizes, threads, bar):
        code, shape = meta[name]
        sd[name] = _as_tensor(data, code, shape)
    aliases = layout.get("aliases") or {}
    order = layout.get("order") or list(sd)
    state = {n: sd[aliases.get(n, n)] for n in order}
    with atomic_open(out) as f:
        torch.save(state, f)


def _as_tensor(data: np.ndarray, code: str, shape: tuple[int, ...]) -> Any:
    import torch

    dt = torch_dtype(code)
    buf = data if data.flags.writeable else data.copy()
    t = torch.from_numpy(buf.reshape(-1).view(np.uint8))
    return t.view(dt).reshape(shape) if t.numel() else torch.empty(shape, dtype=dt)

