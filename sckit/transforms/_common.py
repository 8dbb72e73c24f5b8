"""Shared pieces of the transforms: which layers they touch, argument checks, metadata."""

from __future__ import annotations

import copy
import math
import numbers
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

TRANSFORMS_ATTR = "_sckit_transforms"


def prunable_layers(model: nn.Module) -> list[tuple[str, Any]]:
    """``(name, module)`` of every Conv1d/2d/3d and Linear with a weight, in module order.

    (Typed ``Any``: torch types ``module.weight`` as ``Tensor | Module``; these all have tensors.)

    Transposed convolutions are left out: their output channels sit on axis 1, and no zoo model
    has one. Biases are never pruned or quantized (they are <1% of the weights and matter more).
    """
    from torch import nn

    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, kinds) and isinstance(getattr(m, "weight", None), nn.Parameter)
    ]


def require_layers(model: nn.Module, op: str) -> list[tuple[str, Any]]:
    """:func:`prunable_layers`, or a ValueError when there are none."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"{op}: model must be a torch.nn.Module, got {type(model).__name__}")
    layers = prunable_layers(model)
    if not layers:
        raise ValueError(f"{op}: model {type(model).__name__} has no conv or linear layers to {op}")
    return layers


def check_amount(amount: Any) -> float:
    """``amount`` as a float in ``[0, 1)`` or a ValueError naming it."""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise ValueError(f"amount must be a number in [0, 1), got {amount!r}")
    amount = float(amount)
    if not (0.0 <= amount < 1.0) or math.isnan(amount):
        raise ValueError(f"amount must be in [0, 1) (the fraction to remove), got {amount!r}")
    return amount


def check_bits(bits: Any) -> int:
    """``bits`` as an int in ``1..16`` or a ValueError naming it."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or not 1 <= int(bits) <= 16:
        raise ValueError(f"bits must be an int in 1..16, got {bits!r}")
    return int(bits)


def check_method(method: Any, allowed: tuple[str, ...], op: str) -> str:
    if method not in allowed:
        raise ValueError(f"{op}: unknown method {method!r}; expected one of {allowed}")
    return method


def count_to_remove(amount: float, n: int) -> int:
    """``round(amount * n)`` with halves rounded up (Python's ``round`` would round 2.5 to 2)."""
    return min(n, int(math.floor(amount * n + 0.5)))


def new_model(model: nn.Module) -> nn.Module:
    """A deep copy to transform; the caller's model is never touched."""
    return copy.deepcopy(model)


def record(result: nn.Module, source: nn.Module, entry: dict[str, Any]) -> nn.Module:
    """Append ``entry`` to the transform history on ``result`` (a fresh list, never shared)."""
    history = list(getattr(source, TRANSFORMS_ATTR, []) or [])
    history.append(entry)
    setattr(result, TRANSFORMS_ATTR, history)
    return result


def history(model: nn.Module) -> list[dict[str, Any]]:
    """The transforms applied to ``model`` so far (``[]`` for an untransformed model)."""
    return list(getattr(model, TRANSFORMS_ATTR, []) or [])
