"""Fast mode's per-layer choice: measure each applicable kernel on the layer's real input, keep
the fastest (Succinct Compression, sec. 5: the layout follows the layer, not a fixed rule).

Calibration runs one forward of the exact model on the example input. At every eligible layer,
with its weights decoded, a hook times the dense computation and each kernel of
``sckit.engine.kernels`` that applies, interleaved, on that input, and checks each kernel's
output against the dense output within the reassociation bound. A kernel is chosen only if it
beats the dense computation by ``MARGIN``; otherwise the layer runs dense and the plan says why.
The plan (kernel name and the measured milliseconds per layer) is stored with the model, so a
saved file is not calibrated again when it is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sckit.engine import kernels

__all__ = ["MARGIN", "LayerPlan", "calibrate", "eligible_units", "reassociation_bound"]

#: a kernel must take at most this share of the dense time to be chosen: below the noise of
#: medians on a shared 2-core machine, a "win" would flip between runs
MARGIN = 0.95
_BUDGET_S = 0.05  # time per candidate per layer spent measuring (at least 3 runs each)


@dataclass
class LayerPlan:
    """The choice for one layer: ``kernel`` ("dense", "shrunk", "csr"), why, and what was measured."""

    kernel: str
    why: str
    ms: dict[str, float] = field(default_factory=dict)
    chain: bool = False  # part of a conv -> BN -> conv chain kept shrunk (sckit.engine.chains)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kernel": self.kernel, "why": self.why, "ms": dict(self.ms)}
        if self.chain:
            out["chain"] = True
        return out

    @classmethod
    def from_json(cls, obj: Any) -> LayerPlan:
        if not (isinstance(obj, dict) and obj.get("kernel") in kernels.KERNELS
                and isinstance(obj.get("why", ""), str) and isinstance(obj.get("ms", {}), dict)):
            raise ValueError(f"malformed layer plan {obj!r}")
        ms = {str(k): float(v) for k, v in obj.get("ms", {}).items()}
        chain = obj.get("chain", False)
        if not isinstance(chain, bool):
            raise ValueError(f"malformed layer plan {obj!r}: chain must be a bool")
        return cls(obj["kernel"], obj.get("why", ""), ms, chain)


def eligible_units(module: nn.Module, units: dict[str, list[str]], encoded: dict[str, Any]) -> dict[str, str]:
    """unit -> why it cannot take a fast kernel ("" when it can).

    A unit can when it is a plain ``nn.Linear``/``nn.Conv2d`` that uses only its own weight (and
    bias), its weight is encoded and no other module reads it (a kernel replaces the layer's
    forward, not the weight).
    """
    modules = dict(module.named_modules())
    users: dict[str, int] = {}
    for ps in units.values():
        for p in ps:
            users[p] = users.get(p, 0) + 1
    out: dict[str, str] = {}
    for unit, ps in units.items():
        mod = modules.get(unit)
        if mod is None:
            continue
        why = kernels._supported(mod)
        wname = f"{unit}.weight" if unit else "weight"
        bname = f"{unit}.bias" if unit else "bias"
        if why is None and wname not in encoded:
            why = "weight not encoded"
        elif why is None and not set(ps) <= {wname, bname}:
            why = "reads other modules' parameters"
        elif why is None and users.get(wname, 0) > 1:
            why = "weight shared with another module"
        out[unit] = why or ""
    return out


def reassociation_bound(mod: Any, x: torch.Tensor, weight: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-output bound on how far a reordered sum may move the layer's output: for a dot product
    of length K, ``K * eps * sum|w_i x_i|`` (Higham's gamma_K), plus one rounding of ``|y|``."""
    eps = torch.finfo(y.dtype).eps
    wa, xa = weight.abs(), x.abs()
    if isinstance(mod, nn.Linear):
        mag = F.linear(xa, wa)
        k = weight.shape[1]
    else:
        mag = F.conv2d(xa, wa, None, mod.stride, mod.padding, mod.dilation, mod.groups)
        k = weight[0].numel()
    return k * eps * mag + eps * y.abs() + torch.finfo(y.dtype).tiny


def _time_interleaved(fns: dict[str, Any]) -> dict[str, float]:
    """Median ms of each function (runs interleaved, see ``sckit.timing``)."""
    from sckit.timing import interleaved

    return {n: t.median for n, t in interleaved(fns, repeats=9, warmup=1, budget_s=_BUDGET_S).items()}


def _dense_forward(mod: Any):  # noqa: ANN202
    cls_forward = type(mod).forward
    return lambda x: cls_forward(mod, x)


