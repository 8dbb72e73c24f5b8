"""Where the engine decodes (sckit.engine.decode): backend resolution, moves between devices,
dtype refusals and the per-layer route in reports, on a machine without a GPU."""

from __future__ import annotations

import pytest
import torch

import sckit
from sckit.engine import bit_equal
from sckit.engine.decode import CpuDecoder, make_decoder, model_device, resolve_backend
from tests.test_engine import TinyNet

CPU, GPU = torch.device("cpu"), torch.device("cuda", 1)


@pytest.mark.parametrize(
    "backend,current,torch_cuda,kernels,device,uses_kernels,note",
    [
        # a CPU model: auto and cpu never move it, whatever the machine has
        ("auto", CPU, True, True, CPU, False, "decoded on the CPU"),
        ("cpu", CPU, True, True, CPU, False, "decoded on the CPU"),
        # a GPU model: auto takes the kernels when usable, else decodes on the CPU and copies
        ("auto", GPU, True, True, GPU, True, "CUDA kernels"),
        ("auto", GPU, True, False, GPU, False, "copied to cuda:1 (no pycuda)"),
        ("cpu", GPU, True, True, GPU, False, "copied to cuda:1"),
        # cuda moves a CPU model to the current CUDA device; a GPU model keeps its index
        ("cuda", CPU, True, True, torch.device("cuda"), True, "CUDA kernels"),
        ("cuda", GPU, True, True, GPU, True, "cuda:1"),
        ("cuda", CPU, True, False, torch.device("cuda"), False, "(no pycuda)"),
    ],
)
def test_resolve_backend_every_branch(backend, current, torch_cuda, kernels, device,
                                      uses_kernels, note) -> None:
    got = resolve_backend(backend, current, torch_cuda=torch_cuda, kernels_usable=kernels,
                          kernels_reason="no pycuda")
    assert got.device == device and got.kernels is uses_kernels
    assert note in got.note


def test_resolve_backend_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="backend='tpu'.*'auto', 'cpu', 'cuda'"):
        resolve_backend("tpu", CPU, torch_cuda=True, kernels_usable=True)
    with pytest.raises(RuntimeError, match="needs a CUDA device.*backend='cpu'"):
        resolve_backend("cuda", CPU, torch_cuda=False, kernels_usable=False)
    with pytest.raises(ValueError, match="cannot run a model on meta"):
        resolve_backend("cuda", torch.device("meta"), torch_cuda=True, kernels_usable=True)


def test_cpu_route_report_moves_and_dtype_refusals() -> None:
    model = TinyNet().eval()
    x = torch.randn(2, 3, 8, 8)
    sm = sckit.compress(model, x, ras="block")
    assert sm.backend == "cpu" and sm.device == CPU and "CPU" in sm.backend_note
    assert sm.decode_ahead == "auto"  # on when torch leaves a core spare (docs/benchmarks.md, Engine)
    assert "backend='cpu'" in repr(sm)
    ref = model(x)
    assert bit_equal(sm(x), ref)
    rep = sm.report().set_index("layer")
    assert set(rep.loc[["conv", "fc"], "decoded_on"]) == {"cpu"}
    sm.verify_weights()
    sm.verify_weights(dict(model.named_parameters()))
    other = {n: p.detach().clone() for n, p in model.named_parameters()}
    other["fc.weight"].view(torch.int32)[0, 0] ^= 1  # one flipped bit is caught, by name
    with pytest.raises(RuntimeError, match="'fc.weight'"):
        sm.verify_weights(other)
    assert sm.to("cpu") is sm and sm.cpu() is sm and bit_equal(sm(x), ref)
    for convert in (lambda: sm.half(), lambda: sm.double(), lambda: sm.to(torch.float16),
                    lambda: sm.float(), lambda: sm.bfloat16()):
        with pytest.raises(TypeError, match="dtypes exactly"):
            convert()
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            sm.cuda()
    assert bit_equal(sm(x), ref)  # a refused move leaves the model working


def test_load_takes_a_backend(tmp_path) -> None:
    model = TinyNet().eval()
    x = torch.randn(1, 3, 8, 8)
    path = tmp_path / "tiny.sck"
    sckit.save(sckit.compress(model, x), path, )
    with pytest.raises(ValueError, match="backend='gpu'"):
        sckit.load(path, TinyNet(), backend="gpu")
    sm = sckit.load(path, TinyNet(), backend="cpu")
    assert sm.backend == "cpu" and bit_equal(sm(x), model(x))


def test_set_decoder_refused_mid_forward() -> None:
    model = TinyNet().eval()
    x = torch.randn(1, 3, 8, 8)
    sm = sckit.compress(model, x, ras="block")
    seen = []

    def hook(_mod, _args):
        with pytest.raises(RuntimeError, match="during a forward"):
            sm._runtime.set_decoder(make_decoder(resolve_backend(
                "cpu", CPU, torch_cuda=False, kernels_usable=False), sm.ras))
        seen.append(True)

    h = sm.module.fc.register_forward_pre_hook(hook)
    assert bit_equal(sm(x), model(x)) and seen
    h.remove()
    assert isinstance(sm._runtime.decoder, CpuDecoder) and model_device(sm) == CPU
