"""The byte-grouped layout's zero skip (pruned, unquantized float tensors): +0.0 and -0.0 are
symbols of their own and store no raw bytes; per-chunk raw offsets keep every chunk decodable
alone. Bit-exact through every query and the file, checked on load, never larger."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sckit.errors import FormatError
from sckit.ras import RAS
from sckit.ras.bytegroup import CHUNK, encode_bytegroup
from sckit.ras.bytegroup_zero_skip import MIN_ZERO_FRACTION
from sckit.ras.fields import split_for
from sckit.tensor_io import encode_tensor

from .test_bytegroup import _bits, _check_all, _flip_and_decode


def _pruned(shape, dtype, density, seed=0, neg_zero=True) -> torch.Tensor:
    """N(0, 0.02) weights, a random ``1 - density`` of them zeroed by a mask product (which
    leaves -0.0 where the weight was negative, as torch's pruning does)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(tuple(shape), generator=g) * 0.02
    t = w * (torch.rand(tuple(shape), generator=g) < density)
    if not neg_zero:
        t = t + 0.0  # -0.0 + 0.0 = +0.0
    return t.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("density", [0.0, 0.05, 0.3, 0.9])
@pytest.mark.parametrize("shape", [(7,), (300, 40), (5 * CHUNK + 11,), (3, 4 * CHUNK + 1)])
def test_pruned_round_trip(dtype, density, shape):
    t = _pruned(shape, dtype, density, seed=len(shape) + int(10 * density))
    t.view(-1)[0] = 0.0  # at least one zero, however few weights
    _check_all(encode_tensor(t), t)  # whatever auto picks (a codebook, for all zeros)
    name = str(dtype).removeprefix("torch.")
    r = encode_bytegroup(_bits(t).reshape(-1), split_for(name), tuple(t.shape), "block",
                         zero_skip=True)
    assert r.zero_skip
    _check_all(r, t)
    back = RAS.from_bytes(r.to_bytes())
    assert back.zero_skip and back.n_raw == r.n_raw == int((_bits(t) << 1 != 0).sum())
    rows = back.decode_rows(shape[0] // 2, shape[0])
    assert np.array_equal(rows, _bits(t)[shape[0] // 2:])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_smaller_than_without_it_and_than_the_wavelet_matrix(dtype):
    t = _pruned((512, 512), dtype, 0.1)
    b = _bits(t).reshape(-1)
    name = str(dtype).removeprefix("torch.")
    zs = encode_bytegroup(b, split_for(name), tuple(t.shape), "block", zero_skip=True)
    plain = encode_bytegroup(b, split_for(name), tuple(t.shape), "block", zero_skip=False)
    wm = encode_tensor(t, layout="wm")
    assert zs.nbytes < 0.5 * plain.nbytes and zs.nbytes < wm.nbytes
    assert encode_tensor(t).nbytes == zs.nbytes  # layout="auto" takes it


@pytest.mark.parametrize("special", ["subnormal", "inf", "nan"])
def test_not_taken_where_a_zero_or_the_free_symbol_would_be_ambiguous(special):
    t = _pruned((4000,), torch.float32, 0.2)
    t[5] = {"subnormal": 1e-40, "inf": float("inf"), "nan": float("nan")}[special]
    r = encode_tensor(t, layout="bytegroup")
    assert not getattr(r, "zero_skip", False)
    _check_all(r, t)
    with pytest.raises(ValueError, match="zero_skip"):
        encode_bytegroup(_bits(t).reshape(-1), split_for("float32"), (4000,), "block",
                         zero_skip=True)


def test_few_zeros_keep_the_plain_form():
    t = _pruned((10000,), torch.float32, 1 - MIN_ZERO_FRACTION / 2)
    assert not encode_tensor(t, layout="bytegroup").zero_skip
    t = _pruned((10000,), torch.float32, 1 - 2 * MIN_ZERO_FRACTION)
    assert encode_tensor(t, layout="bytegroup").zero_skip


def test_signs_of_zeros_are_kept():
    t = torch.tensor([0.0, -0.0, 1.5, -0.0, 0.0, -2.0] * 50) * torch.rand(300)
    r = encode_tensor(t, layout="bytegroup", codebook=False)
    assert r.zero_skip
    _check_all(r, t)


def test_loading_is_checked():
    t = _pruned((6 * CHUNK,), torch.float32, 0.2)
    meta, arrays = encode_tensor(t).to_arrays()
    meta, arrays = dict(meta), {k: np.array(v) for k, v in arrays.items()}
    assert "raw_at" in arrays and meta["zero_skip_raw"] == int((_bits(t) << 1 != 0).sum())
    bad_meta = [("zero_skip_raw", -1), ("zero_skip_raw", 6 * CHUNK + 1), ("zero_skip_raw", "7"),
                ("zero_skip_raw", meta["zero_skip_raw"] + 8)]
    for key, value in bad_meta:
        m = dict(meta)
        m[key] = value
        with pytest.raises(FormatError, match="zero_skip_raw|words"):
            RAS.from_arrays(m, arrays)
    for forged in ([1, 0, 0, 0, 0], [0] * 4, [CHUNK + 1] * 5, [2**31] * 5):
        a = dict(arrays)
        a["raw_at"] = np.array(forged, np.uint32)
        with pytest.raises(FormatError, match="raw_at"):
            RAS.from_arrays(meta, a)
    m = dict(meta)
    m.pop("zero_skip_raw")
    with pytest.raises(FormatError, match="raw_at|words"):
        RAS.from_arrays(m, arrays)
    # monotone but wrong raw offsets: other weights or a FormatError, never a read out of range
    a = dict(arrays)
    a["raw_at"] = np.minimum(a["raw_at"] + 3000, meta["zero_skip_raw"]).astype(np.uint32)
    try:
        assert RAS.from_arrays(meta, a).decode().shape == t.shape
    except FormatError:
        pass


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**9), st.integers(1, 40))
def test_flipped_bytes_never_crash(seed, n_flips):
    meta, arrays = encode_tensor(_pruned((5 * CHUNK + 7,), torch.bfloat16, 0.15)).to_arrays()
    _flip_and_decode(meta, {k: np.array(v) for k, v in arrays.items()}, seed, n_flips)


def test_pruned_model_compresses_and_runs_bit_exact(tmp_path):
    """A magnitude-pruned model through sckit.compress, save and load: outputs bit-equal."""
    from torch import nn

    import sckit

    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 64)).eval()
    with torch.no_grad():
        for layer in (m[0], m[2]):
            w = layer.weight
            w.mul_(w.abs() > w.abs().flatten().kthvalue(int(0.8 * w.numel())).values)
    x = torch.randn(4, 256)
    c = sckit.compress(m, x)
    assert any(getattr(r, "zero_skip", False) for r in c.ras.values())
    sckit.save(c, tmp_path / "m.sck")
    back = sckit.load(tmp_path / "m.sck", model=m)
    with torch.no_grad():
        assert torch.equal(m(x).view(torch.int32), back(x).view(torch.int32))


