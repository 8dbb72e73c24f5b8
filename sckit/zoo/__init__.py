"""Reference models, written out here because torchvision does not import with our CPU torch.

>>> from sckit import zoo
>>> model = zoo.create_model("resnet50", seed=0)          # doctest: +SKIP
>>> x = zoo.default_input("resnet50")                     # (1, 3, 224, 224)  # doctest: +SKIP

Each family lives in its own module (``lenet``, ``alexnet``, ``vgg``, ``resnet``, ``mobilenet``,
``deit``, ``small``) and registers its variants with :func:`register_model`; importing this
package imports them all (torch is needed; ``import sckit`` alone does not load this package).
Architectures, initialisation and parameter names follow torchvision / timm, so their state dicts
load with ``create_model(name, state_dict=sd)`` or ``model.load_state_dict(sd)``.
"""

from __future__ import annotations

# the family modules are imported for their @register_model side effect (the timm pattern)
from sckit.zoo import alexnet, deit, lenet, mobilenet, resnet, small, vgg  # noqa: F401
from sckit.zoo._registry import (
    DIGITS_INPUT,
    IMAGENET_INPUT,
    ModelInfo,
    create_model,
    default_input,
    list_models,
    model_info,
    register_model,
)

__all__ = [
    "DIGITS_INPUT",
    "IMAGENET_INPUT",
    "ModelInfo",
    "create_model",
    "default_input",
    "list_models",
    "model_info",
    "register_model",
]
