"""WhatIfPanel without a browser."""

from __future__ import annotations

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
