"""Bit-exactness on the way real code reads weights: the compressed model presents each weight
as the source does (requires_grad included), since some CPU kernels branch on it."""

from __future__ import annotations

import torch
from torch import nn

import sckit
from sckit.engine import bit_equal


class SlicedLinear(nn.Module):
    """A Linear applied to a non-contiguous slice of an activation ([2, 1, 128] view)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(128, 128)
        self.head = nn.Linear(128, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.proj(x)[:, -1:, :])


class TwoLayerGRU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(128, 128, 2, batch_first=True)
        self.out = nn.Linear(128, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.gru(x)
        return self.out(y[:, -1:, :])


def _check(model: nn.Module, x: torch.Tensor) -> None:
    model.eval()
    sm = sckit.compress(model, x, ras="element")  # verify=True: raises on any differing bit
    with torch.no_grad():
        assert bit_equal(sm(x), model(x))
    for name, p in sm.module.named_parameters():
        assert p.requires_grad == dict(model.named_parameters())[name].requires_grad


def test_sliced_linear_batch2_bit_identical() -> None:
    torch.manual_seed(0)
    _check(SlicedLinear(), torch.randn(2, 5, 128))


def test_gru_batch2_bit_identical() -> None:
    torch.manual_seed(0)
    _check(TwoLayerGRU(), torch.randn(2, 5, 128))


def test_frozen_parameters_stay_frozen() -> None:
    torch.manual_seed(0)
    m = TwoLayerGRU()
    m.out.weight.requires_grad_(False)
    _check(m, torch.randn(1, 5, 128))
