"""``Writer``: stream tensors into a container, committed atomically on exit.

Each ``add_tensor`` writes that tensor's bytes to a temporary file at once (nothing is held back
but its header row), so saving a model never holds a second copy of it; the header goes last,
the 32-byte prefix is filled in, and the file is renamed onto the target (``sckit.atomic``).
"""

from __future__ import annotations

import json
import math
import os
import threading
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sckit.container._header import KINDS, MAX_TENSORS, META_FROM_ENTRY, flatten_meta
from sckit.container._layout import (
    ALIGN,
    FORMAT_VERSION,
    MAGIC,
    PREFIX_V3,
    SECTION_DTYPES,
    TENSOR_DTYPES,
    align_for,
    data_start,
    pad_to,
)
from sckit.container._zdict import DICTIONARIES
from sckit.container.reader import MAX_HEADER_BYTES
from sckit.ras.shapes import derived_lengths

if TYPE_CHECKING:
    import torch

    from sckit.ras import RAS

__all__ = ["Writer"]

_SECTION_CODE = {d: i for i, d in enumerate(SECTION_DTYPES)}
_ZEROS = bytes(ALIGN)
GROUP_BYTES = 1 << 20
ZDICT_ID = 2  # the preset deflate dictionary new files use (sckit.container._zdict)


def _shape_item(shape: list[int]) -> int | list[int]:
    """A 1-d shape as its length (most RAS arrays are 1-d), else the list."""
    return shape[0] if len(shape) == 1 else shape


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict of str to str, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata must map str to str, got {type(k).__name__}: {type(v).__name__}")
        # the reader's limits (sckit.container._header.METADATA), so no file is unreadable
        if len(k) > 1024 or len(v) > 2**24:
            raise ValueError(f"metadata key {k[:40]!r}: keys are limited to 1024 characters, values to 2**24")
    if len(metadata) > 10**5:
        raise ValueError(f"metadata has {len(metadata)} entries (at most 100,000)")
    return dict(metadata)


