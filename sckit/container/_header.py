"""The container header's schema (versions 1 and 2) and its translation into the reader's
per-tensor records. Every check raises ``FormatError`` naming the field (docs/format.md)."""

from __future__ import annotations

import math
from typing import Any

from sckit.container._layout import (
    ALIGN,
    SECTION_DTYPES,
    TENSOR_DTYPES,
    Entry,
    Section,
    TensorInfo,
    align_for,
    np_dtype,
    pad_to,
)
from sckit.container._schema import (
    Bool,
    Int,
    JsonValue,
    List,
    Map,
    Nullable,
    Obj,
    OneOf,
    Str,
    fail,
)
from sckit.errors import FormatError
from sckit.ras.shapes import derived_lengths

__all__ = ["KINDS", "MODEL_FIELDS", "default_units", "entries_v1", "entries_v2", "flatten_meta", "unflatten_meta"]

KINDS = ("checkpoint", "dense", "succinct")
MAX_TENSORS = 10**6
MAX_DIMS = 32
NAME = Str(1024)
SHAPE = List(Int(0, 2**62), max_len=MAX_DIMS)
CRC = Int(0, 2**32 - 1)
# the RAS meta's own dtype and shape repeat the tensor's: version 2 stores them once
META_FROM_ENTRY = ("dtype", "shape")

MODEL_FIELDS: dict[str, Any] = {
    "model": Obj({"class": Str(512)},
                 {"zoo": Nullable(Obj({"name": Str(256)}, {"kwargs": Map(JsonValue(6), max_len=256)}))}),
    "training": List(Str(1024), max_len=MAX_TENSORS),
    "engine": Obj(
        {"units": Map(List(NAME, max_len=4096), key=Str(1024), max_len=MAX_TENSORS),
         "schedule": List(Str(1024), max_len=MAX_TENSORS)},
        {"reasons": Map(Str(4096), key=Str(1024), max_len=MAX_TENSORS),
         "decode_ahead": OneOf(Bool(), Str(8, choices=("auto",))),
         "auto_pays": Nullable(Bool()),
         "plan": Map(Map(JsonValue(4), max_len=64), key=Str(1024), max_len=MAX_TENSORS)},
    ),
}
METADATA = Map(Str(2**24), key=Str(1024), max_len=10**5)


# version 2 names a unit's parameters by their index in the tensor list
# and leaves out a schedule that is the units' order
ENGINE_V2 = Obj({"units": Map(List(Int(0, MAX_TENSORS), max_len=4096), key=Str(1024), max_len=MAX_TENSORS)},
                {"schedule": MODEL_FIELDS["engine"].required["schedule"], **MODEL_FIELDS["engine"].optional})


