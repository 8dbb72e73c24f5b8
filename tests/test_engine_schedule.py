"""engine.schedule: deep decode-ahead under a byte budget, plan divergence, the decoded-weight
cache. Every output is compared bit for bit with the source model's."""

from __future__ import annotations

import math
import threading
import time

import pytest
import torch
from torch import nn

import sckit
from sckit import zoo
from sckit.engine import bit_equal
from sckit.engine import schedule as engine_schedule
from sckit.engine.decode import CpuDecoder
from sckit.engine.schedule import Runtime, greedy_cache


def _chain(n: int = 8, width: int = 64) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(n):
        layers += [nn.Linear(width, width, bias=False), nn.ReLU()]
    return nn.Sequential(*layers).eval()


def _wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "decode-ahead worker made no progress"
        time.sleep(0.001)


def _at_rest(sm: sckit.SuccinctModel) -> dict[str, bool]:
    """Encoded parameter -> whether it is an empty placeholder now."""
    params = dict(sm.module.named_parameters())
    return {n: params[n].numel() == 0 for n in sm.ras}


def _ahead_state(rt: Runtime):  # noqa: ANN202 - the per-forward worker state, white box
    st = rt._ahead
    assert st is not None
    return st


# -- decode-ahead ------------------------------------------------------------------------------
def test_lookahead_runs_past_the_next_unit() -> None:
    model = _chain()
    x = torch.randn(3, 64)
    sm = sckit.compress(model, x, ras="block", decode_ahead=True)
    rt = sm._runtime
    assert len(rt.schedule) == 8

    def hold_first(_mod, _args) -> None:
        # while the first unit "computes", the worker must decode every later unit, not just one
        st = _ahead_state(rt)
        _wait_for(lambda: st.cursor[0] >= len(rt.schedule) and st.inflight is None)

    h = sm.module[0].register_forward_pre_hook(hold_first)
    try:
        assert bit_equal(sm(x), model(x))
    finally:
        h.remove()
    assert rt.decode_ahead_used
    assert rt.prefetch_hits >= len(rt.schedule) - 1
    assert all(_at_rest(sm).values())
    # the worker's decodes are accounted to the layers that used them
    assert set(rt.decode_ms) == set(sm.ras)
    assert bit_equal(sm(x), model(x))


def test_lookahead_respects_its_byte_budget() -> None:
    model = _chain(n=10, width=128)
    x = torch.randn(2, 128)
    sm = sckit.compress(model, x, ras="block", decode_ahead=True)
    rt = sm._runtime
    weight = rt.decoded_nbytes["0.weight"]
    assert all(b == weight for b in rt.decoded_nbytes.values())
    rt.ahead_bytes = 3 * weight
    held: list[int] = []
    inner = rt.decoder.decode

    def decode(name, r):  # noqa: ANN001, ANN202
        if threading.current_thread().name.startswith("sckit-decode-ahead"):
            st = rt._ahead
            with st.cond:  # what the worker holds decoded, plus the one it starts now
                held.append(sum(t.numel() * t.element_size() for t, _ in st.ready.values())
                            + rt.decoded_nbytes[name])
        return inner(name, r)

    rt.decoder.decode = decode

    def hold_first(_mod, _args) -> None:
        st = _ahead_state(rt)
        _wait_for(lambda: st.pending == 3 * weight and st.inflight is None)
        time.sleep(0.02)  # a worker ignoring the budget would decode a fourth by now

    h = sm.module[0].register_forward_pre_hook(hold_first)
    try:
        for _ in range(2):
            assert bit_equal(sm(x), model(x))
    finally:
        h.remove()
    assert held and max(held) <= rt.ahead_bytes
    assert rt.peak_ahead_bytes == 3 * weight
    assert all(_at_rest(sm).values())


def test_default_budget_covers_two_largest_units() -> None:
    sm = sckit.compress(_chain(n=2, width=32), torch.randn(1, 32), ras="block")
    assert sm._runtime.ahead_bytes == engine_schedule.AHEAD_MIN_BYTES
    big = nn.Sequential(nn.Linear(1500, 1500, bias=False)).eval()
    sm = sckit.compress(big, torch.randn(1, 1500), ras="block", verify=False)
    assert sm._runtime.ahead_bytes == 2 * 1500 * 1500 * 4  # above the floor


