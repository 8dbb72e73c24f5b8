"""Layer-by-layer inspection: what each layer computes, and what Succinct Compression does to it.

:func:`inspect` runs one forward pass of a model under :class:`sckit.macs.MacTracer` and returns
a pandas DataFrame with one row per *weight unit* and one per parameter-free multiply-add op, in
execution order:

* a weight unit is a leaf module that holds parameters directly (Conv, Linear, BatchNorm,
  LayerNorm, Embedding, ...; all its direct parameters, weight and bias, form the row), or one
  parameter held directly by a module with children (e.g. DeiT's ``cls_token``, ``pos_embed``,
  type ``"Parameter"``), so that ``df.n_params.sum()`` is the number of distinct parameter
  elements. A tied parameter is counted (and encoded) once, in the first row that runs it; other
  rows that hold it list it under ``shared``. Its FPr counts every use (an embedding tied to the
  LM head is read once per token by the head), so every row holding it gets the same RAS.
* a floating-point buffer of >= 2 dims (a weight a converter such as onnx2torch stored as a
  buffer) is a row of type ``"Buffer"``: 0 parameters, its bytes, its FPr and RAS, as
  ``sckit.compress`` encodes it.
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

Sizes (``h0_bits``, ``succinct_bytes``) are estimated by default from each tensor's symbol
histogram (:mod:`sckit.inspect_size`), which is what keeps the default call on VGG-16 near its
plain traced forward; ``encode="exact"`` encodes every tensor. The frame's notebook and
``print()`` views are :mod:`sckit.inspect_view`'s.
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
    "depth", "input_shape", "output_shape", "trainable", "size_estimated",
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
    params: list[Any] = field(default_factory=list)  # direct tensors (tied ones included)
    counted: list[Any] = field(default_factory=list)  # tensors whose elements count here
    macs: int = 0
    macs_nonzero: int = 0
    own_macs: int = 0  # MACs of weights computed in forward (not attributable to one tensor)
    seq: float = math.inf
    buffer: bool = False  # a weight held as a buffer


def _weight_rows(model: nn.Module) -> tuple[list[_Row], dict[int, list[_Row]]]:
    from sckit.macs import weight_buffers

    rows: list[_Row] = []
    by_param: dict[int, list[_Row]] = {}
    bufs = {id(b) for b in weight_buffers(model).values()}
    for mname, m in model.named_modules():
        direct = [(n, p) for n, p in m.named_parameters(recurse=False)]
        units: list[tuple[str, str, list[Any], bool]] = []
        if direct and next(m.children(), None) is None:  # a leaf; "(root)" for a bare layer
            units.append((mname or "(root)", type(m).__name__, [p for _, p in direct], False))
        elif direct:  # parameters on a container (cls_token, pos_embed): one row each
            units += [(f"{mname}.{n}" if mname else n, "Parameter", [p], False) for n, p in direct]
        for n, b in m.named_buffers(recurse=False):
            if id(b) in bufs and id(b) not in by_param:
                units.append((f"{mname}.{n}" if mname else n, "Buffer", [b], True))
        for layer, typ, params, is_buffer in units:
            row = _Row(layer, typ, mname, params, buffer=is_buffer)
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


@dataclass
class _Traced:
    rows: list[_Row]
    tensor_macs: dict[int, int]  # id(tensor) -> MACs of all its uses
    io_shapes: dict[str, tuple[Any, Any]]


def _trace(model: nn.Module, example_input: Any, nnz: dict[int, int]) -> _Traced:
    """Rows in execution order with MACs filled in (``nnz`` caches non-zero counts)."""
    from sckit.macs import MacTracer, call_model

    tracer = MacTracer(model)
    call_model(model, example_input, tracer)
    rows, by_param = _weight_rows(model)
    for row in rows:
        row.seq = tracer.first_call.get(row.module, math.inf)
    op_rows: dict[tuple[str, str, int], _Row] = {}
    tensor_macs: dict[int, int] = {}
    for rec in tracer.records:
        if rec.weight is not None:
            cands = by_param[rec.weight]
            row = next((r for r in cands if r.module == rec.module), cands[0])
            p = next(q for q in row.params if id(q) == rec.weight)
            # each weight element takes part in the same number of the op's MACs (conv: N*out
            # positions, padding included; mm: the rows of the other operand), so the share of
            # MACs with a non-zero weight is exactly the weight's density
            nonzero = rec.macs * _nnz(p, nnz) // p.numel()
            tensor_macs[rec.weight] = tensor_macs.get(rec.weight, 0) + rec.macs
        elif rec.derived:  # a weight computed from the leaf's parameters (torch prune masks)
            row = next(r for r in rows if r.module == rec.module)
            nonzero = rec.macs * rec.derived_nnz // rec.derived_numel if rec.derived_numel else 0
            row.own_macs += rec.macs
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
    return _Traced(ordered, tensor_macs, tracer.io_shapes)


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


#: tensors up to this many elements are encoded for their exact size even when estimating: it
#: costs about a millisecond, and fixed per-structure bytes dominate their size
EXACT_MAX_ELEMENTS = 4096
_ENCODE = (True, False, "estimate", "exact")


def _sizes(params: list[Any], kind: str, exact: bool) -> tuple[float, float, bool]:
    """(h0 bits per weight, bytes, any size estimated) of the row's counted tensors."""
    from sckit.inspect_size import estimate_size, exact_size

    n = 0
    nbytes = h0 = 0.0
    estimated = False
    for p in params:
        if p.numel() == 0:
            continue
        if exact or p.numel() <= EXACT_MAX_ELEMENTS:
            s = exact_size(p, kind)
        else:
            s = estimate_size(p, kind)
        estimated |= not s.exact
        nbytes += s.nbytes
        h0 += s.h0_bits * p.numel()
        n += p.numel()
    return (h0 / n if n else math.nan), nbytes, estimated