class Writer:
    """Write a container: ``with Writer(path, kind="checkpoint", metadata={...}) as w:`` then
    ``w.add_tensor(name, tensor)`` per tensor; leaving the block without an exception commits
    (header written, file fsynced and renamed onto ``path``), with one removes the temporary
    file and leaves ``path`` as it was. Without ``with``, call :meth:`commit` or :meth:`abort`.

    ``kind``: "checkpoint" (named tensors + ``metadata``, no model; what ``sckit.pack`` writes),
    or "dense"/"succinct" (used by ``sckit.save``; each tensor then needs a ``role``).
    ``metadata``: arbitrary ``dict[str, str]`` (e.g. a safetensors file's ``__metadata__``).
    Tensors are stored in the order they are added; ``add_tensor`` may be called from several
    threads (calls are serialised), but the order is then theirs.
    A symlink at ``path`` is kept and its target written; stale temporaries of killed writers
    are removed (``sckit.atomic``).
    """

    def __init__(self, path: str | os.PathLike[str], *, kind: str = "checkpoint",
                 metadata: Mapping[str, str] | None = None) -> None:
        from sckit.atomic import atomic_open, resolve_target

        if kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
        self.kind = kind
        self.metadata = _check_metadata(metadata)
        target = resolve_target(path)
        if target.is_dir():
            raise IsADirectoryError(f"{target} is a folder; give a file name, e.g. {target / 'model.sck'}")
        if not target.parent.is_dir():
            raise FileNotFoundError(f"cannot save to {target}: folder {target.parent} does not exist")
        self.path = Path(path)
        self._fields: dict[str, Any] = {}
        self._rows: list[dict[str, Any]] = []
        self._names: set[str] = set()
        self._schemas: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        self._lock = threading.Lock()
        self._cursor = data_start(FORMAT_VERSION)
        self._done = False
        # one CRC32 per group of consecutive tensors of >= GROUP_BYTES (a small model has one):
        # 4-5 header bytes per small tensor saved, and a lazy check reads at most a group plus
        # one tensor (1 MiB of crc32: ~0.1 ms)
        self._crc, self._group_bytes, self._open_rows = 0, 0, 0
        self._cm = atomic_open(target, "w+b")
        self._f = self._cm.__enter__()
        try:
            self._f.write(_ZEROS[: self._cursor])  # the prefix, filled in by commit
        except BaseException as exc:
            self._cm.__exit__(type(exc), exc, exc.__traceback__)
            raise

    # -- context manager ------------------------------------------------------------------------
    def __enter__(self) -> Writer:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: Any) -> None:
        if self._done:
            return
        if et is None:
            self.commit()
        else:
            self._done = True
            self._cm.__exit__(et, ev, tb)

    def abort(self) -> None:
        """Discard everything written; ``path`` keeps its old content (or stays absent)."""
        if not self._done:
            self._done = True
            exc = RuntimeError("container write aborted")
            self._cm.__exit__(RuntimeError, exc, None)

    # -- tensors --------------------------------------------------------------------------------
    def _write(self, data: Any, nbytes: int, itemsize: int, packed: bool = False) -> None:
        """Append one section (aligned per ``align_for``) to the open CRC group."""
        pad = pad_to(self._cursor, align_for(nbytes, itemsize, packed))
        if pad:
            self._f.write(_ZEROS[:pad])
            self._crc = zlib.crc32(_ZEROS[:pad], self._crc)
        if nbytes:
            self._f.write(data)
            self._crc = zlib.crc32(data, self._crc)
        self._cursor += pad + nbytes
        self._group_bytes += pad + nbytes

    def _row(self, name: str, role: str | None, requires_grad: bool) -> dict[str, Any]:
        if not isinstance(name, str) or not name or len(name) > 1024:
            raise ValueError(f"tensor name must be a non-empty string of <= 1024 characters, got {name!r}")
        if name in self._names:
            raise ValueError(f"tensor {name!r} added twice")
        if self._done:
            raise RuntimeError("this Writer is already committed or aborted")
        row: dict[str, Any] = {"n": name}
        if self.kind == "checkpoint":
            if role is not None:
                raise ValueError("a checkpoint's tensors have no role")
        else:
            if role not in ("parameter", "buffer"):
                raise ValueError(f"role must be 'parameter' or 'buffer' in a {self.kind} file, got {role!r}")
            # defaults cost nothing: a parameter that requires grad, a buffer that does not
            if role == "buffer":
                row["b"] = 1
            if bool(requires_grad) != (role == "parameter"):
                row["g"] = bool(requires_grad)
        return row

    def add_tensor(self, name: str, tensor: torch.Tensor | np.ndarray | None = None, *,
                   ras: RAS | None = None, raw_bytes: Any = None, dtype: str | None = None,
                   shape: Sequence[int] | None = None, role: str | None = None,
                   requires_grad: bool = False) -> None:
        """Store one tensor, given as exactly one of

        - ``tensor``: a ``torch.Tensor`` (any device, layout made contiguous) or numpy array of a
          dtype in ``TENSOR_DTYPES`` (float8, bfloat16 and wide unsigned ints included), stored
          raw: its bytes as they are;
        - ``ras=``: a ``sckit.ras.RAS`` (encode with ``sckit.tensor_io.encode_tensor``);
          ``dtype``/``shape`` default to the RAS's and must match it;
        - ``raw_bytes=``: a bytes-like object of ``prod(shape) * itemsize`` bytes with ``dtype``
          (a torch dtype name: "float8_e4m3fn", "uint32", ...) and ``shape`` given.

        ``role`` ("parameter"/"buffer") and ``requires_grad`` are for model files only.
        ValueError/TypeError for anything the format cannot hold, before any byte is written.
        """
        if sum(x is not None for x in (tensor, ras, raw_bytes)) != 1:
            raise TypeError("give exactly one of tensor, ras= or raw_bytes=")
        with self._lock:
            row = self._row(name, role, requires_grad)
            if ras is not None:
                self._add_ras(row, ras, dtype, shape)
            else:
                data, dt, shp = self._raw_source(tensor, raw_bytes, dtype, shape)
                row["d"], row["s"] = dt, list(shp)
                self._write(data, data.nbytes, TENSOR_DTYPES[dt])
            self._rows.append(row)
            self._names.add(name)
            self._open_rows += 1
            if self._group_bytes >= GROUP_BYTES:
                self._close_group()

    def _close_group(self) -> None:
        """The last data row added closes the open CRC group."""
        last = next(r for r in reversed(self._rows) if "t" not in r)
        last["c"] = self._crc
        self._crc, self._group_bytes, self._open_rows = 0, 0, 0

    def _raw_source(self, tensor: Any, raw_bytes: Any, dtype: str | None,
                    shape: Sequence[int] | None) -> tuple[memoryview, str, tuple[int, ...]]:
        if raw_bytes is not None:
            if dtype not in TENSOR_DTYPES:
                raise ValueError(f"raw_bytes needs dtype= one of {sorted(TENSOR_DTYPES)}, got {dtype!r}")
            if shape is None:
                raise ValueError("raw_bytes needs shape=")
            shp = tuple(int(d) for d in shape)
            if any(d < 0 for d in shp) or len(shp) > 32:
                raise ValueError(f"bad shape {list(shape)}")
            data = memoryview(raw_bytes).cast("B")
            need = math.prod(shp) * TENSOR_DTYPES[dtype]
            if data.nbytes != need:
                raise ValueError(f"raw_bytes has {data.nbytes} bytes, {dtype}{list(shp)} needs {need}")
            return data, dtype, shp
        if dtype is not None or shape is not None:
            raise TypeError("dtype=/shape= go with raw_bytes= or ras=, not with a tensor")
        if isinstance(tensor, np.ndarray):
            dt = tensor.dtype.name
            if dt not in TENSOR_DTYPES or tensor.dtype.byteorder == ">":
                raise ValueError(f"cannot store a numpy array of dtype {tensor.dtype}")
            a = np.ascontiguousarray(tensor)
            return a.reshape(-1).view(np.uint8).data, dt, tuple(a.shape)
        import torch

        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"tensor must be a torch.Tensor or numpy array, got {type(tensor).__name__}")
        dt = str(tensor.dtype).removeprefix("torch.")
        if dt not in TENSOR_DTYPES:
            raise ValueError(f"cannot store tensors of dtype {tensor.dtype}")
        if tensor.layout != torch.strided or tensor.device.type == "meta":
            raise ValueError(f"cannot store a {tensor.layout} tensor on {tensor.device} (tensor data needed)")
        t = tensor.detach().cpu().contiguous()
        flat = t.reshape(-1)  # a 0-d tensor cannot be viewed as bytes of another width
        arr: np.ndarray = flat.view(torch.uint8).numpy() if flat.numel() else np.zeros(0, np.uint8)
        return arr.data, dt, tuple(t.shape)

    def _add_ras(self, row: dict[str, Any], ras: RAS, dtype: str | None, shape: Sequence[int] | None) -> None:
        meta, named = ras.to_arrays()
        dt = dtype if dtype is not None else str(meta.get("dtype"))
        shp = [int(d) for d in (shape if shape is not None else meta.get("shape", []))]
        if dt not in TENSOR_DTYPES or meta.get("dtype") != dt or list(meta.get("shape", [])) != shp:
            raise ValueError(f"RAS is {meta.get('dtype')}{meta.get('shape')}, given {dt}{shp}")
        flat = flatten_meta({k: v for k, v in meta.items() if k not in META_FROM_ENTRY})
        arrays = {k: np.ascontiguousarray(v) for k, v in named.items()}
        for k, a in arrays.items():
            if a.dtype.name not in _SECTION_CODE or a.dtype.byteorder == ">":
                raise ValueError(f"RAS array {k!r} has dtype {a.dtype}, which the format cannot hold")
        key = (tuple(flat), tuple(arrays))
        self._schemas.setdefault(key, len(self._schemas))
        row["d"], row["s"] = dt, shp
        lengths = derived_lengths(meta)
        derivable = {k for k, a in arrays.items() if a.ndim == 1 and lengths.get(k) == a.shape[0]}
        # finished at commit, when the values every tensor of a schema shares are known
        row["r"] = (key, list(flat.values()), derivable)
        row["a"] = [(_SECTION_CODE[a.dtype.name], list(a.shape)) for a in arrays.values()]
        for a in arrays.values():
            self._write(a.reshape(-1).view(np.uint8).data if a.size else b"", a.nbytes,
                        a.dtype.itemsize, packed=True)

    def add_tied(self, name: str, tied_to: str) -> None:
        """Record ``name`` as the same parameter as ``tied_to`` (model files only)."""
        with self._lock:
            if self.kind == "checkpoint":
                raise ValueError("a checkpoint has no tied tensors: add the tensor itself")
            self._row(name, "parameter", True)  # checks the name
            row = {"n": name, "t": tied_to}
            self._rows.append(row)
            self._names.add(name)

    def _set_fields(self, **fields: Any) -> None:
        """Model-level header fields (``model``, ``training``, ``engine``): ``sckit.save`` only."""
        self._fields.update(fields)

    # -- commit ---------------------------------------------------------------------------------
    def commit(self) -> None:
        """Write the header and prefix, fsync, and rename onto the target."""
        with self._lock:
            if self._done:
                raise RuntimeError("this Writer is already committed or aborted")
            try:
                stored, _ = self._header()
                self._f.write(stored)
                self._f.seek(0)
                self._f.write(PREFIX_V3.pack(MAGIC, FORMAT_VERSION, zlib.crc32(stored), self._cursor,
                                             len(stored), ZDICT_ID))
            except BaseException as exc:
                self._done = True
                self._cm.__exit__(type(exc), exc, exc.__traceback__)
                raise
            self._done = True
            self._cm.__exit__(None, None, None)

    def _finish_ras_rows(self) -> list[dict[str, Any]]:
        """Schemas hold once what every tensor of the schema shares: meta values ("const"), meta
        values equal to an earlier key's ("same", e.g. a wavelet matrix's length and the stream
        length), array dtypes ("dtypes") and the arrays whose lengths the meta determines
        ("derived", :func:`sckit.ras.shapes.derived_lengths`). Rows keep only what varies, and
        1-d array shapes as a length."""
        rows: dict[Any, list[dict[str, Any]]] = {k: [] for k in self._schemas}
        for r in self._rows:
            if "r" in r:
                rows[r["r"][0]].append(r)
        out = []
        for key, sid in self._schemas.items():
            keys, names = key
            rs = rows[key]
            vals = [[json.dumps(x) for x in r["r"][1]] for r in rs]
            const = {k: rs[0]["r"][1][i] for i, k in enumerate(keys) if all(v[i] == vals[0][i] for v in vals)}
            varying = [i for i, k in enumerate(keys) if k not in const]
            same: dict[str, str] = {}
            for n, i in enumerate(varying):
                j = next((j for j in varying[:n] if keys[j] not in same
                          and all(v[i] == v[j] for v in vals)), None)
                if j is not None:
                    same[keys[i]] = keys[j]
            # per array: its dtype code when every tensor agrees, else None (the row gives it)
            codes: list[int | None] = [c for c, _ in rs[0]["a"]]
            for r in rs[1:]:
                codes = [c if c == rc else None for c, (rc, _) in zip(codes, r["a"], strict=True)]
            derived = [n for n, c in zip(names, codes, strict=True)
                       if c is not None and all(n in r["r"][2] for r in rs)]
            schema: dict[str, Any] = {"meta": [k for k in keys if k not in const and k not in same],
                                      "arrays": list(names)}
            if const:
                schema["const"] = const
            if same:
                schema["same"] = same
            if any(c is not None for c in codes):
                schema["dtypes"] = codes
            else:
                codes = [None] * len(names)
            if derived:
                schema["derived"] = derived
            out.append(schema)
            for r in rs:
                v = r["r"][1]
                r["r"] = [sid, *(x for k, x in zip(keys, v, strict=True) if k not in const and k not in same)]
                r["a"] = [_shape_item(shp) if fixed is not None else [c, _shape_item(shp)]
                          for n, fixed, (c, shp) in zip(names, codes, r["a"], strict=True)
                          if n not in derived]
        return out

    def _header(self) -> tuple[bytes, int]:
        tied = {r["n"]: "t" in r for r in self._rows}
        for row in self._rows:
            if "t" in row and tied.get(row["t"], True):
                raise ValueError(f"tensor {row['n']!r} is tied to {row['t']!r}, which is not stored")
        if self.kind != "checkpoint" and "model" not in self._fields:
            raise ValueError(f"a {self.kind} file needs its model description")
        header: dict[str, Any] = {"format": "sckit-container", "version": FORMAT_VERSION, "kind": self.kind}
        if self.metadata:
            header["metadata"] = self.metadata
        header.update(self._fields)
        if "engine" in header:  # units name their parameters by index into the tensor list
            index = {r["n"]: i for i, r in enumerate(self._rows)}
            eng = dict(header["engine"])
            if list(eng["schedule"]) == list(eng["units"]):
                del eng["schedule"]  # the default: units in call order
            default: dict[str, list[str]] = {}
            for r in self._rows:  # the reader's _header.default_units, on the rows
                if "b" not in r and "t" not in r:
                    default.setdefault(r["n"].rpartition(".")[0], []).append(r["n"])
            if list(eng["units"].items()) == list(default.items()):
                del eng["units"]  # the default: each module's parameters
            else:
                eng["units"] = {u: [index[n] for n in names] for u, names in eng["units"].items()}
            header["engine"] = eng
        if not header.get("training", True):
            del header["training"]
        if self._open_rows:
            self._close_group()
        if self._schemas:
            header["ras_schemas"] = self._finish_ras_rows()
        header["tensors"] = self._rows
        if len(self._rows) > MAX_TENSORS:
            raise ValueError(f"{len(self._rows)} tensors (a container holds at most {MAX_TENSORS})")
        raw = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if len(raw) > MAX_HEADER_BYTES:
            raise ValueError(f"header of {len(raw)} bytes (at most {MAX_HEADER_BYTES})")
        c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARIES[ZDICT_ID])
        return c.compress(raw) + c.flush(), len(raw)

