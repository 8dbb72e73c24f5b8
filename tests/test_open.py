"""sckit.open: whole tensors and row slices of a packed checkpoint, bit-exact, decoding only the
rows asked for (in the manner of safetensors' safe_open)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import sckit
from sckit.ras import RAS
from tests.test_pack import META, llama_like


@pytest.fixture(scope="module", params=[None, 5000], ids=["whole", "row-blocks"])
def opened(tmp_path_factory, request):
    """The test checkpoint packed whole, and with every tensor over 5000 weights in row blocks
    (the embedding and LM head in 7 blocks of 78 rows: slices then cross block borders)."""
    d = tmp_path_factory.mktemp("open")
    sd = llama_like(seed=3)
    save_file(sd, d / "m.safetensors", metadata=META)
    kw = {} if request.param is None else {"part_weights": request.param}
    sckit.pack(d / "m.safetensors", d / "m.sck", progress=False, **kw)
    with sckit.open(d / "m.sck") as f:
        yield sd, f


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().reshape(-1).view(torch.uint8)


def test_whole_tensors_and_metadata(opened):
    sd, f = opened
    assert f.keys() == sorted(sd) and len(f) == len(sd) and "lm_head.weight" in f
    assert f.metadata() == META
    for name, t in sd.items():
        got = f[name]
        assert got.dtype == t.dtype and got.shape == t.shape, name
        assert torch.equal(bits(got), bits(t)), name
    with pytest.raises(KeyError, match="nope"):
        f["nope"]


@pytest.mark.parametrize("key", [
    slice(100, 116), slice(70, 90), slice(0, 1), slice(490, None), slice(None, None, 7), slice(-20, -3, 2),
    slice(50, 10, -3), slice(5, 5), 7, -1, (slice(3, 9), slice(10, 20)), (4, 5), Ellipsis,
])
def test_slices_match_the_tensor(opened, key):
    sd, f = opened
    for name in ("model.embed_tokens.weight", "sparse", "position_ids", "fp8", "f32"):
        sl = f.get_slice(name)
        assert sl.get_shape() == list(sd[name].shape) and sl.get_dtype() == str(
            sd[name].dtype).removeprefix("torch.")
        if name == "position_ids" and isinstance(key, tuple):
            continue  # (1, 128): the 2-d keys above index past dim 0
        if isinstance(key, slice) and (key.step or 1) < 0:  # torch has no negative steps
            want = sd[name][list(range(*key.indices(sd[name].shape[0])))]
        else:
            try:
                want = sd[name][key]
            except IndexError:  # out of range for this tensor: the slice says so too
                with pytest.raises(IndexError):
                    sl[key]
                continue
        got = sl[key]
        assert got.shape == want.shape, (name, key)
        assert torch.equal(bits(got), bits(want)), (name, key)


def test_slice_decodes_only_its_rows(opened, monkeypatch):
    sd, f = opened
    calls = []
    real = RAS.decode_rows

    def spy(self, start, stop, out=None):
        calls.append((start, stop))
        return real(self, start, stop, out)

    def no_whole_decode(self, out=None):
        raise AssertionError("a row slice must not decode the whole tensor")

    monkeypatch.setattr(RAS, "decode_rows", spy)
    monkeypatch.setattr(RAS, "decode", no_whole_decode)
    got = f.get_slice("lm_head.weight")[200:216]
    # whole: rows 200-216 of the tensor; row blocks of 78 rows: rows 44-60 of block [156, 234)
    assert calls in ([(200, 216)], [(44, 60)])
    assert torch.equal(bits(got), bits(sd["lm_head.weight"][200:216]))


def test_numpy_framework_and_bad_arguments(opened, tmp_path):
    sd, f = opened
    with sckit.open(f.path, framework="numpy") as g:
        a = g["f32"]
        assert isinstance(a, np.ndarray) and np.array_equal(a.view(np.uint32),
                                                            sd["f32"].view(torch.int32).numpy().view(np.uint32))
        with pytest.raises(TypeError, match="framework='pt'"):
            g["lm_head.weight"]  # bfloat16: numpy has no such dtype
    with pytest.raises(ValueError, match="framework"):
        sckit.open(f.path, framework="tf")
    with pytest.raises(FileNotFoundError):
        sckit.open(tmp_path / "missing.sck")
    with pytest.raises(IndexError):
        f.get_slice("f32")[40]


def test_model_container_opens_too(tmp_path):
    """Files from sckit.save (dense or compressed, tied weights) open the same way."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Embedding(50, 16), torch.nn.Linear(16, 50))
    net[1].weight = net[0].weight  # tied, as an LM head and its embedding
    x = torch.randint(0, 50, (1, 4))
    sckit.save(net, tmp_path / "dense.sck")
    sckit.save(sckit.compress(net, x, decode_ahead=False), tmp_path / "ras.sck")
    w = net[0].weight.detach()
    for name in ("dense.sck", "ras.sck"):
        with sckit.open(tmp_path / name) as f:
            assert {"0.weight", "1.weight", "1.bias"} <= set(f.keys())
            for key in ("0.weight", "1.weight"):
                assert torch.equal(bits(f[key]), bits(w)), (name, key)
                assert torch.equal(bits(f.get_slice(key)[3:9]), bits(w[3:9])), (name, key)
