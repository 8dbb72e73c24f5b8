"""WhatIfPanel: pick pruning, quantization, a RAS policy and the engine's mode, then measure
what they buy."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W

import sckit
from sckit.sweeps import configured_model
from sckit.sweeps.grid import MODES as GRID_MODES

from ._base import Panel, safe

__all__ = ["WhatIfPanel"]

PRUNE_METHODS = ["none", "magnitude", "global_magnitude", "filter_l1", "layer"]
QUANT_METHODS = ["none", "uniform", "kmeans"]
RAS_POLICIES = ["auto", "block", "element"]
MODES = list(GRID_MODES)  # sckit.engine.MODES: "exact", "fast"
BASELINES = ("deep_compression", "deepsz")


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up: first call pays allocation and numba dispatch
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


class WhatIfPanel(Panel):
    """Pruning method/amount, quantization method/bits, RAS policy and mode; **Apply** builds the
    configured model, compresses it losslessly with sckit and measures size, latency and (with
    ``evaluate``) accuracy beside the original and, optionally, Deep Compression and DeepSZ.

    ``mode`` is ``sckit.compress``'s: "exact" (outputs bit-identical to the configured model) or
    "fast" (the same weights, each Linear/Conv2d in the layout measured fastest on
    ``example_input``: where pruning buys latency). The compressed row's latency and accuracy
    are that mode's; ``resident_bytes`` adds what fast mode's kernels hold besides the RAS.

    ``apply()`` is a plain method (tests call it); ``results`` is the last table (a DataFrame).
    Settings are checked before any work starts, so a bad value leaves the last results intact.
    """

    def __init__(self, model: Any, example_input: Any, *,
                 evaluate: Callable[[Any], float] | None = None, repeats: int = 5) -> None:
        import torch

        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model, self.example_input, self.evaluate = model, example_input, evaluate
        self.repeats = int(repeats)
        self.prune_method = W.Dropdown(options=PRUNE_METHODS, value="magnitude", description="prune")
        self.amount = W.FloatSlider(value=0.5, min=0.0, max=0.99, step=0.01, description="amount",
                                    readout_format=".2f", continuous_update=False)
        self.quant_method = W.Dropdown(options=QUANT_METHODS, value="kmeans", description="quantize")
        self.bits = W.IntSlider(value=5, min=1, max=16, description="bits", continuous_update=False)
        self.ras = W.Dropdown(options=RAS_POLICIES, value="auto", description="RAS")
        self.mode = W.ToggleButtons(options=MODES, value="exact", description="mode",
                                    tooltips=["outputs bit-identical to the configured model",
                                              "same weights; each layer in its fastest layout"])
        self.with_baselines = W.Checkbox(value=False, description="compare with Deep Compression / DeepSZ")
        self.apply_button = W.Button(description="Apply", icon="play", button_style="primary")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="300px"))
        self.view = W.HTML()
        self.results = None
        self.size_label = W.HTML()
        super().__init__([
            W.HBox([self.prune_method, self.amount]),
            W.HBox([self.quant_method, self.bits]),
            W.HBox([self.ras, self.with_baselines]),
            self.mode,
            W.HBox([self.apply_button, self.progress]),
            self.size_label,
            self.view,
        ])
        self.apply_button.on_click(lambda _b: self.apply())
        self._dense_ms: float | None = None
        self._dense_acc: float | None = None

    # -- settings --------------------------------------------------------------------------
    @safe
    def configure(self, **settings: Any) -> None:
        """Set several controls at once, validating each (``amount=1.0`` -> a message)."""
        checks = {
            "prune_method": lambda v: v in PRUNE_METHODS,
            "amount": lambda v: isinstance(v, int | float) and 0.0 <= v < 1.0,
            "quant_method": lambda v: v in QUANT_METHODS,
            "bits": lambda v: isinstance(v, int) and 1 <= v <= 16,
            "ras": lambda v: v in RAS_POLICIES,
            "mode": lambda v: isinstance(v, str) and v in MODES,
            "with_baselines": lambda v: isinstance(v, bool),
        }
        for name, value in settings.items():
            if name not in checks:
                raise ValueError(f"unknown setting {name!r}; known: {sorted(checks)}")
            if not checks[name](value):
                hint = {"amount": "a fraction in [0, 1)", "bits": "an integer in 1..16"}.get(
                    name, f"one of {getattr(self, name).options}" if hasattr(getattr(self, name), "options") else "")
                raise ValueError(f"{name}={value!r} is not valid: expected {hint}")
        for name, value in settings.items():
            getattr(self, name).value = value
        self.info("settings updated; press Apply to measure")

    def _configured(self):
        prune = self.prune_method.value != "none" and self.amount.value > 0
        return configured_model(self.model, {
            "prune_method": self.prune_method.value if prune else None,
            "prune_amount": self.amount.value,
            "quantize_method": None if self.quant_method.value == "none" else self.quant_method.value,
            "quantize_bits": self.bits.value,
        })

    # -- the measurement ---------------------------------------------------------------------
    @safe
    def apply(self) -> None:
        import pandas as pd
        import torch

        steps = 3 + (len(BASELINES) if self.with_baselines.value else 0)
        self.progress.max, self.progress.value = steps, 0
        self.info("applying transforms ...")
        with torch.no_grad():
            if self._dense_ms is None:
                self.model.eval()
                self._dense_ms = _median_ms(lambda: self.model(self.example_input), self.repeats)
                self._dense_acc = self.evaluate(self.model) if self.evaluate else math.nan
            configured = self._configured()
            self.progress.value += 1
            self.info("compressing ...")
            sm = sckit.compress(configured, self.example_input, ras=self.ras.value, mode=self.mode.value)
            self.progress.value += 1
            self.info("measuring latency and accuracy ...")
            ms = _median_ms(lambda: sm(self.example_input), self.repeats)
            acc = self.evaluate(sm) if self.evaluate else math.nan
            self.progress.value += 1
        dense_bytes = sum(t.numel() * t.element_size() for t in self.model.state_dict().values())
        resident = int(getattr(sm, "resident_nbytes", sm.nbytes))
        label = f"{self.prune_method.value} {self.amount.value:.2f} + {self.quant_method.value}"
        label += f" {self.bits.value}b + RAS {self.ras.value}" if self.quant_method.value != "none" \
            else f" + RAS {self.ras.value}"
        label += f" ({self.mode.value})"
        rows = [
            {"config": "original (dense)", "size_bytes": dense_bytes, "resident_bytes": dense_bytes,
             "latency_ms": self._dense_ms, "accuracy": self._dense_acc},
            {"config": label, "size_bytes": int(sm.nbytes), "resident_bytes": resident,
             "latency_ms": ms, "accuracy": acc},
        ]
        if self.with_baselines.value:
            for name in BASELINES:
                self.info(f"running {name} ...")
                fn = getattr(sckit.baselines, name)
                kw: dict[str, Any] = {"prune_amount": self.amount.value}
                if name == "deepsz":  # without an evaluator DeepSZ needs a fixed error bound
                    if self.evaluate:
                        kw["eval_fn"] = self.evaluate
                    else:
                        kw["error_bound"] = 1e-3
                r = fn(self.model, **kw)
                rows.append({"config": name, "size_bytes": int(r.size_bytes),
                             "resident_bytes": math.nan, "latency_ms": math.nan,
                             "accuracy": self.evaluate(r.model) if self.evaluate else math.nan})
                self.progress.value += 1
        df = pd.DataFrame(rows)
        df["ratio"] = dense_bytes / df.size_bytes
        self.results = df
        self.compressed = sm
        self.size_label.value = (f"<b>compressed size: {sm.nbytes:,} bytes "
                                 f"({dense_bytes / sm.nbytes:.2f}x smaller)</b>")
        if resident != sm.nbytes:
            self.size_label.value += f" - {resident:,} bytes resident in {self.mode.value} mode"
        self.view.value = df.to_html(index=False, float_format=lambda x: f"{x:,.3f}", na_rep="-")
        self.info("done")