def _pruned16(shape, density, seed=0) -> torch.Tensor:
    """float16 pruned weights with no non-zero under 2**-14 (magnitude pruning removes those:
    a subnormal shares the high byte of a zero)."""
    t = _pruned(shape, torch.float32, density, seed)
    t = torch.where((t != 0) & (t.abs() < 2 ** -14), torch.sign(t) * 2 ** -10, t)
    return t.to(torch.float16)


@pytest.mark.parametrize("density", [0.05, 0.3, 0.9])
@pytest.mark.parametrize("shape", [(7,), (300, 40), (5 * CHUNK + 11,), (3, 4 * CHUNK + 1)])
def test_float16_high_byte_form_round_trip(density, shape):
    """float16's high-byte form takes the zero skip (+0.0 high byte 0x00, -0.0 0x80 -> 255):
    bit-exact through every query, the file and row ranges, -0.0 included."""
    t = _pruned16(shape, density, seed=len(shape) + int(10 * density))
    t.view(-1)[0] = 0.0
    t.view(-1)[-1] = -0.0
    r = encode_bytegroup(_bits(t).reshape(-1), split_for("float16"), tuple(t.shape), "block",
                         zero_skip=True)
    assert r.zero_skip and r.f16_form == "high_byte"
    _check_all(r, t)
    back = RAS.from_bytes(r.to_bytes())
    assert back.zero_skip and back.n_raw == r.n_raw == int((_bits(t) << 1 != 0).sum())
    rows = back.decode_rows(shape[0] // 2, shape[0])
    assert np.array_equal(rows, _bits(t)[shape[0] // 2:])


def test_float16_pruned_smaller_and_taken_by_auto():
    t = _pruned16((512, 512), 0.1)
    b = _bits(t).reshape(-1)
    f16 = split_for("float16")
    zs = encode_bytegroup(b, f16, tuple(t.shape), "block", zero_skip=True)
    plain = encode_bytegroup(b, f16, tuple(t.shape), "block", zero_skip=False)
    wm = encode_tensor(t, layout="wm")
    assert zs.nbytes < 0.5 * plain.nbytes and zs.nbytes < wm.nbytes
    auto = encode_tensor(t)
    assert auto.nbytes == zs.nbytes and auto.zero_skip and auto.f16_form == "high_byte"


def test_float16_not_taken_where_a_zero_would_be_ambiguous():
    """A NaN of high byte 0xFF (-0.0's symbol) or 0x7F (the positive subnormals' symbol)
    rules the zero skip out; the loader refuses it for the sign-plane form."""
    for pattern in (0xFF80, 0x7F80):
        t = _pruned16((4000,), 0.2)
        t.view(torch.int16)[5] = np.int16(np.uint16(pattern).view(np.int16))
        assert not getattr(encode_tensor(t, layout="bytegroup"), "zero_skip", False)
        with pytest.raises(ValueError, match="zero_skip"):
            encode_bytegroup(_bits(t).reshape(-1), split_for("float16"), (4000,), "block",
                             zero_skip=True)
    r = encode_bytegroup(_bits(_pruned16((4000,), 0.2)).reshape(-1), split_for("float16"),
                         (4000,), "block", f16_form="sign_plane")
    meta, arrays = r.to_arrays()
    with pytest.raises(FormatError, match="zero_skip_raw"):
        RAS.from_arrays({**meta, "zero_skip_raw": 10}, arrays)


@pytest.mark.parametrize("shape", [(7,), (300, 40), (5 * CHUNK + 11,)])
def test_float16_zero_skip_beside_subnormals(shape):
    """Subnormals beside the zeros (a float32 model's dead channels, ~1e-40, become +-0.0 in
    float16 next to survivors under 2**-14; randomly masked tensors): positive ones of high
    byte 0x00 take their own symbol (merge mode 10, meta ``zero_skip_sub``), negative ones
    keep 0x80 (-0.0 is 255); bit-exact through every query, the file and row ranges, and
    smaller than without the skip."""
    t = _pruned16(shape, 0.4, seed=len(shape))
    flat = t.view(-1)
    n = flat.numel()
    tiny = torch.tensor([2.0 ** -20, -(2.0 ** -20), 2.0 ** -24, -(2.0 ** -15), 2.0 ** -15, 0.0,
                         -0.0], dtype=torch.float16)
    flat[: min(n, tiny.numel())] = tiny[: n]
    if n > 100:
        flat[100::97] = 2.0 ** -18
    r = encode_bytegroup(_bits(t).reshape(-1), split_for("float16"), tuple(t.shape), "block",
                         zero_skip=True)
    assert r.zero_skip and r.zero_skip_sub and r._mode == 10
    _check_all(r, t)
    back = RAS.from_bytes(r.to_bytes())
    assert back.zero_skip_sub and back.n_raw == int((_bits(t) << 1 != 0).sum())
    assert np.array_equal(back.decode_rows(shape[0] // 2, shape[0]), _bits(t)[shape[0] // 2:])
    if n > 1000:
        auto = encode_tensor(t)
        assert auto.zero_skip_sub and auto.nbytes == r.nbytes
        plain = encode_bytegroup(_bits(t).reshape(-1), split_for("float16"), tuple(t.shape),
                                 "block", zero_skip=False)
        assert r.nbytes < 0.8 * plain.nbytes
    # no positive subnormal of high byte 0x00: the plain float16 zero skip (mode 9)
    t2 = t.clone()
    t2[(_bits(t2) >> 8) == 0] = 0.0
    r2 = encode_bytegroup(_bits(t2).reshape(-1), split_for("float16"), tuple(t.shape), "block",
                          zero_skip=True)
    assert r2.zero_skip and not r2.zero_skip_sub and r2._mode == 9
    _check_all(r2, t2)


def test_forged_zero_skip_sub_is_a_format_error():
    t = _pruned16((3000,), 0.3)
    t[3] = 2.0 ** -20
    meta, arrays = encode_bytegroup(_bits(t).reshape(-1), split_for("float16"), (3000,), "block",
                                    zero_skip=True).to_arrays()
    assert meta["zero_skip_sub"] is True
    for bad in ({**meta, "zero_skip_sub": False}, {**meta, "zero_skip_sub": 1},
                {k: v for k, v in meta.items() if k != "zero_skip_raw"}):
        with pytest.raises(FormatError, match="zero_skip"):
            RAS.from_arrays(bad, arrays)
    m32, a32 = encode_bytegroup(_bits(_pruned((3000,), torch.float32, 0.3)).reshape(-1),
                                split_for("float32"), (3000,), "block", zero_skip=True).to_arrays()
    with pytest.raises(FormatError, match="zero_skip_sub"):
        RAS.from_arrays({**m32, "zero_skip_sub": True}, a32)
    # a file without the flag (written before it existed) reads symbol 0x7F as high byte 0x7F
    back = RAS.from_arrays({k: v for k, v in meta.items() if k != "zero_skip_sub"}, arrays)
    assert back._mode == 9
