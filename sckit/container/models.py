"""``sckit.save(obj, path)`` / ``sckit.load(path, model=None)``: a model (``SuccinctModel`` or
plain ``nn.Module``) in a container, written with :class:`Writer` and read with :class:`Reader`.

No pickle, no code execution on load: the architecture comes from the zoo registry or from a
fresh instance the caller passes, and the class name in the file is only compared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sckit.container._layout import TensorInfo
from sckit.container.reader import Reader, copy_bytes_into
from sckit.container.writer import Writer
from sckit.errors import FormatError
from sckit.warmup import shows_compile_progress

__all__ = ["load", "save"]


def _model_description(module: nn.Module, zoo: Any) -> dict[str, Any]:
    cls = type(module)
    desc: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}", "zoo": None}
    if isinstance(zoo, dict) and isinstance(zoo.get("name"), str):
        kwargs = zoo.get("kwargs") or {}
        try:
            json.dumps(kwargs, allow_nan=False)
            desc["zoo"] = {"name": zoo["name"], "kwargs": kwargs}
        except (TypeError, ValueError):
            pass  # kwargs not JSON-able: loading then needs model=
    return desc


def save(obj: nn.Module, path: str | os.PathLike[str]) -> None:
    """Write a ``SuccinctModel`` (weights as RAS) or a plain ``nn.Module`` (dense tensors, lossless)
    to ``path`` atomically: a temporary file in the same folder is written tensor by tensor (no
    second copy of the model in memory), fsynced and renamed, so a crash never leaves a partial
    file under ``path``. A symlink at ``path`` is kept and the file it points to replaced.

    A plain module is stored uncompressed on purpose (``save`` never changes what it is given);
    compress it first with ``sckit.compress`` to store RAS.
    """
    from sckit.engine import SuccinctModel

    if not isinstance(obj, nn.Module):
        raise TypeError(f"save() takes an nn.Module or SuccinctModel, got {type(obj).__name__}")
    if isinstance(obj, SuccinctModel):
        module, kind = obj.module, "succinct"
        ras: dict[str, Any] = obj._runtime.ras
        info: dict[str, dict[str, Any]] = obj._info
        zoo = obj._zoo
    else:
        module, kind, ras, info = obj, "dense", {}, {}
        zoo = getattr(obj, "_sckit_zoo", None)
    fields: dict[str, Any] = {
        "model": _model_description(module, zoo),
        # train/eval mode is part of what the model computes (BatchNorm, Dropout)
        "training": [n for n, m in module.named_modules() if m.training],
    }
    if isinstance(obj, SuccinctModel):
        rt = obj._runtime
        eng: dict[str, Any] = {
            "units": obj._units,
            "schedule": obj._schedule,
            "reasons": obj._reasons,
            "decode_ahead": rt.decode_ahead if rt.decode_ahead == "auto" else bool(rt.decode_ahead),
        }
        if rt.auto_pays is not None:
            eng["auto_pays"] = bool(rt.auto_pays)
        if obj.plan:
            # fast mode's measured per-layer kernels: loading with mode="fast" reuses them
            eng["plan"] = obj.plan
        fields["engine"] = eng
    canon = {id(p): n for n, p in module.named_parameters()}
    with Writer(path, kind=kind) as w:
        w._set_fields(**fields)
        for key, val in module.state_dict(keep_vars=True).items():
            is_param = isinstance(val, nn.Parameter)
            role = "parameter" if is_param else "buffer"
            if is_param and canon.get(id(val), key) != key:
                w.add_tied(key, canon[id(val)])
            elif key in ras:
                w.add_tensor(key, ras=ras[key], dtype=str(info[key]["dtype"]).removeprefix("torch."),
                             shape=list(info[key]["shape"]), role=role,
                             requires_grad=bool(info[key]["requires_grad"]))
            else:
                w.add_tensor(key, val, role=role, requires_grad=bool(getattr(val, "requires_grad", False)))


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise FormatError(what)


def _build_module(header: dict[str, Any], model: nn.Module | None, path: Path) -> nn.Module:
    desc = header["model"]
    cls_name = desc["class"]
    if model is not None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model= must be an nn.Module, got {type(model).__name__}")
        got = f"{type(model).__module__}.{type(model).__qualname__}"
        _need(got == cls_name, f"{path}: header describes a {cls_name} but model= is a {got}")
        return model
    zoo = desc.get("zoo")
    if zoo is None:
        raise FormatError(f"{path}: stores a {cls_name} that is not from the sckit zoo; pass model= "
                          "a freshly constructed instance of it")
    kwargs = zoo.get("kwargs") or {}
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


@shows_compile_progress  # a first load compiles the validation and table kernels (sckit.warmup)
def load(path: str | os.PathLike[str], model: nn.Module | None = None, *, mmap: bool = False,
         backend: str = "auto", mode: str | None = None, example_input: Any = None) -> nn.Module:
    """Read a container written by ``save``: a ``SuccinctModel`` or a plain ``nn.Module``.

    The architecture is rebuilt from the zoo registry (name + kwargs recorded in the file) or is
    ``model``, a freshly constructed instance whose weights are replaced by the stored ones. Every
    defect (bad magic, unknown version, truncation, a section out of bounds, a checksum mismatch,
    a header field of the wrong type or range, a header that does not match the module) raises
    ``sckit.FormatError`` naming it; a missing path FileNotFoundError, a folder
    IsADirectoryError. Every CRC is checked, so no byte of the file goes unchecked.
    With ``mmap=True`` the RAS arrays stay views of a read-only memory map of the file instead of
    being read into memory. Reads format versions 1 and 2.
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
    reader = Reader(path, mmap=mmap, verify=True)
    if reader.kind == "checkpoint":
        raise FormatError(f"{path} is a checkpoint (named tensors, no model): read it with "
                          "sckit.container.Reader or unpack it")
    reader.verify()
    header = reader.header
    module = _build_module(header, model, path)
    entries = _check_tensors(reader, module, path)
    _set_modes(header, module, path)
    if reader.kind == "dense":
        _assign_dense(module, entries, reader, path)
        return module
    sm: Any = _assemble_succinct(header, module, entries, reader, path, backend=backend)
    sm._runtime.auto_pays = header["engine"].get("auto_pays")
    _set_engine_mode(sm, header["engine"], mode, example_input, path)
    return sm