def _depth(row: _Row) -> int:
    """Nesting depth: components of the module's name (root 0), +1 below a module's call."""
    base = len(row.module.split(".")) if row.module else 0
    return base if row.type not in ("Parameter", "Buffer") and row.params else base + 1


def inspect(
    model: nn.Module,
    example_input: Any,
    *,
    fpr_threshold: float = DEFAULT_FPR_THRESHOLD,
    ras: Mapping[str, str] | None = None,
    encode: bool | str = True,
) -> pd.DataFrame:
    """Per-layer table of ``model`` for one forward pass on ``example_input``.

    Args:
        model: any ``nn.Module``; it runs once without autograd in eval mode (training flags are
            restored afterwards, BatchNorm statistics are not touched). TorchScript modules,
            sparse and meta tensors are refused (``sckit.model_checks``).
        example_input: a tensor, a tuple/list of positional arguments, or a dict of keyword
            arguments. MACs scale with it (batch size, tokens, resolution).
        fpr_threshold: rows with FPr >= this use block-wise RAS (:func:`choose_ras`).
        ras: per-layer overrides ``{"fc": "element", ...}``; names must be weight rows of the
            table (``ValueError`` listing the valid ones otherwise).
        encode: how ``h0_bits`` and ``succinct_bytes`` are filled. ``True`` (or "estimate"):
            estimated from each tensor's symbol histogram without building the structures
            (``sckit.inspect_size``; ``benchmarks/bench_inspect.py --check`` measured each row
            within 0.5 % of the real size on the zoo and within 7 % on pruned or quantized
            versions, model totals within 0.8 %; tensors of <= :data:`EXACT_MAX_ELEMENTS` are
            encoded). ``"exact"``: every tensor encoded with ``sckit.tensor_io.encode_tensor``
            (seconds per 100M weights). ``False``: left NaN. Column ``size_estimated`` and
            ``df.attrs["sizes"]`` say which.

    Returns:
        A DataFrame (:class:`sckit.inspect_view.InspectFrame`: a ``pandas.DataFrame`` with a
        formatted notebook view and a ``print()`` view that fits 100 columns) with columns
        :data:`COLUMNS`: ``layer``, ``type`` (the module class; ``"Parameter"`` for a parameter
        held by a container, ``"Buffer"`` for a floating-point buffer of >= 2 dims -- a weight
        a converter stored as a buffer), ``n_params`` (buffers count 0), ``macs``, ``flops``
        (2 MACs), ``fpr`` (FLOPs of every use of the row's tensors -- a tied weight's other
        uses included -- over their elements; NaN for parameter-free rows), ``ras``
        (``"block"``/``"element"``, ``""`` for parameter-free rows), ``sparsity`` (fraction of
        zeros in the row's stored tensors -- for ``torch.nn.utils.prune`` models that is
        ``weight_orig``; call ``prune.remove`` to bake the masks in), ``h0_bits`` (order-0
        entropy bound per weight of what is encoded), ``dense_bytes``, ``succinct_bytes``,
        ``macs_nonzero`` (multiply-adds with a non-zero weight -- masks included), ``shape``
        (of the row's largest tensor), ``dtype``, ``shared`` (tied parameters counted in an
        earlier row), ``depth`` (module nesting), ``input_shape``/``output_shape`` (of the
        module's first call; a list when it takes or returns several tensors), ``trainable``
        (a tensor of the row requires grad), ``size_estimated``. ``df.attrs`` holds the
        threshold, input shapes, ``sizes`` and ``totals`` (:func:`sckit.inspect_view.totals`).

    Raises:
        ValueError: the forward pass fails (the message names the layer that raised), bad
            overrides or threshold, a meta tensor. TypeError: a TorchScript model, a sparse
            tensor, a bad ``encode``.
    """
    import pandas as pd

    from sckit.inspect_view import InspectFrame, totals
    from sckit.model_checks import check_model

    check_model(model, "inspect")
    _check_threshold(fpr_threshold)
    if not any(encode is e for e in _ENCODE[:2]) and encode not in _ENCODE[2:]:
        raise TypeError(f"encode={encode!r}; expected True/'estimate', 'exact' or False")
    exact = encode == "exact"
    nnz: dict[int, int] = {}
    traced = _trace(model, example_input, nnz)
    rows = traced.rows
    overrides = _validate_overrides(ras, rows)
    names = {id(p): n for n, p in model.named_parameters()}
    records = []
    for row in rows:
        n_all = sum(p.numel() for p in row.params)
        n_params = 0 if row.buffer else sum(p.numel() for p in row.counted)
        n_counted = sum(p.numel() for p in row.counted)
        is_weight = bool(row.params)
        # a tensor is read by every one of its uses (a tied embedding also by the LM head):
        # its FPr counts them all (Succinct Compression, sec. 4.1)
        use_macs = sum(traced.tensor_macs.get(id(p), 0) for p in row.params) + row.own_macs
        fpr = 2 * use_macs / n_all if n_all else math.nan
        kind = overrides.get(row.layer) or (
            choose_ras(0.0 if math.isnan(fpr) else fpr, fpr_threshold) if is_weight else ""
        )
        zeros = sum(p.numel() - _nnz(p, nnz) for p in row.counted)
        h0_bits = succinct = math.nan
        estimated = False
        if encode is not False and is_weight:
            h0_bits, succinct, estimated = _sizes(row.counted, kind, exact)
        big = max(row.params, key=lambda p: p.numel(), default=None)
        io = traced.io_shapes.get(row.module, ((), ())) if row.type not in (
            "Parameter", "Buffer") and is_weight else ((), ())
        records.append({
            "layer": row.layer,
            "type": row.type,
            "n_params": n_params,
            "macs": row.macs,
            "flops": 2 * row.macs,
            "fpr": fpr,
            "ras": kind,
            "sparsity": zeros / n_counted if n_counted else math.nan,
            "h0_bits": h0_bits,
            "dense_bytes": sum(p.numel() * p.element_size() for p in row.counted),
            "succinct_bytes": succinct,
            "macs_nonzero": row.macs_nonzero,
            "shape": tuple(big.shape) if big is not None else (),
            "dtype": str(big.dtype).removeprefix("torch.") if big is not None else "",
            "shared": ",".join(names.get(id(p), "?") for p in row.params if not any(p is q for q in row.counted)),
            "depth": _depth(row),
            "input_shape": io[0],
            "output_shape": io[1] if io[1] is not None else (),
            "trainable": any(p.requires_grad for p in row.params),
            "size_estimated": estimated,
        })  # fmt: skip
    df = pd.DataFrame.from_records(records, columns=COLUMNS)
    df = df.astype(
        {
            "n_params": "int64",
            "macs": "int64",
            "flops": "int64",
            "dense_bytes": "int64",
            "macs_nonzero": "int64",
            "depth": "int64",
            "trainable": "bool",
            "size_estimated": "bool",
            "succinct_bytes": "float64",
            "h0_bits": "float64",
        }
    )
    df = InspectFrame(df)
    df.attrs["fpr_threshold"] = float(fpr_threshold)
    df.attrs["input_shapes"] = _shapes(example_input)
    df.attrs["sizes"] = ("none" if encode is False
                         else "estimated" if bool(df["size_estimated"].any()) else "exact")
    listed = {id(p) for row in rows if row.buffer for p in row.params}
    # running statistics and other buffers the table has no row for
    df.attrs["other_buffer_bytes"] = int(sum(
        b.numel() * b.element_size() for b in model.buffers() if id(b) not in listed))
    df.attrs["totals"] = totals(df)
    return df


def _shapes(example_input: Any) -> list[tuple[int, ...]]:
    from torch.nn.utils.rnn import PackedSequence

    if isinstance(example_input, PackedSequence):
        return [tuple(example_input.data.shape)]
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
