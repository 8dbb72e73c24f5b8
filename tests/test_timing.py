"""sckit.timing: the one timing of sweeps, the WhatIfPanel, the report and the benchmarks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sckit.timing import Timing, interleaved, time_forward, torch_threads


def test_runs_interleave_after_warmup_and_summaries_hold():
    calls: list[str] = []
    t = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                    repeats=4, warmup=2)
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 4  # warm-up each, then a, b, a, b, ...
    for r in t.values():
        assert r.runs == 4 and r.low <= r.q1 <= r.median <= r.q3 <= r.high and r.iqr >= 0


def test_quartiles_of_known_times():
    t = Timing.of([5.0, 1.0, 3.0, 2.0, 4.0], threads=1)
    assert (t.median, t.q1, t.q3, t.low, t.high, t.runs) == (3.0, 2.0, 4.0, 1.0, 5.0, 5)
    assert "3.000 ms (IQR 2.000-4.000, range 1.000-5.000; 5 runs, 1 thread)" == t.describe()
    one = Timing(2.0, 2.0, 2.0, 1)  # positional form (median, low, high, runs) still works
    assert one.q1 == one.q3 == 2.0 and one.threads is None


def test_threads_are_set_recorded_and_restored():
    before = torch.get_num_threads()
    seen = []
    t = interleaved({"f": lambda: seen.append(torch.get_num_threads())}, repeats=2, threads=1)
    assert set(seen) == {1} and t["f"].threads == 1 and torch.get_num_threads() == before
    assert interleaved({"f": lambda: None}, repeats=1)["f"].threads == before
    with torch_threads(None) as n:
        assert n == before


@pytest.mark.parametrize("kw", [{"repeats": 0}, {"repeats": True}, {"warmup": -1}, {"threads": 0},
                                {"threads": True}, {"repeats": 2.5}])
def test_bad_arguments(kw):
    with pytest.raises(ValueError):
        interleaved({"f": lambda: None}, **kw)


def test_time_forward_runs_models_without_autograd():
    grads = []

    class Probe(nn.Module):
        def forward(self, x, *, scale=1.0):
            grads.append(torch.is_grad_enabled() or not torch.is_inference_mode_enabled())
            return x * scale

    x = torch.ones(2)
    t = time_forward({"p": Probe()}, x, repeats=3, warmup=1)
    assert t["p"].runs == 3 and t["p"].threads == 1 and not any(grads)
    t = time_forward({"p": Probe()}, {"x": x, "scale": 2.0}, repeats=1, warmup=0)  # kwargs input
    assert t["p"].runs == 1 and math.isfinite(t["p"].median)
    with pytest.raises(ValueError, match="empty"):
        time_forward({}, x)


def test_time_forward_passes_a_packed_sequence_as_one_argument():
    from torch.nn.utils.rnn import pack_padded_sequence

    class RNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 4)

        def forward(self, x):
            return self.rnn(x)[0]

    x = pack_padded_sequence(torch.randn(5, 2, 3), [5, 3])  # a NamedTuple, but one input
    assert time_forward({"rnn": RNN()}, x, repeats=2, warmup=1)["rnn"].runs == 2
