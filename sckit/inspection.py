"""Layer-by-layer inspection: what each layer computes, and what Succinct Compression does to it.

:func:`inspect` runs one forward pass of a model under :class:`sckit.macs.MacTracer` and returns
a pandas DataFrame with one row per *weight unit* and one per parameter-free multiply-add op, in
execution order:

* a weight unit is a leaf module that holds parameters directly (Conv, Linear, BatchNorm,
  LayerNorm, Embedding, ...; all its direct parameters, weight and bias, form the row), or one
  parameter held directly by a module with children (e.g. DeiT's ``cls_token``, ``pos_embed``,
  type ``"Parameter"``), so that ``df.n_params.sum()`` is the number of distinct parameter
  elements. A tied parameter is counted (and encoded) once, in the first row that runs it; other
  rows that hold it list it under ``shared``.
* a parameter-free op row holds multiply-adds between activations -- ``blocks.0.attn:sdpa.qk``
  (q @ k^T) and ``blocks.0.attn:sdpa.av`` (attn @ v) inside SDPA, functional ``matmul``/``bmm``
  (``<module>:bmm``, ``<module>:bmm#1`` for the second in the same call).

MACs follow FlopCounterMode's convention (see :mod:`sckit.macs`): BatchNorm, LayerNorm, ReLU,
pooling and softmax count 0, so their rows have FPr 0. An op whose operand is (a view of) a
parameter is charged to that parameter's row; an op without one inside a leaf module that holds
parameters is charged to that module's row (its weight was computed in forward, e.g. by
``torch.nn.utils.prune``'s ``weight_orig * weight_mask``); other ops get parameter-free rows
under the innermost running module.

RAS choice (paper section 4.1): FPr = FLOPs / #parameters of the row (FLOPs = 2 MACs; each weight
is read FPr/2 times per forward pass). Rows with ``fpr >= fpr_threshold`` use block-wise RAS (one
range decode per computation kernel pays off), the others element-wise RAS. The default threshold
:data:`DEFAULT_FPR_THRESHOLD` = 32 (each weight read >= 16 times) separates the cases the paper
describes at batch 1: fully connected layers have FPr ~2 (element), every conv of the zoo >= 98
(a 1x1 or 3x3 conv on a 7x7 map), transformer linears ~2 * tokens = 394 (block). FC layers turn
block-wise from batch 16 on, which is what their access frequency then warrants.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from torch import nn

__all__ = [
    "DEFAULT_FPR_THRESHOLD",
    "COLUMNS",
    "PAPER_GROUPS",
    "choose_ras",
    "inspect",
    "group_table",
    "paper_table",
]

#: FPr at or above which a layer gets block-wise RAS (see module docstring for the why).
DEFAULT_FPR_THRESHOLD = 32.0
RAS_KINDS = ("block", "element")
COLUMNS = [
    "layer", "type", "n_params", "macs", "flops", "fpr", "ras", "sparsity", "h0_bits",
    "dense_bytes", "succinct_bytes", "macs_nonzero", "shape", "dtype", "shared",
]  # fmt: skip


def choose_ras(fpr: float, threshold: float = DEFAULT_FPR_THRESHOLD) -> str:
    """Paper 4.1: ``"block"`` if ``fpr >= threshold`` else ``"element"``; ``""`` for NaN FPr
    (parameter-free rows have no weights to encode).

    >>> choose_ras(98.0), choose_ras(2.0), choose_ras(float("nan"))
    ('block', 'element', '')
    """
    _check_threshold(threshold)
    if fpr is None or math.isnan(fpr):
        return ""
    return "block" if fpr >= threshold else "element"


def _check_threshold(threshold: float) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold >= 0:
        raise ValueError(f"fpr_threshold must be a non-negative number, got {threshold!r}")


@dataclass
class _Row:
    layer: str
    type: str
    module: str  # module whose call positions the row
    params: list[Any] = field(default_factory=list)  # direct parameters (tied ones included)
    counted: list[Any] = field(default_factory=list)  # parameters whose elements count here
    macs: int = 0
    macs_nonzero: int = 0
    seq: float = math.inf


def _weight_rows(model: nn.Module) -> tuple[list[_Row], dict[int, list[_Row]]]:
    rows: list[_Row] = []
    by_param: dict[int, list[_Row]] = {}
    for mname, m in model.named_modules():
        direct = [(n, p) for n, p in m.named_parameters(recurse=False)]
        if not direct:
            continue
        if next(m.children(), None) is None:  # a leaf; "(root)" when the model itself is one
            units = [(mname or "(root)", type(m).__name__, [p for _, p in direct])]
        else:  # parameters on a container (cls_token, pos_embed): one row each
            units = [(f"{mname}.{n}" if mname else n, "Parameter", [p]) for n, p in direct]
        for layer, typ, params in units:
            row = _Row(layer, typ, mname, params)
            rows.append(row)
            for p in params:
                by_param.setdefault(id(p), []).append(row)
    return rows, by_param


def _nnz(p: Any, cache: dict[int, int]) -> int:
    """Non-zero elements of parameter ``p``, counted once per inspect call."""
    n = cache.get(id(p))
    if n is None:
        n = cache[id(p)] = int(p.detach().count_nonzero())
    return n


def _trace(model: nn.Module, example_input: Any, nnz: dict[int, int]) -> list[_Row]:
    """Rows in execution order with MACs filled in (``nnz`` caches non-zero counts)."""
    from sckit.macs import MacTracer, call_model

    tracer = MacTracer(model)
    call_model(model, example_input, tracer)
    rows, by_param = _weight_rows(model)
    for row in rows:
        row.seq = tracer.first_call.get(row.module, math.inf)
    op_rows: dict[tuple[str, str, int], _Row] = {}
    for rec in tracer.records:
        if rec.weight is not None:
            cands = by_param[rec.weight]
            row = next((r for r in cands if r.module == rec.module), cands[0])
            p = next(q for q in row.params if id(q) == rec.weight)
            # each weight element takes part in the same number of the op's MACs (conv: N*out
            # positions, padding included; mm: the rows of the other operand), so the share of
            # MACs with a non-zero weight is exactly the weight's density
            nonzero = rec.macs * _nnz(p, nnz) // p.numel()
        elif rec.derived:  # a weight computed from the leaf's parameters (torch prune masks)
            row = next(r for r in rows if r.module == rec.module)
            nonzero = rec.macs * rec.derived_nnz // rec.derived_numel if rec.derived_numel else 0
        else:
            key = (rec.module, rec.op, rec.occurrence)
            if key not in op_rows:
                name = f"{rec.module}:{rec.op}" if rec.module else rec.op
                name += f"#{rec.occurrence}" if rec.occurrence else ""
                op_rows[key] = _Row(name, rec.op, rec.module)
            row = op_rows[key]
            nonzero = rec.macs
        row.macs += rec.macs
        row.macs_nonzero += nonzero
        row.seq = min(row.seq, rec.seq)
    order = {id(r): i for i, r in enumerate(rows)}  # rows that never ran keep module order
    ordered = sorted([*rows, *op_rows.values()], key=lambda r: (r.seq, order.get(id(r), -1)))
    seen: set[int] = set()
    for row in ordered:
        for p in row.params:
            if id(p) not in seen:
                seen.add(id(p))
                row.counted.append(p)
    return ordered


def _validate_overrides(ras: Mapping[str, str] | None, rows: list[_Row]) -> dict[str, str]:
    if ras is None:
        return {}
    if not isinstance(ras, Mapping):
        raise TypeError(
            f"ras overrides must be a mapping layer -> 'block'|'element', got {type(ras).__name__}"
        )
    valid = [r.layer for r in rows if r.params]
    bad_kind = {k: v for k, v in ras.items() if v not in RAS_KINDS}
    if bad_kind:
        raise ValueError(f"ras overrides must be 'block' or 'element', got {bad_kind}")
    unknown = [k for k in ras if k not in valid]
    if unknown:
        hints = {k: difflib.get_close_matches(str(k), valid, n=3) for k in unknown}
        shown = ", ".join(valid[:40]) + (
            f", ... ({len(valid) - 40} more)" if len(valid) > 40 else ""
        )
        raise ValueError(
            f"unknown layer(s) {unknown} in ras overrides (close matches: {hints}); "
            f"valid layers ({len(valid)}): {shown}"
        )
    return dict(ras)


def _encode(params: list[Any], kind: str) -> tuple[float, float]:
    """(h0 bits per weight, encoded bytes) of the row's counted parameters."""
    from sckit.tensor_io import encode_tensor  # owned by the RAS module; imported only when used

    n = nbytes = 0
    h0 = 0.0
    for p in params:
        if p.numel() == 0:
            continue
        r = encode_tensor(p.detach(), kind=kind)
        nbytes += int(r.nbytes)
        h0 += float(r.h0_bits) * p.numel()
        n += p.numel()
    return (h0 / n if n else math.nan), float(nbytes)