def _common(kind: str, version: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(required, optional) model-level fields for ``kind``."""
    if kind == "checkpoint":
        return {}, {"metadata": METADATA}
    req = {"model": MODEL_FIELDS["model"]}
    opt = {"training": MODEL_FIELDS["training"], "metadata": METADATA}
    if kind == "succinct":
        req["engine"] = ENGINE_V2 if version >= 2 else MODEL_FIELDS["engine"]
    return req, opt


def _kind_of(h: Any, version: int) -> str:
    if not isinstance(h, dict):
        raise fail("header", "is not a JSON object")
    fmt = h.get("format")
    if fmt != "sckit-container":
        raise fail("format", f"is {str(fmt)[:40]!r}, expected 'sckit-container'")
    if h.get("version") != version:
        raise fail("version", f"header says {str(h.get('version'))[:20]}, prefix says {version}")
    return Str(16, choices=KINDS if version >= 2 else ("dense", "succinct")).check(h.get("kind"), "kind")


# -- version 2 -------------------------------------------------------------------------------
_RAS_SCHEMA = Obj({"meta": List(Str(256), max_len=256), "arrays": List(Str(256), max_len=256)},
                  {"const": Map(JsonValue(4), key=Str(256), max_len=256),
                   "dtypes": List(Nullable(Int(0, len(SECTION_DTYPES) - 1)), max_len=256)})
# version 3: meta keys equal to an earlier key's value, arrays whose length the meta determines
_RAS_SCHEMA_V3 = Obj(_RAS_SCHEMA.required, {**_RAS_SCHEMA.optional,
                                            "same": Map(Str(256), key=Str(256), max_len=256),
                                            "derived": List(Str(256), max_len=256)})
# version 3 leaves out units that are the default grouping (_default_units)
ENGINE_V3 = Obj({}, {"units": ENGINE_V2.required["units"], **ENGINE_V2.optional})
_TENSOR_V2 = Obj({"n": NAME}, {
    "d": Str(32, choices=tuple(TENSOR_DTYPES)), "s": SHAPE, "c": CRC, "b": Int(1, 1), "g": Bool(),
    "t": NAME, "r": List(JsonValue(4), max_len=257), "a": List(JsonValue(3), max_len=256),
})


def entries_v2(h: Any, data_end: int, version: int = 2, start: int = ALIGN
               ) -> tuple[dict[str, Any], list[Entry]]:
    """Validate a version-2 or -3 header and lay its tensors out: sections follow each other
    from byte ``start`` (64; 32 in version 3) in tensor order, each aligned by
    :func:`align_for` (version 3 packs small RAS arrays), and must end exactly at ``data_end``
    (the header's offset). Returns (model-level fields, entries in file order)."""
    kind = _kind_of(h, version)
    req, opt = _common(kind, version)
    if version >= 3 and "engine" in req:
        req["engine"] = ENGINE_V3
    top = Obj({"format": Str(32), "version": Int(), "kind": Str(16),
               "tensors": List(_TENSOR_V2, max_len=MAX_TENSORS), **req},
              {"ras_schemas": List(_RAS_SCHEMA_V3 if version >= 3 else _RAS_SCHEMA, max_len=1024),
               **opt}).check(h, "")
    schemas = top.get("ras_schemas", [])
    plans: dict[int, tuple[Any, ...]] = {}  # per schema, built at its first row
    model_kind = kind != "checkpoint"
    out: list[Entry] = []
    cursor = group_start = start
    pending: list[Entry] = []  # data tensors of the CRC group not yet closed by a "c"
    for i, t in enumerate(top["tensors"]):
        where = f"tensors[{i}]"
        if not model_kind and ("b" in t or "g" in t or "t" in t):
            raise fail(where, "a checkpoint has no roles, requires_grad or tied tensors")
        # model files: a parameter unless "b" (buffer); requires_grad as the role's default
        role = None if not model_kind else ("buffer" if "b" in t else "parameter")
        if "t" in t:
            extra = set(t) - {"n", "t"}
            if extra:
                raise fail(f"{where}.{sorted(extra)[0]}", "not allowed on a tied tensor (always a parameter)")
            out.append(Entry(TensorInfo(t["n"], "float32", (), "tied", role, True, t["t"])))
            continue
        for k in ("d", "s"):
            if k not in t:
                raise fail(f"{where}.{k}", "missing")
        dtype, shape = t["d"], tuple(t["s"])
        start = cursor
        meta: dict[str, Any] | None = None
        arrays: dict[str, Section] | None = None
        raw: Section | None = None
        if "r" in t or "a" in t:
            meta, arrays, cursor = _ras_v2(t, schemas, where, dtype, shape, cursor, data_end,
                                           packed=version >= 3, plans=plans)
        else:
            nbytes = math.prod(shape) * TENSOR_DTYPES[dtype]
            cursor += pad_to(cursor, align_for(nbytes, TENSOR_DTYPES[dtype]))
            raw = Section(cursor, "uint8", (nbytes,))
            cursor += nbytes
            if cursor > data_end:
                raise fail(f"{where}.s", f"shape {list(shape)} x {dtype} runs past the data "
                           f"({cursor} > {data_end} bytes)")
        info = TensorInfo(t["n"], dtype, shape, "raw" if raw else "ras", role,
                          bool(t.get("g", role == "parameter")), None, cursor - start)
        pending.append(Entry(info, raw=raw, arrays=arrays, meta=meta))
        out.append(pending[-1])
        if "c" in t:  # closes the group: one CRC32 over [group start, this tensor's end)
            for e in pending:
                e.checks = ((group_start, cursor, t["c"]),)
            pending, group_start = [], cursor
    if pending:
        raise fail(f"tensors[{len(top['tensors']) - 1}].c", "missing: the last tensor must close its checksum group")
    if cursor != data_end:
        raise fail("tensors", f"sections end at byte {cursor}, the header starts at {data_end}")
    if "engine" in top:
        eng = top["engine"]
        units = _unit_names(eng["units"], out) if "units" in eng else default_units(out)
        top["engine"] = dict(eng, units=units, schedule=eng.get("schedule", list(units)))
    return top, out


def default_units(entries: list[Entry]) -> dict[str, list[str]]:
    """The units a version-3 header leaves out: each stored parameter under the module that
    owns it (the name up to its last dot; "" at the root), modules in order of first parameter.
    The writer omits units only when they are exactly these."""
    units: dict[str, list[str]] = {}
    for e in entries:
        if e.info.role == "parameter" and e.info.storage != "tied":
            units.setdefault(e.info.name.rpartition(".")[0], []).append(e.info.name)
    return units


def _unit_names(units: dict[str, list[int]], entries: list[Entry]) -> dict[str, list[str]]:
    out = {}
    for unit, idx in units.items():
        for j, i in enumerate(idx):
            if i >= len(entries):
                raise fail(f"engine.units[{unit[:80]!r}][{j}]", f"tensor index {i} out of range ({len(entries)} tensors)")
        out[unit] = [entries[i].info.name for i in idx]
    return out


def _schema_plan(schema: dict[str, Any], sid: int) -> tuple[Any, ...]:
    """What every row of schema ``sid`` shares, checked once per schema (not per row): the
    header of a model of hundreds of small tensors spent ~15 us per row re-checking it."""
    keys, names, const = schema["meta"], schema["arrays"], schema.get("const", {})
    where = f"ras_schemas[{sid}]"
    dtypes = schema.get("dtypes")
    if dtypes is not None and len(dtypes) != len(names):
        raise fail(f"{where}.dtypes", f"has {len(dtypes)} codes for {len(names)} arrays")
    if len(set(names)) != len(names):
        raise fail(f"{where}.arrays", "names an array twice")
    derived = schema.get("derived", [])
    for k in derived:
        j = names.index(k) if k in names else -1
        if j < 0 or dtypes is None or dtypes[j] is None or derived.count(k) > 1:
            raise fail(f"{where}.derived", f"{k[:80]!r} is not an array of fixed dtype, named once")
    stored_keys = set(const)
    for k in keys:
        if k in stored_keys:
            raise fail(f"{where}.meta", f"{k!r} is also a constant")
        stored_keys.add(k)
    same = list(schema.get("same", {}).items())
    for k, src in same:
        if k in stored_keys or src not in stored_keys:
            raise fail(f"{where}.same", f"{k[:80]!r} must be a new key naming a stored one")
    # the meta's nesting and reserved keys depend on the keys alone: checked once, on dummies
    probe = unflatten_meta(dict.fromkeys([*stored_keys, *(k for k, _ in same)]), f"{where}.meta")
    for k in META_FROM_ENTRY:
        if k in probe:
            raise fail(f"{where}.meta", f"{k!r} is stored on the tensor, not in its meta")
    fixed = [None] * len(names) if dtypes is None else dtypes
    return keys, names, fixed, frozenset(derived), same, const, len(names) - len(derived)


def _ras_v2(t: dict[str, Any], schemas: list[dict[str, Any]], where: str, dtype: str,
            shape: tuple[int, ...], cursor: int, data_end: int, packed: bool = False,
            plans: dict[int, tuple[Any, ...]] | None = None
            ) -> tuple[dict[str, Any], dict[str, Section], int]:
    if "r" not in t or "a" not in t:
        raise fail(where, "a RAS tensor needs both 'r' (meta) and 'a' (arrays)")
    r, a = t["r"], t["a"]
    sid = Int(0, max(len(schemas) - 1, 0)).check(r[0] if r else None, f"{where}.r[0]")
    if not schemas:
        raise fail(f"{where}.r[0]", "names a RAS schema but the header has none")
    plans = {} if plans is None else plans
    if sid not in plans:
        plans[sid] = _schema_plan(schemas[sid], sid)
    keys, names, dtypes, derived, same, const, n_stored = plans[sid]
    if len(r) - 1 != len(keys):
        raise fail(f"{where}.r", f"has {len(r) - 1} meta values, schema {sid} names {len(keys)}")
    if len(a) != n_stored:
        raise fail(f"{where}.a", f"has {len(a)} arrays, schema {sid} stores {n_stored}")
    flat = dict(const)
    flat.update(zip(keys, r[1:], strict=True))  # lengths checked above
    for k, src in same:
        flat[k] = flat[src]
    meta = unflatten_meta(flat, f"ras_schemas[{sid}].meta")
    meta["dtype"], meta["shape"] = dtype, list(shape)
    lengths: dict[str, int] = {}
    if derived:
        try:
            lengths = derived_lengths(meta)
        except FormatError as exc:
            raise fail(f"{where}.r", str(exc)) from None
    arrays: dict[str, Section] = {}
    k = 0
    for j, name in enumerate(names):
        if name in derived:
            if name not in lengths:
                raise fail(f"ras_schemas[{sid}].derived", f"the meta does not determine {name!r}")
            code, dims = dtypes[j], [lengths[name]]
        else:
            code, dims = _array_item(a[k], dtypes[j], f"{where}.a[{k}]")
            k += 1
        dt = SECTION_DTYPES[code]
        itemsize = np_dtype(dt).itemsize
        nbytes = math.prod(dims) * itemsize
        cursor += pad_to(cursor, align_for(nbytes, itemsize, packed))
        arrays[name] = Section(cursor, dt, tuple(dims))
        cursor += nbytes
        if cursor > data_end:
            raise fail(f"{where}.a", f"array {name!r} runs past the data ({cursor} > {data_end} bytes)")
    return meta, arrays, cursor


_CODE = Int(0, len(SECTION_DTYPES) - 1)
_LENGTH = Int(0, 2**62)


def _array_item(item: Any, code: int | None, where: str) -> tuple[int, list[int]]:
    """(dtype code, shape) of one entry of a row's "a": ``[code, shape]``, or with the schema's
    fixed dtypes just the shape, a 1-d shape as its length."""
    if code is None:
        if not (isinstance(item, list) and len(item) == 2):
            raise fail(where, "must be [dtype code, shape]")
        return _CODE.check(item[0], f"{where}[0]"), _shape(item[1], f"{where}[1]")
    return code, _shape(item, where)


def _shape(item: Any, where: str) -> list[int]:
    return SHAPE.check(item, where) if isinstance(item, list) else [_LENGTH.check(item, where)]


def flatten_meta(meta: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"wm": {"n": 3}}`` -> ``{"wm.n": 3}`` (nested objects become dotted keys)."""
    out: dict[str, Any] = {}
    for k, v in meta.items():
        if "." in k:
            raise ValueError(f"RAS meta key {k!r} contains '.'")
        if isinstance(v, dict) and v:
            out.update(flatten_meta(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def unflatten_meta(flat: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in flat.items():
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise fail(where, f"key {key!r} nests under a value")
            node = nxt
        if parts[-1] in node:
            raise fail(where, f"key {key!r} given twice")
        node[parts[-1]] = v
    return out


# -- version 1 -------------------------------------------------------------------------------
_SECTION_V1 = Obj({"offset": Int(), "bytes": Int(), "dtype": Str(16, choices=SECTION_DTYPES),
                   "shape": SHAPE, "crc32": CRC})
_TENSOR_V1 = Obj({"name": NAME, "role": Str(16, choices=("parameter", "buffer")),
                  "storage": Str(16, choices=("raw", "ras", "tied"))},
                 {"dtype": Str(32, choices=tuple(TENSOR_DTYPES)), "shape": SHAPE,
                  "requires_grad": Bool(), "section": Int(), "tied_to": NAME,
                  "ras": Obj({"meta": Map(JsonValue(6), max_len=256),
                              "arrays": Map(Int(), max_len=256)})})


def entries_v1(h: Any, data_end: int) -> tuple[dict[str, Any], list[Entry], list[Section]]:
    """Validate a version-1 header: explicit, 64-aligned, ordered section offsets, one CRC per
    section. Returns (model-level fields, entries, sections) (sections for the padding check)."""
    kind = _kind_of(h, 1)
    req, opt = _common(kind, 1)
    top = Obj({"format": Str(32), "version": Int(), "kind": Str(16),
               "sections": List(_SECTION_V1, max_len=10**7),
               "tensors": List(_TENSOR_V1, max_len=MAX_TENSORS), **req}, opt).check(h, "")
    sections: list[Section] = []
    crcs: list[int] = []
    cursor = ALIGN
    for i, s in enumerate(top["sections"]):
        where = f"sections[{i}]"
        off = s["offset"]
        if off % ALIGN:
            raise fail(f"{where}.offset", f"{off} is not 64-byte aligned")
        if off < cursor:
            raise fail(f"{where}.offset", f"{off} overlaps the previous section (ends at {cursor})")
        sec = Section(off, s["dtype"], tuple(s["shape"]))
        if sec.nbytes != s["bytes"]:
            raise fail(f"{where}.bytes", f"shape {s['shape']} x {s['dtype']} is not {s['bytes']} bytes")
        if off + sec.nbytes > data_end:
            raise fail(where, f"out of bounds ([{off}, {off + sec.nbytes}) runs into the header at {data_end})")
        sections.append(sec)
        crcs.append(s["crc32"])
        cursor = off + sec.nbytes

    def section(idx: Any, where: str) -> tuple[Section, tuple[int, int, int]]:
        if not (isinstance(idx, int) and 0 <= idx < len(sections)):
            raise fail(where, f"names missing section {idx!r}")
        sec = sections[idx]
        return sec, (sec.offset, sec.offset + sec.nbytes, crcs[idx])

    out: list[Entry] = []
    for i, t in enumerate(top["tensors"]):
        where = f"tensors[{i}]"
        if t["storage"] == "tied":
            if "tied_to" not in t:
                raise fail(f"{where}.tied_to", "missing")
            out.append(Entry(TensorInfo(t["name"], "float32", (), "tied", t["role"], False, t["tied_to"])))
            continue
        for k in ("dtype", "shape"):
            if k not in t:
                raise fail(f"{where}.{k}", "missing")
        dtype, shape = t["dtype"], tuple(t["shape"])
        info_args = (t["name"], dtype, shape, t["storage"], t["role"], t.get("requires_grad", False), None)
        if t["storage"] == "raw":
            sec, check = section(t.get("section"), f"{where}.section")
            need = math.prod(shape) * TENSOR_DTYPES[dtype]
            if sec.dtype != "uint8" or sec.nbytes != need:
                raise fail(f"{where}.shape", f"section has {sec.nbytes} bytes, shape {list(shape)} x {dtype} needs {need}")
            out.append(Entry(TensorInfo(*info_args, sec.nbytes), raw=sec, checks=(check,)))
            continue
        if "ras" not in t:
            raise fail(f"{where}.ras", "missing")
        arrays, checks = {}, []
        for key, idx in t["ras"]["arrays"].items():
            arrays[key], check = section(idx, f"{where}.ras.arrays[{key!r}]")
            checks.append(check)
        nbytes = sum(s.nbytes for s in arrays.values())
        out.append(Entry(TensorInfo(*info_args, nbytes), arrays=arrays, meta=t["ras"]["meta"],
                         checks=tuple(checks)))
    return top, out, sections
