"""Filter-pruned chains kept shrunk across layers (sckit.engine.chains): graph detection, exact
up to reassociation against the dense model, and the plan's round trip through save/load."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import sckit
from sckit.engine import bit_equal
from sckit.engine.chains import build_chain_kernels, find_chains
from sckit.engine.core import fast_tolerance, max_abs_diff


class Chainy(nn.Module):
    """conv -> BN -> ReLU -> conv (padded) -> BN -> F.relu6 -> conv 1x1 -> (shared) BN read twice."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1, bias=True)
        self.b1 = nn.BatchNorm2d(16)
        self.act = nn.ReLU()
        self.c2 = nn.Conv2d(16, 8, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(8)
        self.c3 = nn.Conv2d(8, 6, 1)
        self.b3 = nn.BatchNorm2d(6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.b1(self.c1(x)))
        y = F.relu6(self.b2(self.c2(y)))
        y = self.c3(y)
        return self.b3(y) + y  # c3's output has two readers: no chain from c3


def _model() -> Chainy:
    torch.manual_seed(0)
    m = Chainy()
    with torch.no_grad():
        for bn in (m.b1, m.b2, m.b3):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-1, 1)  # dropped channels become non-zero constants after BN
        m.c1.weight[[1, 4, 5, 9, 12, 15]] = 0
        m.c2.weight[[0, 3, 6]] = 0
    return m.eval()


def test_find_chains_follows_single_reader_paths() -> None:
    chains = {(c.producer, c.consumer): [k for k, _ in c.steps] for c in find_chains(_model())}
    assert chains == {("c1", "c2"): ["bn", "act"], ("c2", "c3"): ["bn", "fn"]}


def test_untraceable_model_has_no_chains() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.c(x) if x.sum() > 0 else x  # data-dependent: fx cannot trace it

    assert find_chains(Branchy()) == []


@pytest.mark.parametrize("shape", [(1, 3, 9, 9), (3, 3, 7, 5)])
def test_chain_kernels_match_dense_within_reassociation(shape: tuple[int, ...]) -> None:
    m = _model()
    x = torch.randn(*shape)
    with torch.no_grad():
        ref = m(x)
    params = dict(m.named_parameters())
    kernels, notes = build_chain_kernels(m, find_chains(m), lambda n: params[n].detach() if n in params else None)
    assert set(kernels) == {"c1", "b1", "c2", "b2", "c3"}
    assert "10/16" in notes["c1"] and "reads 10/16" in notes["c2"]
    mods = dict(m.named_modules())
    for unit, k in kernels.items():
        mods[unit].forward = k
    with torch.no_grad():
        got = m(x)
    assert got.shape == ref.shape
    assert max_abs_diff(got, ref) <= fast_tolerance(ref, 16 * 9)
    # the chain really is shrunk: c1 emits only its kept channels
    with torch.no_grad():
        assert mods["c1"](x).shape[-3] == 10


def test_compress_fast_keeps_chains_when_faster_and_reloads(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import sckit.timing as timing

    real = timing.interleaved
    calls = {"n": 0}

    def fake(fns, **kw):  # the whole-forward timing: first "before", then a faster "after"
        out = real(fns, **kw)
        if set(fns) == {"f"}:
            calls["n"] += 1
            med = 10.0 if calls["n"] % 2 else 1.0
            out = {"f": timing.Timing(med, med, med, 1)}
        return out

    monkeypatch.setattr(timing, "interleaved", fake)
    m = _model()
    x = torch.randn(2, 3, 9, 9)
    sm = sckit.compress(m, x, mode="fast")
    chained = {u for u, p in sm.plan.items() if p.get("chain")}
    assert chained == {"c1", "b1", "c2", "b2", "c3"}
    with torch.no_grad():
        out, ref = sm(x), m(x)
    assert max_abs_diff(out, ref) <= fast_tolerance(ref, 16 * 9)
    dense = sm.to_dense()
    assert all(bit_equal(a, b) for a, b in zip(dense.state_dict().values(), m.state_dict().values(), strict=True))
    assert not any("forward" in vars(mod) for mod in dense.modules())
    sckit.save(sm, tmp_path / "c.sck")
    back = sckit.load(tmp_path / "c.sck", model=Chainy())
    assert {u for u, p in back.plan.items() if p.get("chain")} == chained
    with torch.no_grad():
        assert bit_equal(back(x), out)


def test_chains_rejected_when_not_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    import sckit.timing as timing

    real = timing.interleaved

    def slower(fns, **kw):
        out = real(fns, **kw)
        return {"f": timing.Timing(1.0, 1.0, 1.0, 1)} if set(fns) == {"f"} else out

    monkeypatch.setattr(timing, "interleaved", slower)
    m = _model()
    x = torch.randn(1, 3, 9, 9)
    sm = sckit.compress(m, x, mode="fast")
    assert not any(p.get("chain") for p in sm.plan.values())
    assert "kept per-layer kernels" in sm._chain_note
    mods = dict(sm.module.named_modules())
    assert not any("forward" in vars(mods[b]) for b in ("b1", "b2"))  # no stale BN kernel
    with torch.no_grad():
        assert max_abs_diff(sm(x), m(x)) <= fast_tolerance(m(x), 16 * 9)
