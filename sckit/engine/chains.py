"""Filter pruning across layers: keep a conv's output shrunk until the next conv reads it.

A conv whose filter c is all zero outputs its bias in channel c; after a BatchNorm and an
elementwise activation that channel is still one constant ``v_c``. When the graph is a plain chain
``conv_a -> [BatchNorm2d] -> [activations] -> conv_b`` (each step the only reader of the one before),
the channels of dropped filters never need to exist: ``conv_a`` emits only its kept channels, the
BatchNorm normalises only those, and ``conv_b`` reads only those, adding what the constants
contribute (``conv(v, W_b[:, dropped])``: a per-output constant for an unpadded conv, a map
that differs at padded borders otherwise, computed once per input size). That is the physically
shrunk network (Succinct Compression, sec. 7: filter-level pruning), exact up to the order of the
sums. The graph comes from ``torch.fx``; a model it cannot trace simply gets no chains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sckit.engine.kernels import FastKernel, _bytes, _supported, _zero_rows, scatter_outputs

__all__ = ["Chain", "ChainBatchNorm", "ChainConvKernel", "find_chains"]

# elementwise and channel-agnostic: a constant channel stays a constant channel
_ACTS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardtanh, nn.LeakyReLU, nn.Identity)
_ACT_FNS = (torch.relu, F.relu, F.relu6, F.gelu, F.silu, F.hardswish)


@dataclass
class Chain:
    """``producer`` conv -> ``steps`` (("bn" | "act" | "fn", target)) -> ``consumer`` conv."""

    producer: str
    consumer: str
    steps: list[tuple[str, Any]] = field(default_factory=list)


def find_chains(module: nn.Module) -> list[Chain]:
    """Every conv -> BN/activation -> conv chain of ``module`` where each node has one reader and
    each module in it is called once (a shared module would see both shapes)."""
    try:
        import torch.fx as fx

        graph = fx.symbolic_trace(module).graph
    except Exception:  # noqa: BLE001 - untraceable models (data-dependent flow...) get no chains
        return []
    modules = dict(module.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    chains = []
    for node in graph.nodes:
        if (node.op != "call_module" or type(modules.get(node.target)) is not nn.Conv2d
                or modules[node.target].groups != 1 or _supported(modules[node.target]) is not None):
            continue
        steps: list[tuple[str, Any]] = []
        cur = node
        while len(cur.users) == 1:
            nxt = next(iter(cur.users))
            if nxt.args[:1] != (cur,) or len(nxt.args) != 1:
                break
            if nxt.op == "call_module":
                mod = modules.get(nxt.target)
                if (type(mod) is nn.BatchNorm2d and not mod.training and mod.track_running_stats
                        and calls[nxt.target] == 1 and not nxt.kwargs):
                    steps.append(("bn", nxt.target))
                elif type(mod) in _ACTS and not nxt.kwargs:
                    steps.append(("act", nxt.target))
                elif (type(mod) is nn.Conv2d and mod.groups == 1 and calls[nxt.target] == 1
                      and calls[node.target] == 1 and not nxt.kwargs and _supported(mod) is None):
                    chains.append(Chain(node.target, nxt.target, steps))
                    break
                else:
                    break
            elif nxt.op == "call_function" and nxt.target in _ACT_FNS and set(nxt.kwargs) <= {"inplace"}:
                steps.append(("fn", nxt.target))
            else:
                break
            cur = nxt
    return chains


class ChainBatchNorm(FastKernel):
    """An eval-mode BatchNorm2d over the kept channels only (same per-element arithmetic)."""

    name = "shrunk"

    def __init__(self, bn: nn.BatchNorm2d, keep: torch.Tensor, weight: torch.Tensor | None,
                 bias: torch.Tensor | None) -> None:
        self.linear = False
        self.keep = keep
        self.bias = None
        self.eps = bn.eps
        self.mean = bn.running_mean.detach().index_select(0, keep).clone()  # type: ignore[union-attr]
        self.var = bn.running_var.detach().index_select(0, keep).clone()  # type: ignore[union-attr]
        self.w = None if weight is None else weight.detach().index_select(0, keep).clone()
        self.b = None if bias is None else bias.detach().index_select(0, keep).clone()
        self.out_features = bn.num_features

    @property
    def nbytes(self) -> int:
        return _bytes(self.mean, self.var, self.w, self.b, self.keep)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:  # as nn.BatchNorm2d refuses it
            raise ValueError(f"expected 4D input (got {x.dim()}D input)")
        return F.batch_norm(x, self.mean, self.var, self.w, self.b, False, 0.0, self.eps)


class ChainConvKernel(FastKernel):
    """A Conv2d inside chains: computes only its kept filters (``emit_kept``: returns just those,
    for the next chain link; else the dropped ones are written as their bias) and, as a chain's
    consumer, reads only the producer's kept channels plus the constants of the dropped ones."""

    name = "shrunk"

    def __init__(self, mod: Any, weight: torch.Tensor, bias: torch.Tensor | None, *,
                 emit_kept: bool, in_keep: torch.Tensor | None = None,
                 in_const: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        super().__init__(mod, bias)
        self.out_features = weight.shape[0]
        out_keep = ~_zero_rows(weight)
        self.keep = torch.nonzero(out_keep).flatten()
        drop = torch.nonzero(~out_keep).flatten()
        self.drop = drop if drop.numel() else None
        self.emit_kept = emit_kept
        w = weight.detach().index_select(0, self.keep)
        self.bias_keep = None if self.bias is None else self.bias.index_select(0, self.keep).clone()
        self.const_w: torch.Tensor | None = None
        self.const_v: torch.Tensor | None = None
        if in_keep is not None:
            if in_const is not None and in_const[0].numel():
                z, v = in_const
                cw = w.index_select(1, z)
                if bool((cw != 0).any()):
                    self.const_w, self.const_v = cw.contiguous(), v.to(w.dtype)
            w = w.index_select(1, in_keep)
        self.weight = w.contiguous()
        if self.const_w is not None and self.const_v is not None and tuple(self.padding) == (0, 0):
            # unpadded: every output position sees the constants through every tap: a bias
            add = (self.const_w * self.const_v.reshape(1, -1, 1, 1)).sum(dim=(1, 2, 3))
            self.bias_keep = add if self.bias_keep is None else self.bias_keep + add
            self.const_w = None
        self._corr: dict[tuple[int, int], torch.Tensor] = {}
        fill = None if self.bias is None or self.drop is None else self.bias.index_select(0, self.drop)
        self.fill = fill

    @property
    def nbytes(self) -> int:
        return _bytes(self.weight, self.bias_keep, self.const_w, self.keep, self.drop,
                      *self._corr.values())

    def _correction(self, h: int, w: int) -> torch.Tensor:
        corr = self._corr.get((h, w))
        if corr is None:
            assert self.const_w is not None and self.const_v is not None
            v = self.const_v.reshape(1, -1, 1, 1).expand(1, self.const_v.numel(), h, w)
            corr = F.conv2d(v, self.const_w, None, self.stride, self.padding, self.dilation)
            if len(self._corr) < 8:  # a few input sizes; more are computed per call
                self._corr[(h, w)] = corr
        return corr

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.weight, self.bias_keep, self.stride, self.padding, self.dilation)
        if self.const_w is not None:
            corr = self._correction(*x.shape[-2:])  # (1, out, H, W): broadcasts over a batch
            y = y + (corr if x.dim() == 4 else corr[0])
        if self.emit_kept or self.drop is None:
            return y
        dim = 1 if y.dim() == 4 else 0
        shape = list(y.shape)
        shape[dim] = self.out_features
        return scatter_outputs(y.new_empty(shape), dim, y, self.keep, self.drop,
                               0.0 if self.fill is None else None, self.fill)


