from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from sckit.baselines import deep_compression, deep_compression_table, seed002_table
from sckit.baselines.result import magnitude_prune
from sckit.transforms.quantization import kmeans_1d

from .conftest import state_bit_equal

SEED002_COLUMNS = [
    "n_weights",
    "weights_pct",
    "weight_bits_pq",
    "weight_bits_pqh",
    "index_bits_pq",
    "index_bits_pqh",
    "compress_rate_pq",
    "compress_rate_pqh",
]


def test_hand_computed_bit_accounting():
    # one 2x8 FC layer, kept weights at flat positions 0, 1, 2, 10, 15; 2-bit codes, 2-bit gaps
    m = nn.Linear(8, 2, bias=False)
    w = torch.zeros(16)
    w[[0, 1, 10, 15]] = 0.5
    w[2] = -0.5
    with torch.no_grad():
        m.weight.copy_(w.reshape(2, 8))
    r = deep_compression(m, prune_amount=0.0, bits_fc=2, index_bits_fc=2)
    row = r.to_frame().iloc[0]
    # entries: 0,1,2, filler 6, 10, filler 14, 15 -> 7 entries, 2 fillers
    assert (row["n_entries"], row["n_filler"], row["n_nonzero"]) == (7, 2, 5)
    assert row["weights_pct"] == pytest.approx(100 * 5 / 16)
    # P+Q: 7 entries x (2 + 2) bits + codebook 4 x 32 bits, over 16 x 32 dense bits
    assert row["compress_rate_pq"] == pytest.approx(100 * (7 * 4 + 128) / 512)
    # codes: centroids init -0.5, 0, 0.5 (middle one empty) -> stream 3,3,1,0,3,0,3
    # Huffman: code 3 (x4) 1 bit, codes 0 (x2) and 1 (x1) 2 bits -> 4 + 4 + 2 = 10 bits
    # gaps 0,0,0,3,3,3,0: two symbols -> 1 bit each -> 7 bits
    assert row["weight_payload_bits"] == 10 and row["index_payload_bits"] == 7
    assert row["weight_bits_pqh"] == pytest.approx(10 / 7)
    assert row["index_bits_pqh"] == pytest.approx(1.0)
    assert row["compress_rate_pqh"] == pytest.approx(100 * (10 + 7 + 128) / 512)
    assert torch.equal(r.model.weight.detach(), m.weight.detach())  # values were already centroids
    # every byte counted: the per-layer blob is the whole encoded model (no bias, no buffers)
    assert r.size_bytes == row["size_bytes"]


def test_decodes_to_exactly_pruned_and_quantized(tiny_cnn):
    before = copy.deepcopy(tiny_cnn)
    r = deep_compression(tiny_cnn, prune_amount={"conv": 0.3, "fc": 0.8}, bits_conv=4, bits_fc=3)
    assert state_bit_equal(tiny_cnn, before)  # input untouched
    assert r.model is not tiny_cnn and not r.lossless
    src, dec = tiny_cnn.state_dict(), r.model.state_dict()
    for name, amount, bits in (("conv.weight", 0.3, 4), ("fc.weight", 0.8, 3)):
        w = src[name].numpy()
        keep = magnitude_prune(w, amount)
        centroids, labels = kmeans_1d(w[keep], 2**bits - 1, init="linear")
        expect = np.zeros_like(w)
        expect[keep] = centroids.astype(np.float32)[labels]
        got = dec[name].numpy()
        assert np.array_equal(got.view(np.uint32), expect.view(np.uint32)), name
        assert len(np.unique(got[got != 0])) <= 2**bits - 1
    # biases and BatchNorm state are stored plainly: bit-exact
    for name in (
        "conv.bias",
        "bn.weight",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
        "fc.bias",
    ):
        assert torch.equal(src[name], dec[name]), name


def test_table_layout_and_totals(tiny_mlp):
    r = deep_compression(tiny_mlp, prune_amount=0.75)
    df = r.to_frame()
    assert list(df["layer"]) == ["fc1", "fc2", "Total"]
    assert set(SEED002_COLUMNS) <= set(df.columns)
    total = df.iloc[-1]
    assert total["n_weights"] == 64 * 32 + 32 * 10
    layers = df.iloc[:-1]
    assert total["weight_payload_bits"] == layers["weight_payload_bits"].sum()
    # the size counts the layer blobs plus the plain fp32 biases
    assert r.size_bytes == layers["size_bytes"].sum() + 4 * (32 + 10)
    assert r.ratio == pytest.approx(r.dense_bytes / r.size_bytes)
    assert r.encode_s > 0 and r.decode_s > 0
    assert seed002_table is deep_compression_table  # the old name kept for existing code
    table = deep_compression_table(r)
    assert list(table.columns)[:3] == ["Layer", "#Weights", "Weights% (P)"]
    assert table.iloc[-1]["Compress rate (P+Q+H)"].endswith("×)")


def test_fine_tune_is_called_and_mask_reapplied(tiny_mlp):
    calls = []

    def tune(model):
        calls.append(model)
        out = copy.deepcopy(model)
        with torch.no_grad():
            for p in out.parameters():
                p.add_(0.01)  # would un-prune every weight
        return out

    r = deep_compression(tiny_mlp, prune_amount=0.5, fine_tune=tune)
    assert len(calls) == 1
    w = r.model.fc1.weight.detach()
    assert (w == 0).float().mean().item() == pytest.approx(0.5, abs=1 / w.numel())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bits_fc": 0},
        {"bits_conv": 17},
        {"index_bits_fc": 2.5},
        {"prune_amount": 1.0},
        {"prune_amount": -0.1},
        {"prune_amount": {"nope": 0.5}},
    ],
)
def test_bad_arguments(tiny_mlp, kwargs):
    with pytest.raises(ValueError):
        deep_compression(tiny_mlp, **kwargs)


def test_bad_model():
    with pytest.raises(TypeError):
        deep_compression("model")
    with pytest.raises(ValueError):
        deep_compression(nn.Sequential(nn.ReLU()))
