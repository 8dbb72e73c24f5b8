"""torch adapters: bit-exact round trips for every supported torch dtype."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sckit import ras
from sckit.tensor_io import decode_tensor, encode_tensor

INT_VIEW = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16,
            torch.float64: torch.int64}


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(INT_VIEW.get(t.dtype, t.dtype))


def _specials(dtype: torch.dtype) -> torch.Tensor:
    vals = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), 1.0, -2.5],
                        dtype=dtype)
    if dtype in INT_VIEW:  # add NaN payloads and the smallest denormal via the bit view
        iv = INT_VIEW[dtype]
        nbits = torch.finfo(dtype).bits
        exp_mask = {16: 0x7C00 if dtype == torch.float16 else 0x7F80, 32: 0x7F800000,
                    64: 0x7FF0000000000000}[nbits]
        extra = torch.tensor([exp_mask | 0x5, exp_mask | 0x3, 1], dtype=iv).view(dtype)
        vals = torch.cat([vals, extra, -extra])
    return vals


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("kind", ["block", "element"])
@pytest.mark.parametrize("sparse", [None, True, False])
def test_float_round_trip(dtype, kind, sparse):
    g = torch.Generator().manual_seed(0)
    t = (torch.randn(6, 5, 3, generator=g) * 0.02).to(dtype)
    t[torch.rand(t.shape, generator=g) < 0.4] = 0
    sp = _specials(dtype)
    t.view(-1)[: sp.numel()] = sp
    r = encode_tensor(t, kind=kind, sparse=sparse)
    assert r.dtype == {torch.float32: "float32", torch.float16: "float16",
                       torch.bfloat16: "bfloat16", torch.float64: "float64"}[dtype]
    back = decode_tensor(r)
    assert back.dtype == dtype and back.shape == t.shape
    assert torch.equal(_bits(back), _bits(t))
    out = torch.empty_like(t)
    assert decode_tensor(r, out=out) is out and torch.equal(_bits(out), _bits(t))
    assert torch.equal(_bits(decode_tensor(ras.from_bytes(r.to_bytes()))), _bits(t))


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int16, torch.int32])
def test_int_round_trip(dtype):
    info = torch.iinfo(dtype)
    t = torch.randint(info.min, info.max, (7, 9), dtype=dtype, generator=torch.Generator().manual_seed(1))
    for codebook in ("auto", True):
        r = encode_tensor(t[:, :3].contiguous() if codebook is True else t, codebook=codebook)
        ref = t[:, :3] if codebook is True else t
        assert torch.equal(decode_tensor(r), ref)
        out = torch.full_like(ref, 7)
        assert decode_tensor(r, out=out) is out and torch.equal(out, ref)


def test_non_contiguous_and_scalar():
    t = torch.randn(4, 6)[:, ::2]
    assert torch.equal(_bits(decode_tensor(encode_tensor(t))), _bits(t.contiguous()))
    s = torch.tensor(3.5)
    assert torch.equal(decode_tensor(encode_tensor(s, kind="element")), s)


def test_errors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        encode_tensor([1.0])
    with pytest.raises(TypeError, match="unsupported tensor dtype"):
        encode_tensor(torch.zeros(3, dtype=torch.complex64))
    with pytest.raises(TypeError, match="dtype"):
        encode_tensor(torch.zeros(3), dtype="float16")
    r = encode_tensor(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="out must be"):
        decode_tensor(r, out=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="out must be"):
        decode_tensor(r, out=torch.zeros(2, 3, dtype=torch.float16))
    with pytest.raises(TypeError, match="RAS"):
        decode_tensor(b"abc")
    with pytest.raises(ValueError, match="contiguous CPU"):
        decode_tensor(r, out=torch.zeros(3, 2).t())
    with pytest.raises(ValueError, match="contiguous CPU"):
        decode_tensor(r, out=torch.empty(2, 3, device="meta"))
    with pytest.raises(TypeError, match="out must be a torch.Tensor"):
        decode_tensor(r, out=np.zeros((2, 3), np.float32))
