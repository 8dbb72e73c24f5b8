"""The sckit container: ``save(obj, path)`` / ``load(path, model=None)`` (format in docs/format.md).

Layout (all integers little-endian)::

    [0, 64)            prefix: magic b"SCKITCF\\0", u32 version, u32 crc32(header),
                       u64 header offset, u64 header length, 32 zero bytes
    [64, ...)          binary sections, each starting at a multiple of 64, zero padding between
    [header offset,..) JSON header (UTF-8), last in the file so its offsets are known when written

No pickle, no code execution on load: the header is JSON, every section is a flat numeric array
(``np.frombuffer``/``np.memmap`` of a whitelisted dtype), and the architecture comes from the zoo
registry or from a fresh instance the caller passes. Every defect raises ``FormatError`` naming it.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sckit.errors import FormatError

__all__ = ["FORMAT_VERSION", "MAGIC", "load", "save"]

MAGIC = b"SCKITCF\x00"
FORMAT_VERSION = 1
ALIGN = 64
_PREFIX = struct.Struct("<8sIIQQ32s")  # 64 bytes
assert _PREFIX.size == ALIGN
# numpy dtypes a section may have: plain numbers only (never object or structured dtypes)
_NP_DTYPES = {
    d: np.dtype(d)
    for d in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64")
}
# torch dtypes a tensor may have
_TORCH_DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8,
              torch.int16, torch.int32, torch.int64, torch.bool, torch.complex64, torch.complex128)
}


def _pad(n: int) -> int:
    return (-n) % ALIGN


def _dtype_name(dtype: torch.dtype) -> str:
    name = str(dtype).removeprefix("torch.")
    if name not in _TORCH_DTYPES:
        raise ValueError(f"cannot store tensors of dtype {dtype}")
    return name


# --------------------------------------------------------------------------------------------
# save
# --------------------------------------------------------------------------------------------
def _model_description(module: nn.Module, zoo: Any) -> dict[str, Any]:
    cls = type(module)
    desc: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}", "zoo": None}
    if isinstance(zoo, dict) and isinstance(zoo.get("name"), str):
        kwargs = zoo.get("kwargs") or {}
        try:
            json.dumps(kwargs)
            desc["zoo"] = {"name": zoo["name"], "kwargs": kwargs}
        except TypeError:
            pass  # kwargs not JSON-able: loading then needs model=
    return desc


def _tensor_bytes(t: torch.Tensor) -> np.ndarray:
    # reshape(-1) first: a 0-d tensor cannot be viewed as bytes of another width
    t = t.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy() if t.numel() else np.zeros(0, np.uint8)


def save(obj: nn.Module, path: str | os.PathLike[str]) -> None:
    """Write a ``SuccinctModel`` (weights as RAS) or a plain ``nn.Module`` (dense tensors, lossless)
    to ``path`` atomically: a temporary file in the same folder is written, fsynced and renamed, so
    a crash never leaves a partial file under ``path``.

    A plain module is stored uncompressed on purpose (``save`` never changes what it is given);
    compress it first with ``sckit.compress`` to store RAS.
    """
    from sckit.engine import SuccinctModel

    if not isinstance(obj, nn.Module):
        raise TypeError(f"save() takes an nn.Module or SuccinctModel, got {type(obj).__name__}")
    # before any work: these would otherwise surface as a failed rename of the temporary file
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder; give a file name, e.g. {target / 'model.sck'}")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {target}: folder {target.parent} does not exist")
    arrays: list[np.ndarray] = []

    def add(a: np.ndarray) -> int:
        a = np.ascontiguousarray(a)
        if a.dtype.name not in _NP_DTYPES:
            raise ValueError(f"cannot store an array of dtype {a.dtype}")
        arrays.append(a)
        return len(arrays) - 1

    if isinstance(obj, SuccinctModel):
        module, kind = obj.module, "succinct"
        ras: dict[str, Any] = obj._runtime.ras
        info: dict[str, dict[str, Any]] = obj._info
        zoo = obj._zoo
    else:
        module, kind, ras, info = obj, "dense", {}, {}
        zoo = getattr(obj, "_sckit_zoo", None)
    canon = {id(p): n for n, p in module.named_parameters()}
    tensors = []
    for key, val in module.state_dict(keep_vars=True).items():
        entry: dict[str, Any] = {"name": key}
        if isinstance(val, nn.Parameter):
            entry["role"] = "parameter"
            cname = canon.get(id(val), key)
            if cname != key:
                entry.update(storage="tied", tied_to=cname)
                tensors.append(entry)
                continue
        else:
            entry["role"] = "buffer"
        if key in ras:
            r = ras[key]
            meta, named = r.to_arrays()
            entry.update(
                dtype=_dtype_name(info[key]["dtype"]),
                shape=list(info[key]["shape"]),
                requires_grad=bool(info[key]["requires_grad"]),
                storage="ras",
                ras={"meta": meta, "arrays": {k: add(np.asarray(v)) for k, v in named.items()}},
            )
        else:
            entry.update(
                dtype=_dtype_name(val.dtype),
                shape=list(val.shape),
                requires_grad=bool(getattr(val, "requires_grad", False)),
                storage="raw",
                section=add(_tensor_bytes(val)),
            )
        tensors.append(entry)
    sections, offset = [], ALIGN
    for a in arrays:
        sections.append(
            {
                "offset": offset,
                "bytes": int(a.nbytes),
                "dtype": a.dtype.name,
                "shape": list(a.shape),
                "crc32": zlib.crc32(a.data.cast("B")) if a.nbytes else 0,
            }
        )
        offset += a.nbytes + _pad(a.nbytes)
    header: dict[str, Any] = {
        "format": "sckit-container",
        "version": FORMAT_VERSION,
        "kind": kind,
        "model": _model_description(module, zoo),
        "sections": sections,
        "tensors": tensors,
        # train/eval mode is part of what the model computes (BatchNorm, Dropout)
        "training": [n for n, m in module.named_modules() if m.training],
    }
    if kind == "succinct":
        assert isinstance(obj, SuccinctModel)
        rt = obj._runtime
        header["engine"] = {
            "units": obj._units,
            "schedule": obj._schedule,
            "reasons": obj._reasons,
            "decode_ahead": rt.decode_ahead if rt.decode_ahead == "auto" else bool(rt.decode_ahead),
        }
        if rt.auto_pays is not None:
            header["engine"]["auto_pays"] = bool(rt.auto_pays)
        if obj.plan:
            # fast mode's measured per-layer kernels: loading with mode="fast" reuses them
            header["engine"]["plan"] = obj.plan
    header_offset = offset
    hbytes = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, zlib.crc32(hbytes), header_offset, len(hbytes), b"")
    _atomic_write(Path(path), prefix, arrays, hbytes)


def _atomic_write(path: Path, prefix: bytes, arrays: list[np.ndarray], hbytes: bytes) -> None:
    from sckit.atomic import atomic_open

    with atomic_open(path) as f:
        f.write(prefix)
        for a in arrays:
            f.write(a.data.cast("B") if a.nbytes else b"")
            f.write(b"\0" * _pad(a.nbytes))
        f.write(hbytes)


# --------------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------------
def _need(cond: bool, what: str) -> None:
    if not cond:
        raise FormatError(what)


def _read_prefix(buf: memoryview, size: int, path: Path) -> tuple[int, int, int]:
    _need(size >= ALIGN, f"{path}: truncated file ({size} bytes; the prefix alone is {ALIGN})")
    magic, version, hcrc, hoff, hlen, reserved = _PREFIX.unpack(bytes(buf[:ALIGN]))
    _need(magic == MAGIC, f"{path}: bad magic {magic!r} (expected {MAGIC!r}); not an sckit container")
    _need(version == FORMAT_VERSION, f"{path}: unknown format version {version} (this sckit reads {FORMAT_VERSION})")
    _need(reserved == b"\0" * 32, f"{path}: reserved prefix bytes are not zero")
    _need(hoff % ALIGN == 0 and hoff >= ALIGN, f"{path}: header offset {hoff} is not a 64-aligned offset past the prefix")
    _need(hoff + hlen <= size, f"{path}: truncated file (header ends at {hoff + hlen}, file has {size} bytes)")
    _need(hoff + hlen == size, f"{path}: {size - hoff - hlen} unexpected bytes after the header")
    return hcrc, hoff, hlen


def _parse_header(buf: memoryview, hcrc: int, hoff: int, hlen: int, path: Path) -> dict[str, Any]:
    raw = bytes(buf[hoff : hoff + hlen])
    _need(zlib.crc32(raw) == hcrc, f"{path}: header checksum mismatch (crc32 {zlib.crc32(raw):#x} != {hcrc:#x})")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: header is not valid UTF-8 JSON: {exc}") from exc
    _need(isinstance(header, dict), f"{path}: header is not a JSON object")
    _need(header.get("format") == "sckit-container", f"{path}: header format field is {header.get('format')!r}")
    _need(header.get("version") == FORMAT_VERSION, f"{path}: unknown header version {header.get('version')!r}")
    _need(header.get("kind") in ("succinct", "dense"), f"{path}: unknown kind {header.get('kind')!r}")
    for key, typ in (("sections", list), ("tensors", list), ("model", dict)):
        _need(isinstance(header.get(key), typ), f"{path}: header field {key!r} missing or not a {typ.__name__}")
    return header


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_sections(header: dict[str, Any], buf: memoryview, hoff: int, path: Path, verify: bool) -> list[np.ndarray]:
    """Validate the section table (bounds, alignment, order, dtype, checksum, zero padding) and
    return one numpy array per section (views of ``buf``)."""
    out, cursor = [], ALIGN
    for i, sec in enumerate(header["sections"]):
        where = f"{path}: section {i}"
        _need(isinstance(sec, dict), f"{where} is not an object")
        off, nbytes, dt, shape, crc = (sec.get(k) for k in ("offset", "bytes", "dtype", "shape", "crc32"))
        _need(_is_int(off) and _is_int(nbytes) and nbytes >= 0 and _is_int(crc), f"{where}: offset/bytes/crc32 must be integers")
        _need(off % ALIGN == 0, f"{where}: offset {off} is not 64-byte aligned")
        _need(off >= cursor, f"{where}: offset {off} overlaps the previous section (ends at {cursor})")
        _need(off + nbytes <= hoff, f"{where}: out of bounds ([{off}, {off + nbytes}) runs into the header at {hoff})")
        _need(dt in _NP_DTYPES, f"{where}: dtype {dt!r} is not allowed")
        _need(isinstance(shape, list) and all(_is_int(d) and d >= 0 for d in shape), f"{where}: bad shape {shape!r}")
        dtype = _NP_DTYPES[dt]
        n = math.prod(shape)  # Python ints: a forged huge shape cannot wrap around
        _need(n * dtype.itemsize == nbytes, f"{where}: shape {shape} x {dt} is not {nbytes} bytes")
        if verify:
            _need(not any(buf[cursor:off]), f"{path}: non-zero padding before section {i}")
            got = zlib.crc32(buf[off : off + nbytes])
            _need(got == crc, f"{where}: checksum mismatch (crc32 {got:#x} != {crc:#x})")
        out.append(np.frombuffer(buf, dtype=dtype, count=n, offset=off).reshape(shape))
        cursor = off + nbytes
    if verify:
        _need(not any(buf[cursor:hoff]), f"{path}: non-zero padding before the header")
    return out


def _build_module(header: dict[str, Any], model: nn.Module | None, path: Path) -> nn.Module:
    desc = header["model"]
    cls_name = desc.get("class")
    if model is not None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model= must be an nn.Module, got {type(model).__name__}")
        got = f"{type(model).__module__}.{type(model).__qualname__}"
        _need(got == cls_name, f"{path}: header describes a {cls_name} but model= is a {got}")
        return model
    zoo = desc.get("zoo")
    if not (isinstance(zoo, dict) and isinstance(zoo.get("name"), str)):
        raise FormatError(
            f"{path}: stores a {cls_name} that is not from the sckit zoo; pass model= a freshly "
            "constructed instance of it"
        )
    kwargs = zoo.get("kwargs") or {}
    _need(isinstance(kwargs, dict), f"{path}: zoo kwargs is not an object")
    from sckit import zoo as zoo_mod

    _need(zoo["name"] in zoo_mod.list_models(), f"{path}: unknown zoo model {zoo['name']!r}")
    try:
        # built on the meta device, then given uninitialised CPU storage: every stored tensor is
        # overwritten anyway, and encoded weights are replaced before their pages are touched, so
        # loading a compressed model never holds a dense copy of its weights
        with torch.device("meta"):
            module = zoo_mod.create_model(zoo["name"], **kwargs)
    except (TypeError, ValueError, KeyError) as exc:
        raise FormatError(f"{path}: cannot rebuild zoo model {zoo['name']!r} with {kwargs}: {exc}") from exc
    if {n for n, _ in module.named_buffers()} - set(module.state_dict()):
        # non-persistent buffers are not in the file: they need the real constructor
        module = zoo_mod.create_model(zoo["name"], **kwargs)
    else:
        module = module.to_empty(device="cpu")
    module._sckit_zoo = {"name": zoo["name"], "kwargs": kwargs}  # type: ignore[assignment]  # re-save records it
    return module


def _tensor_from(entry: dict[str, Any], arrays: list[np.ndarray], path: Path) -> torch.Tensor:
    sec: Any = entry.get("section")
    _need(_is_int(sec) and 0 <= sec < len(arrays), f"{path}: tensor {entry['name']!r} names missing section {sec!r}")
    a = arrays[sec]
    dtype = _TORCH_DTYPES[entry["dtype"]]
    shape = entry["shape"]
    itemsize = torch.empty(0, dtype=dtype).element_size()
    n = math.prod(shape)
    _need(a.dtype == np.uint8 and a.nbytes == n * itemsize, f"{path}: tensor {entry['name']!r}: section {sec} has {a.nbytes} bytes, shape {shape} x {entry['dtype']} needs {n * itemsize}")
    t = torch.from_numpy(a.copy())  # copy: the buffer is read-only and may be a memory map
    return t.view(dtype).reshape(shape)


def load(path: str | os.PathLike[str], model: nn.Module | None = None, *, mmap: bool = False,
         backend: str = "auto", mode: str | None = None, example_input: Any = None) -> nn.Module:
    """Read a container written by ``save``: a ``SuccinctModel`` or a plain ``nn.Module``.

    The architecture is rebuilt from the zoo registry (name + kwargs recorded in the file) or is
    ``model``, a freshly constructed instance whose weights are replaced by the stored ones. Every
    defect (bad magic, unknown version, truncation, a section out of bounds, a checksum mismatch,
    a header that does not match the module) raises ``sckit.FormatError``. With ``mmap=True`` the
    RAS arrays stay views of a read-only memory map of the file instead of being copied to memory.
    ``backend`` (a ``SuccinctModel`` only) is as for ``sckit.compress``: "cuda" runs it on the GPU
    with sckit's decode kernels; "auto" keeps it on the CPU, where it is built.
    ``mode`` (a ``SuccinctModel`` only) is as for ``sckit.compress``; None keeps the mode it was
    saved in. "fast" reuses the per-layer kernel plan stored by a fast model's save (nothing is
    measured again); for a file saved in exact mode it calibrates on ``example_input`` (default:
    the zoo model's default input; ValueError when there is neither).
    """
    from sckit.engine.core import check_mode
    from sckit.engine.decode import check_backend

    check_backend(backend)  # before reading the file
    if mode is not None:
        check_mode(mode)
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc}") from exc
    if mmap and size:
        buf = np.memmap(path, dtype=np.uint8, mode="r").data
    else:
        buf = memoryview(path.read_bytes())
    hcrc, hoff, hlen = _read_prefix(buf, size, path)
    header = _parse_header(buf, hcrc, hoff, hlen, path)
    arrays = _check_sections(header, buf, hoff, path, verify=True)
    module = _build_module(header, model, path)
    entries = _check_tensors(header, module, path)
    _set_modes(header, module, path)
    if header["kind"] == "dense":
        _assign_dense(module, entries, arrays, path)
        return module
    sm: Any = _assemble_succinct(header, module, entries, arrays, path, copy_arrays=not mmap, backend=backend)
    pays = header["engine"].get("auto_pays")
    _need(pays is None or isinstance(pays, bool), f"{path}: engine auto_pays is not a bool")
    sm._runtime.auto_pays = pays
    _set_engine_mode(sm, header["engine"], mode, example_input, path)
    return sm


def _set_engine_mode(sm: Any, eng: dict[str, Any], mode: str | None, example_input: Any, path: Path) -> None:
    plan = eng.get("plan")
    _need(plan is None or (isinstance(plan, dict) and all(isinstance(v, dict) for v in plan.values())), f"{path}: engine plan is not an object of layer plans")
    want = mode if mode is not None else ("fast" if plan else "exact")
    if want == "exact":
        return
    if plan and example_input is None:
        try:
            sm.apply_plan(plan)
        except ValueError as exc:
            raise FormatError(f"{path}: engine plan: {exc}") from exc
        return
    if example_input is None:
        zoo = getattr(sm, "_zoo", None)
        if not zoo:
            raise ValueError(f"{path} was saved in exact mode: mode='fast' measures each layer's "
                             "kernels, so pass example_input= (a batch like the ones you will run)")
        from sckit import zoo as zoo_mod

        example_input = zoo_mod.default_input(zoo["name"])
    sm.calibrate(example_input)


def _set_modes(header: dict[str, Any], module: nn.Module, path: Path) -> None:
    training = header.get("training", [])
    names = dict(module.named_modules())
    _need(isinstance(training, list) and all(isinstance(n, str) and n in names for n in training), f"{path}: header does not match the module: 'training' names unknown submodules")
    flags = set(training)
    for name, mod in names.items():
        mod.training = name in flags


def _check_tensors(header: dict[str, Any], module: nn.Module, path: Path) -> dict[str, dict[str, Any]]:
    """Header tensor entries must name exactly the module's state_dict keys, with its shapes/dtypes."""
    expected = module.state_dict(keep_vars=True)
    entries: dict[str, dict[str, Any]] = {}
    for e in header["tensors"]:
        _need(isinstance(e, dict) and isinstance(e.get("name"), str), f"{path}: tensor entry without a name")
        _need(e["name"] not in entries, f"{path}: tensor {e['name']!r} listed twice")
        entries[e["name"]] = e
    missing = sorted(set(expected) - set(entries))
    extra = sorted(set(entries) - set(expected))
    _need(not missing, f"{path}: header does not match the module: module tensors missing from the file: {missing[:5]}")
    _need(not extra, f"{path}: header does not match the module: file tensors the module lacks: {extra[:5]}")
    canon = {id(p): n for n, p in module.named_parameters()}
    for name, e in entries.items():
        val = expected[name]
        storage = e.get("storage")
        _need(storage in ("raw", "ras", "tied"), f"{path}: tensor {name!r}: unknown storage {storage!r}")
        is_param = isinstance(val, nn.Parameter)
        _need(e.get("role") == ("parameter" if is_param else "buffer"), f"{path}: tensor {name!r}: role {e.get('role')!r} does not match the module")
        if storage == "tied":
            _need(is_param and e.get("tied_to") == canon.get(id(val)), f"{path}: tensor {name!r}: tied_to {e.get('tied_to')!r} does not match the module's weight tying")
            continue
        _need(not is_param or canon.get(id(val)) == name, f"{path}: tensor {name!r} is tied in the module but stored separately")
        _need(e.get("dtype") in _TORCH_DTYPES, f"{path}: tensor {name!r}: unknown dtype {e.get('dtype')!r}")
        _need(_TORCH_DTYPES[e["dtype"]] == val.dtype, f"{path}: header does not match the module: {name!r} is {e['dtype']} in the file, {val.dtype} in the module")
        _need(isinstance(e.get("shape"), list) and e["shape"] == list(val.shape), f"{path}: header does not match the module: {name!r} has shape {e.get('shape')!r} in the file, {list(val.shape)} in the module")
        _need(isinstance(e.get("requires_grad", False), bool), f"{path}: tensor {name!r}: requires_grad is not a bool")
    return entries


def _assign_dense(module: nn.Module, entries: dict[str, dict[str, Any]], arrays: list[np.ndarray], path: Path) -> None:
    sd = module.state_dict(keep_vars=True)
    with torch.no_grad():
        for name, e in entries.items():
            if e["storage"] == "tied":
                continue
            _need(e["storage"] == "raw", f"{path}: tensor {name!r}: a dense container stores raw tensors only")
            t = _tensor_from(e, arrays, path)
            sd[name].copy_(t)
            if isinstance(sd[name], nn.Parameter):
                sd[name].requires_grad_(e.get("requires_grad", True))


def _assemble_succinct(header: dict[str, Any], module: nn.Module, entries: dict[str, dict[str, Any]], arrays: list[np.ndarray], path: Path, *, copy_arrays: bool, backend: str) -> nn.Module:
    from sckit.engine import SuccinctModel
    from sckit.ras import RAS

    eng: Any = header.get("engine")
    _need(isinstance(eng, dict), f"{path}: succinct container without an engine section")
    units, schedule, reasons = eng.get("units"), eng.get("schedule"), eng.get("reasons", {})
    modules = dict(module.named_modules(remove_duplicate=False))
    params = dict(module.named_parameters())
    _need(isinstance(units, dict) and isinstance(schedule, list) and isinstance(reasons, dict), f"{path}: engine units/schedule/reasons malformed")
    for unit, names in units.items():
        _need(unit in modules, f"{path}: header does not match the module: engine unit {unit!r} is not a submodule")
        _need(isinstance(names, list) and all(n in params for n in names), f"{path}: engine unit {unit!r} names unknown parameters")
    _need(all(u in units for u in schedule), f"{path}: engine schedule names unknown units")
    _need(all(isinstance(v, str) for v in reasons.values()), f"{path}: engine reasons must be strings")
    encoded: dict[str, Any] = {}
    rest: dict[str, dict[str, Any]] = {}
    for name, e in entries.items():
        if e["storage"] != "ras":
            rest[name] = e
            continue
        _need(name in params, f"{path}: tensor {name!r} is RAS-encoded but is not a parameter")
        spec: Any = e.get("ras")
        _need(isinstance(spec, dict) and isinstance(spec.get("meta"), dict) and isinstance(spec.get("arrays"), dict), f"{path}: tensor {name!r}: malformed ras descriptor")
        named = {}
        for key, sec in spec["arrays"].items():
            _need(_is_int(sec) and 0 <= sec < len(arrays), f"{path}: tensor {name!r}: ras array {key!r} names missing section {sec!r}")
            named[key] = arrays[sec].copy() if copy_arrays else arrays[sec]
        try:
            r = RAS.from_arrays(spec["meta"], named)
        except FormatError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise FormatError(f"{path}: tensor {name!r}: bad RAS descriptor: {exc}") from exc
        _need(tuple(r.shape) == tuple(e["shape"]), f"{path}: tensor {name!r}: RAS shape {tuple(r.shape)} != header shape {tuple(e['shape'])}")
        _need(str(r.dtype) == e["dtype"], f"{path}: tensor {name!r}: RAS dtype {r.dtype} != header dtype {e['dtype']}")
        encoded[name] = r
    _assign_dense(module, rest, arrays, path)
    for name, e in entries.items():
        if name in encoded:
            params[name].requires_grad_(e.get("requires_grad", True))
    return SuccinctModel(
        module,
        encoded,
        reasons,
        units,
        schedule,
        decode_ahead=eng.get("decode_ahead") if eng.get("decode_ahead") == "auto" else bool(eng.get("decode_ahead", False)),
        backend=backend,
        zoo=header["model"].get("zoo"),
    )

