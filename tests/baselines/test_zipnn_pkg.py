"""The real ZipNN package as a baseline: labels, exactness, the caller's buffers untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sckit.baselines import compare, zipnn, zipnn_pkg
from sckit.errors import FormatError

from .conftest import state_bit_equal

needs_zipnn = pytest.mark.skipif(zipnn_pkg.version() is None, reason="zipnn not installed")
INT = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}


def _weights(dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    t = (torch.randn(96, 200, generator=g) * 0.02).to(dtype)
    t[0, :3] = torch.tensor([float("nan"), -0.0, float("inf")]).to(dtype)
    return t


@needs_zipnn
@pytest.mark.parametrize("dtype", list(INT))
def test_tensor_round_trip_leaves_input_untouched(dtype):
    t = _weights(dtype)
    before = t.clone()
    blob = zipnn_pkg.encode_tensor(t)
    # ZipNN reorders the bits of the buffer it compresses in place (float32 and bfloat16)
    assert torch.equal(t.view(INT[dtype]), before.view(INT[dtype]))
    back = zipnn_pkg.decode_tensor(blob, t)
    assert back.dtype == dtype and back.shape == t.shape
    assert torch.equal(back.view(INT[dtype]), t.view(INT[dtype]))
    assert len(blob) < t.numel() * t.element_size()


@needs_zipnn
def test_raw_bytes_buffer_untouched():
    t = _weights(torch.bfloat16)
    buf = bytearray(t.view(torch.uint8).numpy().tobytes())
    keep = bytes(buf)
    blob = zipnn_pkg.compress_bytes(buf, "bfloat16")
    assert bytes(buf) == keep
    assert zipnn_pkg.decompress_bytes(blob, "bfloat16") == keep


@needs_zipnn
def test_model_uses_the_package_with_its_version():
    m = nn.Sequential(nn.Linear(64, 64), nn.BatchNorm1d(64))  # BN's int64 counter stays raw
    m.bf = nn.Linear(32, 32).to(torch.bfloat16)
    r = zipnn(m)
    assert r.method == f"zipnn {zipnn_pkg.version()}" == zipnn_pkg.label()
    assert r.params["implementation"] == "package" and r.params["threads"] == 1
    assert state_bit_equal(r.model, m)
    with pytest.raises(ValueError, match="threads"):
        zipnn(m, threads=0)
    with pytest.raises(ValueError, match="huffman"):
        zipnn(m, package=True, entropy="huffman")


def test_stand_in_is_labelled_when_the_package_is_missing(monkeypatch, tiny_mlp):
    monkeypatch.setattr(zipnn_pkg, "version", lambda: None)
    assert zipnn_pkg.label() == "zipnn-style (sckit)"
    r = zipnn(tiny_mlp)
    assert r.method == "zipnn-style (sckit)" and r.params["implementation"] == "stand-in"
    assert r.params["note"] == "zipnn package not installed"
    assert state_bit_equal(r.model, tiny_mlp)
    with pytest.raises(ImportError, match="zipnn"):
        zipnn(tiny_mlp, package=True)
    df = compare(tiny_mlp, ["zipnn"], progress=False)
    assert df.loc[0, "method"] == "zipnn"
    assert "stand-in" in df.loc[0, "note"] and "not installed" in df.loc[0, "note"]


@needs_zipnn
def test_compare_row_names_the_package(tiny_mlp):
    df = compare(tiny_mlp, ["zipnn", "zipnn-huffman"], progress=False)
    assert df.loc[0, "note"].startswith(f"zipnn {zipnn_pkg.version()} (PyPI package)")
    assert "stand-in" in df.loc[1, "note"]
    assert df["lossless"].all()


@needs_zipnn
def test_corrupt_stream_is_a_format_error():
    with pytest.raises(FormatError):
        zipnn_pkg.decode_tensor(b"\x00" * 40, torch.zeros(4, 4))


@needs_zipnn
@pytest.mark.parametrize("name", ["lenet300_100", "lenet5", "small_resnet"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_pack_file_is_smaller_than_zipnn(tmp_path, name, dtype):
    """Issue 15: on trained weights a whole `sckit.pack` file (names, shapes and layout
    included) is smaller than ZipNN's one stream of the same weights (its most favourable
    setting) plus the safetensors header that would name them, and reads back bit-exact."""
    from safetensors.torch import save_file

    import sckit
    import sckit.zoo as zoo

    model = zoo.create_model(name, pretrained="digits")
    state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()
             if v.is_floating_point()}
    src = tmp_path / "w.safetensors"
    save_file(state, str(src))
    out = tmp_path / "w.sck"
    sckit.pack(src, out, progress=False)
    raw = b"".join(v.view(INT[dtype]).numpy().tobytes() for v in state.values())
    stream = zipnn_pkg.compress_bytes(raw, str(dtype).removeprefix("torch."), threads=1)
    header = 8 + int.from_bytes(src.read_bytes()[:8], "little")
    assert out.stat().st_size < len(stream) + header
    back = sckit.open(out).state_dict()
    assert all(torch.equal(back[k].view(INT[dtype]), v.view(INT[dtype])) for k, v in state.items())
