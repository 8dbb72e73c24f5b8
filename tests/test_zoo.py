"""sckit.zoo: registry, published parameter counts, seeding, state dicts, digits hook."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from sckit import zoo

# torchvision / timm / Caffe figures (torchvision model cards, timm configs, Deep Compression).
PUBLISHED = {
    "alexnet": 61_100_840,
    "deit_base": 86_567_656,
    "deit_tiny": 5_717_416,
    "lenet300_100": 266_610,
    "lenet5": 431_080,
    "mobilenet_v2": 3_504_872,
    "resnet101": 44_549_160,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "vgg16": 138_357_544,
}
BIG = {"vgg16", "deit_base", "alexnet"}  # 1-2 s to build each on this 2-core machine


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _names(big_slow: bool = True) -> list:
    return [
        pytest.param(n, marks=pytest.mark.slow) if big_slow and n in BIG else n
        for n in zoo.list_models()
    ]


def test_registry_lists_every_required_model():
    assert set(PUBLISHED) | {"small_resnet"} == set(zoo.list_models())


@pytest.mark.parametrize("name", _names())
def test_parameter_count_is_published(name):
    model = zoo.create_model(name)
    n = sum(p.numel() for p in model.parameters())
    if name == "small_resnet":
        assert n < 200_000
    else:
        assert n == PUBLISHED[name]
    assert not model.training  # create_model returns eval mode


@pytest.mark.parametrize(
    "name,key",
    [
        ("resnet50", "layer1.0.downsample.0.weight"),
        ("resnet50", "layer4.2.bn3.running_var"),
        ("mobilenet_v2", "features.1.conv.0.0.weight"),
        ("mobilenet_v2", "features.18.0.weight"),
        ("deit_tiny", "blocks.11.attn.qkv.weight"),
        ("deit_tiny", "cls_token"),
        ("lenet5", "fc2.bias"),
    ],
)
def test_state_dict_keys_follow_torchvision_and_timm(name, key):
    assert key in zoo.create_model(name).state_dict()


def _bits(sd: dict) -> dict:
    return {k: v.view(torch.int32) if v.dtype == torch.float32 else v for k, v in sd.items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(x, y) for x, y in zip(_bits(a).values(), _bits(b).values(), strict=True)
    )


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "deit_tiny", "mobilenet_v2"])
def test_seeded_init_is_deterministic_and_leaves_global_rng(name):
    state = torch.random.get_rng_state()
    a = zoo.create_model(name, seed=0).state_dict()
    b = zoo.create_model(name, seed=0).state_dict()
    c = zoo.create_model(name, seed=1).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert _same(a, b)
    assert not _same(a, c)


def test_user_state_dict_loads_both_ways():
    src = zoo.create_model("resnet18", seed=3).state_dict()
    via_kwarg = zoo.create_model("resnet18", seed=0, state_dict=src)
    assert _same(via_kwarg.state_dict(), src)
    plain = zoo.create_model("resnet18", seed=0)
    plain.load_state_dict(src)
    assert _same(plain.state_dict(), src)


def test_wrong_state_dict_is_an_error():
    with pytest.raises(RuntimeError, match="size mismatch|Missing key|Unexpected key"):
        zoo.create_model("lenet5", state_dict=zoo.create_model("lenet300_100").state_dict())


def test_kwargs_reach_the_architecture():
    model = zoo.create_model("resnet18", num_classes=7)
    assert model(zoo.default_input("resnet18", batch_size=2)).shape == (2, 7)


@pytest.mark.parametrize(
    "name", ["lenet300_100", "lenet5", "small_resnet", "resnet18", "deit_tiny"]
)
def test_default_input_runs_and_batches(name):
    x = zoo.default_input(name, batch_size=2)
    assert x.shape[0] == 2
    assert x.shape[1:] == ((1, 28, 28) if zoo.model_info(name).digits else (3, 224, 224))
    assert torch.equal(x, zoo.default_input(name, batch_size=2))  # deterministic
    with torch.no_grad():
        assert zoo.create_model(name)(x).shape == (2, 10 if zoo.model_info(name).digits else 1000)


def test_bad_names_and_arguments():
    with pytest.raises(ValueError, match="unknown zoo model 'resnet5'.*resnet50"):
        zoo.create_model("resnet5")
    with pytest.raises(ValueError, match="unknown zoo model"):
        zoo.default_input("nope")
    with pytest.raises(ValueError, match="batch_size"):
        zoo.default_input("lenet5", batch_size=0)
    with pytest.raises(ValueError, match="pretrained must be None, 'digits' or 'mnist'"):
        zoo.create_model("lenet5", pretrained="imagenet")
    with pytest.raises(ValueError, match="no digits checkpoint for 'resnet50'"):
        zoo.create_model("resnet50", pretrained="digits")
    with pytest.raises(ValueError, match=r"no mnist checkpoint for 'small_resnet'.*lenet300_100"):
        zoo.create_model("small_resnet", pretrained="mnist")
    with pytest.raises(TypeError, match="seed"):
        zoo.create_model("lenet5", seed=1.5)


@pytest.mark.parametrize("name", ["lenet300_100", "lenet5", "small_resnet"])
def test_pretrained_digits_calls_training(monkeypatch, name):
    calls = []

    def fake(n, model):
        calls.append((n, type(model).__name__))
        with torch.no_grad():
            next(model.parameters()).fill_(0.25)
        return model

    monkeypatch.setitem(
        sys.modules, "sckit.training", types.SimpleNamespace(pretrained_digits=fake)
    )
    model = zoo.create_model(name, pretrained="digits")
    assert calls and calls[0][0] == name
    assert torch.all(next(model.parameters()) == 0.25)


@pytest.mark.parametrize("name", ["lenet300_100", "lenet5"])
def test_pretrained_mnist_calls_its_own_hook(monkeypatch, name):
    calls = []

    def fake(n, model):
        calls.append(n)
        return model

    def wrong(n, model):
        raise AssertionError("the digits hook must not train an MNIST model")

    monkeypatch.setitem(
        sys.modules,
        "sckit.training",
        types.SimpleNamespace(pretrained_mnist=fake, pretrained_digits=wrong),
    )
    zoo.create_model(name, pretrained="mnist")
    assert calls == [name]
    assert [n for n in zoo.list_models() if zoo.model_info(n).mnist] == ["lenet300_100", "lenet5"]


def test_pretrained_digits_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sckit.training", types.ModuleType("sckit.training"))
    with pytest.raises(RuntimeError, match="needs sckit.training.pretrained_digits"):
        zoo.create_model("lenet5", pretrained="digits")


@pytest.mark.slow
def test_pretrained_digits_end_to_end():
    # the real sckit.training hook (trains ~15 s on first use, then loads from its cache)
    model = zoo.create_model("lenet300_100", pretrained="digits")
    assert not model.training
    assert model._sckit_pretrained["test_accuracy"] > 0.9