def inspect(
    model: nn.Module,
    example_input: Any,
    *,
    fpr_threshold: float = DEFAULT_FPR_THRESHOLD,
    ras: Mapping[str, str] | None = None,
    encode: bool = True,
) -> pd.DataFrame:
    """Per-layer table of ``model`` for one forward pass on ``example_input``.

    Args:
        model: any ``nn.Module``; it runs once without autograd in eval mode (training flags are
            restored afterwards, BatchNorm statistics are not touched).
        example_input: a tensor, a tuple/list of positional arguments, or a dict of keyword
            arguments. MACs scale with it (batch size, tokens, resolution).
        fpr_threshold: rows with FPr >= this use block-wise RAS (:func:`choose_ras`).
        ras: per-layer overrides ``{"fc": "element", ...}``; names must be weight rows of the
            table (``ValueError`` listing the valid ones otherwise).
        encode: encode each weight row with ``sckit.tensor_io.encode_tensor(kind=ras)`` to fill
            ``h0_bits`` and ``succinct_bytes`` (the real encoded size); ``False`` leaves them NaN.

    Returns:
        DataFrame with columns :data:`COLUMNS`: ``layer``, ``type``, ``n_params``, ``macs``,
        ``flops`` (2 MACs), ``fpr`` (flops / parameters of the row; NaN for parameter-free rows),
        ``ras`` (``"block"``/``"element"``, ``""`` for parameter-free rows), ``sparsity``
        (fraction of zeros in the row's stored parameters -- for ``torch.nn.utils.prune``
        models that is ``weight_orig``; call ``prune.remove`` to bake the masks in),
        ``h0_bits`` (order-0 entropy bound per weight of what is encoded), ``dense_bytes``,
        ``succinct_bytes``, ``macs_nonzero`` (multiply-adds with a non-zero weight -- masks
        included), ``shape`` (of the row's largest tensor), ``dtype``, ``shared`` (tied
        parameters counted in an earlier row). ``df.attrs`` holds the threshold and input shape.

    Raises:
        ValueError: the forward pass fails (the message names the layer that raised), bad
            overrides or threshold.
    """
    import pandas as pd

    _check_threshold(fpr_threshold)
    nnz: dict[int, int] = {}
    rows = _trace(model, example_input, nnz)
    overrides = _validate_overrides(ras, rows)
    names = {id(p): n for n, p in model.named_parameters()}
    records = []
    for row in rows:
        n_all = sum(p.numel() for p in row.params)
        n_params = sum(p.numel() for p in row.counted)
        is_weight = bool(row.params)
        fpr = 2 * row.macs / n_all if n_all else math.nan
        kind = overrides.get(row.layer) or (
            choose_ras(0.0 if math.isnan(fpr) else fpr, fpr_threshold) if is_weight else ""
        )
        zeros = sum(p.numel() - _nnz(p, nnz) for p in row.counted)
        h0_bits = succinct = math.nan
        if encode and is_weight:
            h0_bits, succinct = _encode(row.counted, kind)
        big = max(row.params, key=lambda p: p.numel(), default=None)
        records.append({
            "layer": row.layer,
            "type": row.type,
            "n_params": n_params,
            "macs": row.macs,
            "flops": 2 * row.macs,
            "fpr": fpr,
            "ras": kind,
            "sparsity": zeros / n_params if n_params else math.nan,
            "h0_bits": h0_bits,
            "dense_bytes": sum(p.numel() * p.element_size() for p in row.counted),
            "succinct_bytes": succinct,
            "macs_nonzero": row.macs_nonzero,
            "shape": tuple(big.shape) if big is not None else (),
            "dtype": str(big.dtype).removeprefix("torch.") if big is not None else "",
            "shared": ",".join(names.get(id(p), "?") for p in row.params if not any(p is q for q in row.counted)),
        })  # fmt: skip
    df = pd.DataFrame.from_records(records, columns=COLUMNS)
    df = df.astype(
        {
            "n_params": "int64",
            "macs": "int64",
            "flops": "int64",
            "dense_bytes": "int64",
            "macs_nonzero": "int64",
        }
    )
    df.attrs["fpr_threshold"] = float(fpr_threshold)
    df.attrs["input_shapes"] = _shapes(example_input)
    return df


