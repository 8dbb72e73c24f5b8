"""The engine's CUDA route (KernelDecoder) end to end on machines without a GPU: every launch
goes through the host builds of the kernels (conftest.emulated_kernels), so the wiring from
``SuccinctModel.forward`` to ``ff_merge`` is exercised here and only the device is missing."""

from __future__ import annotations

import pytest
import torch

import sckit
from sckit.engine import bit_equal
from sckit.engine.decode import KernelDecoder
from sckit.zoo import create_model, default_input


@pytest.mark.parametrize("decode_ahead", [False, True])
def test_forward_through_emulated_kernels_is_bit_exact(emulated_kernels, decode_ahead,
                                                       monkeypatch) -> None:
    # compress picks the wavelet-matrix layout (the one the kernels decode) on a CUDA route;
    # this CPU-routed compress must pick it too for the kernels to see every dense weight
    from sckit import tensor_io

    encode = tensor_io.encode_tensor
    monkeypatch.setattr(tensor_io, "encode_tensor", lambda t, **kw: encode(t, **{**kw, "layout": "wm"}))
    model = create_model("lenet5", seed=0).eval()
    with torch.no_grad():  # one sparse layer: it must take the CPU route inside the same model
        w = model.state_dict()["fc1.weight"]
        w[w.abs() < w.abs().quantile(0.95)] = 0
    x = default_input("lenet5")
    ref = model(x)
    sm = sckit.compress(model, x, decode_ahead=decode_ahead)
    sparse = {n for n, r in sm.ras.items() if r.sparse}
    assert sparse, "the pruned layer should have been stored sparse"
    dec = KernelDecoder(sm.ras)
    sm._runtime.set_decoder(dec)
    assert sm.backend == "cuda" and dec.device_bytes > 0
    n_before = len(emulated_kernels)
    for _ in range(2):  # twice: weights are freed after each layer and decoded again
        assert bit_equal(sm(x), ref)
    launched = [name for _, name, _ in emulated_kernels[n_before:]]
    n_dense = len(sm.ras) - len(sparse)
    assert launched.count("ff_merge") == 2 * n_dense
    assert launched.count("hwm_range_decode") == 2 * n_dense
    rep = sm.report().set_index("layer")
    for name in sm.ras:
        layer = name.rsplit(".", 1)[0]
        assert ("cpu" if name in sparse else "cuda") in rep.loc[layer, "decoded_on"]
    sm.verify_weights(dict(model.named_parameters()))
    assert bit_equal(sm.to_dense().state_dict(), model.state_dict())


def test_half_precision_model_through_emulated_kernels(emulated_kernels) -> None:
    for dtype in (torch.bfloat16, torch.float16):
        model = torch.nn.Sequential(torch.nn.Linear(40, 300), torch.nn.ReLU(),
                                    torch.nn.Linear(300, 7)).to(dtype).eval()
        x = torch.randn(3, 40, dtype=dtype)
        sm = sckit.compress(model, x, ras="element")
        sm._runtime.set_decoder(KernelDecoder(sm.ras))
        assert bit_equal(sm(x), model(x)), dtype
        assert {r.dtype for r in sm.ras.values()} == {str(dtype).split(".")[1]}
