"""Models sckit cannot handle are refused up front with a message that says what to pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import sckit
from tests.fixtures import TinyMLP

X = torch.randn(1, 8)
ENTRY = [sckit.inspect, sckit.compress]


@pytest.mark.parametrize("entry", ENTRY, ids=["inspect", "compress"])
@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_model_is_refused(entry, how):
    model = TinyMLP().eval()
    scripted = torch.jit.script(model) if how == "script" else torch.jit.trace(model, X)
    with pytest.raises(TypeError, match="TorchScript.*not supported.*original nn.Module"):
        entry(scripted, X)


def test_scripted_submodule_is_named():
    model = nn.Sequential(nn.Linear(8, 8), torch.jit.script(nn.Linear(8, 2)))
    with pytest.raises(TypeError, match="submodule '1' is a TorchScript module"):
        sckit.compress(model, X)


@pytest.mark.parametrize("entry", ENTRY, ids=["inspect", "compress"])
def test_sparse_parameter_is_named(entry):
    model = TinyMLP()
    model.fc2.weight = nn.Parameter(model.fc2.weight.detach().to_sparse())
    with pytest.raises(TypeError, match=r"tensor 'fc2.weight' has layout torch.sparse_coo.*to_dense"):
        entry(model, X)


@pytest.mark.parametrize("entry", ENTRY, ids=["inspect", "compress"])
def test_meta_tensor_is_named(entry):
    model = TinyMLP()
    model.register_buffer("table", torch.empty(4, 4, device="meta"))
    with pytest.raises(ValueError, match="tensor 'table' is on the meta device"):
        entry(model, X)


def test_meta_model_is_named():
    with torch.device("meta"):
        model = TinyMLP()
    with pytest.raises(ValueError, match="tensor 'fc1.weight' is on the meta device"):
        sckit.inspect(model, X)
