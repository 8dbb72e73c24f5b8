"""The grid grammar of :func:`sckit.sweep`: validation, expansion and stable configuration keys.

A grid is a dict of axes; every axis is a list of options (a single option may be given bare)::

    grid = {
        "ras": ["auto", "element", "block", {"fpr_threshold": 0.5}],   # default ["auto"]
        "prune": [None, ("magnitude", 0.5), ("global_magnitude", 0.9)], # default [None]
        "quantize": [None, ("kmeans", 4), ("uniform", 8)],              # default [None]
        "mode": ["exact", "fast"],                                      # default ["exact"]
        "baselines": ["deep_compression", "deepsz"],                    # default []
    }

* ``ras``: ``"auto"`` (per-layer choice by the FPr test), ``"element"``, ``"block"``, or
  ``{"fpr_threshold": t}`` ("auto" with threshold ``t >= 0``).
* ``prune``: ``None`` (no pruning) or ``(method, amount)`` with ``method`` one of
  ``PRUNE_METHODS`` and ``0 <= amount < 1``; ``{"method": m, "amount": a}`` also works.
* ``quantize``: ``None`` or ``(method, bits)`` with ``method`` one of ``QUANT_METHODS`` and an
  integer ``1 <= bits <= 16``; ``{"method": m, "bits": b}`` also works.
* ``mode``: how the compressed model computes (``sckit.compress``'s ``mode``, one of
  ``sckit.engine.MODES``): ``"exact"`` (outputs bit-identical to the source) or ``"fast"`` (the
  same weights, bit for bit, but each Linear/Conv2d runs the layout measured fastest on the
  example input: dropped all-zero filters or a sparse CSR matmul; this is where pruning buys
  latency). ``latency_ms`` then times that mode.
* ``baselines``: method names as :func:`sckit.compare` knows them (``sckit.baselines.METHODS``
  minus "dense": e.g. "zstd-19", "lzma", "zipnn", "deep_compression", "deepsz",
  "deep_compression+succinct"), bare or as ``(name, {kwargs})`` with JSON-able keyword arguments.

Expansion: one dense reference row, then the full product prune x quantize x ras x mode (in that
nesting order, so rows sharing a transform sit together and the modes of one configuration sit
side by side), then one row per baseline, applied to the *original* model (baselines such as
Deep Compression do their own pruning and quantization, so crossing them with the prune/quantize
axes would double-prune). The dense reference and the baselines have no mode (``None``): they
run as they are. Invalid grids raise ``ValueError`` naming the axis and the bad option.

Keys and labels: a fast row's label ends in ``mode=fast`` and its key differs from the exact
row's; an exact row's label and key are what they were before the ``mode`` axis existed (the
key leaves ``mode`` out when it is ``"exact"`` or ``None``), so caches written then still hit.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AXES",
    "PRUNE_METHODS",
    "QUANT_METHODS",
    "MODES",
    "RAS_KINDS",
    "CONFIG_COLUMNS",
    "expand_grid",
    "config_key",
    "config_label",
]

AXES = ("ras", "prune", "quantize", "mode", "baselines")
RAS_KINDS = ("auto", "element", "block")
PRUNE_METHODS = ("magnitude", "global_magnitude", "filter_l1", "layer")
QUANT_METHODS = ("uniform", "kmeans", "int8_static")
#: the engine's modes (``sckit.engine.MODES``; a test checks the two agree)
MODES = ("exact", "fast")
#: columns that describe a configuration (everything else in a sweep row is a measurement)
CONFIG_COLUMNS = (
    "kind",
    "label",
    "prune_method",
    "prune_amount",
    "quantize_method",
    "quantize_bits",
    "ras",
    "fpr_threshold",
    "mode",
    "baseline",
)


def _is_single(axis: str, value: Any) -> bool:
    """Whether ``value`` is one option rather than a list of options."""
    if value is None or isinstance(value, str | Mapping):
        return True
    return axis in ("prune", "quantize") and isinstance(value, tuple) and bool(value) and isinstance(value[0], str)


def _options(axis: str, value: Any) -> list[Any]:
    if _is_single(axis, value):
        return [value]
    if not isinstance(value, list | tuple):
        raise ValueError(f"grid[{axis!r}] must be a list of options, got {type(value).__name__}: {value!r}")
    if not value and axis != "baselines":
        raise ValueError(f"grid[{axis!r}] is empty; leave the axis out for its default")
    return list(value)


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _ras(opt: Any) -> tuple[str, float | None]:
    if isinstance(opt, str):
        if opt not in RAS_KINDS:
            raise ValueError(f"grid['ras'] option {opt!r}: expected one of {RAS_KINDS} or {{'fpr_threshold': t}}")
        return opt, None
    if isinstance(opt, Mapping):
        if set(opt) != {"fpr_threshold"}:
            raise ValueError(f"grid['ras'] option {dict(opt)!r}: the only dict form is {{'fpr_threshold': t}}")
        t = opt["fpr_threshold"]
        if not _number(t) or t < 0:
            raise ValueError(f"grid['ras'] fpr_threshold must be a finite number >= 0, got {t!r}")
        return "auto", float(t)
    raise ValueError(f"grid['ras'] option {opt!r}: expected one of {RAS_KINDS} or {{'fpr_threshold': t}}")


def _pair(axis: str, opt: Any, second: str) -> tuple[str, Any] | None:
    if opt is None:
        return None
    if isinstance(opt, Mapping):
        if set(opt) != {"method", second}:
            raise ValueError(f"grid[{axis!r}] option {dict(opt)!r}: expected keys 'method' and {second!r}")
        opt = (opt["method"], opt[second])
    if not isinstance(opt, tuple | list) or len(opt) != 2:
        raise ValueError(f"grid[{axis!r}] option {opt!r}: expected None or (method, {second})")
    return opt[0], opt[1]


def _prune(opt: Any) -> tuple[str, float] | None:
    pair = _pair("prune", opt, "amount")
    if pair is None:
        return None
    method, amount = pair
    if method not in PRUNE_METHODS:
        raise ValueError(f"grid['prune'] method {method!r}: expected one of {PRUNE_METHODS}")
    if not _number(amount) or not 0 <= amount < 1:
        raise ValueError(f"grid['prune'] amount {amount!r} for {method!r}: expected 0 <= amount < 1")
    return method, float(amount)


def _quantize(opt: Any) -> tuple[str, int] | None:
    pair = _pair("quantize", opt, "bits")
    if pair is None:
        return None
    method, bits = pair
    if method not in QUANT_METHODS:
        raise ValueError(f"grid['quantize'] method {method!r}: expected one of {QUANT_METHODS}")
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"grid['quantize'] bits {bits!r} for {method!r}: expected an int in 1..16")
    return method, int(bits)


def _mode(opt: Any) -> str:
    if not isinstance(opt, str) or opt not in MODES:
        raise ValueError(f"grid['mode'] option {opt!r}: expected one of {MODES}")
    return opt


def _baseline(opt: Any, known: tuple[str, ...] | None) -> tuple[str, dict[str, Any]]:
    name: str | None = opt if isinstance(opt, str) else None
    kwargs: dict[str, Any] | None = {} if isinstance(opt, str) else None
    if isinstance(opt, tuple | list) and len(opt) == 2 and isinstance(opt[0], str) and isinstance(opt[1], Mapping):
        name, kwargs = opt[0], dict(opt[1])
    if name is None or kwargs is None:
        raise ValueError(f"grid['baselines'] option {opt!r}: expected a name or (name, {{kwargs}})")
    if known is not None and name not in known:
        raise ValueError(f"grid['baselines'] name {name!r}: expected one of {known}")
    try:
        json.dumps(kwargs, sort_keys=True)
    except TypeError as exc:
        raise ValueError(f"grid['baselines'] kwargs for {name!r} must be JSON values: {exc}") from None
    return name, kwargs


def _base_row(kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "prune_method": None,
        "prune_amount": None,
        "quantize_method": None,
        "quantize_bits": None,
        "ras": None,
        "fpr_threshold": None,
        "mode": None,
        "baseline": None,
        "baseline_kwargs": None,
    }


def config_label(cfg: Mapping[str, Any]) -> str:
    """Short human-readable name of a configuration (for hover text and logs)."""
    if cfg["kind"] == "dense":
        return "dense"
    if cfg["kind"] == "baseline":
        kw = cfg.get("baseline_kwargs") or {}
        extra = ",".join(f"{k}={v}" for k, v in sorted(kw.items()))
        return f"{cfg['baseline']}({extra})" if extra else str(cfg["baseline"])
    parts = []
    if cfg["prune_method"]:
        parts.append(f"prune={cfg['prune_method']}:{cfg['prune_amount']:g}")
    if cfg["quantize_method"]:
        parts.append(f"quant={cfg['quantize_method']}:{cfg['quantize_bits']}")
    ras = cfg["ras"] if cfg["fpr_threshold"] is None else f"fpr>={cfg['fpr_threshold']:g}"
    parts.append(f"ras={ras}")
    if cfg.get("mode") not in (None, "exact"):
        parts.append(f"mode={cfg['mode']}")
    return " ".join(parts)


def expand_grid(
    grid: Mapping[str, Any], *, include_dense: bool = True, baseline_names: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """Validate ``grid`` and expand it into configuration dicts (see the module docstring).

    ``baseline_names``: the accepted baseline names (None: any name; :func:`sckit.sweep` passes
    the names :mod:`sckit.baselines` provides). Duplicate configurations raise ``ValueError``.
    """
    if not isinstance(grid, Mapping):
        raise ValueError(f"grid must be a dict of axes {AXES}, got {type(grid).__name__}")
    for key in grid:
        if key not in AXES:
            raise ValueError(f"unknown grid key {key!r}; the axes are {AXES}")
    ras = [_ras(o) for o in _options("ras", grid.get("ras", ["auto"]))]
    prune = [_prune(o) for o in _options("prune", grid.get("prune", [None]))]
    quant = [_quantize(o) for o in _options("quantize", grid.get("quantize", [None]))]
    modes = [_mode(o) for o in _options("mode", grid.get("mode", ["exact"]))]
    bases = [_baseline(o, baseline_names) for o in _options("baselines", grid.get("baselines", []))]

    configs: list[dict[str, Any]] = []
    if include_dense:
        configs.append(_base_row("dense"))
    for p in prune:
        for q in quant:
            for kind, t in ras:
                for mode in modes:
                    row = _base_row("succinct")
                    if p is not None:
                        row["prune_method"], row["prune_amount"] = p
                    if q is not None:
                        row["quantize_method"], row["quantize_bits"] = q
                    row["ras"], row["fpr_threshold"] = kind, t
                    row["mode"] = mode
                    configs.append(row)
    for name, kwargs in bases:
        row = _base_row("baseline")
        row["baseline"], row["baseline_kwargs"] = name, kwargs
        configs.append(row)
    seen: dict[str, int] = {}
    for i, cfg in enumerate(configs):
        cfg["label"] = config_label(cfg)
        k = config_key(cfg)
        if k in seen:
            raise ValueError(f"grid gives configuration {cfg['label']!r} twice (duplicate option in an axis)")
        seen[k] = i
    return configs


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_key(cfg: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> str:
    """Stable hex key of a configuration plus its context (model hash, input, settings).

    Canonical JSON (sorted keys) hashed with SHA-256, so the key is identical across processes,
    machines and Python versions (``hash()`` is salted per process and would not do).
    ``mode`` enters the key only when it is not ``"exact"``/``None``: exact rows keep the keys
    they had before the ``mode`` axis existed, and fast rows never share one with them.
    """
    config = {k: v for k, v in cfg.items()
              if k != "label" and not (k == "mode" and v in (None, "exact"))}
    payload = {"config": config, "context": dict(context or {})}
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()[:32]
