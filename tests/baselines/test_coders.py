from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sckit.baselines import lzma_coder, zipnn, zipnn_pkg, zstd
from sckit.baselines.coders import (
    best_fit_lossless,
    best_fit_lossless_decode,
    zipnn_decode_bytes,
    zipnn_encode_bytes,
)
from sckit.errors import FormatError

from .conftest import state_bit_equal

CODERS = {
    "zstd-3": lambda m: zstd(m, level=3),
    "zstd-19": lambda m: zstd(m, level=19),
    "lzma": lzma_coder,
    "zipnn": zipnn,
    "zipnn-style (sckit)": lambda m: zipnn(m, package=False),
    "zipnn-huffman": lambda m: zipnn(m, entropy="huffman"),
}
LABELS = {"zipnn": zipnn_pkg.label(), "zipnn-huffman": "zipnn-style (sckit), Huffman"}


def _mixed_model() -> nn.Module:
    torch.manual_seed(3)
    m = nn.Sequential(nn.Linear(16, 16), nn.BatchNorm1d(16), nn.Linear(16, 4))
    with torch.no_grad():
        m[0].weight.normal_(0, 0.02)
        m[0].weight[0, 0] = float("nan")  # odd bit patterns survive too
        m[0].weight[0, 1] = -0.0
    m.half = nn.Linear(8, 8).half()
    m.bf = nn.Linear(8, 8).to(torch.bfloat16)
    return m


@pytest.mark.parametrize("name", list(CODERS))
def test_lossless_bit_exact(name):
    m = _mixed_model()
    before = copy.deepcopy(m)
    r = CODERS[name](m)
    assert r.method == LABELS.get(name, name) and r.lossless
    assert state_bit_equal(r.model, m)
    assert state_bit_equal(m, before)  # input untouched
    assert r.model is not m
    assert r.dense_bytes == sum(t.numel() * t.element_size() for t in m.state_dict().values())


@pytest.mark.parametrize("name", list(CODERS))
def test_compresses_gaussian_weights(name):
    torch.manual_seed(0)
    m = nn.Linear(256, 256, bias=False)
    with torch.no_grad():
        m.weight.normal_(0, 0.02)
    r = CODERS[name](m)
    assert 1.0 < r.ratio < 2.0  # N(0, 0.02) float32 is mostly mantissa noise
    assert r.bits_per_weight == pytest.approx(8 * r.size_bytes / 256**2)


def test_byte_grouping_beats_plain_zstd_on_weights():
    torch.manual_seed(0)
    m = nn.Linear(512, 256, bias=False)
    with torch.no_grad():
        m.weight.normal_(0, 0.02)
    assert zipnn(m).size_bytes < zstd(m, level=3).size_bytes


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([1, 2, 4, 8]), st.sampled_from(["zstd", "huffman"]))
def test_zipnn_bytes_round_trip(data, itemsize, entropy):
    data = data[: len(data) - len(data) % itemsize]
    assert zipnn_decode_bytes(zipnn_encode_bytes(data, itemsize, entropy=entropy)) == data


@settings(max_examples=20, deadline=None)
@given(st.binary(max_size=2000))
def test_best_fit_round_trip(data):
    blob, coder = best_fit_lossless(data)
    assert coder in ("zstd", "lzma", "bz2")
    assert best_fit_lossless_decode(blob) == data


def test_best_fit_is_the_smallest():
    import bz2
    import lzma

    import zstandard

    data = np.random.default_rng(0).geometric(0.2, size=5000).astype(np.uint8).tobytes()
    blob, _ = best_fit_lossless(data)
    others = [
        len(zstandard.ZstdCompressor(level=19).compress(data)),
        len(lzma.compress(data, preset=6)),
        len(bz2.compress(data, 9)),
    ]
    assert len(blob) == 1 + min(others)


def test_bad_arguments():
    m = nn.Linear(2, 2)
    for level in (0, 23, 3.0, True):
        with pytest.raises(ValueError):
            zstd(m, level=level)
    with pytest.raises(ValueError):
        lzma_coder(m, preset=10)
    with pytest.raises(ValueError):
        zipnn(m, entropy="arith")
    with pytest.raises(ValueError):
        zipnn_encode_bytes(b"abc", 2)
    with pytest.raises(TypeError):
        zstd(np.zeros(3))
    with pytest.raises(FormatError):
        zipnn_decode_bytes(b"junk")
    with pytest.raises(FormatError):
        best_fit_lossless_decode(b"\x07abc")


def test_general_coders_all_lossless(tiny_mlp):
    from sckit.baselines import general_coders

    out = general_coders(tiny_mlp)
    assert list(out) == ["zstd-3", "zstd-19", "lzma", "zipnn"]
    assert all(r.lossless and state_bit_equal(r.model, tiny_mlp) for r in out.values())
