"""Find out, by running a model once, which module's forward uses which parameter.

The engine keeps a weight as RAS and materialises it only while the module that *uses* it runs.
The owner of a parameter is not always its user: ``nn.MultiheadAttention`` reads
``self.out_proj.weight`` without calling ``out_proj``; a language-model head may call
``F.linear(x, self.embed.weight)``; a custom module may use a raw ``nn.Parameter`` through
``F.*``. Instead of a whitelist of layer types we observe: a ``TorchFunctionMode`` sees every torch
call (and every tensor property read) with its arguments, and forward hooks keep a stack of the
modules whose forward is running, so each use of a parameter is charged to the innermost running
module (its *unit*). Parameters never used in the traced forward are kept dense by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from sckit.macs import _as_call

__all__ = ["Trace", "call_model", "trace_parameter_use"]


@dataclass
class Trace:
    """What one traced forward showed.

    ``units`` maps a module name to the canonical names of the parameters used while that module was
    the innermost running one (in first-use order); ``schedule`` is the sequence of unit calls
    (a unit called twice appears twice); ``output`` is the model's output.
    """

    units: dict[str, list[str]] = field(default_factory=dict)
    schedule: list[str] = field(default_factory=list)
    output: Any = None


def call_model(model: nn.Module, example_input: Any) -> Any:
    """Call ``model`` the way ``example_input`` asks: a tensor is one positional argument, a tuple
    or list is the positional arguments, a dict the keyword arguments (``sckit.macs._as_call``)."""
    args, kwargs = _as_call(example_input)
    return model(*args, **kwargs)


class _UseRecorder(TorchFunctionMode):
    """Charge every parameter seen in a torch call to the innermost running module."""

    def __init__(self, param_names: dict[int, str], stack: list[str], uses: dict[str, list[str]]):
        super().__init__()
        self._names = param_names
        self._stack = stack
        self._uses = uses

    def _note(self, obj: Any) -> None:
        if isinstance(obj, torch.Tensor):
            name = self._names.get(id(obj))
            if name is not None:
                unit = self._stack[-1] if self._stack else ""
                params = self._uses.setdefault(unit, [])
                if name not in params:
                    params.append(name)
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                self._note(item)
        elif isinstance(obj, dict):
            for item in obj.values():
                self._note(item)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        self._note(args)
        self._note(kwargs)
        return func(*args, **kwargs)


def trace_parameter_use(model: nn.Module, example_input: Any) -> Trace:
    """Run ``model`` once on ``example_input`` (no grad) and record which module uses which parameter.

    Parameters are named canonically (``model.named_parameters()``, so a tied parameter has the
    name of its first owner). Uses outside any submodule's forward are charged to the root ``""``.
    """
    from sckit.macs import weight_buffers

    # weights held as buffers are materialised by the engine too, so their users are traced
    param_names = {id(b): n for n, b in weight_buffers(model).items()}
    param_names.update({id(p): n for n, p in model.named_parameters()})
    module_names = {id(m): n for n, m in model.named_modules(remove_duplicate=False)}
    stack: list[str] = []
    calls: list[str] = []
    uses: dict[str, list[str]] = {}

    def pre(mod: nn.Module, _args: Any) -> None:
        name = module_names.get(id(mod), "")
        stack.append(name)
        calls.append(name)

    def post(_mod: nn.Module, _args: Any, _out: Any) -> None:
        if stack:
            stack.pop()

    handles = []
    try:
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(pre))
            # always_call: an exception inside a forward must still pop the stack
            handles.append(m.register_forward_hook(post, always_call=True))
        with torch.no_grad(), _UseRecorder(param_names, stack, uses):
            output = call_model(model, example_input)
    finally:
        for h in handles:
            h.remove()
    schedule = [c for c in calls if c in uses]
    return Trace(units=uses, schedule=schedule, output=output)
