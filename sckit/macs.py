"""Multiply-accumulate (MAC) counting: which aten op multiplies what, inside which module.

MACs are counted explicitly from shapes, one formula per aten op, by a ``TorchDispatchMode``
that sees every aten op after decomposition, while forward pre/post hooks keep a stack of the
modules that are running. Each counted op becomes a :class:`MacRecord` attributed to the
innermost running module, with the parameter it multiplies (if any) identified by storage.

Counting convention -- the one of ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs = 2 MACs):

=================================  ==========================================================
op                                 MACs
=================================  ==========================================================
``mm(a[m,k], b[k,n])``, ``addmm``  ``m*k*n`` (the bias add is not counted)
``bmm``, ``baddbmm``               ``batch*m*k*n``
``convolution`` (+ variants)       ``N * prod(weight.shape) * prod(out spatial)``; transposed:
                                   ``prod(input spatial)`` (padding positions included, bias not)
``mkldnn_rnn_layer`` (CPU LSTM)    ``T*B*G*in`` (input) + ``T*B*G*H`` (recurrent), ``G`` = gate
                                   rows of ``weight_ih`` (4H), per layer and direction
everything else                    0: BatchNorm, LayerNorm, ReLU/GELU, pooling, softmax, adds,
                                   embedding lookups
=================================  ==========================================================

Where sckit deliberately differs (tested in ``tests/test_macs.py``):

* ``F.scaled_dot_product_attention`` on CPU dispatches to
  ``aten._scaled_dot_product_flash_attention_for_cpu``, which FlopCounterMode (torch 2.13) has no
  formula for and counts as 0. sckit counts every SDPA kernel as two parts:
  ``sdpa.qk`` = B*Hq*L*S*E (q @ k^T) and ``sdpa.av`` = B*Hq*L*S*Ev (attn @ v) -- the same total
  FlopCounterMode gives the CUDA kernels. Causal masks are not discounted (as FlopCounterMode).
* ``mv``/``addmv`` (``m*k``) and ``dot``/``vdot`` (``n``), which FlopCounterMode counts as 0.
* the fused inference kernels of ``nn.MultiheadAttention`` (``_native_multi_head_attention``) and
  ``nn.TransformerEncoderLayer`` (``_transformer_encoder_layer_fwd``), which FlopCounterMode
  counts as 0: in-projection, SDPA (as above), out-projection and (encoder layer) both FFN
  matmuls, each charged to its weight.

Recurrent layers are counted exactly, gates' biases and element-wise gate arithmetic excluded:
``nn.RNN``, ``nn.GRU``, ``nn.RNNCell``, ``nn.GRUCell``, ``nn.LSTMCell``, an LSTM with
``proj_size`` and every packed sequence decompose on the CPU into ``addmm``/``mm`` per time step
(packed: only the live batch rows of each step). A plain ``nn.LSTM`` runs oneDNN's fused
``mkldnn_rnn_layer``, which FlopCounterMode counts as 0; sckit counts it with the same formula the
decomposed path gives (``rnn.ih`` and ``rnn.hh`` parts, each charged to its weight).

Not counted (0 in both): embedding lookups, sparse/quantized kernels without an aten matmul.

Like FlopCounterMode, an op without a formula is first offered its CompositeImplicit
decomposition, so ops that decompose into counted ones are counted identically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["MacRecord", "MacTracer", "count_macs", "op_macs", "SDPA_OPS", "call_model", "shapes_of",
           "weight_buffers"]

aten = torch.ops.aten

# (part name, MACs, the two multiplied operands)
Part = tuple[str, int, tuple[Any, Any]]


def _mm(args: Sequence[Any], out: Any) -> list[Part]:
    (m, k), (_, n) = args[0].shape, args[1].shape
    return [("mm", m * k * n, (args[0], args[1]))]


def _addmm(args: Sequence[Any], out: Any) -> list[Part]:
    (m, k), (_, n) = args[1].shape, args[2].shape
    return [("addmm", m * k * n, (args[1], args[2]))]


def _bmm(args: Sequence[Any], out: Any) -> list[Part]:
    (b, m, k), n = args[0].shape, args[1].shape[-1]
    return [("bmm", b * m * k * n, (args[0], args[1]))]


def _baddbmm(args: Sequence[Any], out: Any) -> list[Part]:
    (b, m, k), n = args[1].shape, args[2].shape[-1]
    return [("baddbmm", b * m * k * n, (args[1], args[2]))]


def _conv_parts(
    x: torch.Tensor, w: torch.Tensor, out: torch.Tensor, transposed: bool
) -> list[Part]:
    spatial = (x if transposed else out).shape[2:]
    return [("conv", x.shape[0] * math.prod(w.shape) * math.prod(spatial), (x, w))]


def _conv(args: Sequence[Any], out: Any) -> list[Part]:  # convolution, _convolution, _overrideable
    return _conv_parts(args[0], args[1], out, bool(args[6]) if len(args) > 6 else False)


def _conv_not_transposed(args: Sequence[Any], out: Any) -> list[Part]:  # cudnn / slow conv2d
    return _conv_parts(args[0], args[1], out, False)


def _mv(args: Sequence[Any], out: Any) -> list[Part]:
    return [("mv", args[0].shape[0] * args[0].shape[1], (args[0], args[1]))]


def _addmv(args: Sequence[Any], out: Any) -> list[Part]:
    return [("addmv", args[1].shape[0] * args[1].shape[1], (args[1], args[2]))]


def _dot(args: Sequence[Any], out: Any) -> list[Part]:
    return [("dot", args[0].shape[0], (args[0], args[1]))]


def _mkldnn_rnn(args: Sequence[Any], out: Any) -> list[Part]:
    """One layer and direction of oneDNN's LSTM: input [T, B, in] (batch_first already undone),
    weight_ih [G, in], weight_hh [G, H] (G = 4H gate rows)."""
    x, w_ih, w_hh = args[0], args[1], args[2]
    tokens = x.numel() // x.shape[-1] if x.numel() else 0
    gates = w_ih.shape[0]
    return [
        ("rnn.ih", tokens * gates * w_ih.shape[1], (x, w_ih)),
        ("rnn.hh", tokens * gates * w_hh.shape[1], (None, w_hh)),
    ]


def _sdpa(args: Sequence[Any], out: Any) -> list[Part]:
    """q [B, Hq, L, E], k [B, Hkv, S, E], v [B, Hkv, S, Ev]; GQA broadcasts kv heads to Hq."""
    q, k, v = args[0], args[1], args[2]
    b, hq, length, e = q.shape
    s, ev = k.shape[-2], v.shape[-1]
    attn = (
        out[0] if isinstance(out, tuple | list) else out
    )  # stands in for the (unmaterialised) scores
    return [
        ("sdpa.qk", b * hq * length * s * e, (q, k)),
        ("sdpa.av", b * hq * length * s * ev, (attn, v)),
    ]


def _attention_parts(
    q: Any, k: Any, v: Any, e: int, heads: int, qkv_w: Any, proj_w: Any
) -> list[Part]:
    """In-projection, SDPA and out-projection of a fused (nn.MultiheadAttention) kernel."""
    if getattr(q, "is_nested", False):  # ragged batches: no fixed shape to count from
        return []
    b = q.shape[0] if q.dim() == 3 else 1
    length, s = q.shape[-2], k.shape[-2]
    hd = e // heads
    in_proj = (b * length + (2 * b * s if (k is not q or v is not q) else 2 * b * length)) * e * e
    return [
        ("in_proj", in_proj, (q, qkv_w)),
        ("sdpa.qk", b * heads * length * s * hd, (None, None)),
        ("sdpa.av", b * heads * length * s * hd, (None, None)),
        ("out_proj", b * length * e * e, (None, proj_w)),
    ]


def _native_mha(args: Sequence[Any], out: Any) -> list[Part]:
    return _attention_parts(args[0], args[1], args[2], args[3], args[4], args[5], args[7])


def _encoder_layer(args: Sequence[Any], out: Any) -> list[Part]:
    src, e, heads = args[0], args[1], args[2]
    parts = _attention_parts(src, src, src, e, heads, args[3], args[5])
    if not parts:
        return []
    tokens = src.numel() // e
    ffn = args[14].shape[0]
    return [
        *parts,
        ("ffn1", tokens * e * ffn, (src, args[14])),
        ("ffn2", tokens * ffn * e, (None, args[16])),
    ]


_FORMULAS: dict[Any, Callable[[Sequence[Any], Any], list[Part]]] = {
    aten.mm: _mm,
    aten.addmm: _addmm,
    aten.bmm: _bmm,
    aten.baddbmm: _baddbmm,
    aten._scaled_mm: _mm,
    aten.convolution: _conv,
    aten._convolution: _conv,
    aten.convolution_overrideable: _conv,
    aten.cudnn_convolution: _conv_not_transposed,
    aten._slow_conv2d_forward: _conv_not_transposed,
    aten.mv: _mv,
    aten.addmv: _addmv,
    aten.dot: _dot,
    aten.vdot: _dot,
    aten._native_multi_head_attention: _native_mha,
    aten._transformer_encoder_layer_fwd: _encoder_layer,
    aten.mkldnn_rnn_layer: _mkldnn_rnn,
}
#: SDPA kernels sckit counts (FlopCounterMode counts the CUDA ones, not the CPU one).
SDPA_OPS = (
    aten._scaled_dot_product_flash_attention_for_cpu,
    aten._scaled_dot_product_fused_attention_overrideable,
    aten._scaled_dot_product_flash_attention,
    aten._scaled_dot_product_efficient_attention,
    aten._scaled_dot_product_cudnn_attention,
)
for _op in SDPA_OPS:
    _FORMULAS[_op] = _sdpa


def op_macs(func: Any, args: Sequence[Any], out: Any) -> list[Part]:
    """MAC parts of one aten op call (``[]`` if it does no multiply-adds by our convention)."""
    formula = _FORMULAS.get(getattr(func, "overloadpacket", func))
    return formula(args, out) if formula is not None else []


@dataclass(frozen=True)
class MacRecord:
    """One counted multiply-add part of one aten op call."""

    seq: int  # global event order (module calls and records share the counter)
    module: str  # qualified name of the innermost running module ("" = the root)
    op: str  # "conv", "mm", "addmm", "bmm", "baddbmm", "mv", "addmv", "dot", "sdpa.qk", ...
    occurrence: int  # how many earlier parts with this op ran in the same module call
    macs: int
    weight: int | None  # id() of the parameter (or weight buffer) multiplied, if an operand views one
    derived: bool = False  # no parameter operand, but run by a leaf module holding parameters
    # (a weight computed in forward, e.g. torch.nn.utils.prune's weight_orig * weight_mask)
    derived_nnz: int = 0  # non-zeros / elements of that computed weight (the second operand)
    derived_numel: int = 0


class _ParamIndex:
    """Finds the parameter (or weight buffer) a tensor is a view of, by untyped storage and
    offset range."""

    def __init__(self, params: Sequence[torch.Tensor]) -> None:
        self._by_ptr: dict[int, list[tuple[int, int, torch.Tensor]]] = {}
        for p in params:
            if p.numel() == 0 or p.device.type == "meta":
                continue
            ptr = p.untyped_storage().data_ptr()
            self._by_ptr.setdefault(ptr, []).append((int(p.storage_offset()), p.numel(), p))

    def find(self, t: Any) -> torch.Tensor | None:
        if not isinstance(t, torch.Tensor) or t.device.type == "meta":
            return None
        entries = self._by_ptr.get(t.untyped_storage().data_ptr())
        if not entries:
            return None
        off = t.storage_offset()
        for start, numel, p in entries:
            if start <= off < start + numel:
                return p
        return None


class _Mode(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # TorchDispatchMode otherwise wraps __torch_dispatch__ in torch._disable_dynamo, whose
        # first call imports torch._dynamo: measured 4.2 s here, twice a warm ResNet-50 forward.
        # Inspection always runs eagerly, so there is nothing for dynamo to skip.
        return False

    def __init__(self, tracer: MacTracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func.overloadpacket
        if packet not in _FORMULAS:
            # same rule as FlopCounterMode: count what a CompositeImplicit op decomposes into
            if func is not torch.ops.prim.device.default and not func.is_view:
                with self:
                    r = func.decompose(*args, **kwargs)
                if r is not NotImplemented:
                    return r
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        self.tracer._record(op_macs(func, args, out))
        return out


class MacTracer:
    """Context manager that traces MACs of forward passes of ``model``.

    Inside ``with MacTracer(model) as tr: model(x)``, ``tr.records`` collects a
    :class:`MacRecord` per counted op part, ``tr.first_call`` maps module names to the event
    number of their first call, and ``tr.stack`` is the list of running modules -- still filled
    when a forward raised, which is how :func:`call_model` names the failing layer.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.names: dict[int, str] = {id(m): n for n, m in model.named_modules()}
        self.weight_leaves = {
            n
            for n, m in model.named_modules()
            if next(m.children(), None) is None
            and next(m.parameters(recurse=False), None) is not None
        }
        self.types: dict[str, str] = {n: type(m).__name__ for n, m in model.named_modules()}
        # weights held as buffers (e.g. by onnx2torch conversions) are charged like parameters
        self.params = _ParamIndex([*model.parameters(), *weight_buffers(model).values()])
        self.records: list[MacRecord] = []
        self.first_call: dict[str, int] = {}
        # module name -> (input shapes, output shapes) of its first call
        self.io_shapes: dict[str, tuple[Any, Any]] = {}
        self.stack: list[tuple[str, dict[str, int]]] = []
        self._seq = 0
        self._handles: list[Any] = []
        self._mode = _Mode(self)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _pre(self, module: nn.Module, args: Any, kwargs: Any) -> None:
        name = self.names[id(module)]
        if name not in self.first_call:
            self.first_call[name] = self._next()
            self.io_shapes[name] = (shapes_of((*args, *kwargs.values())), None)
        self.stack.append((name, {}))

    def _post(self, module: nn.Module, args: Any, out: Any) -> None:
        name = self.names[id(module)]
        seen = self.io_shapes.get(name)
        if seen is not None and seen[1] is None:
            self.io_shapes[name] = (seen[0], shapes_of(out))
        # pop up to and including this module: entries above it belong to calls that raised
        # and were caught inside the model
        while self.stack:
            if self.stack.pop()[0] == name:
                break

    def _record(self, parts: list[Part]) -> None:
        if not parts:
            return
        module, counts = self.stack[-1] if self.stack else ("", {})
        for op, macs, operands in parts:
            p = self.params.find(operands[0])
            if p is None:  # (never `or`: the truth value of a many-element tensor raises)
                p = self.params.find(operands[1])
            k = counts.get(op, 0)
            counts[op] = k + 1
            rec = MacRecord(
                self._next(), module, op, k, int(macs), id(p) if p is not None else None
            )
            w = operands[1]
            if (
                p is None
                and module in self.weight_leaves
                and not op.startswith("sdpa")
                and w is not None
            ):
                # the second operand of conv / F.linear's mm is the (computed) weight
                nnz = int(torch.count_nonzero(w)) if w.numel() else 0
                rec = replace(rec, derived=True, derived_nnz=nnz, derived_numel=w.numel())
            self.records.append(rec)

    @property
    def failing_module(self) -> str | None:
        """Innermost module still on the stack (after a forward raised), ``None`` if none."""
        return self.stack[-1][0] if self.stack else None

    def __enter__(self) -> MacTracer:
        for m in self.model.modules():
            if id(m) in self.names:
                self._handles.append(m.register_forward_pre_hook(self._pre, with_kwargs=True))
                self._handles.append(m.register_forward_hook(self._post))
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._mode.__exit__(*exc)
        finally:
            for h in self._handles:
                h.remove()
            self._handles.clear()


