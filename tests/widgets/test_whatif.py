"""WhatIfPanel without a browser."""

from __future__ import annotations

import math

import pytest
import torch
from sckit.widgets import WhatIfPanel
from torch import nn

from sckit.sweeps.worker import weights_hash


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))


def test_apply_measures_size_latency_and_accuracy():
    model = _model()
    x = torch.randn(4, 32)
    evaluate = lambda m: float((m(x).argmax(1) == model(x).argmax(1)).float().mean())  # noqa: E731
    p = WhatIfPanel(model, x, evaluate=evaluate, repeats=2)
    p.configure(prune_method="magnitude", amount=0.8, quant_method="kmeans", bits=4)
    p.apply()
    assert p.last_error is None, p.last_error
    df = p.results
    assert list(df.config)[0] == "original (dense)" and len(df) == 2
    assert df.size_bytes[1] < df.size_bytes[0] / 4  # 80% zeros and 4-bit codes
    assert df.accuracy[0] == 1.0 and 0.0 <= df.accuracy[1] <= 1.0
    assert (df.latency_ms > 0).all() and p.progress.value == p.progress.max
    small = df.size_bytes[1]
    p.configure(amount=0.3)
    p.apply()
    assert p.results.size_bytes[1] > small  # less pruning, bigger model: the display changes
    assert f"{p.results.size_bytes[1]:,}" in p.size_label.value


def test_baselines_rows():
    model = _model()
    p = WhatIfPanel(model, torch.randn(2, 32), repeats=1)
    p.configure(with_baselines=True, amount=0.9)
    p.apply()
    assert p.last_error is None, p.last_error
    assert list(p.results.config)[2:] == ["deep_compression", "deepsz"]


def test_silly_values_keep_the_last_results():
    p = WhatIfPanel(_model(), torch.randn(2, 32), repeats=1)
    p.configure(quant_method="none", prune_method="none")
    p.apply()
    kept = p.results
    p.configure(amount=1.0)
    assert "amount=1.0 is not valid" in p.last_error and p.amount.value < 1.0
    p.configure(bits=0)
    assert "bits=0" in p.last_error
    p.configure(colour="red")
    assert "unknown setting" in p.last_error
    p.apply()  # still a valid configuration
    assert p.results is not kept and p.last_error is None


def test_a_failing_model_shows_a_message():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            raise RuntimeError("boom")

    p = WhatIfPanel(Broken(), torch.randn(1, 4), repeats=1)
    p.apply()
    assert "boom" in p.last_error and p.results is None


def test_mode_control_sets_the_compressed_models_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).eval()
    x = torch.randn(32, 64)
    p = WhatIfPanel(model, x, repeats=2)
    assert p.mode.value == "exact" and list(p.mode.options) == ["exact", "fast"]
    assert p.mode in p.children  # shown in the panel
    p.configure(prune_method="magnitude", amount=0.9, quant_method="none")
    p.apply()
    assert p.last_error is None, p.last_error
    assert p.compressed.mode == "exact" and p.results.config[1].endswith("(exact)")
    exact_bytes = p.results.size_bytes[1]
    assert p.results.resident_bytes[1] == exact_bytes
    p.configure(mode="fast")
    assert p.mode.value == "fast" and p.last_error is None
    p.apply()
    assert p.last_error is None, p.last_error
    df = p.results
    assert p.compressed.mode == "fast" and df.config[1].endswith("(fast)")
    assert df.size_bytes[1] == exact_bytes  # the same weights, bit for bit
    assert df.resident_bytes[1] >= exact_bytes and df.latency_ms[1] > 0
    assert weights_hash(p.compressed.to_dense()) == weights_hash(p._configured())


def test_bad_mode_keeps_the_last_good_state():
    p = WhatIfPanel(_model(), torch.randn(2, 32), repeats=1)
    p.configure(quant_method="none", prune_method="none", mode="fast")
    p.apply()
    kept = p.results
    for bad in ("quick", "Fast", None, 1):
        p.configure(mode=bad)
        assert f"mode={bad!r} is not valid" in p.last_error and "'exact', 'fast'" in p.last_error
        assert p.mode.value == "fast" and p.results is kept
    # one bad setting among good ones changes nothing
    p.configure(mode="exact", amount=2.0)
    assert "amount=2.0" in p.last_error and p.mode.value == "fast"
    p.apply()
    assert p.last_error is None and p.compressed.mode == "fast" and p.results is not kept


