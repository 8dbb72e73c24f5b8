"""sm.ras by parameter name, by the owning module's name, and a miss that says what exists."""

import pytest
import torch
from torch import nn

import sckit


def _model() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 6 * 6, 10)).eval()
    return m, torch.randn(1, 1, 8, 8)


def test_module_name_finds_its_weight_and_misses_list_names() -> None:
    m, x = _model()
    sm = sckit.compress(m, x)
    ras = sm.ras
    assert {"0.weight", "3.weight"} <= set(ras)
    assert ras["0"] is ras["0.weight"] and ras["3"] is ras["3.weight"]
    with pytest.raises(KeyError, match=r"no encoded tensor or module named 'conv1'.*0\.weight"):
        ras["conv1"]
    assert ras.get("conv1") is None  # dict.get does not call __missing__
    assert isinstance(ras, dict) and set(ras) == set(sm._runtime.ras)