def _set_engine_mode(sm: Any, eng: dict[str, Any], mode: str | None, example_input: Any, path: Path) -> None:
    plan = eng.get("plan")
    want = mode if mode is not None else ("fast" if plan else "exact")
    if want == "exact":
        return
    if plan and example_input is None:
        try:
            sm.apply_plan(plan)
        except (ValueError, TypeError, KeyError) as exc:
            raise FormatError(f"{path}: engine.plan: {exc}") from exc
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
    for i, n in enumerate(training):
        _need(n in names, f"{path}: header training[{i}] names {n[:80]!r}, not a submodule of the module")
    flags = set(training)
    for name, mod in names.items():
        mod.training = name in flags


def _check_tensors(reader: Reader, module: nn.Module, path: Path) -> dict[str, TensorInfo]:
    """Header tensor entries must name exactly the module's state_dict keys, with its shapes/dtypes."""
    expected = module.state_dict(keep_vars=True)
    entries = {n: reader.entry(n) for n in reader.names}
    missing = sorted(set(expected) - set(entries))
    extra = sorted(set(entries) - set(expected))
    _need(not missing, f"{path}: header does not match the module: module tensors missing from the file: {missing[:5]}")
    _need(not extra, f"{path}: header does not match the module: file tensors the module lacks: {extra[:5]}")
    canon = {id(p): n for n, p in module.named_parameters()}
    for name, e in entries.items():
        val = expected[name]
        is_param = isinstance(val, nn.Parameter)
        _need(e.role == ("parameter" if is_param else "buffer"), f"{path}: tensor {name!r}: role {e.role!r} does not match the module")
        if e.storage == "tied":
            _need(is_param and e.tied_to == canon.get(id(val)), f"{path}: tensor {name!r}: tied_to {e.tied_to!r} does not match the module's weight tying")
            continue
        _need(not is_param or canon.get(id(val)) == name, f"{path}: tensor {name!r} is tied in the module but stored separately")
        _need(getattr(torch, e.dtype, None) == val.dtype, f"{path}: header does not match the module: {name!r} is {e.dtype} in the file, {val.dtype} in the module")
        _need(list(e.shape) == list(val.shape), f"{path}: header does not match the module: {name!r} has shape {list(e.shape)} in the file, {list(val.shape)} in the module")
        _need(e.storage != "ras" or is_param or val.is_floating_point(), f"{path}: tensor {name!r} is RAS-encoded but is neither a parameter nor a float buffer")
    return entries