class Branchy(nn.Module):
    """Units called in an order, and a number of times, that depend on the data."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.a = nn.Linear(32, 32)
        self.b = nn.Linear(32, 32)
        self.c = nn.Linear(32, 32)
        self.head = nn.Linear(32, 32)

    def forward(self, x: torch.Tensor, order: int, repeat: int) -> torch.Tensor:
        first, second = (self.a, self.b) if order == 0 else (self.b, self.a)
        x = second(first(x))
        for _ in range(repeat):
            x = torch.tanh(self.c(x))
        return self.head(x)


@pytest.mark.parametrize("ahead", [True, False])
def test_plan_divergence_stays_bit_exact(ahead: bool) -> None:
    model = Branchy().eval()
    x = torch.randn(4, 32)
    sm = sckit.compress(model, (x, 0, 2), ras="element", decode_ahead=ahead)
    assert sm._runtime.schedule == ["a", "b", "c", "c", "head"]
    for order, repeat in [(0, 2), (1, 2), (0, 5), (1, 0), (0, 1), (1, 3), (0, 2)]:
        assert bit_equal(sm(x, order, repeat), model(x, order, repeat)), (order, repeat)
        assert all(_at_rest(sm).values())
    assert sm._runtime._ahead is None  # end() left no worker behind


def test_tied_and_repeated_units_with_lookahead() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(2)
            self.embed = nn.Embedding(50, 32)
            self.mix = nn.Linear(32, 32)
            self.head = nn.Linear(32, 50, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, idx: torch.Tensor) -> torch.Tensor:
            h = self.mix(self.mix(self.embed(idx)))  # one unit called twice in a row
            return self.head(h)

    model = Tied().eval()
    idx = torch.randint(0, 50, (2, 7))
    sm = sckit.compress(model, idx, ras="element", decode_ahead=True)
    assert "embed.weight" in sm.ras
    for _ in range(3):
        assert bit_equal(sm(idx), model(idx))
        assert all(_at_rest(sm).values())


def test_worker_failures_are_redone_in_the_forward() -> None:
    model = _chain(n=4)
    x = torch.randn(2, 64)
    sm = sckit.compress(model, x, ras="block", decode_ahead=True)
    rt = sm._runtime
    inner = rt.decoder.decode
    failed: list[str] = []

    def flaky(name, r):  # noqa: ANN001, ANN202
        if threading.current_thread().name.startswith("sckit-decode-ahead"):
            failed.append(name)
            raise RuntimeError("worker decode failed")
        return inner(name, r)

    rt.decoder.decode = flaky
    assert bit_equal(sm(x), model(x))
    assert all(_at_rest(sm).values())
    rt.decoder.decode = inner
    assert bit_equal(sm(x), model(x))


def test_forward_error_mid_lookahead_leaves_model_usable() -> None:
    model = _chain(n=6)
    x = torch.randn(2, 64)
    sm = sckit.compress(model, x, ras="block", decode_ahead=True)

    def boom(_mod, _args) -> None:
        raise ValueError("boom")

    h = sm.module[6].register_forward_pre_hook(boom)
    with pytest.raises(ValueError, match="boom"):
        sm(x)
    h.remove()
    assert sm._runtime._ahead is None and all(_at_rest(sm).values())
    assert bit_equal(sm(x), model(x))


def test_decode_ahead_auto_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _chain(n=2)
    x = torch.randn(2, 64)
    sm = sckit.compress(model, x, ras="block")
    rt = sm._runtime
    rt.decode_ahead = "auto"
    threads = torch.get_num_threads()
    for cores, used in ((threads + 1, True), (threads, False)):
        monkeypatch.setattr(engine_schedule.os, "sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert bit_equal(sm(x), model(x))
        assert rt.decode_ahead == "auto" and rt.decode_ahead_used is used
    rt.decode_ahead = False
    sm(x)
    assert rt.decode_ahead_used is False
    with pytest.raises(ValueError, match="decode_ahead='sometimes'.*'auto'"):
        rt.decode_ahead = "sometimes"


# -- decoded-weight cache ----------------------------------------------------------------------
def test_greedy_cache_by_decode_time_per_byte() -> None:
    cost = {"a": 4.0, "b": 1.0, "c": 3.0, "d": 0.1}
    size = {"a": 100, "b": 10, "c": 100, "d": 1}
    # per byte: b 0.1, d 0.1, a 0.04, c 0.03 -> b, d, then a fits 111, c does not
    assert greedy_cache(cost, size, 150) == {"a", "b", "d"}
    assert greedy_cache(cost, size, 0) == set()
    assert greedy_cache(cost, size, 10**9) == set(cost)
    assert greedy_cache(cost, size, 105) == {"b", "d"}  # a no longer fits


@pytest.mark.parametrize("ahead", [False, True])
def test_cache_zero_keeps_nothing_resident(ahead: bool) -> None:
    model = zoo.create_model("lenet5", seed=0).eval()
    x = zoo.default_input("lenet5")
    sm = sckit.compress(model, x, ras="block", decode_ahead=ahead)
    rt = sm._runtime
    for _ in range(2):
        assert bit_equal(sm(x), model(x))
        assert all(_at_rest(sm).values())
        assert rt.cached == set() and rt.cache_nbytes == 0


@pytest.mark.parametrize("ahead", [False, True])
def test_cache_keeps_the_greedy_set_within_budget(ahead: bool) -> None:
    model = zoo.create_model("small_resnet", seed=0).eval()
    x = zoo.default_input("small_resnet")
    sm = sckit.compress(model, x, decode_ahead=ahead)  # its verify forward measured every decode
    rt = sm._runtime
    total = sum(rt.decoded_nbytes.values())
    src = dict(model.named_parameters())
    for budget in (total // 4, total // 2, total, 0, total // 3):
        rt.set_cache_bytes(budget)
        want = greedy_cache(rt.decode_cost_ms, rt.decoded_nbytes, budget)
        assert rt.cached == want and 0 < len(want) <= len(rt.ras) or budget == 0
        assert rt.cache_nbytes == sum(rt.decoded_nbytes[n] for n in want) <= budget
        for _ in range(2):
            assert bit_equal(sm(x), model(x))
            assert rt.cached == want  # costs re-measured in forwards do not churn the set
            # cached weights are decoded by nobody, the decode-ahead worker included
            assert set(rt.decode_ms) == set(rt.ras) - want
            params = dict(sm.module.named_parameters())
            for name in rt.ras:
                if name in want:
                    assert bit_equal(params[name].data, src[name].data)
                else:
                    assert params[name].numel() == 0
    rt.set_cache_bytes(total)
    assert rt.cached == set(rt.ras)
    assert bit_equal(sm.to_dense().state_dict(), model.state_dict())


def test_cache_fills_after_the_first_measuring_forward() -> None:
    model = zoo.create_model("lenet5", seed=0).eval()
    x = zoo.default_input("lenet5")
    sm = sckit.compress(model, x, ras="block", verify=False)  # no forward yet: nothing measured
    rt = sm._runtime
    budget = sum(rt.decoded_nbytes.values()) // 2
    rt.set_cache_bytes(budget)
    assert rt.cached == set()
    assert bit_equal(sm(x), model(x))
    assert rt.cached == greedy_cache(rt.decode_cost_ms, rt.decoded_nbytes, budget) != set()
    assert bit_equal(sm(x), model(x))


def test_cache_budget_changed_mid_forward_applies_at_its_end() -> None:
    model = _chain(n=3)
    x = torch.randn(2, 64)
    sm = sckit.compress(model, x, ras="block")
    rt = sm._runtime
    total = sum(rt.decoded_nbytes.values())

    def grow(_mod, _args) -> None:
        rt.set_cache_bytes(total)
        assert rt.cached == set()

    h = sm.module[2].register_forward_pre_hook(grow)
    assert bit_equal(sm(x), model(x))
    h.remove()
    assert rt.cached == set(rt.ras) and rt.cache_nbytes == total
    assert bit_equal(sm(x), model(x))


def test_new_decoder_kind_drops_the_cache() -> None:
    class OtherDecoder(CpuDecoder):
        kind = "other"

    model = _chain(n=3)
    x = torch.randn(2, 64)
    sm = sckit.compress(model, x, ras="block")
    rt = sm._runtime
    rt.set_cache_bytes(10**9)
    assert rt.cached == set(rt.ras)
    sm.to("cpu")  # same device, same decoder kind: the cache stays
    assert rt.cached == set(rt.ras)
    rt.set_decoder(OtherDecoder())
    assert rt.cached == set() and all(_at_rest(sm).values()) and rt.decode_cost_ms == {}
    assert bit_equal(sm(x), model(x))  # measures again, then refills
    assert rt.cached == set(rt.ras)


@pytest.mark.parametrize("bad", [-1, 1.5, True, False, math.nan, "1000", None])
def test_bad_cache_bytes_raise(bad) -> None:  # noqa: ANN001
    sm = sckit.compress(_chain(n=1), torch.randn(1, 64), ras="block")
    with pytest.raises(ValueError, match="cache_bytes=.*int >= 0"):
        sm._runtime.set_cache_bytes(bad)
    rt = sm._runtime
    with pytest.raises(ValueError, match="cache_bytes"):
        Runtime(rt.ras, dict(sm.module.named_parameters()), rt.units, rt.schedule,
                decoder=rt.decoder, cache_bytes=bad)


def test_auto_decode_ahead_keeps_the_measured_choice(tmp_path) -> None:
    import sckit
    from sckit.engine.schedule import _spare_core

    m = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).eval()
    x = torch.randn(3, 32)
    sm = sckit.compress(m, x)  # decode_ahead="auto": measured on x when a core is spare
    info = sm.report().attrs["decode_ahead"]
    assert info["setting"] == "auto"
    if not _spare_core():
        assert info["auto_pays"] is None
        return
    assert isinstance(info["auto_pays"], bool)
    assert info["auto_pays"] == (info["on_ms"] < info["off_ms"])
    sm._runtime.auto_pays = False  # the decision is obeyed, and survives save/load
    with torch.no_grad():
        sm(x)
    assert sm._runtime.decode_ahead_used is False
    sckit.save(sm, tmp_path / "m.sck")
    assert sckit.load(tmp_path / "m.sck")._runtime.auto_pays is False
