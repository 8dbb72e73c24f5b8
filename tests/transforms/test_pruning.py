"""sckit.prune: exact sparsities, the right weights removed, inputs untouched, clear errors."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from sckit.data import evaluate
from sckit.transforms import history, layer_sparsity, prunable_layers, prune, sparsity
from sckit.transforms.pruning import _iterative_targets
from tests.transforms.models import state_bits


def n_remove(amount: float, n: int) -> int:
    return int(math.floor(amount * n + 0.5))


@pytest.mark.parametrize("method", ["magnitude", "global_magnitude", "filter_l1", "layer"])
def test_input_not_mutated(method, tiny_resnet, x8):
    before = state_bits(tiny_resnet)
    modules_before = [type(m) for m in tiny_resnet.modules()]
    out = prune(tiny_resnet, 0.5, method=method, calibration=x8)
    assert out is not tiny_resnet
    assert state_bits(tiny_resnet) == before
    assert [type(m) for m in tiny_resnet.modules()] == modules_before
    assert not hasattr(tiny_resnet, "_sckit_transforms")
    assert out(x8).shape == (16, 10)


@pytest.mark.parametrize("amount", [0.0, 0.1, 0.37, 0.5, 0.8, 0.9, 0.99])
def test_magnitude_is_exact_per_layer(amount, tiny_cnn):
    out = prune(tiny_cnn, amount)
    src = dict(prunable_layers(tiny_cnn))
    for name, m in prunable_layers(out):
        w0, w = src[name].weight.detach().reshape(-1), m.weight.detach().reshape(-1)
        zero = w == 0
        assert int(zero.sum()) == n_remove(amount, w.numel()), name
        # survivors are bit-identical and no smaller than anything removed
        assert torch.equal(w[~zero].view(torch.int32), w0[~zero].view(torch.int32))
        if zero.any() and (~zero).any():
            assert w0[~zero].abs().min() >= w0[zero].abs().max()
        assert torch.equal(m.bias, src[name].bias)  # biases untouched
    assert layer_sparsity(out) == pytest.approx(
        {n: n_remove(amount, m.weight.numel()) / m.weight.numel() for n, m in prunable_layers(out)}
    )


@pytest.mark.parametrize("amount", [0.3, 0.75, 0.95])
def test_global_magnitude_is_exact_overall(amount, tiny_mlp):
    out = prune(tiny_mlp, amount, method="global_magnitude")
    before = torch.cat([m.weight.detach().reshape(-1) for _, m in prunable_layers(tiny_mlp)])
    after = torch.cat([m.weight.detach().reshape(-1) for _, m in prunable_layers(out)])
    zero = after == 0
    assert int(zero.sum()) == n_remove(amount, before.numel())
    assert sparsity(out) == pytest.approx(n_remove(amount, before.numel()) / before.numel())
    assert before[~zero].abs().min() >= before[zero].abs().max()  # one threshold for all layers
    per_layer = layer_sparsity(out)
    assert len(set(per_layer.values())) > 1  # unlike layer-wise pruning, layers differ


def test_filter_l1_zeroes_smallest_filters_and_keeps_classifier(tiny_cnn, x8):
    out = prune(tiny_cnn, 0.5, method="filter_l1")
    src = dict(prunable_layers(tiny_cnn))
    for name, m in prunable_layers(out):
        w0, w = src[name].weight.detach(), m.weight.detach()
        if name == "fc":  # the classifier is excluded by default
            assert torch.equal(w.view(torch.int32), w0.view(torch.int32))
            continue
        rows = w.reshape(w.shape[0], -1)
        dead = (rows == 0).all(dim=1)
        assert int(dead.sum()) == n_remove(0.5, w.shape[0])
        assert torch.equal(rows[~dead], w0.reshape(w.shape[0], -1)[~dead])  # others intact
        norms = w0.abs().reshape(w.shape[0], -1).sum(dim=1)
        assert norms[~dead].min() >= norms[dead].max()
    assert out(x8).shape == (16, 10)  # shapes kept, model runs
    assert history(out)[-1]["excluded"] == ["fc"]
    every = prune(tiny_cnn, 0.5, method="filter_l1", exclude=[])
    assert (every.fc.weight == 0).all(dim=1).sum() == 5


def test_layer_pruning_removes_least_important_blocks(tiny_resnet, x8):
    out = prune(tiny_resnet, 0.5, method="layer", calibration=x8)
    removed = history(out)[-1]["removed"]
    assert len(removed) == n_remove(0.5, 3) == 2
    assert all(isinstance(dict(out.named_modules())[n], nn.Identity) for n in removed)
    assert not any(k.startswith(tuple(n + "." for n in removed)) for k in out.state_dict())
    block_params = sum(p.numel() for p in tiny_resnet.stage[0].parameters())
    assert history(out)[-1]["removed_params"] == 2 * block_params
    # the blocks kept are the one whose lone removal changes the logits most
    ref = tiny_resnet(x8)
    change = {}
    for i in range(3):
        probe = copy.deepcopy(tiny_resnet)
        probe.stage[i] = nn.Identity()
        change[f"stage.{i}"] = float((probe(x8) - ref).norm().detach())
    kept = max(change, key=change.get)
    assert sorted(removed) == sorted(set(change) - {kept})
    assert out(x8).shape == (16, 10)


def test_recalibrate_bn_updates_only_running_stats(tiny_resnet, x8):
    plain = prune(tiny_resnet, 0.5)
    recal = prune(tiny_resnet, 0.5, recalibrate_bn=True, calibration=x8)
    a, b = plain.state_dict(), recal.state_dict()
    for key in a:
        same = torch.equal(a[key], b[key])
        if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert not same, key
        else:
            assert same, key  # weights, biases, BN affine parameters untouched
    bn = recal.stage[0].bn1
    assert bn.momentum == 0.1 and not recal.training
    # running stats are the batch statistics of the calibration data at that point
    with torch.no_grad():
        h = recal.stage[0].conv1(torch.relu(recal.stem(x8)))
    assert torch.allclose(bn.running_mean, h.mean(dim=(0, 2, 3)), atol=1e-5)
    assert history(recal)[-1]["recalibrated_bn"] == 6


def test_layer_pruning_without_blocks_is_an_error(tiny_cnn, x8):
    with pytest.raises(ValueError, match="no removable block"):
        prune(tiny_cnn, 0.5, method="layer", calibration=x8)


def test_layer_pruning_bad_calibration(tiny_resnet):
    with pytest.raises(ValueError, match="calibration"):
        prune(tiny_resnet, 0.5, method="layer", calibration=torch.zeros(2, 3, 5))


def test_result_is_plain_weights_no_hooks(tiny_cnn):
    out = prune(tiny_cnn, 0.6)
    for _, m in out.named_modules():
        assert not m._forward_pre_hooks and not m._forward_hooks
    assert not any(k.endswith(("_orig", "_mask")) for k in out.state_dict())
    assert all(type(p) is nn.Parameter for p in out.parameters())


def test_history_is_recorded_and_chains(tiny_mlp):
    from sckit.transforms import quantize

    pruned = prune(tiny_mlp, 0.5, method="global_magnitude")
    both = quantize(pruned, 4)
    ops = history(both)
    assert [e["op"] for e in ops] == ["prune", "quantize"]
    assert ops[0]["method"] == "global_magnitude" and ops[0]["amount"] == 0.5
    assert ops[0]["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert history(pruned) == ops[:1]  # the chained call did not append to its input's list
    assert (both.fc1.weight[pruned.fc1.weight == 0] == 0).all()  # quantizing keeps pruned zeros


@pytest.mark.parametrize("amount", [-0.1, 1.0, 1.5, float("nan"), "0.5", None, True])
def test_bad_amount(amount, tiny_mlp):
    with pytest.raises(ValueError, match="amount"):
        prune(tiny_mlp, amount)


def test_bad_arguments(tiny_mlp):
    with pytest.raises(ValueError, match="unknown method 'l2'"):
        prune(tiny_mlp, 0.5, method="l2")
    with pytest.raises(ValueError, match="no conv or linear layers"):
        prune(nn.Sequential(nn.ReLU(), nn.Flatten()), 0.5)
    with pytest.raises(ValueError, match="exclude"):
        prune(tiny_mlp, 0.5, exclude=["nope"])
    with pytest.raises(ValueError, match="fine_tune"):
        prune(tiny_mlp, 0.5, fine_tune=-1)
    with pytest.raises(ValueError, match="step"):
        prune(tiny_mlp, 0.5, iterative=True, step=1.0)
    with pytest.raises(TypeError, match="nn.Module"):
        prune("model", 0.5)


def test_fine_tune_needs_a_digits_model(tiny_mlp):
    with pytest.raises(ValueError, match="cannot take digits input"):
        prune(tiny_mlp, 0.5, fine_tune=1)  # 1x8x8 model, 28x28 digits by default
    out = prune(tiny_mlp, 0.5, fine_tune=1, fine_tune_options={"size": 8})
    assert sparsity(out) == pytest.approx(0.5, abs=1e-3)


def test_iterative_schedule_follows_seed_003():
    targets = _iterative_targets(0.9, 0.15)
    assert targets[0] == pytest.approx(0.15)
    assert targets[1] == pytest.approx(1 - 0.85**2)  # 15% of what remains each round
    assert targets[-1] == 0.9 and targets == sorted(targets)
    assert len(targets) == math.ceil(math.log(0.1) / math.log(0.85))
    assert _iterative_targets(0.1, 0.15) == [0.1]


def test_digits_accuracy_after_pruning(lenet300):
    base = evaluate(lenet300)
    assert evaluate(prune(lenet300, 0.5, method="global_magnitude")) >= base - 0.02
    assert evaluate(prune(lenet300, 0.8, method="global_magnitude")) >= base - 0.03


def test_fine_tune_recovers_and_keeps_sparsity(lenet300):
    one_shot = prune(lenet300, 0.9)
    tuned = prune(lenet300, 0.9, fine_tune=3, fine_tune_options={"lr": 2e-3})
    assert layer_sparsity(tuned) == layer_sparsity(one_shot)
    # the zeros are where one-shot pruning put them: fine-tuning moved no pruned weight
    for (_, a), (_, b) in zip(prunable_layers(one_shot), prunable_layers(tuned), strict=True):
        assert torch.equal(a.weight == 0, b.weight == 0)
    # measured: 0.68 one-shot (every layer at 90%, the 100x10 classifier too), 0.96 tuned
    assert evaluate(tuned) >= 0.94 and evaluate(one_shot) < 0.9


@pytest.mark.slow
def test_iterative_pruning_beats_one_shot(lenet300):
    out = prune(lenet300, 0.9, iterative=True, fine_tune=1)
    assert sparsity(out) == pytest.approx(0.9, abs=1e-3)
    assert history(out)[-1]["schedule"][-1] == 0.9
    # measured: 0.58 one-shot, 0.95 after 15 rounds of (prune 15% of the rest, 1 epoch)
    assert evaluate(out) >= 0.93 > evaluate(prune(lenet300, 0.9)) + 0.2
