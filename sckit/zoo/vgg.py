"""VGG-16 (Simonyan & Zisserman 2015, configuration D) in torchvision's layout: 138,357,544
parameters, torchvision's initialisation (Kaiming-normal convs, N(0, 0.01) linears)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import skip_init

from sckit.zoo._registry import register_model

__all__ = ["VGG", "vgg16"]

# "M" = 2x2 max-pool; numbers = 3x3 conv output channels (torchvision cfgs["D"])
CFG_D: list[int | str] = [
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
]


def make_layers(cfg: list[int | str], batch_norm: bool = False) -> nn.Sequential:
    """The ``features`` trunk; indices match torchvision (conv at 0, 2, 5, 7, 10, ...)."""
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(v, int)
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """torchvision.models.VGG."""

    def __init__(
        self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        # skip_init: the default init of 120M FC weights would be overwritten below (0.8 s wasted)
        self.classifier = nn.Sequential(
            skip_init(nn.Linear, 512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            skip_init(nn.Linear, 4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            skip_init(nn.Linear, 4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model()
def vgg16(**kwargs) -> VGG:
    """VGG-16 (configuration D, no batch norm): 138,357,544 parameters."""
    return VGG(make_layers(CFG_D), **kwargs)