def _shapes(example_input: Any) -> list[tuple[int, ...]]:
    vals = (
        example_input.values()
        if isinstance(example_input, Mapping)
        else (example_input if isinstance(example_input, tuple | list) else [example_input])
    )
    return [tuple(v.shape) for v in vals if hasattr(v, "shape")]


def _matches(layer: str, pattern: str) -> bool:
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(layer, pattern)
    return layer == pattern or layer.startswith(pattern + ".") or layer.startswith(pattern + ":")


def group_table(
    df: pd.DataFrame, groups: Mapping[str, str | Sequence[str]], *, total: bool = True
) -> pd.DataFrame:
    """Aggregate :func:`inspect` rows into named groups (the paper's appendix A tables).

    ``groups`` maps a group label to layer-name patterns: a plain pattern matches that layer and
    everything under it (``"layer1"`` matches ``layer1.0.conv1`` and ``layer1.0.attn:sdpa.qk``);
    ``*``/``?`` patterns match with :mod:`fnmatch`. Rows no group claims go to a group
    ``"other"`` (omitted when empty); a row claimed twice is a ``ValueError``.

    Returns columns ``group``, ``n_params``, ``macs``, ``macs_per_param`` (the paper's
    "MACs/#Parameters"), ``ras`` (the RAS that holds most of the group's parameters), plus a
    ``Total`` row when ``total``.
    """
    import pandas as pd

    label = pd.Series("", index=df.index, dtype=object)
    for name, pats in groups.items():
        pats = [pats] if isinstance(pats, str) else list(pats)
        hit = df.layer.map(lambda s, pats=pats: any(_matches(s, p) for p in pats))
        clash = hit & (label != "")
        if clash.any():
            raise ValueError(
                f"layers {list(df.layer[clash])} match group {name!r} and {sorted(set(label[clash]))}"
            )
        label[hit] = name
    label[label == ""] = "other"
    out = []
    for name in [*groups, "other"]:
        part = df[label == name]
        if name == "other" and part.empty:
            continue
        out.append(_summary(name, part))
    if total:
        out.append({**_summary("Total", df), "ras": ""})
    return pd.DataFrame(out, columns=["group", "n_params", "macs", "macs_per_param", "ras"])


