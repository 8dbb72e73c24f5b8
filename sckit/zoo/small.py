"""``small_resnet``: a ResNet for 1x28x28 digits, small enough to train in seconds on a CPU.

Three stages of two BasicBlocks (16, 32, 64 channels; 28 -> 14 -> 7), a 3x3 stem without
down-sampling, global average pool, linear classifier: 174,970 parameters (< 200k), so the
inspection table shows the same conv/BN/fc structure as ResNet-18 at a digits scale.
"""

from __future__ import annotations

from sckit.zoo._registry import DIGITS_INPUT, register_model
from sckit.zoo.resnet import BasicBlock, ResNet

__all__ = ["small_resnet"]


@register_model(input_shape=DIGITS_INPUT, digits=True)
def small_resnet(num_classes: int = 10, **kwargs) -> ResNet:
    """ResNet-style CNN for 1x28x28 digits (< 200k parameters)."""
    return ResNet(
        BasicBlock,
        [2, 2, 2],
        num_classes,
        in_channels=1,
        widths=(16, 32, 64),
        imagenet_stem=False,
        **kwargs,
    )
