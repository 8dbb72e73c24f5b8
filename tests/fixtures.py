"""Tiny models reused by the inspection / MAC / zoo tests (and free for other tests to import).

Each is small enough to run in milliseconds and isolates one case the inspection table must get
right: plain conv/linear stacks, tied weights, parameters on a container, SDPA, functional
matmuls between activations, a module that is called twice, one that never runs, and one that
raises.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "TinyMLP",
    "TinyCNN",
    "TiedLM",
    "TinyAttention",
    "MatmulNet",
    "SharedTwice",
    "WithUnused",
    "Raises",
]


class TinyMLP(nn.Module):
    """8 -> 16 -> 4 MLP (FPr 2 per linear at batch 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class TinyCNN(nn.Module):
    """conv(1->4, 3x3) + BN + ReLU + pool + linear, on 1x8x8."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(x, 1))


class TiedLM(nn.Module):
    """Embedding 10x6 whose weight is also the output projection's (``head.weight``)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 6)
        self.mix = nn.Linear(6, 6)
        self.head = nn.Linear(6, 10)
        self.head.weight = self.embed.weight  # tied: one tensor of 60 elements

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.mix(self.embed(tokens))))


class TinyAttention(nn.Module):
    """One self-attention layer calling ``F.scaled_dot_product_attention`` (timm style)."""

    def __init__(self, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = (
            self.qkv(x)
            .reshape(b, n, 3, self.heads, c // self.heads)
            .permute(2, 0, 3, 1, 4)
            .unbind(0)
        )
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


class MatmulNet(nn.Module):
    """Hand-written attention: two parameter-free matmuls between activations in one call."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, N, dim)
        h = self.proj(x)
        scores = torch.softmax(h @ h.transpose(1, 2), dim=-1)  # bmm: B*N*dim*N
        return scores @ h  # bmm: B*N*N*dim


class SharedTwice(nn.Module):
    """The same Linear applied twice: its MACs add up in one row."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(5, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(torch.relu(self.layer(x)))


class WithUnused(nn.Module):
    """A container parameter (``scale``) plus a child that never runs (``spare``)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))
        self.fc = nn.Linear(3, 3)
        self.spare = nn.Linear(3, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x * self.scale)


class _Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


class Raises(nn.Module):
    """``body.1`` raises ``RuntimeError('boom')`` in its forward."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), _Boom())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
