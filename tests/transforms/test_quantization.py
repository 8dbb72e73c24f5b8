"""sckit.quantize: bit widths as asked, k-means with linear init, int8 static, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sckit.data import evaluate
from sckit.transforms import history, kmeans_1d, prunable_layers, prune, quantize, uniform_quantize
from tests.transforms.models import state_bits


def distinct_per_channel(w: torch.Tensor) -> list[int]:
    return [len(torch.unique(row)) for row in w.detach().reshape(w.shape[0], -1)]


@pytest.mark.parametrize("method", ["uniform", "kmeans"])
def test_input_not_mutated(method, tiny_resnet, x8):
    before = state_bits(tiny_resnet)
    out = quantize(tiny_resnet, 3, method=method)
    assert state_bits(tiny_resnet) == before
    assert not hasattr(tiny_resnet, "_sckit_transforms")
    assert out(x8).shape == (16, 10)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 8])
def test_uniform_distinct_values_per_channel(bits, tiny_cnn):
    out = quantize(tiny_cnn, bits)
    for name, m in prunable_layers(out):
        assert max(distinct_per_channel(m.weight)) <= 2**bits, name
        assert m.weight.dtype == torch.float32
    src = dict(prunable_layers(tiny_cnn))
    for name, m in prunable_layers(out):
        assert torch.equal(m.bias, src[name].bias)  # biases untouched


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_uniform_per_tensor_and_error_bound(bits, tiny_mlp):
    out = quantize(tiny_mlp, bits, granularity="tensor")
    src = dict(prunable_layers(tiny_mlp))
    for name, m in prunable_layers(out):
        w0, w = src[name].weight.detach(), m.weight.detach()
        assert len(torch.unique(w)) <= 2**bits
        lo, hi = min(float(w0.min()), 0.0), max(float(w0.max()), 0.0)
        step = (hi - lo) / (2**bits - 1)
        # rounding error half a step, plus up to half a step where the zero point's rounding
        # clips the range ends
        assert float((w - w0).abs().max()) <= step * (1 + 1e-6)
        assert float((w - w0).abs().mean()) <= step / 2


@settings(max_examples=30, deadline=None)
@given(
    bits=st.integers(1, 16),
    rows=st.integers(1, 6),
    cols=st.integers(1, 40),
    seed=st.integers(0, 2**16),
    zero_frac=st.sampled_from([0.0, 0.3]),
)
def test_uniform_quantize_property(bits, rows, cols, seed, zero_frac):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=gen) * 10 ** float(
        torch.randint(-3, 2, (1,), generator=gen)
    )
    w[torch.rand(rows, cols, generator=gen) < zero_frac] = 0.0
    q = uniform_quantize(w, bits)
    assert q.shape == w.shape and q.dtype == w.dtype
    assert max(distinct_per_channel(q)) <= 2**bits
    assert bool((q[w == 0] == 0).all())  # the grid holds 0: pruned weights stay pruned
    assert not torch.signbit(q[q == 0]).any()  # as +0.0, one bit pattern for the encoder
    w64 = w.double()
    step = (w64.max(1).values.clamp(min=0) - w64.min(1).values.clamp(max=0)) / (2**bits - 1)
    err = (q.double() - w64).abs().max(1).values
    assert bool((err <= step * (1 + 1e-6) + 1e-30).all())  # within one grid step per channel


def test_uniform_16_bits_is_nearly_lossless(tiny_mlp):
    out = quantize(tiny_mlp, 16)
    for (_, a), (_, b) in zip(prunable_layers(tiny_mlp), prunable_layers(out), strict=True):
        span = float((a.weight.max() - a.weight.min()).detach())
        assert float((a.weight - b.weight).abs().max().detach()) <= span / (2**16 - 1)


def test_kmeans_1d_known_answer():
    centroids, labels = kmeans_1d(np.array([0.0, 1, 2, 10, 11, 12]), 2)
    assert centroids.tolist() == [1.0, 11.0]
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_kmeans_1d_linear_init_first_step():
    """One Lloyd step from the linear init == naive: assign to nearest of linspace, average."""
    x = np.random.default_rng(0).normal(size=2000)
    k = 8
    init = np.linspace(x.min(), x.max(), k)
    nearest = np.abs(x[:, None] - init[None, :]).argmin(axis=1)
    expect = np.array(
        [x[nearest == j].mean() if (nearest == j).any() else init[j] for j in range(k)]
    )
    centroids, _ = kmeans_1d(x, k, max_iter=1)
    np.testing.assert_allclose(centroids, np.sort(expect), rtol=1e-12, atol=1e-12)


def naive_lloyd(x: np.ndarray, centroids: np.ndarray, iters: int) -> np.ndarray:
    """Textbook Lloyd: argmin assignment over all centroids, mean update, empty keeps its value."""
    c = centroids.copy()
    for _ in range(iters):
        lab = np.abs(x[:, None] - c[None, :]).argmin(axis=1)
        c = np.array([x[lab == j].mean() if (lab == j).any() else c[j] for j in range(len(c))])
    return c


def test_kmeans_1d_matches_naive_lloyd_from_linear_init():
    x = np.random.default_rng(1).normal(size=1500) * 0.05
    k = 8
    centroids, labels = kmeans_1d(x, k, max_iter=60)
    expect = naive_lloyd(x, np.linspace(x.min(), x.max(), k), 60)
    np.testing.assert_allclose(centroids, np.sort(expect), rtol=1e-9, atol=1e-12)
    # labels point at the nearest centroid
    assert np.array_equal(labels, np.abs(x[:, None] - centroids[None, :]).argmin(axis=1))


def test_kmeans_1d_inits_and_errors():
    x = np.random.default_rng(2).laplace(size=500)
    for init in ("linear", "density", "random"):
        c, lab = kmeans_1d(x, 4, init=init)
        assert c.shape == (4,) and lab.shape == (500,) and lab.max() < 4
    with pytest.raises(ValueError, match="init"):
        kmeans_1d(x, 4, init="kmeans++")
    with pytest.raises(ValueError, match="k must"):
        kmeans_1d(x, 0)
    with pytest.raises(ValueError, match="NaN"):
        kmeans_1d(np.array([1.0, np.nan]), 2)


@pytest.mark.parametrize("bits", [1, 2, 3, 5])
def test_kmeans_quantize_codebook_size_and_zeros(bits, tiny_cnn):
    pruned = prune(tiny_cnn, 0.5)
    for model, has_zeros in ((tiny_cnn, False), (pruned, True)):
        out = quantize(model, bits, method="kmeans")
        src = dict(prunable_layers(model))
        for name, m in prunable_layers(out):
            w = m.weight.detach()
            assert len(torch.unique(w)) <= 2**bits, name  # zero included
            zeros0 = src[name].weight == 0
            assert torch.equal(w == 0, zeros0) or not has_zeros and not (w == 0).any()
    assert history(out)[-1]["init"] == "linear"


def test_kmeans_layer_bits_and_exclude(tiny_cnn):
    out = quantize(tiny_cnn, 5, method="kmeans", layer_bits={"conv1": 2}, exclude=["fc"])
    assert len(torch.unique(out.conv1.weight)) <= 4
    assert torch.equal(out.fc.weight, tiny_cnn.fc.weight)
    assert history(out)[-1]["layer_bits"] == {"conv1": 2, "conv2": 5}


@pytest.mark.parametrize("bits", [0, 17, -1, 4.5, "8", True, None])
def test_bad_bits(bits, tiny_mlp):
    with pytest.raises(ValueError, match="bits"):
        quantize(tiny_mlp, bits)


def test_bad_arguments(tiny_mlp):
    with pytest.raises(ValueError, match="unknown method 'fp8'"):
        quantize(tiny_mlp, 8, method="fp8")
    with pytest.raises(ValueError, match="no conv or linear layers"):
        quantize(nn.Sequential(nn.ReLU()), 8)
    with pytest.raises(ValueError, match="granularity"):
        quantize(tiny_mlp, 8, granularity="group")
    with pytest.raises(ValueError, match="layer_bits"):
        quantize(tiny_mlp, 8, layer_bits={"nope": 4})
    with pytest.raises(ValueError, match="bits"):
        quantize(tiny_mlp, 8, layer_bits={"fc1": 0})
    with pytest.raises(ValueError, match="exclude"):
        quantize(tiny_mlp, 8, exclude=["nope"])
    with pytest.raises(ValueError, match="bits=8 only"):
        quantize(tiny_mlp, 4, method="int8_static")
    with pytest.raises(ValueError, match="qat"):
        quantize(tiny_mlp, 4, qat=-2)


class DataDependent(nn.Module):
    """Control flow on tensor values: FX cannot trace it, so int8_static must say so."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        if x.sum() > 0:
            x = x * 2
        return self.fc(x)


