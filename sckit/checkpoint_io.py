"""Reading and writing checkpoint files tensor by tensor: safetensors (one file or a sharded
folder with its index JSON) and PyTorch state-dict files.

Everything here moves *bytes*: a tensor is its dtype code (safetensors' names: "BF16", "F32",
"I64", ...), its shape and its little-endian storage bytes. No value goes through float
arithmetic, so packing and unpacking is bit-exact for every dtype, including ones sckit cannot
encode (they are carried raw).

safetensors files are opened with ``safetensors.safe_open`` (which validates the header and the
offsets) and their tensors read with positional reads at the header's offsets, one tensor at a
time: no memory map stays open, so the pages read do not pile up in the process's resident set
while a checkpoint larger than RAM streams through. Their header bytes are kept verbatim, so
``unpack`` writes back the very same file.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sckit.errors import FormatError

__all__ = [
    "INDEX_NAME", "ITEMSIZE", "RAS_DTYPE", "Source", "TensorSpec", "open_source",
    "safetensors_header", "torch_dtype", "torch_dtype_code", "torch_name", "write_safetensors",
]

INDEX_NAME = "model.safetensors.index.json"
# bytes per element of safetensors dtype codes (sub-byte codes such as F4 are carried raw with
# their byte length taken from the header's offsets)
ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8, "C64": 8,
}
# dtype codes sckit.ras encodes, with the RAS dtype name; every other code is stored raw
RAS_DTYPE = {
    "F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I8": "int8",
    "U8": "uint8", "I16": "int16", "U16": "uint16", "I32": "int32", "U32": "uint32",
}
_TORCH_CODES = {
    "float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64", "int8": "I8",
    "uint8": "U8", "int16": "I16", "uint16": "U16", "int32": "I32", "uint32": "U32",
    "int64": "I64", "uint64": "U64", "bool": "BOOL", "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2", "complex64": "C64",
}


def torch_dtype_code(dtype: Any) -> str:
    """The safetensors dtype code of a torch dtype ("torch.bfloat16" -> "BF16")."""
    name = str(dtype).removeprefix("torch.")
    try:
        return _TORCH_CODES[name]
    except KeyError:
        raise TypeError(f"tensors of dtype {dtype} cannot be packed; supported: "
                        f"{', '.join(sorted(_TORCH_CODES))}") from None


_NAME_OF_CODE = {c: n for n, c in _TORCH_CODES.items()} | {"F8_E8M0": "float8_e8m0fnu"}


def torch_name(code: str) -> str | None:
    """The torch dtype name ("bfloat16") of a dtype code ("BF16"); None when torch has none."""
    return _NAME_OF_CODE.get(code)


def torch_dtype(code: str) -> Any:
    """The torch dtype of a dtype code (TypeError naming it when torch has none)."""
    import torch

    name = _NAME_OF_CODE.get(code)
    if name is not None and hasattr(torch, name):
        return getattr(torch, name)
    raise TypeError(f"no torch dtype for stored dtype {code!r}")


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a source checkpoint: what it is and how to read its bytes."""

    name: str
    dtype: str  # safetensors dtype code
    shape: tuple[int, ...]
    nbytes: int
    shard: str | None  # file name inside a sharded folder, else None
    read: Callable[[], np.ndarray] = field(repr=False, compare=False)  # uint8 storage bytes
    # bytes [offset, offset + n) of the storage: one row block of a big tensor, nothing more
    read_at: Callable[[int, int], np.ndarray] = field(repr=False, compare=False,
                                                      default=lambda o, n: np.zeros(0, np.uint8))

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass
class Source:
    """A checkpoint opened for packing: tensors in file order plus what unpack needs to rebuild
    the files (verbatim safetensors headers, the index JSON)."""

    path: Path
    format: str  # "safetensors" | "safetensors-sharded" | "torch"
    tensors: list[TensorSpec]
    metadata: dict[str, str]  # the safetensors __metadata__ (first shard's when sharded)
    layout: dict[str, Any]  # JSON-able: headers, shard order, index (see checkpoint.pack)
    close: Callable[[], None] = lambda: None

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)


