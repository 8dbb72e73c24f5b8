"""Weights held in buffers (as onnx2torch-converted models keep them): listed by ``inspect``
with their bytes and encoded losslessly by ``compress``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import sckit


class BufLinear(nn.Module):
    """A Linear whose weight (2-D) and bias (1-D) are buffers."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.randn(n_out, n_in) * 0.1)
        self.register_buffer("bias", torch.randn(n_out) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = BufLinear(16, 32)
        self.b = nn.Linear(32, 8)
        self.register_buffer("steps", torch.zeros(3, 3, dtype=torch.int64))  # not a float

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().view(torch.int32)


@pytest.fixture
def net() -> Net:
    torch.manual_seed(0)
    return Net().eval()


def test_inspect_lists_float_weight_buffers(net):
    df = sckit.inspect(net, torch.randn(2, 16), encode="exact").set_index("layer")
    assert list(df.index) == ["a.weight", "b"]  # 1-D and integer buffers are not weights
    row = df.loc["a.weight"]
    assert row.type == "Buffer" and row.n_params == 0 and row.dense_bytes == 32 * 16 * 4
    assert row.macs == 2 * 16 * 32 and row.fpr == pytest.approx(2 * row.macs / (32 * 16))
    assert row.succinct_bytes > 0 and row.ras == "element" and not row.trainable
    assert df.attrs["totals"]["weight_buffer_elements"] == 32 * 16
    assert df.n_params.sum() == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("batch", [1, 2])
def test_compress_encodes_weight_buffers_bit_exactly(net, batch):
    x = torch.randn(batch, 16)
    sm = sckit.compress(net, x)
    assert "a.weight" in sm.ras and "a.bias" not in sm.ras
    assert torch.equal(bits(sm(x)), bits(net(x)))
    dense = sm.to_dense()
    assert torch.equal(bits(dense.a.weight), bits(net.a.weight))
    assert torch.equal(dense.steps, net.steps)
    rep = sm.report().set_index("layer")
    assert rep.loc["a", "status"] == "encoded" and rep.loc["a", "bytes"] == sm.ras["a.weight"].nbytes
    # the buffer is an empty placeholder between forwards: its RAS is what stays resident
    assert net.a.weight.numel() == 32 * 16 and sm.module.a.weight.numel() == 0


def test_encoded_buffers_survive_save_and_load(net, tmp_path):
    x = torch.randn(2, 16)
    sm = sckit.compress(net, x)
    sckit.save(sm, tmp_path / "m.sck")
    back = sckit.load(tmp_path / "m.sck", model=Net())
    assert torch.equal(bits(back(x)), bits(net(x)))
    assert "a.weight" in back.ras and torch.equal(bits(back.to_dense().a.weight), bits(net.a.weight))
