"""WhatIfPanel: pick pruning, quantization, a RAS policy and the engine's mode, then measure
what they buy."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

import ipywidgets as W

import sckit
from sckit.sweeps import configured_model
from sckit.sweeps.grid import MODES as GRID_MODES
from sckit.sweeps.worker import score_value
from sckit.timing import Timing, time_forward, torch_threads

from ._base import Panel, number_check, safe

__all__ = ["WhatIfPanel"]

PRUNE_METHODS = ["none", "magnitude", "global_magnitude", "filter_l1", "layer"]
QUANT_METHODS = ["none", "uniform", "kmeans"]
RAS_POLICIES = ["auto", "block", "element"]
MODES = list(GRID_MODES)  # sckit.engine.MODES: "exact", "fast"
BASELINES = ("deep_compression", "deepsz")


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "amount": number_check("amount", low=0.0, high=1.0, high_open=True),
    "bits": number_check("bits", low=1, high=16, integer=True),
}


def _latency_cell(t: Timing | None) -> str:
    return "-" if t is None else f"{t.median:,.3f} [{t.q1:,.3f}-{t.q3:,.3f}]"


class WhatIfPanel(Panel):
    """Pruning method/amount, quantization method/bits, RAS policy and mode; **Apply** builds the
    configured model, compresses it losslessly with sckit and measures size, latency and (with
    ``evaluate``) accuracy beside the original and, optionally, Deep Compression and DeepSZ.

    ``mode`` is ``sckit.compress``'s: "exact" (outputs bit-identical to the configured model) or
    "fast" (the same weights, each Linear/Conv2d in the layout measured fastest on
    ``example_input``: where pruning buys latency). The compressed row's latency and accuracy
    are that mode's; ``resident_bytes`` adds what fast mode's kernels hold besides the RAS.

    Latency is :func:`sckit.timing.time_forward`, as in ``sckit.sweep``: every model of the
    table runs interleaved in each Apply (``repeats`` rounds after a warm-up), with ``threads``
    torch threads (1 by default, the sweep's default, so the two agree); the table shows the
    median and the interquartile range, ``results`` has them as ``latency_ms``,
    ``latency_q1_ms`` and ``latency_q3_ms``, with the best run as ``latency_min_ms``.

    ``apply()`` is a plain method (tests call it); ``results`` is the last table (a DataFrame).
    Every control and every ``evaluate`` result is checked: a bad value (NaN, out of range,
    ``bits=True``, an evaluate that returns a string) is reported in the panel and the last
    good settings and results stay.
    """

    def __init__(self, model: Any, example_input: Any, *,
                 evaluate: Callable[[Any], float] | None = None, repeats: int = 5,
                 threads: int | None = 1) -> None:
        import torch

        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if evaluate is not None and not callable(evaluate):
            raise TypeError(f"evaluate must be callable, got {type(evaluate).__name__}")
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be an int >= 1 or None, got {threads!r}")
        self.model, self.example_input, self.evaluate = model, example_input, evaluate
        self.repeats, self.threads = repeats, threads
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
        self.timings: dict[str, Timing] = {}
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
        for name, check in _CHECKS.items():
            self.watch(getattr(self, name), check)
        self.apply_button.on_click(lambda _b: self.apply())
        self._dense_acc: float | None = None

    # -- settings --------------------------------------------------------------------------
    def _check(self, name: str, value: Any) -> None:
        if name in _CHECKS:
            message = _CHECKS[name](value)
            if message is not None:
                raise ValueError(message)
            return
        control = getattr(self, name)
        options = getattr(control, "options", None)
        if options is not None:
            ok = isinstance(value, str) and value in options
            expected = f"one of {tuple(options)}"
        else:  # the checkbox
            ok, expected = isinstance(value, bool), "True or False"
        if not ok:
            raise ValueError(f"{name}={value!r} is not valid: expected {expected}")

    @safe
    def configure(self, **settings: Any) -> None:
        """Set several controls at once, validating each (``amount=1.0`` -> a message); one bad
        value changes nothing."""
        known = ("prune_method", "amount", "quant_method", "bits", "ras", "mode", "with_baselines")
        for name, value in settings.items():
            if name not in known:
                raise ValueError(f"unknown setting {name!r}; known: {sorted(known)}")
            self._check(name, value)
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

    def _score(self, model: Any) -> float:
        if self.evaluate is None:
            return math.nan
        return score_value(self.evaluate(model))

    # -- the measurement ---------------------------------------------------------------------
    @safe
    def apply(self) -> None:
        """Measure the current settings. Nothing visible changes until every step succeeded."""
        import pandas as pd

        for name in ("prune_method", "amount", "quant_method", "bits", "ras", "mode", "with_baselines"):
            self._check(name, getattr(self, name).value)  # controls set behind the panel's back
        steps = 3 + (len(BASELINES) if self.with_baselines.value else 0)
        self.progress.max, self.progress.value = steps, 0
        self.info("applying transforms ...")
        self.model.eval()
        # compress (fast mode calibrates its layouts) and time with the same thread count
        with torch_threads(self.threads):
            dense_acc = self._dense_acc if self._dense_acc is not None else self._score(self.model)
            configured = self._configured()
            self.progress.value += 1
            self.info("compressing ...")
            sm = sckit.compress(configured, self.example_input, ras=self.ras.value, mode=self.mode.value)
            self.progress.value += 1
            acc = self._score(sm)
            baselines = []
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
                    baselines.append((name, r, self._score(r.model)))
                    self.progress.value += 1
            self.info("measuring latency (all models interleaved) ...")
            models = {"original (dense)": self.model, "compressed": sm,
                      **{name: r.model.eval() for name, r, _ in baselines}}
            timings = time_forward(models, self.example_input, repeats=self.repeats, warmup=1,
                                   threads=None)
            self.progress.value += 1
        self._dense_acc = dense_acc
        dense_bytes = sum(t.numel() * t.element_size() for t in self.model.state_dict().values())
        resident = int(getattr(sm, "resident_nbytes", sm.nbytes))
        label = f"{self.prune_method.value} {self.amount.value:.2f} + {self.quant_method.value}"
        label += f" {self.bits.value}b + RAS {self.ras.value}" if self.quant_method.value != "none" \
            else f" + RAS {self.ras.value}"
        label += f" ({self.mode.value})"
        rows = [
            ("original (dense)", "original (dense)", dense_bytes, dense_bytes, dense_acc),
            ("compressed", label, int(sm.nbytes), resident, acc),
            *[(name, name, int(r.size_bytes), math.nan, a) for name, r, a in baselines],
        ]
        df = pd.DataFrame([
            {"config": shown, "size_bytes": size, "resident_bytes": res,
             "latency_ms": timings[key].median, "latency_q1_ms": timings[key].q1,
             "latency_q3_ms": timings[key].q3, "latency_min_ms": timings[key].low, "accuracy": a}
            for key, shown, size, res, a in rows])
        df["ratio"] = dense_bytes / df.size_bytes
        self.results, self.compressed, self.timings = df, sm, timings
        self.size_label.value = (f"<b>compressed size: {sm.nbytes:,} bytes "
                                 f"({dense_bytes / sm.nbytes:.2f}x smaller)</b>")
        if resident != sm.nbytes:
            self.size_label.value += f" - {resident:,} bytes resident in {self.mode.value} mode"
        self.view.value = self._table_html(df, [timings[key] for key, *_ in rows])
        self.info("done")

    def _table_html(self, df: Any, timings: list[Timing]) -> str:
        shown = df.drop(columns=["latency_ms", "latency_q1_ms", "latency_q3_ms", "latency_min_ms"])
        shown.insert(3, "latency ms: median [IQR]", [_latency_cell(t) for t in timings])
        t = timings[0]
        th = "torch's thread setting" if t.threads is None else \
            f"{t.threads} torch thread{'s' if t.threads != 1 else ''}"
        note = (f"latency: median of {t.runs} interleaved run{'s' if t.runs != 1 else ''} per model "
                f"after a warm-up call, {th}; [IQR] = interquartile range (sckit.timing)")
        return (shown.to_html(index=False, float_format=lambda x: f"{x:,.3f}", na_rep="-")
                + f"<div style='color:#555;font-size:90%'>{html.escape(note)}</div>")