# ------------------------------------------------------------------ safetensors
def safetensors_header(path: Path) -> tuple[bytes, dict[str, Any], int]:
    """``(header bytes, parsed header, data start)`` of a safetensors file, validated.

    Raises FormatError naming the file on truncation or a malformed header (before any tensor
    is read), after asking ``safetensors.safe_open`` to validate it too.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"no such checkpoint file: {path}") from None
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise FormatError(f"{path}: truncated safetensors file ({size} bytes, no header)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise FormatError(f"{path}: truncated safetensors file: the header needs {n} bytes, "
                              f"the file has {size - 8} after the length field")
        hbytes = f.read(n)
    try:
        header = json.loads(hbytes)
        if not isinstance(header, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        raise FormatError(f"{path}: not a safetensors file (bad header: {e})") from None
    data_size = size - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            _, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{path}: tensor {name!r} has no valid data_offsets") from None
        if end > data_size:
            raise FormatError(f"{path}: truncated safetensors file: tensor {name!r} ends at data "
                              f"byte {end}, the file holds {data_size} data bytes")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="numpy"):
            pass
    except SafetensorError as e:
        raise FormatError(f"{path}: invalid safetensors file ({e})") from None
    return hbytes, header, 8 + n


def _read_exact(fd: int, nbytes: int, offset: int, path: Path) -> np.ndarray:
    buf = np.empty(nbytes, dtype=np.uint8)
    view = buf.data
    got = 0
    while got < nbytes:  # positional reads: thread-safe on one descriptor
        if hasattr(os, "preadv"):  # straight into the buffer
            k = os.preadv(fd, [view[got:]], offset + got)
        else:  # pragma: no cover - platforms without preadv (Windows)
            chunk = os.pread(fd, min(nbytes - got, 1 << 30), offset + got)
            k = len(chunk)
            buf[got:got + k] = np.frombuffer(chunk, np.uint8)
        if k == 0:
            raise FormatError(f"{path}: file ended while reading (truncated since it was opened)")
        got += k
    return buf


def _safetensors_specs(path: Path, shard: str | None, fds: list[int]) -> tuple[list[TensorSpec], bytes, dict[str, Any]]:
    hbytes, header, start = safetensors_header(path)
    fd = os.open(path, os.O_RDONLY)
    fds.append(fd)
    specs = []
    items = [(k, v) for k, v in header.items() if k != "__metadata__"]
    items.sort(key=lambda kv: int(kv[1]["data_offsets"][0]))
    for name, info in items:
        b, e = (int(x) for x in info["data_offsets"])

        def read(fd: int = fd, b: int = b, e: int = e) -> np.ndarray:
            return _read_exact(fd, e - b, start + b, path)

        def read_at(off: int, n: int, fd: int = fd, b: int = b) -> np.ndarray:
            return _read_exact(fd, n, start + b + off, path)

        specs.append(TensorSpec(name, str(info["dtype"]), tuple(int(s) for s in info["shape"]),
                                e - b, shard, read, read_at))
    return specs, hbytes, header.get("__metadata__") or {}


def _open_safetensors(path: Path) -> Source:
    fds: list[int] = []
    specs, hbytes, meta = _safetensors_specs(path, None, fds)
    layout = {"format": "safetensors", "header": hbytes.decode("utf-8"), "file": path.name}
    return Source(path, "safetensors", specs, dict(meta), layout, lambda: _close(fds))


def _open_sharded(folder: Path) -> Source:
    index_path = folder / INDEX_NAME
    if index_path.is_file():
        index_text = index_path.read_text(encoding="utf-8")
        try:
            weight_map = json.loads(index_text)["weight_map"]
            shards = list(dict.fromkeys(weight_map.values()))
        except (ValueError, KeyError, TypeError) as e:
            raise FormatError(f"{index_path}: not a safetensors index ({e})") from None
    else:
        index_text = None
        shards = sorted(p.name for p in folder.glob("*.safetensors"))
        if not shards:
            raise FileNotFoundError(f"{folder}: no *.safetensors files and no {INDEX_NAME}")
    fds: list[int] = []
    specs: list[TensorSpec] = []
    headers: dict[str, str] = {}
    meta: dict[str, str] = {}
    try:
        for i, shard in enumerate(shards):
            s, hbytes, m = _safetensors_specs(folder / shard, shard, fds)
            specs += s
            headers[shard] = hbytes.decode("utf-8")
            if i == 0:
                meta = dict(m)
    except BaseException:
        _close(fds)
        raise
    seen: set[str] = set()
    for t in specs:
        if t.name in seen:
            _close(fds)
            raise FormatError(f"{folder}: tensor {t.name!r} appears in more than one shard")
        seen.add(t.name)
    layout = {"format": "safetensors-sharded", "shards": shards, "headers": headers,
              "index": index_text, "index_name": INDEX_NAME if index_text is not None else None}
    return Source(folder, "safetensors-sharded", specs, meta, layout, lambda: _close(fds))


def _close(fds: list[int]) -> None:
    while fds:
        os.close(fds.pop())


# ------------------------------------------------------------------ PyTorch state dicts
def _open_torch(path: Path) -> Source:
    import torch

    try:
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e):
            raise FormatError(f"{path}: cannot load as a PyTorch state dict ({e})") from None
        sd = torch.load(path, map_location="cpu", weights_only=True)  # legacy (pre-zip) format
    except Exception as e:  # the unpickler raises many types for foreign files
        raise FormatError(f"{path}: cannot load as a PyTorch state dict "
                          f"({type(e).__name__}: {e})") from None
    if not isinstance(sd, dict):
        raise FormatError(f"{path}: expected a state dict (name -> tensor), got {type(sd).__name__}")
    specs: list[TensorSpec] = []
    aliases: dict[str, str] = {}
    first_of: dict[tuple, str] = {}
    for name, t in sd.items():
        if not isinstance(name, str) or not isinstance(t, torch.Tensor):
            raise FormatError(f"{path}: entry {name!r} is a {type(t).__name__}, not a tensor "
                              "(only flat name -> tensor state dicts can be packed)")
        code = torch_dtype_code(t.dtype)
        # tied weights (one storage under two names) are stored once and tied again on unpack
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape),
               tuple(t.stride()), t.dtype)
        if t.numel() and key in first_of:
            aliases[name] = first_of[key]
            continue
        first_of[key] = name

        def read(t: torch.Tensor = t) -> np.ndarray:
            flat = t.contiguous().reshape(-1)
            return flat.view(torch.uint8).numpy().copy() if flat.numel() else np.zeros(0, np.uint8)

        def read_at(off: int, n: int, t: torch.Tensor = t) -> np.ndarray:
            row = t.numel() // t.shape[0] * t.element_size() if t.dim() and t.shape[0] else 0
            if not t.is_contiguous() and row and off % row == 0 and n % row == 0:
                # a row block of a strided tensor: copy those rows, not the whole tensor
                block = t[off // row:(off + n) // row].contiguous().reshape(-1)
                return block.view(torch.uint8).numpy().copy()
            flat = t.contiguous().reshape(-1).view(torch.uint8)
            return flat[off:off + n].numpy().copy()

        specs.append(TensorSpec(name, code, tuple(t.shape), t.numel() * t.element_size(), None,
                                read, read_at))
    layout = {"format": "torch", "file": path.name, "order": list(sd), "aliases": aliases}
    return Source(path, "torch", specs, {}, layout)


def open_source(path: str | os.PathLike[str]) -> Source:
    """Open a checkpoint for packing: a ``.safetensors`` file, a folder of ``*.safetensors``
    shards (with or without ``model.safetensors.index.json``, the index itself may be given),
    or a PyTorch state-dict file (``torch.load(weights_only=True)``)."""
    p = Path(path)
    if p.is_dir():
        return _open_sharded(p)
    if p.name.endswith(".index.json"):
        return _open_sharded(p.parent)
    if not p.exists():
        raise FileNotFoundError(f"no such checkpoint: {p}")
    with open(p, "rb") as f:
        magic = f.read(2)
    if p.suffix == ".safetensors" or (magic != b"PK" and p.suffix not in (".pt", ".pth", ".bin")):
        return _open_safetensors(p)
    return _open_torch(p)


# ------------------------------------------------------------------ writing safetensors
def build_header(entries: list[tuple[str, str, tuple[int, ...], int]],
                 metadata: dict[str, str]) -> bytes:
    """A safetensors header for tensors laid out back to back in the given order
    (``(name, dtype code, shape, nbytes)``), padded with spaces to 8 bytes as the format asks."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    off = 0
    for name, code, shape, nbytes in entries:
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return text + b" " * ((-len(text)) % 8)


def write_safetensors(path: Path, hbytes: bytes, chunks: Iterator[tuple[str, np.ndarray]],
                      expect: list[str]) -> None:
    """Write a safetensors file from its header bytes and the tensors' bytes in offset order
    (``chunks`` yields ``(name, uint8 bytes)``), atomically; then let ``safe_open`` check it."""
    from safetensors import SafetensorError, safe_open

    from sckit.atomic import atomic_open

    header = json.loads(hbytes)
    order = sorted((k for k in header if k != "__metadata__"),
                   key=lambda k: int(header[k]["data_offsets"][0]))
    if order != expect:
        raise FormatError(f"{path.name}: stored tensors do not match the stored header")
    with atomic_open(path) as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for (name, data), want in zip(chunks, order, strict=True):
            b, e = header[want]["data_offsets"]
            if name != want or data.nbytes != int(e) - int(b):
                raise FormatError(f"{path.name}: tensor {want!r} does not match its header entry")
            f.write(data.data)
    try:
        with safe_open(path, framework="numpy"):
            pass
    except SafetensorError as e:  # pragma: no cover - would be a bug in the writer
        raise FormatError(f"{path}: written file does not validate ({e})") from None