def _summary(name: str, part: pd.DataFrame) -> dict[str, Any]:
    n = int(part.n_params.sum())
    macs = int(part.macs.sum())
    by_kind = part[part.ras != ""].groupby("ras").n_params.sum()
    return {
        "group": name,
        "n_params": n,
        "macs": macs,
        "macs_per_param": macs / n if n else math.nan,
        "ras": str(by_kind.idxmax()) if len(by_kind) else "",
    }


_RESNET_GROUPS: dict[str, list[str]] = {
    # the paper's conv1 (9.41k) leaves bn1 out although layer1..4 include their BatchNorms;
    # we keep the stem's BatchNorm with it so the groups add up to the model
    "conv1": ["conv1", "bn1"],
    **{f"layer{i}.conv": [f"layer{i}"] for i in range(1, 5)},
    "fc": ["fc"],
}
#: Groups of the paper's appendix A tables (Table 4 ResNet-50, Table 5 VGG-16), zoo layer names.
PAPER_GROUPS: dict[str, dict[str, list[str]]] = {
    "resnet18": _RESNET_GROUPS,
    "resnet50": _RESNET_GROUPS,
    "resnet101": _RESNET_GROUPS,
    "vgg16": {
        **{
            f"conv{i + 1}": [f"features.{j}"]
            for i, j in enumerate([0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28])
        },
        **{f"fc{i + 1}": [f"classifier.{j}"] for i, j in enumerate([0, 3, 6])},
    },
}


def paper_table(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """The paper's appendix A table for zoo model ``model`` ("resnet50" = Table 4, "vgg16" =
    Table 5; also resnet18/101) computed from an :func:`inspect` frame -- our MAC figures, which
    follow FlopCounterMode, not the paper's (several of its ratios are misprinted)."""
    if model not in PAPER_GROUPS:
        raise ValueError(f"no paper table for {model!r}; available: {sorted(PAPER_GROUPS)}")
    return group_table(df, PAPER_GROUPS[model])
