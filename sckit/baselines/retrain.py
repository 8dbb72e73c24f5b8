"""Retraining for the pruning baselines, as their papers ran them.

Deep Compression (Han et al., sec. 2) retrains the pruned network with its mask fixed before
quantizing; DeepSZ (Jin et al., sec. 3) starts from such a pruned and retrained network. Both
need the training set, which we know for the zoo's trained models
(``create_model(..., pretrained="digits" | "mnist")``) or when the caller names it; the
baselines retrain by default exactly then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["check_training_args", "masked_retrain", "retrain_pruned", "training_set"]


def training_set(
    model: nn.Module, retrain: bool | None, dataset: str | None, size: int | None
) -> tuple[bool, str | None, int]:
    """(whether to retrain; the data set the model trains on, or None; image side) from the
    arguments or the zoo.

    ``dataset`` wins; else the one :func:`sckit.zoo.create_model` trained the model on.
    ``retrain=None`` retrains exactly when that data set is known. The side defaults to that of
    the model's training recipe (28 for the zoo's LeNets).
    """
    from sckit.data import DATASETS
    from sckit.training import model_dataset

    if retrain not in (None, True, False):
        raise TypeError(f"retrain must be None (auto), True or False, got {retrain!r}")
    if dataset is not None and dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS} or None, got {dataset!r}")
    ds = dataset or model_dataset(model)
    if retrain and ds is None:
        raise ValueError(
            "retrain=True needs the training set: pass dataset='digits' or 'mnist', or a zoo "
            "model made with create_model(..., pretrained='digits' or 'mnist')"
        )
    if size is None:
        info = getattr(model, "_sckit_pretrained", None)
        size = int(info.get("size", 28)) if isinstance(info, dict) else 28
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    return (ds is not None if retrain is None else retrain), ds, size


def check_training_args(**values: Any) -> None:
    """``*epochs`` non-negative ints and ``*lr`` positive numbers, or a ValueError naming them."""
    for name, v in values.items():
        if name.endswith("epochs"):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative int, got {v!r}")
        elif isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise ValueError(f"{name} must be a positive number, got {v!r}")


def masked_retrain(
    pruned: nn.Module,
    masks: Mapping[str, np.ndarray],
    *,
    epochs: int,
    lr: float,
    size: int,
    dataset: str,
    progress: bool,
) -> nn.Module:
    """Train ``pruned`` in place with ``masks`` (``{weight name: keep}``) re-applied after every
    step, so the pruned weights stay zero (Han et al., "Learning both Weights and Connections",
    sec. 3); returns it in eval mode."""
    import torch

    from sckit.training import check_digits_model, train

    check_digits_model(type(pruned).__name__, pruned, size)
    torch_masks = {n: torch.from_numpy(np.asarray(m, dtype=bool)) for n, m in masks.items()}
    return train(
        pruned,
        epochs=epochs,
        lr=lr,
        size=size,
        masks=torch_masks,
        dataset=dataset,
        progress=progress,
    )


def retrain_pruned(
    pruned: nn.Module,
    masks: Mapping[str, np.ndarray],
    fine_tune: Callable[[nn.Module], nn.Module] | None,
    *,
    epochs: int,
    lr: float,
    size: int,
    dataset: str | None,
    progress: bool,
) -> tuple[nn.Module, float]:
    """(``fine_tune(pruned)``, or else :func:`masked_retrain` of it, checked; seconds taken).

    The baselines' retraining step; ``dataset`` is the one :func:`training_set` resolved (not
    None when retraining without ``fine_tune``)."""
    from sckit.baselines.result import check_model

    t0 = time.perf_counter()
    if fine_tune is not None:
        tuned = fine_tune(pruned)
    else:
        tuned = masked_retrain(
            pruned,
            masks,
            epochs=epochs,
            lr=lr,
            size=size,
            dataset=dataset or "digits",
            progress=progress,
        )
    seconds = time.perf_counter() - t0
    check_model(tuned)
    return tuned, seconds
