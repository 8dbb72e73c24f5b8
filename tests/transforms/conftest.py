"""Fixtures for the transform tests: tiny random models and the trained digits models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.transforms.models import TinyCNN, TinyMLP, TinyResNet, make


@pytest.fixture
def tiny_mlp() -> nn.Module:
    return make(TinyMLP)


@pytest.fixture
def tiny_cnn() -> nn.Module:
    return make(TinyCNN)


@pytest.fixture
def tiny_resnet() -> nn.Module:
    return make(TinyResNet)


@pytest.fixture
def x8() -> torch.Tensor:
    return torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="session")
def lenet300() -> nn.Module:
    """Digits-trained LeNet-300-100 (trains once into the user cache, then loads)."""
    from sckit.zoo import create_model

    return create_model("lenet300_100", pretrained="digits")


@pytest.fixture(scope="session")
def lenet5() -> nn.Module:
    """Digits-trained LeNet-5 (a few seconds the first time, then loaded from the cache)."""
    from sckit.zoo import create_model

    return create_model("lenet5", pretrained="digits")