def _assign_dense(module: nn.Module, entries: dict[str, TensorInfo], reader: Reader, path: Path) -> None:
    sd = module.state_dict(keep_vars=True)
    with torch.no_grad():
        for name, e in entries.items():
            if e.storage != "raw":
                _need(e.storage == "tied" or reader.kind == "succinct", f"{path}: tensor {name!r}: a dense container stores raw tensors only")
                continue
            dst = sd[name]
            if dst.numel():
                if dst.is_contiguous() and dst.device.type == "cpu":
                    copy_bytes_into(dst.data, reader.raw(name))  # straight from the file's bytes
                else:
                    dst.copy_(reader.tensor(name))
            if isinstance(dst, nn.Parameter):
                dst.requires_grad_(e.requires_grad)


def _units_for_holders(module: nn.Module, units: dict[str, list[str]], is_encoded: dict[str, None],
                       canon: dict[int, str]) -> dict[str, list[str]]:
    """``units`` plus a unit for every module holding an encoded weight that neither it nor an
    ancestor materialises: a second holder of a tied weight whose forward did not run when the
    model was traced. It costs nothing while that forward never runs, and if it does (or an
    engine section was edited to drop the unit) the weight is there instead of an empty
    placeholder."""
    names_of: dict[int, list[str]] = {}
    for n, m in module.named_modules(remove_duplicate=False):
        names_of.setdefault(id(m), []).append(n)

    def materialised(name: str, cname: str) -> bool:
        parts = name.split(".") if name else []
        return any(cname in units.get(".".join(parts[:k]), ()) for k in range(len(parts), -1, -1))

    out = {u: list(ps) for u, ps in units.items()}
    for m in {id(m): m for m in module.modules()}.values():
        paths = names_of[id(m)]
        for _, p in m.named_parameters(recurse=False):
            cname = canon[id(p)]
            if cname in is_encoded and not any(materialised(n, cname) for n in paths):
                out.setdefault(paths[-1], []).append(cname)  # the name a trace gives it
    return out


def _assemble_succinct(header: dict[str, Any], module: nn.Module, entries: dict[str, TensorInfo], reader: Reader, path: Path, *, backend: str) -> nn.Module:
    from sckit.engine import SuccinctModel

    eng = header["engine"]
    units, schedule, reasons = eng["units"], eng["schedule"], eng.get("reasons", {})
    modules = dict(module.named_modules(remove_duplicate=False))
    params = dict(module.named_parameters())
    is_encoded = {n: None for n, e in entries.items() if e.storage == "ras"}  # in file order
    # encoded float buffers (weights a converter keeps as buffers) are units' weights too
    weights = {**{n: b for n, b in module.named_buffers() if n in is_encoded}, **params}
    canon = {id(p): n for n, p in module.named_parameters()}
    covered: set[str] = set()
    for unit, names in units.items():
        _need(unit in modules, f"{path}: engine.units[{unit[:80]!r}]: header does not match the module: not a submodule")
        for j, n in enumerate(names):
            _need(n in weights, f"{path}: engine.units[{unit[:80]!r}][{j}]: {n[:80]!r} is not a weight of the module")
        covered.update(names)
        # a module whose forward runs reads its own weights: an encoded one missing from its
        # unit would be an empty placeholder in that forward (a forged or damaged engine section)
        for local, p in modules[unit].named_parameters(recurse=False):
            cname = canon[id(p)]
            _need(cname not in is_encoded or cname in names, f"{path}: engine.units[{unit[:80]!r}]: omits its module's encoded weight {cname!r} ({local})")
    for i, u in enumerate(schedule):
        _need(u in units, f"{path}: engine.schedule[{i}]: {u[:80]!r} is not an engine unit")
    encoded: dict[str, Any] = {}
    for name in is_encoded:
        _need(name in covered, f"{path}: engine.units: encoded weight {name!r} is in no unit, so no forward would decode it")
        encoded[name] = reader.ras(name)
    units = _units_for_holders(module, units, is_encoded, canon)
    _assign_dense(module, entries, reader, path)
    for name in encoded:
        if name in params:
            params[name].requires_grad_(entries[name].requires_grad)
    da = eng.get("decode_ahead", False)
    return SuccinctModel(
        module,
        encoded,
        reasons,
        units,
        schedule,
        decode_ahead=da if da == "auto" else bool(da),
        backend=backend,
        zoo=header["model"].get("zoo"),
    )
