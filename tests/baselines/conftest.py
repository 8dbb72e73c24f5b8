"""Tiny models for the baseline tests (the baselines' own fixtures)."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class TinyMLP(nn.Module):
    """64-32-10 MLP on flattened 8x8 inputs (a LeNet-300-100 in miniature)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


class TinyCNN(nn.Module):
    """conv-bn-relu-pool-fc on 1x8x8 (conv and fc layers, buffers, a long int buffer)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))


@pytest.fixture
def tiny_mlp() -> nn.Module:
    torch.manual_seed(0)
    return TinyMLP().eval()


@pytest.fixture
def tiny_cnn() -> nn.Module:
    torch.manual_seed(1)
    m = TinyCNN()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        m.bn.running_mean.normal_(0, 0.1)
        m.bn.running_var.uniform_(0.5, 1.5)
    return m.eval()


@pytest.fixture
def inputs() -> torch.Tensor:
    return torch.randn(128, 1, 8, 8, generator=torch.Generator().manual_seed(2))


def agreement_eval(reference: nn.Module, x: torch.Tensor):
    """An accuracy-like metric: the fraction of ``x`` where ``model`` predicts as ``reference``."""
    with torch.no_grad():
        ref = reference(x).argmax(1)

    def evaluate(model: nn.Module) -> float:
        with torch.no_grad():
            return float((model(x).argmax(1) == ref).float().mean())

    return evaluate


def state_bit_equal(a: nn.Module, b: nn.Module) -> bool:
    """Bit-exact equality of two models' state dicts (integer views, never allclose)."""
    sa, sb = a.state_dict(), b.state_dict()
    if sa.keys() != sb.keys():
        return False
    ints = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
    for k in sa:
        x, y = sa[k], sb[k]
        if x.dtype != y.dtype or x.shape != y.shape:
            return False
        it = ints[x.element_size()]
        if not torch.equal(x.contiguous().view(it), y.contiguous().view(it)):
            return False
    return True