def dropped_constants(chain: Chain, modules: dict[str, Any], bias: torch.Tensor | None,
                      drop: torch.Tensor, params: dict[str, torch.Tensor | None]) -> torch.Tensor:
    """The value each dropped channel of ``chain.producer`` has when ``chain.consumer`` reads it:
    its bias (or 0) through the chain's BatchNorm and activations. ``params``: exact values of
    the BatchNorm weights and biases by name (they may be encoded)."""
    dtype = modules[chain.producer].weight.dtype
    t = (torch.zeros(drop.numel(), dtype=dtype) if bias is None else bias.detach().index_select(0, drop))
    t = t.reshape(1, -1, 1, 1).clone()
    for kind, target in chain.steps:
        if kind == "bn":
            bn = modules[target]
            w, b = params.get(f"{target}.weight"), params.get(f"{target}.bias")
            t = F.batch_norm(t, bn.running_mean.index_select(0, drop), bn.running_var.index_select(0, drop),
                             None if w is None else w.index_select(0, drop),
                             None if b is None else b.index_select(0, drop), False, 0.0, bn.eps)
        elif kind == "act":
            t = modules[target](t)
        else:
            t = target(t)
    return t.reshape(-1)


def build_chain_kernels(module: nn.Module, chains: list[Chain], exact: Any) -> tuple[dict[str, FastKernel], dict[str, str]]:
    """Kernels for every conv and BatchNorm of ``chains`` whose producer has dropped filters, and
    a note per module. ``exact(name)``: the exact tensor of parameter ``name`` (None if absent)."""
    modules = dict(module.named_modules())
    weights = {c: exact(f"{c}.weight") for ch in chains for c in (ch.producer, ch.consumer)}
    live = [ch for ch in chains if bool(_zero_rows(weights[ch.producer]).any())]
    produces = {ch.producer: ch for ch in live}
    consumes = {ch.consumer: ch for ch in live}
    out: dict[str, FastKernel] = {}
    notes: dict[str, str] = {}
    for conv in {*produces, *consumes}:
        w = weights[conv]
        in_keep = in_const = None
        src = consumes.get(conv)
        if src is not None:
            pw = weights[src.producer]
            keep = torch.nonzero(~_zero_rows(pw)).flatten()
            drop = torch.nonzero(_zero_rows(pw)).flatten()
            params = {f"{t}.{a}": exact(f"{t}.{a}") for k, t in src.steps if k == "bn" for a in ("weight", "bias")}
            v = dropped_constants(src, modules, exact(f"{src.producer}.bias"), drop, params)
            in_keep, in_const = keep, (drop, v)
        out[conv] = ChainConvKernel(modules[conv], w, exact(f"{conv}.bias"), emit_kept=conv in produces,
                                    in_keep=in_keep, in_const=in_const)
        parts = []
        if conv in produces:
            kept = int((~_zero_rows(w)).sum())
            parts.append(f"emits its {kept}/{w.shape[0]} kept channels to "
                         f"{produces[conv].consumer}")
        if src is not None:
            parts.append(f"reads {in_keep.numel()}/{w.shape[1]} channels from {src.producer}")  # type: ignore[union-attr]
        notes[conv] = "chain: " + "; ".join(parts)
    for ch in live:
        keep = torch.nonzero(~_zero_rows(weights[ch.producer])).flatten()
        for kind, target in ch.steps:
            if kind == "bn":
                out[target] = ChainBatchNorm(modules[target], keep, exact(f"{target}.weight"),
                                             exact(f"{target}.bias"))
                notes[target] = f"chain: normalises the {keep.numel()} kept channels of {ch.producer}"
    return out, notes
