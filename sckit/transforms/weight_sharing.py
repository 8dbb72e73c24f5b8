"""Trained weight sharing: fine-tune the centroids of a k-means codebook (Han et al., Deep
Compression, sec. 3.3).

After k-means, every weight of a layer is one of a few shared values (its *centroid*); which
weight uses which centroid (its *code*) stays fixed, and the centroids themselves are trained:
the gradient of a shared value is the sum of the gradients of the weights that share it
(Deep Compression, eq. 3). We get exactly that from autograd by making the weight a
``torch.nn.utils.parametrize`` view ``weight = table[codes]``: the backward of an index gather
scatter-adds the weight gradients into the table. Code 0 stands for a pruned weight and maps to a
constant 0 that is not trained, so pruned weights stay zero and a layer never holds more than
``len(centroids) + 1`` distinct values.

>>> tuned, centroids = fine_tune_centroids(model, {"fc1.weight": (c, codes)}, epochs=2)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = ["fine_tune_centroids", "shared_weight_model"]


def _shared_weight_class() -> type:
    """The parametrization module (built lazily: ``import sckit.transforms`` stays torch-light)."""
    import torch
    from torch import nn

    class SharedWeight(nn.Module):
        """``weight = [0, *centroids][codes]``; only ``centroids`` is trained."""

        codes: torch.Tensor
        zero: torch.Tensor

        def __init__(self, centroids: torch.Tensor, codes: torch.Tensor) -> None:
            super().__init__()
            self.centroids = nn.Parameter(centroids.detach().float().clone())
            self.register_buffer("codes", codes)
            self.register_buffer("zero", torch.zeros(1))

        def forward(self, original: torch.Tensor) -> torch.Tensor:  # noqa: ARG002 - replaced
            return torch.cat((self.zero, self.centroids))[self.codes]

    return SharedWeight


def _check_codebooks(
    model: nn.Module, codebooks: Mapping[str, tuple[Any, Any]]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    import torch

    params = dict(model.named_parameters())
    out = {}
    for name, (centroids, codes) in codebooks.items():
        if name not in params or not name.endswith(".weight"):
            raise ValueError(f"codebooks: {name!r} is not a weight parameter of the model")
        c = torch.as_tensor(np.asarray(centroids, dtype=np.float32))
        k = torch.as_tensor(np.asarray(codes)).to(torch.int64)
        if c.ndim != 1:
            raise ValueError(
                f"codebooks[{name!r}]: centroids must be 1-D, got shape {tuple(c.shape)}"
            )
        if tuple(k.shape) != tuple(params[name].shape):
            raise ValueError(
                f"codebooks[{name!r}]: codes have shape {tuple(k.shape)}, the weight "
                f"{tuple(params[name].shape)}"
            )
        if k.numel() and (int(k.min()) < 0 or int(k.max()) > c.numel()):
            raise ValueError(
                f"codebooks[{name!r}]: codes must be in 0..{c.numel()} (0 = pruned weight)"
            )
        out[name] = (c, k)
    return out


def shared_weight_model(model: nn.Module, codebooks: Mapping[str, tuple[Any, Any]]) -> nn.Module:
    """A copy of ``model`` whose listed weights are ``[0, *centroids][codes]`` parametrizations.

    ``codebooks[param_name] = (centroids, codes)``: ``centroids`` 1-D float, ``codes`` integers of
    the weight's shape, 0 for a pruned weight and ``i`` for ``centroids[i - 1]``. The weights'
    original tensors are frozen; the centroids are the trainable parameters
    ``<module>.parametrizations.weight.0.centroids``. Undo with
    ``torch.nn.utils.parametrize.remove_parametrizations(module, "weight")``.
    """
    from torch.nn.utils import parametrize

    checked = _check_codebooks(model, codebooks)
    out = copy.deepcopy(model)
    modules = dict(out.named_modules())
    shared = _shared_weight_class()
    for name, (c, k) in checked.items():
        module = modules[name.removesuffix(".weight")]
        parametrize.register_parametrization(module, "weight", shared(c, k))
        module.parametrizations.weight.original.requires_grad_(False)
    return out


def fine_tune_centroids(
    model: nn.Module,
    codebooks: Mapping[str, tuple[Any, Any]],
    *,
    epochs: int = 2,
    lr: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    size: int = 28,
    dataset: str = "digits",
    progress: bool = False,
) -> tuple[nn.Module, dict[str, np.ndarray]]:
    """Train the shared values of ``model``'s quantized layers on ``dataset`` (Deep Compression,
    sec. 3.3); returns ``(model copy with weights = [0, *centroids][codes], new centroids)``.

    ``codebooks`` as in :func:`shared_weight_model`. Uses :func:`sckit.training.train` (Adam,
    cosine decay, deterministic): each centroid's gradient is the sum of its weights' gradients,
    and parameters outside the codebooks (biases, BatchNorm) train as usual. The codes never
    change, so every layer keeps its sparsity mask and at most ``len(centroids) + 1`` distinct
    values; the returned centroids are float32, as the coder stores them.
    """
    from torch.nn.utils import parametrize

    from sckit.training import train

    work = shared_weight_model(model, codebooks)
    train(
        work,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        size=size,
        dataset=dataset,
        progress=progress,
    )
    modules = dict(work.named_modules())
    centroids: dict[str, np.ndarray] = {}
    for name in codebooks:
        module = modules[name.removesuffix(".weight")]
        tuned = module.parametrizations.weight[0].centroids.detach()
        centroids[name] = tuned.numpy().astype(np.float32, copy=True)
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        module.weight.requires_grad_(True)  # the frozen original tensor became the weight again
    return work.eval(), centroids
