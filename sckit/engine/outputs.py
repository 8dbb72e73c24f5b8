"""Comparing model outputs: bit for bit (exact mode), or within the reassociation bound (fast).

Outputs are tensors or nested tuples/lists/dicts of them, or objects holding them (a transformers
cache, a ModelOutput subclass).
"""

from __future__ import annotations

import contextvars
from typing import Any

import torch

__all__ = ["bit_equal", "fast_tolerance", "max_abs_diff"]


def bit_equal(a: Any, b: Any) -> bool:
    """True when two outputs (tensors, or tuples/lists/dicts of them) are bit-for-bit identical.

    Floats are compared through integer views, so NaN payloads and -0.0 count; ``allclose`` never.
    """
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.is_floating_point or a.dtype.is_complex:
            bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
            width = a.element_size()
            if a.dtype.is_complex:
                a, b, width = torch.view_as_real(a), torch.view_as_real(b), width // 2
            a = a.contiguous().view(bits[width])
            b = b.contiguous().view(bits[width])
        return bool(torch.equal(a, b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(bit_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(bit_equal(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    try:
        if a is b or bool(a == b):
            return True
    except (TypeError, ValueError, RuntimeError):  # == that returns arrays, or refuses
        pass
    # model outputs that are objects holding tensors (a transformers cache, a ModelOutput
    # subclass): equal when their attributes are, bit for bit
    if _depth.get() < 8 and hasattr(a, "__dict__") and not isinstance(a, type):
        token = _depth.set(_depth.get() + 1)
        try:
            return bit_equal(vars(a), vars(b))
        finally:
            _depth.reset(token)
    return False


_depth: contextvars.ContextVar[int] = contextvars.ContextVar("sckit_bit_equal_depth", default=0)


def fast_tolerance(reference: Any, max_reduction: int) -> float:
    """Largest difference fast mode may show against exact outputs: ``K * eps * max|ref|`` for
    the longest reduction ``K`` of a re-laid-out layer (Higham's bound for one reordered dot
    product, scaled by the output's magnitude); 0 when no layer was re-laid-out."""
    if max_reduction <= 0:
        return 0.0
    outs = [t for t in _tensors(reference) if t.dtype.is_floating_point]
    if not outs:
        return 0.0
    eps = max(torch.finfo(t.dtype).eps for t in outs)
    scale = max((float(t.detach().abs().nan_to_num(0.0, 0.0, 0.0).max()) for t in outs if t.numel()), default=0.0)
    return max_reduction * eps * max(scale, 1.0)


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest elementwise |a - b| over matching float tensors (inf if structures differ)."""
    ta, tb = _tensors(a), _tensors(b)
    if len(ta) != len(tb):
        return float("inf")
    worst = 0.0
    for x, y in zip(ta, tb, strict=True):
        if x.shape != y.shape or x.dtype != y.dtype:
            return float("inf")
        if x.dtype.is_floating_point:
            both_nan = x.isnan() & y.isnan()
            d = (x.double() - y.double()).abs().masked_fill(both_nan, 0.0)
            if d.numel():
                worst = max(worst, float(d.nan_to_num(float("inf")).max()))
        elif not torch.equal(x, y):
            return float("inf")
    return worst