def weight_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """Floating-point buffers of >= 2 dims (weights a converter stored as buffers), by name.

    ``torch.nn.utils.prune``'s masks are not weights (the row of the pruned parameter accounts
    for them), so they are left out."""
    from torch.nn.utils.prune import BasePruningMethod

    masks = set()
    for mname, m in model.named_modules():
        for hook in m._forward_pre_hooks.values():
            if isinstance(hook, BasePruningMethod):
                masks.add(f"{mname}.{hook._tensor_name}_mask" if mname
                          else f"{hook._tensor_name}_mask")
    return {n: b for n, b in model.named_buffers()
            if b.is_floating_point() and b.dim() >= 2 and b.numel() > 0 and n not in masks}


def shapes_of(obj: Any) -> tuple[int, ...] | list[Any]:
    """Shape of a tensor; a list of the shapes of the tensors in a tuple/list/dict (one level,
    plus a PackedSequence's data); ``()`` when there is none."""
    if isinstance(obj, torch.Tensor):
        return tuple(obj.shape)
    if isinstance(obj, PackedSequence):
        return tuple(obj.data.shape)
    items = obj.values() if isinstance(obj, Mapping) else obj if isinstance(obj, tuple | list) else ()
    found = [shapes_of(v) for v in items if isinstance(v, torch.Tensor | PackedSequence)]
    if not found:
        return ()
    return found[0] if len(found) == 1 else found