def test_int8_static_unsupported_model_is_a_clear_error(x8):
    with pytest.raises(ValueError, match="cannot quantize DataDependent"):
        quantize(DataDependent(), 8, method="int8_static", calibration=x8)


def test_int8_static_tiny(tiny_resnet, x8):
    before = state_bits(tiny_resnet)
    q = quantize(tiny_resnet, 8, method="int8_static", calibration=x8)
    assert state_bits(tiny_resnet) == before
    ref = tiny_resnet(x8)
    got = q(x8)
    assert got.shape == ref.shape
    err = float((got - ref).abs().max().detach())
    assert err < 0.1 * float(ref.abs().max().detach()) + 0.05
    assert history(q)[-1]["method"] == "int8_static"
    kinds = {type(m).__module__ for m in q.modules()}
    assert any(k.startswith("torch.ao.nn.quantized") for k in kinds)  # int8 kernels, not float


@pytest.mark.parametrize("fixture", ["lenet300", "lenet5"])
def test_digits_accuracy_after_quantization(fixture, request):
    model = request.getfixturevalue(fixture)
    base = evaluate(model)
    assert base >= 0.95
    assert evaluate(quantize(model, 8)) >= base - 0.01
    assert evaluate(quantize(model, 4)) >= base - 0.02
    assert evaluate(quantize(model, 4, method="kmeans")) >= base - 0.02
    int8 = quantize(model, 8, method="int8_static")
    assert evaluate(int8) >= base - 0.02  # calibrated on 256 training images


def test_digits_accuracy_prune_then_quantize(lenet5):
    pq = quantize(prune(lenet5, 0.8, method="global_magnitude"), 5, method="kmeans")
    assert evaluate(pq) >= evaluate(lenet5) - 0.03
    assert [e["op"] for e in history(pq)] == ["prune", "quantize"]
