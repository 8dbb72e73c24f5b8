"""Quantization-aware fine-tuning on digits: grids and zeros kept, accuracy recovered."""

from __future__ import annotations

import pytest
import torch

from sckit.data import evaluate
from sckit.transforms import history, prunable_layers, prune, quantize
from tests.transforms.models import state_bits


def test_uniform_qat_recovers_low_bit_accuracy(lenet300):
    before = state_bits(lenet300)
    ptq = quantize(lenet300, 2)
    qat = quantize(lenet300, 2, qat=2)
    assert state_bits(lenet300) == before
    for _, m in prunable_layers(qat):
        rows = m.weight.detach().reshape(m.weight.shape[0], -1)
        assert max(len(torch.unique(r)) for r in rows) <= 4  # still on a 2-bit grid per channel
        assert not hasattr(m, "parametrizations")  # plain weights again
    # measured: 0.924 after post-training 2-bit, 0.976 after 2 epochs of QAT
    assert evaluate(qat) >= 0.95 and evaluate(qat) > evaluate(ptq)
    assert history(qat)[-1]["qat_epochs"] == 2


def test_kmeans_qat_keeps_codebook_and_zeros(lenet300):
    pruned = prune(lenet300, 0.8, method="global_magnitude")
    out = quantize(pruned, 3, method="kmeans", qat=1)
    for (name, p), (_, q) in zip(prunable_layers(pruned), prunable_layers(out), strict=True):
        assert torch.equal(p.weight == 0, q.weight == 0), name  # centroid tuning moved no zero
        assert len(torch.unique(q.weight)) <= 8, name
    assert evaluate(out) >= 0.94


@pytest.mark.slow
def test_int8_qat(lenet300):
    out = quantize(lenet300, 8, method="int8_static", qat=1)
    assert evaluate(out) >= evaluate(lenet300) - 0.02
    assert history(out)[-1]["qat_epochs"] == 1


def test_qat_needs_a_digits_model():
    from tests.transforms.models import TinyMLP, make

    with pytest.raises(ValueError, match="cannot take digits input"):
        quantize(make(TinyMLP), 4, qat=1)


def test_bad_qat_options(lenet300):
    with pytest.raises(ValueError, match="fine-tuning options"):
        quantize(lenet300, 4, qat=1, qat_options={"momentum": 0.9})
