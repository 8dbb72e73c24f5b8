"""Deep Compression as its paper ran it: masked retraining and centroid fine-tuning (fast: a
64-32-10 MLP on 8x8 digits trains in a fraction of a second)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from sckit.baselines import deep_compression, deepsz
from sckit.baselines.result import magnitude_prune
from sckit.data import evaluate
from sckit.training import train
from sckit.transforms import fine_tune_centroids, shared_weight_model
from sckit.transforms.quantization import kmeans_1d

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def digits_mlp() -> nn.Module:
    """Trained on the 8x8 digits (87% test accuracy in ~0.2 s)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    return train(m, epochs=3, lr=3e-3, size=8)


def codebooks_of(model: nn.Module, amount: float, bits: int) -> dict:
    out = {}
    for name in ("1.weight", "3.weight"):
        w = dict(model.named_parameters())[name].detach().numpy()
        keep = magnitude_prune(w, amount)
        c, labels = kmeans_1d(w[keep], 2**bits - 1, init="linear")
        codes = np.zeros(w.shape, dtype=np.int64)
        codes[keep] = labels + 1
        out[name] = (c.astype(np.float32), codes)
    return out


def test_centroid_gradient_is_the_sum_of_its_members_gradients():
    model = digits_mlp()
    books = codebooks_of(model, 0.5, 2)
    shared = shared_weight_model(model, books)
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    shared(x).square().sum().backward()
    # the same loss on a plain copy with the shared weights, for the per-weight gradients
    plain = shared_weight_model(model, books)
    from torch.nn.utils import parametrize

    for mod in (plain[1], plain[3]):
        parametrize.remove_parametrizations(mod, "weight", leave_parametrized=True)
        mod.weight.requires_grad_(True)
    plain(x).square().sum().backward()
    for idx, name in ((1, "1.weight"), (3, "3.weight")):
        got = shared[idx].parametrizations.weight[0].centroids.grad
        codes = torch.from_numpy(books[name][1]).reshape(-1)
        expect = torch.zeros(len(books[name][0]) + 1, dtype=torch.float64)
        expect.index_add_(0, codes, plain[idx].weight.grad.reshape(-1).double())
        assert torch.allclose(got.double(), expect[1:], rtol=1e-4, atol=1e-6), name
        assert shared[idx].parametrizations.weight.original.grad is None  # frozen


def test_centroid_fine_tuning_keeps_weight_sharing_and_accuracy():
    model = digits_mlp()
    bits = 2  # 3 centroids + the pruned zero: coarse enough that quantization costs accuracy
    books = codebooks_of(model, 0.6, bits)
    quantized = shared_weight_model(model, books)
    acc_q = evaluate(quantized, size=8)
    tuned, centroids = fine_tune_centroids(model, books, epochs=3, lr=1e-2, size=8)
    acc_t = evaluate(tuned, size=8)
    assert acc_t >= acc_q, (acc_q, acc_t)
    params = dict(tuned.named_parameters())
    for name, (c0, codes) in books.items():
        w = params[name].detach().numpy()
        assert params[name].requires_grad
        assert len(np.unique(w)) <= 2**bits  # the zero and at most 2**bits - 1 centroids
        assert np.array_equal(w == 0, codes == 0)  # the pruning mask is kept exactly
        table = np.concatenate(([0.0], centroids[name])).astype(np.float32)
        assert np.array_equal(w.view(np.uint32), table[codes].view(np.uint32))
        assert not np.array_equal(centroids[name], c0)  # the centroids did train
    assert not hasattr(tuned[1], "parametrizations")  # plain Linear layers again


def test_bad_codebooks():
    model = digits_mlp()
    books = codebooks_of(model, 0.5, 2)
    with pytest.raises(ValueError, match="not a weight parameter"):
        shared_weight_model(model, {"9.weight": books["1.weight"]})
    with pytest.raises(ValueError, match="codes have shape"):
        shared_weight_model(model, {"1.weight": (books["1.weight"][0], np.zeros(3, int))})
    with pytest.raises(ValueError, match="codes must be in 0..3"):
        shared_weight_model(model, {"1.weight": (books["1.weight"][0], books["1.weight"][1] + 4)})


