"""Tensors with a zero dimension (and 0-d tensors) round trip bit-exactly through save/load,
dense and compressed, for every dtype the container stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import sckit
from sckit.container import TENSOR_DTYPES, Reader, Writer
from sckit.engine import SuccinctModel

SHAPES = [(0,), (0, 3), (3, 0), (2, 0, 4), (0, 0), ()]
DTYPES = [getattr(torch, n) for n in TENSOR_DTYPES if n != "complex32"]


def _bits(t: torch.Tensor) -> np.ndarray:
    t = t.detach().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy() if t.numel() else np.zeros(0, np.uint8)


def _value(dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    if not shape:  # a 0-d tensor: one element of recognisable bytes
        n = torch.empty(0, dtype=dtype).element_size()
        return torch.arange(1, n + 1, dtype=torch.uint8).view(dtype).reshape(())
    return torch.empty(shape, dtype=dtype)


class Holder(nn.Module):
    """Every dtype x shape as a buffer, plus empty float parameters."""

    def __init__(self) -> None:
        super().__init__()
        for i, dt in enumerate(DTYPES):
            for j, shp in enumerate(SHAPES):
                self.register_buffer(f"b{i}_{j}", _value(dt, shp))
        self.w_empty = nn.Parameter(torch.empty(0, 8))
        self.w_empty16 = nn.Parameter(torch.empty(4, 0, dtype=torch.bfloat16))
        self.lin = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) + self.w_empty.sum() + self.w_empty16.float().sum()


def test_every_dtype_and_empty_shape_dense(tmp_path: Path) -> None:
    m = Holder()
    path = tmp_path / "d.sck"
    sckit.save(m, path)
    for mmap in (False, True):
        got = sckit.load(path, model=Holder(), mmap=mmap).state_dict()
        for k, v in m.state_dict().items():
            assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
            assert np.array_equal(_bits(got[k]), _bits(v)), k


def test_empty_parameter_and_buffer_compressed(tmp_path: Path) -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(32, 16)
            self.empty = nn.Parameter(torch.empty(0, 32))
            self.register_buffer("stat", torch.empty(0))
            self.register_buffer("stat2", torch.empty(3, 0, dtype=torch.float16))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) + self.empty.sum() + self.stat.sum()

    torch.manual_seed(0)
    m = Net().eval()
    with torch.no_grad():
        m.fc.weight.copy_(torch.randint(-3, 3, m.fc.weight.shape).float())
    x = torch.randn(2, 32)
    sm = sckit.compress(m, x, ras="element", decode_ahead=False)
    path = tmp_path / "c.sck"
    sckit.save(sm, path)
    for mmap in (False, True):
        back = sckit.load(path, model=Net(), mmap=mmap)
        assert isinstance(back, SuccinctModel)
        with torch.no_grad():
            assert np.array_equal(_bits(back(x)), _bits(m(x)))
        dense = back.to_dense().state_dict()
        for k, v in m.state_dict().items():
            assert dense[k].shape == v.shape and np.array_equal(_bits(dense[k]), _bits(v)), k


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.int8])
@pytest.mark.parametrize("shape", [(0,), (0, 5), (5, 0)])
def test_empty_ras_round_trip(dtype: torch.dtype, shape: tuple[int, ...], tmp_path: Path) -> None:
    from sckit.tensor_io import encode_tensor

    path = tmp_path / "r.sck"
    t = torch.empty(shape, dtype=dtype)
    for kind in ("element", "block"):
        try:
            r = encode_tensor(t, kind=kind)
        except ValueError:
            continue  # a layout that needs rows (block) may refuse a 0-column tensor up front
        with Writer(path) as w:
            w.add_tensor("t", ras=r)
        got = Reader(path).tensor("t")
        assert got.dtype == dtype and got.shape == shape