def calibrate_layer(mod: Any, x: torch.Tensor, decode_ms: float = 0.0,
                    overlapped: bool = False) -> tuple[LayerPlan, kernels.FastKernel | None]:
    """Measure the applicable kernels on ``x`` with ``mod``'s (decoded) weights; the plan and the
    chosen kernel (None for dense).

    The dense route also pays ``decode_ms`` per forward to decode the weights; with decode-ahead
    (``overlapped``) that decode runs beside the previous layers, so the route costs the larger
    of the two rather than their sum. A kernel computes from structures built once: no decode.
    """
    weight = mod.weight.detach()
    bias = None if mod.bias is None else mod.bias.detach()
    names, note = kernels.applicable(mod, weight)
    if not names:
        return LayerPlan("dense", note), None
    dense = _dense_forward(mod)
    with torch.no_grad():
        ref = dense(x)
        bound = reassociation_bound(mod, x, weight, ref)
        built: dict[str, kernels.FastKernel] = {}
        rejected: list[str] = []
        for name in names:
            try:
                k = kernels.build(name, mod, weight, bias)
                got = k(x)
            except (RuntimeError, ValueError, NotImplementedError, TypeError) as exc:
                rejected.append(f"{name} failed ({type(exc).__name__}: {str(exc)[:60]})")
                continue
            ok = got.shape == ref.shape and got.dtype == ref.dtype and bool(
                (((got - ref).abs() <= bound) | (got.isnan() & ref.isnan())).all())
            if not ok:
                rejected.append(f"{name} outside the reassociation bound")
                continue
            built[name] = k
        fns: dict[str, Any] = {"dense": lambda: dense(x)}
        for n, k in built.items():
            fns[n] = lambda k=k: k(x)
        ms = _time_interleaved(fns)
    # ms: "dense" the dense compute, "decode" its weights' decode, "dense_route" what the dense
    # route costs a forward (the figure a kernel must beat), and one entry per kernel
    ms["decode"] = decode_ms
    dense_cost = max(ms["dense"], decode_ms) if overlapped else ms["dense"] + decode_ms
    ms["dense_route"] = dense_cost
    best = min(built, key=lambda n: ms[n], default=None)
    extra = ("; " + "; ".join(rejected)) if rejected else ""
    if best is None:
        return LayerPlan("dense", ("; ".join(rejected) or note), ms), None
    speed = dense_cost / ms[best] if ms[best] > 0 else float("inf")
    desc = kernels.describe(built[best])
    route = "decode + dense compute" + (" (decode overlapped)" if overlapped else "")
    if ms[best] <= MARGIN * dense_cost:
        return LayerPlan(best, f"{desc}: {speed:.2f}x the {route}{extra}", ms), built[best]
    return LayerPlan("dense", f"{best} measured {speed:.2f}x the {route}, not faster{extra}", ms), None


def _decode_ms(sm: Any, unit: str) -> float:
    """What the dense route spends per forward decoding ``unit``'s encoded weights (0 for those
    kept decoded in the runtime's cache)."""
    from sckit.engine.schedule import decode_ras

    rt = sm._runtime
    names = [n for n in sm._units.get(unit, []) if n in rt.ras and n not in rt.cached]
    if not names:
        return 0.0
    fn = {"decode": lambda: [decode_ras(rt.ras[n]) for n in names]}
    return _time_interleaved(fn)["decode"]


def calibrate(sm: Any, example_input: Any, eligible: dict[str, str]) -> tuple[dict[str, LayerPlan], dict[str, kernels.FastKernel]]:
    """Run ``sm`` (exact mode) once on ``example_input``, measuring every eligible unit at its
    first call; returns the plan for every unit in ``eligible`` and the built kernels."""
    from sckit.engine.trace import call_model

    modules = dict(sm.module.named_modules())
    plans: dict[str, LayerPlan] = {u: LayerPlan("dense", why) for u, why in eligible.items() if why}
    built: dict[str, kernels.FastKernel] = {}
    handles = []

    def hook_for(unit: str):  # noqa: ANN202
        def pre(mod: nn.Module, args: tuple[Any, ...]) -> None:
            if unit in plans:
                return
            if len(args) != 1 or not isinstance(args[0], torch.Tensor) or args[0].device.type != "cpu":
                plans[unit] = LayerPlan("dense", "input is not one CPU tensor")
                return
            plans[unit], k = calibrate_layer(mod, args[0], _decode_ms(sm, unit), overlapped)
            if k is not None:
                built[unit] = k

        return pre

    rt = sm._runtime
    overlapped = rt.decode_ahead_used
    try:
        # registered after the engine's hooks, so the weights are decoded when ours runs
        for unit, why in eligible.items():
            if not why:
                handles.append(modules[unit].register_forward_pre_hook(hook_for(unit)))
        call_model(sm, example_input)
    finally:
        for h in handles:
            h.remove()
    for unit, why in eligible.items():
        plans.setdefault(unit, LayerPlan("dense", why or "not called in the calibration forward"))
        r = rt.ras.get(f"{unit}.weight" if unit else "weight")
        book = getattr(r, "codebook", None)
        if plans[unit].kernel == "dense" and book is not None:
            # int8 GEMMs (fbgemm/onednn) quantize the activations too, which is not exact
            plans[unit].why += (f"; codebook of {book.size} values: decoded and computed densely "
                                "(sckit has no codebook kernel; int8 GEMMs would quantize the "
                                "activations too)")
    return plans, built