def test_deep_compression_retrains_when_told_the_dataset():
    model = digits_mlp()
    kw = {"prune_amount": 0.8, "bits_fc": 3, "size": 8, "progress": False}
    plain = deep_compression(model, retrain=False, dataset="digits", **kw)
    tuned = deep_compression(model, dataset="digits", epochs=3, centroid_epochs=2, **kw)
    assert not plain.params["retrained"] and tuned.params["retrained"]
    acc = tuned.params["accuracy"]
    assert list(acc) == ["original", "pruned", "retrained", "quantized", "final"]
    assert acc["final"] == evaluate(tuned.model, size=8)
    assert acc["retrained"] > acc["pruned"]  # 80% pruning without retraining loses accuracy
    assert acc["final"] >= plain.params["accuracy"]["final"]
    assert tuned.params["fine_tune_s"] > 0 and tuned.params["centroid_s"] > 0
    for name in ("1.weight", "3.weight"):
        w = dict(tuned.model.named_parameters())[name].detach()
        assert (w == 0).float().mean().item() == pytest.approx(0.8, abs=1 / w.numel())
        assert len(torch.unique(w)) <= 2**3


def test_retraining_is_on_by_default_for_zoo_pretrained_models(monkeypatch):
    # a digits model as the zoo hands it out: its training set is recorded on it
    model = digits_mlp()
    model._sckit_pretrained = {"dataset": "digits", "size": 8}
    calls = []
    # the module the baselines' retraining step calls it from
    dcm = sys.modules["sckit.baselines.retrain"]
    real = dcm.masked_retrain

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(dcm, "masked_retrain", spy)
    r = deep_compression(model, prune_amount=0.8, bits_fc=3, epochs=1, centroid_epochs=1)
    assert r.params["retrained"] and r.params["dataset"] == "digits"
    assert calls and calls[0]["dataset"] == "digits" and calls[0]["size"] == 8
    assert calls[0]["epochs"] == 1
    # without a known training set nothing retrains (and nothing is evaluated)
    calls.clear()
    del model._sckit_pretrained
    r = deep_compression(model, prune_amount=0.8, bits_fc=3)
    assert not calls and not r.params["retrained"] and r.params["accuracy"] == {}


def test_retrain_arguments():
    model = digits_mlp()
    with pytest.raises(ValueError, match="retrain=True needs the training set"):
        deep_compression(model, retrain=True)
    with pytest.raises(ValueError, match="dataset must be one of"):
        deep_compression(model, dataset="cifar")
    with pytest.raises(ValueError, match="epochs"):
        deep_compression(model, dataset="digits", size=8, epochs=-1)
    with pytest.raises(ValueError, match="centroid_lr"):
        deep_compression(model, dataset="digits", size=8, centroid_lr=0)
    with pytest.raises(TypeError, match="retrain"):
        deep_compression(model, retrain="yes")


def test_deepsz_retrains_and_searches_on_the_known_training_set():
    model = digits_mlp()
    model._sckit_pretrained = {"dataset": "digits", "size": 8}  # as the zoo records it
    budget = 0.02
    r = deepsz(model, prune_amount=0.8, accuracy_loss_budget=budget, epochs=3, progress=False)
    p = r.params
    assert p["retrained"] and p["dataset"] == "digits" and p["epochs"] == 3
    # no eval_fn given: the search measured test accuracy on the model's own data set
    assert p["assessment"] and p["accuracy_final"] == evaluate(r.model, size=8)
    assert p["accuracy_pruned"] > p["accuracy_before_retrain"]  # retraining recovered accuracy
    assert p["accuracy_pruned"] - p["accuracy_final"] <= budget + 1e-12
    plain = deepsz(model, prune_amount=0.8, error_bound=1e-3, retrain=False)
    assert not plain.params["retrained"] and plain.params["accuracy_final"] is None


def test_zoo_pretrained_model_is_retrained_by_default():
    """The real zoo path (digits LeNet-300-100: trained once into the user cache, then loaded)."""
    from sckit.zoo import create_model

    model = create_model("lenet300_100", pretrained="digits")
    r = deep_compression(model, prune_amount=0.9, epochs=1, centroid_epochs=1, progress=False)
    assert r.params["retrained"] and r.params["dataset"] == "digits"
    acc = r.params["accuracy"]
    assert acc["original"] == model._sckit_pretrained["test_accuracy"]
    assert acc["retrained"] > acc["pruned"] and acc["final"] == evaluate(r.model)