def _as_call(example_input: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(example_input, PackedSequence):  # a NamedTuple, but one argument
        return (example_input,), {}
    if isinstance(example_input, Mapping):
        return (), dict(example_input)
    if isinstance(example_input, tuple | list):
        return tuple(example_input), {}
    return (example_input,), {}


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Run in eval mode (no BatchNorm statistics updates, no dropout) and restore each flag."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


def call_model(model: nn.Module, example_input: Any, tracer: MacTracer) -> Any:
    """Run ``model(example_input)`` under ``tracer`` without autograd, in eval mode.

    ``example_input`` is a tensor, a tuple/list of positional arguments or a dict of keyword
    arguments. An exception inside the forward is re-raised as ``ValueError`` naming the
    innermost module that was running (``layer 'features.0' (Conv2d) failed: ...``), chained
    from the original.
    """
    args, kwargs = _as_call(example_input)
    with torch.no_grad(), _eval_mode(model):
        try:
            with tracer:
                return model(*args, **kwargs)
        except Exception as exc:
            name = tracer.failing_module
            where = (
                f"layer {name!r} ({tracer.types[name]})"
                if name
                else f"model {type(model).__name__}"
            )
            shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
            raise ValueError(f"{where} failed on example input of shape {shapes}: {exc}") from exc


def count_macs(model: nn.Module, example_input: Any) -> int:
    """Total MACs of one forward pass of ``model`` on ``example_input`` (see module docstring)."""
    tracer = MacTracer(model)
    call_model(model, example_input, tracer)
    return sum(r.macs for r in tracer.records)