def test_nan_and_out_of_range_controls_are_refused_and_reverted():
    model = _model()
    x = torch.randn(2, 32)
    p = WhatIfPanel(model, x, repeats=1)
    p.configure(prune_method="magnitude", amount=0.6, quant_method="none")
    p.apply()
    kept = p.results
    p.amount.value = math.nan  # set from code or a front end behind configure's back
    assert "amount=nan is not valid" in p.last_error and p.amount.value == 0.6
    for bad in (math.nan, math.inf, -math.inf, True, "0.5", 1.0, 1.5, -0.1):
        p.configure(amount=bad)
        assert f"amount={bad!r} is not valid" in p.last_error and p.amount.value == 0.6
    for bad in (True, False, 4.0, 0, 17, math.nan):
        p.configure(bits=bad)
        assert f"bits={bad!r} is not valid" in p.last_error and p.bits.value == 5
    p.configure(with_baselines=1)
    assert "with_baselines=1" in p.last_error and p.with_baselines.value is False
    assert p.results is kept
    p.apply()
    assert p.last_error is None and p.results.config[1].startswith("magnitude 0.60")
    with pytest.raises(ValueError, match="repeats"):
        WhatIfPanel(model, x, repeats=True)
    with pytest.raises(ValueError, match="threads"):
        WhatIfPanel(model, x, threads=0)


@pytest.mark.parametrize("result", ["0.9", math.nan, math.inf, None, True, [0.5]])
def test_a_bad_evaluate_result_keeps_the_last_good_state(result):
    model = _model()
    x = torch.randn(2, 32)
    answer = {"value": 0.5}
    p = WhatIfPanel(model, x, evaluate=lambda m: answer["value"], repeats=1)
    p.configure(quant_method="none")
    p.apply()
    kept, kept_html = p.results, p.view.value
    assert p.last_error is None and list(p.results.accuracy) == [0.5, 0.5]
    answer["value"] = result
    p.apply()
    assert "evaluate(model) must return a" in p.last_error
    assert p.results is kept and p.view.value == kept_html
    answer["value"] = 0.25  # a later action works again
    p.configure(amount=0.7)
    p.apply()
    assert p.last_error is None and p.results is not kept


def test_latency_spread_and_threads_are_shown():
    p = WhatIfPanel(_model(), torch.randn(2, 32), repeats=3)
    p.configure(quant_method="none")
    p.apply()
    df = p.results
    assert (df.latency_min_ms <= df.latency_q1_ms).all()
    assert (df.latency_q1_ms <= df.latency_ms).all() and (df.latency_ms <= df.latency_q3_ms).all()
    assert {t.threads for t in p.timings.values()} == {1} and {t.runs for t in p.timings.values()} == {3}
    assert "median [IQR]" in p.view.value and "1 torch thread" in p.view.value
    assert torch.get_num_threads() == _THREADS_BEFORE  # restored after Apply


_THREADS_BEFORE = torch.get_num_threads()


def test_panel_and_sweep_agree_on_a_zoo_model():
    """The same configuration timed by the panel and by sckit.sweep (both sckit.timing).

    The panel once showed 179-236 ms where the sweep showed 2-12 ms: it ran torch's default
    thread count, and on a loaded 2-core machine a 2-thread batch-1 forward waits for a core
    (36-400 ms against 0.2-1 ms on 1 thread, benchmarks/bench_panel_vs_sweep.py). Stated
    agreement: the same thread count; best runs within 3x; the dense medians within 10x. (The
    compressed model's median is left out: on a loaded machine its decode-ahead thread waits
    for a core in some runs and not others, 1.5 against 7-14 ms, in the sweep as in the panel.)
    """
    import sckit

    model = sckit.zoo.create_model("lenet5").eval()
    x = sckit.zoo.default_input("lenet5", 1)
    grid = {"prune": [("magnitude", 0.8)], "quantize": [("kmeans", 4)]}
    df = sckit.sweep(model, grid, example_input=x, repeats=15, progress=False)
    p = WhatIfPanel(model, x, repeats=15)
    p.configure(prune_method="magnitude", amount=0.8, quant_method="kmeans", bits=4)
    p.apply()
    assert p.last_error is None, p.last_error
    assert int(df.threads.iloc[1]) == p.timings["compressed"].threads == 1
    assert df.weights_hash.iloc[1] == weights_hash(p._configured())  # the same configuration
    for i, key in enumerate(("original (dense)", "compressed")):
        panel, sweep_best = p.timings[key], float(df.latency_min_ms.iloc[i])
        assert 1 / 3 <= panel.low / sweep_best <= 3, (key, panel.describe(), sweep_best)
    dense = p.timings["original (dense)"]
    assert 1 / 10 <= dense.median / float(df.latency_ms.iloc[0]) <= 10, (dense.describe(), df.latency_ms[0])
