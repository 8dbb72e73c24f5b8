"""Tiny models (milliseconds) for the transform tests, and a bit-exact state comparison."""

from __future__ import annotations

import torch
from torch import nn


class TinyMLP(nn.Module):
    """1x8x8 -> 64 -> 24 -> 10."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 24)
        self.fc2 = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


class TinyCNN(nn.Module):
    """conv(1->6) conv(6->8) fc on 1x8x8: two convs and a linear, no shape-preserving block."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 8, 3)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(torch.flatten(x, 1))


class Block(nn.Module):
    """A BasicBlock without downsampling: relu(x + bn(conv(relu(bn(conv(x))))))."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


class TinyResNet(nn.Module):
    """stem conv, a stage of 3 residual blocks, pooled linear head, on 1x8x8."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.stage = nn.Sequential(Block(4), Block(4), Block(4))
        self.fc = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage(torch.relu(self.stem(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def make(cls: type[nn.Module], seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls().eval()
        # Random BN statistics, so blocks differ in importance and BN is not an identity.
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.uniform_(0.5, 1.5)
    return model


def state_bits(model: nn.Module) -> dict[str, bytes]:
    """Every state-dict entry as raw bytes: equal means bit-identical (no float tolerance)."""
    return {
        k: v.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        for k, v in model.state_dict().items()
    }
