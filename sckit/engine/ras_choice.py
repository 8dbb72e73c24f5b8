"""Which RAS kind each parameter gets: the FPr choice of ``sckit.inspect``, then overrides."""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["kind_for", "layer_choice", "param_owners"]

_KINDS = ("element", "block")


def param_owners(model: nn.Module) -> dict[int, list[tuple[str, str]]]:
    """id(param) -> every (module name, attribute) that holds it (tied weights have several)."""
    owners: dict[int, list[tuple[str, str]]] = {}
    for mname, mod in model.named_modules(remove_duplicate=False):
        for attr, p in mod._parameters.items():
            if p is not None and (mname, attr) not in owners.get(id(p), []):
                owners.setdefault(id(p), []).append((mname, attr))
    return owners


def layer_choice(model: nn.Module, example_input: Any, ras: Any, fpr_threshold: float | None) -> dict[str, str]:
    """Per-module RAS kind: the FPr choice of ``sckit.inspect`` for "auto", then dict overrides."""
    overrides: dict[str, str] = {}
    if isinstance(ras, dict):
        overrides = dict(ras)
        for key, val in overrides.items():
            if val not in (*_KINDS, "dense"):
                raise ValueError(f"ras[{key!r}] = {val!r}; expected 'element', 'block' or 'dense'")
        # "*" sets the kind of everything not named (default: the "auto" FPr choice)
        mode = overrides.pop("*", "auto")
        if mode == "dense":
            raise ValueError("ras['*'] = 'dense' would encode nothing; use the model itself")
    elif ras in _KINDS or ras == "auto":
        mode = ras
    else:
        raise ValueError(f"ras={ras!r}; expected 'auto', 'element', 'block' or a dict of overrides")
    choice: dict[str, str] = {}
    if mode == "auto":
        from sckit.inspection import inspect

        if fpr_threshold is None:
            table = inspect(model, example_input, encode=False)
        else:
            table = inspect(model, example_input, fpr_threshold=fpr_threshold, encode=False)
        for layer, kind in zip(table["layer"], table["ras"], strict=True):
            if kind in _KINDS:
                choice[str(layer)] = str(kind)
    else:
        choice = {name: mode for name, _ in model.named_modules()}
        choice["*"] = mode
    choice.update(overrides)
    return choice


def kind_for(param_name: str, owner: str, ndim: int, choice: dict[str, str]) -> str:
    if param_name in choice:
        return choice[param_name]
    if owner in choice:
        kind = choice[owner]
        # a block is a dim-0 slice; 1-D tensors (biases, norm scales) have scalar blocks, whose
        # delimiters cost more than they save, so they go element-wise unless named explicitly
        return "element" if ndim < 2 and kind == "block" else kind
    return choice.get("*", "block" if ndim >= 2 else "element")
