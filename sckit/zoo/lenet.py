"""LeNet-300-100 and LeNet-5 as in Deep Compression (Han et al. 2016), i.e. Caffe's examples.

Caffe's ``lenet_train_test.prototxt``: conv1 20@5x5, max-pool 2, conv2 50@5x5, max-pool 2,
ip1 500, ReLU, ip2 10 -- no nonlinearity after the convolutions (431,080 parameters).
LeNet-300-100: 784-300-100-10 fully connected with ReLUs (266,610 parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from sckit.zoo._registry import DIGITS_INPUT, register_model

__all__ = ["LeNet300100", "LeNet5", "lenet300_100", "lenet5"]


class LeNet300100(nn.Module):
    """784-300-100-10 MLP; accepts ``(N, 1, 28, 28)`` or ``(N, 784)``."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class LeNet5(nn.Module):
    """Caffe LeNet: conv(20,5) pool conv(50,5) pool fc500 relu fc10 on 1x28x28."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(50 * 4 * 4, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool2(self.conv2(self.pool1(self.conv1(x))))
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


@register_model(input_shape=DIGITS_INPUT, digits=True, mnist=True)
def lenet300_100(**kwargs) -> LeNet300100:
    """LeNet-300-100 (LeCun et al. 1998; Deep Compression's MNIST MLP): 266,610 parameters."""
    return LeNet300100(**kwargs)


@register_model(input_shape=DIGITS_INPUT, digits=True, mnist=True)
def lenet5(**kwargs) -> LeNet5:
    """Caffe LeNet-5 (Deep Compression's MNIST CNN): 431,080 parameters."""
    return LeNet5(**kwargs)
