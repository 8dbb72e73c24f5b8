"""Refuse models sckit cannot trace or encode, up front, with a message that says what to pass.

``inspect`` and ``compress`` run one eager forward with hooks and dispatch modes and read every
weight's bits. TorchScript modules take no Python hooks, sparse tensors have no dense bit pattern
to encode, and meta tensors have no data at all; without these checks each fails deep inside torch
with a message about hooks or strides.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import torch
from torch import nn

__all__ = ["check_model"]


def check_model(model: Any, what: str) -> None:
    """Raise a clear error if ``model`` (passed to ``sckit.<what>``) cannot be handled.

    Raises:
        TypeError: not an ``nn.Module``; a TorchScript (scripted or traced) module, or one that
            contains one; a parameter or buffer with a sparse layout (named).
        ValueError: a parameter or buffer on the meta device (named).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"{what}() takes a torch.nn.Module, got {type(model).__name__}")
    for name, sub in model.named_modules():
        if isinstance(sub, torch.jit.ScriptModule):
            where = "the model is" if not name else f"submodule {name!r} is"
            raise TypeError(
                f"{what}(): {where} a TorchScript module ({type(sub).__name__}); scripted and "
                "traced models are not supported: pass the original nn.Module (the one given to "
                "torch.jit.script / torch.jit.trace)"
            )
    for name, t in chain(model.named_parameters(), model.named_buffers()):
        if t.layout != torch.strided:
            raise TypeError(
                f"{what}(): tensor {name!r} has layout {t.layout}; sckit encodes dense (strided) "
                "tensors: convert it with .to_dense() (a sparse weight's zeros are compressed by "
                "the sparse RAS form anyway)"
            )
        if t.device.type == "meta":
            raise ValueError(
                f"{what}(): tensor {name!r} is on the meta device and holds no data; materialise "
                "the model first (e.g. model.to_empty(device='cpu') and load its weights)"
            )
