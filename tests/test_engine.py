"""sckit.compress / SuccinctModel: bit-exact outputs, layer reports, decode-ahead, to_dense."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import sckit
from sckit import zoo
from sckit.engine import SuccinctModel, bit_equal

# zoo entries whose compress (inspect + encode + verify) costs more than a few seconds here
HEAVY = {"resnet50", "resnet101", "vgg16", "deit_base", "alexnet", "deit_tiny", "mobilenet_v2"}
# convolutional ImageNet models with adaptive pooling run at a reduced resolution to stay fast
SMALL_RES = {"resnet18", "resnet50", "resnet101", "mobilenet_v2", "vgg16", "alexnet"}


def _zoo_input(name: str) -> torch.Tensor:
    if name in SMALL_RES:
        return torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    return zoo.default_input(name)


def _state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(bit_equal(a[k], b[k]) for k in a)


class TinyNet(nn.Module):
    """Conv + BatchNorm + Linear: the common layer kinds, with buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, padding=1)
        self.bn = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(F.relu(self.bn(self.conv(x))), 4)
        return self.fc(x.flatten(1))


class Odd(nn.Module):
    """Layers no whitelist would know: raw Parameters used through F.*, an Embedding, tied weights
    (the head reads the embedding's weight), a parameter of a dtype RAS does not take, and a
    parameter the forward never touches."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 64)
        self.w = nn.Parameter(torch.randn(64, 64))
        self.scale = nn.Parameter(torch.randn(64, dtype=torch.complex64))
        self.unused = nn.Parameter(torch.randn(64, 64))
        self.head = nn.Linear(64, 100, bias=False)
        self.head.weight = self.embed.weight  # tied
        self.mha = nn.MultiheadAttention(64, 2, batch_first=True)  # reads out_proj.weight itself

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        h = self.embed(idx)
        h = F.linear(h, self.w) * self.scale.real
        h = self.mha(h, h, h, need_weights=False)[0]
        return self.head(h)


def test_tiny_net_bit_exact_and_report() -> None:
    model = TinyNet().eval()
    x = torch.randn(2, 3, 8, 8)
    ref = model(x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sm = sckit.compress(model, x, ras="block")
    assert isinstance(sm, SuccinctModel)
    assert bit_equal(sm(x), ref)
    assert _state_equal(model.state_dict(), before)  # source untouched
    rep = sm.report()
    for col in ("layer", "type", "ras", "dense_bytes", "bytes", "ratio", "decode_ms", "compute_ms", "status", "reason"):
        assert col in rep.columns
    assert set(rep["layer"]) == {"conv", "bn", "fc"}
    conv = rep.set_index("layer").loc["conv"]
    assert conv["dense_bytes"] == (64 * 3 * 9 + 64) * 4
    # RAS has a fixed overhead of some hundred bytes: tiny tensors (biases) stay dense, listed
    assert conv["status"] == "partial" and "bias: RAS not smaller" in conv["reason"]
    assert conv["decode_ms"] >= 0 and conv["compute_ms"] > 0
    assert rep.set_index("layer").loc["bn", "compute_ms"] > 0  # dense layers are timed too
    # encoded weights are not resident: the parameters are empty placeholders between forwards
    assert sm.module.conv.weight.numel() == 0
    assert "conv.weight" in sm.ras
    dense_params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    assert sm.nbytes == sum(rep["bytes"]) + buffers
    assert sm.nbytes < dense_params + buffers or not sm.ras


def test_training_mode_source_is_not_mutated() -> None:
    model = TinyNet().train()
    x = torch.randn(4, 3, 8, 8)
    stats = model.bn.running_mean.clone()
    sm = sckit.compress(model, x, ras="element")
    assert bit_equal(model.bn.running_mean, stats)
    assert bit_equal(sm.module.bn.running_mean, stats)


def test_odd_modules_encoded_or_listed() -> None:
    torch.manual_seed(0)
    model = Odd().eval()
    idx = torch.randint(0, 100, (2, 7))
    with torch.no_grad():  # SuccinctModel runs under no_grad, where MHA takes its fused path
        ref = model(idx)
    sm = sckit.compress(model, idx, ras="block")
    assert bit_equal(sm(idx), ref)
    rep = sm.report().set_index("layer")
    # the raw Parameter used through F.linear and the embedding are encoded
    assert "w" in sm.ras
    assert "embed.weight" in sm.ras
    # the tied head row says so and costs no bytes
    assert rep.loc["head", "status"] == "tied" and rep.loc["head", "bytes"] == 0
    assert "tied to embed.weight" in rep.loc["head", "reason"]
    # the unused parameter and the complex one (RAS has no complex dtype) stay dense, listed
    assert "unused" not in sm.ras and "scale" not in sm.ras
    assert "unused: not used in the traced forward" in rep.loc["", "reason"]
    assert "scale: cannot encode" in rep.loc["", "reason"]
    assert rep.loc["", "status"] == "partial"
    assert "mha.in_proj_weight" in sm.ras and "mha.out_proj.weight" in sm.ras
    # MultiheadAttention reads out_proj.weight without calling out_proj: still exact (above)
    d = sm.to_dense()
    assert _state_equal(d.state_dict(), model.state_dict())
    assert d.head.weight is d.embed.weight  # tying survives to_dense


def test_ras_override_dense_and_bad_arguments() -> None:
    model = TinyNet().eval()
    x = torch.randn(1, 3, 8, 8)
    sm = sckit.compress(model, x, ras={"*": "block", "fc": "dense"})
    assert "fc.weight" not in sm.ras and "fc.bias" not in sm.ras
    rep = sm.report().set_index("layer")
    assert rep.loc["fc", "status"] == "dense"
    assert "ras override" in rep.loc["fc", "reason"]
    with pytest.raises(ValueError, match="ras="):
        sckit.compress(model, x, ras="zip")
    with pytest.raises(ValueError, match="expected 'element'"):
        sckit.compress(model, x, ras={"fc": "zip"})
    with pytest.raises(ValueError, match="backend"):
        sckit.compress(model, x, backend="tpu")
    with pytest.raises(TypeError):
        sckit.compress("not a model", x)  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            sckit.compress(model, x, backend="cuda")


def test_decode_ahead_switch_same_output_and_weights_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    from sckit.engine import schedule as engine_schedule

    model = TinyNet().eval()
    x = torch.randn(2, 3, 8, 8)
    ref = model(x)
    # tiny chunks: large layers are range-decoded (decode_rows) chunk by chunk; exact either way
    monkeypatch.setattr(engine_schedule, "CHUNK_WEIGHTS", 100)
    for kind in ("block", "element"):
        sm = sckit.compress(model, x, ras=kind, decode_ahead=True)
        for flag in (True, False, True):
            sm.decode_ahead = flag
            assert bit_equal(sm(x), ref)
            assert all(p.numel() == 0 for n, p in sm.module.named_parameters() if n in sm.ras)


def test_forward_error_frees_weights() -> None:
    model = TinyNet().eval()
    sm = sckit.compress(model, torch.randn(1, 3, 8, 8), ras="block")
    with pytest.raises(RuntimeError):
        sm(torch.randn(1, 5, 8, 8))  # wrong channel count fails inside conv
    assert all(p.numel() == 0 for n, p in sm.module.named_parameters() if n in sm.ras)
    assert bit_equal(sm(torch.ones(1, 3, 8, 8)), model(torch.ones(1, 3, 8, 8)))


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in zoo.list_models()],
)
def test_zoo_bit_exact(name: str) -> None:
    model = zoo.create_model(name)
    x = _zoo_input(name)
    ref = model(x)
    sm = sckit.compress(model, x)  # ras="auto": per-layer FPr choice of sckit.inspect
    out = sm(x)
    assert bit_equal(out, ref)
    rep = sm.report()
    assert (rep["status"] != "dense").any()
    assert set(rep["ras"]) <= {"element", "block", "element-sparse", "block-sparse", "dense"}
    assert _state_equal(sm.to_dense().state_dict(), model.state_dict())
