"""The one wall-clock timing of sckit: warm-up, interleaved runs, medians with their spread.

Everything that reports a latency (``sckit.sweep``, the WhatIfPanel, ``sckit report``, the
benchmarks, the engine's calibration) times through :func:`interleaved` (any callables) or
:func:`time_forward` (model forwards), so their figures agree for the same model and input:

* warm-up calls first: the first call pays numba dispatch, allocator growth and caches;
* interleaved rounds (a, b, a, b, ...) instead of (a, a, ..., b, b, ...): drift on a shared
  machine (another process waking up, frequency changes) hits every candidate alike;
* the median, with the quartiles and the extremes as the spread: one descheduled run
  neither drags the figure nor hides;
* torch's intra-op thread count is set for the runs and recorded. It matters more than
  anything else on a busy machine: on 2 cores under load, LeNet-5's batch-1 forward took
  36-63 ms with torch's default 2 threads against 0.2-0.9 ms with 1 thread (the intra-op pool
  waits for a core another process holds). Model latencies therefore default to 1 thread.
"""

from __future__ import annotations

import math
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["Timing", "cpu_model", "interleaved", "time_forward", "torch_threads"]


@dataclass(frozen=True)
class Timing:
    """Milliseconds of one candidate over its timed runs (warm-up excluded).

    ``q1``/``q3`` are the quartiles (the median's spread; both equal the median when not
    given), ``low``/``high`` the extremes, ``threads`` torch's intra-op thread count during
    the runs (None when torch was not in use).
    """

    median: float
    low: float
    high: float
    runs: int
    q1: float = math.nan
    q3: float = math.nan
    threads: int | None = None

    def __post_init__(self) -> None:
        if math.isnan(self.q1):
            object.__setattr__(self, "q1", self.median)
        if math.isnan(self.q3):
            object.__setattr__(self, "q3", self.median)

    @property
    def iqr(self) -> float:
        """Interquartile range in ms (q3 - q1)."""
        return self.q3 - self.q1

    @classmethod
    def of(cls, times_ms: list[float], threads: int | None = None) -> Timing:
        """Summarise raw run times (ms)."""
        if not times_ms:
            raise ValueError("no runs to summarise")
        ts = sorted(times_ms)
        q1, _, q3 = statistics.quantiles(ts, n=4, method="inclusive") if len(ts) > 1 else (ts[0],) * 3
        return cls(statistics.median(ts), ts[0], ts[-1], len(ts), q1, q3, threads)

    def describe(self) -> str:
        """``"0.712 ms (IQR 0.701-0.740, range 0.690-0.802; 9 runs, 1 thread)"``."""
        th = "" if self.threads is None else f", {self.threads} thread{'s' if self.threads != 1 else ''}"
        return (f"{self.median:.3f} ms (IQR {self.q1:.3f}-{self.q3:.3f}, range {self.low:.3f}-"
                f"{self.high:.3f}; {self.runs} run{'s' if self.runs != 1 else ''}{th})")


def _current_threads() -> int | None:
    torch = sys.modules.get("torch")  # never import torch just to ask
    return int(torch.get_num_threads()) if torch is not None else None


@contextmanager
def torch_threads(threads: int | None) -> Iterator[int | None]:
    """Run the block with ``threads`` torch intra-op threads (None: leave the setting alone),
    restoring the previous count afterwards; yields the count in effect."""
    if threads is None:
        yield _current_threads()
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1 or None, got {threads!r}")
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(old)


def interleaved(fns: Mapping[str, Callable[[], object]], *, repeats: int = 5, warmup: int = 1,
                budget_s: float | None = None, threads: int | None = None) -> dict[str, Timing]:
    """Time every function in ``fns`` ``repeats`` times, interleaved, after ``warmup`` calls each.

    ``budget_s``: when given, ``repeats`` becomes as many rounds as fit the budget (between 3
    and ``repeats``), judged from the slowest function's first timed run. ``threads``: torch
    intra-op threads for the runs (restored afterwards); None keeps the current setting. Either
    way the count in effect is recorded in each :class:`Timing`.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1 \
            or isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"repeats must be an int >= 1 and warmup an int >= 0, got {repeats!r} and {warmup!r}")
    if not fns:
        raise ValueError("nothing to time: fns is empty")
    with torch_threads(threads) as in_effect:
        for fn in fns.values():
            for _ in range(warmup):
                fn()
        times: dict[str, list[float]] = {n: [] for n in fns}

        def one_round() -> None:
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1e3)

        one_round()
        rounds = repeats
        if budget_s is not None:
            slowest = max((ts[0] for ts in times.values()), default=0.0) / 1e3
            rounds = max(min(3, repeats), min(repeats, int(budget_s / max(slowest, 1e-6))))
        for _ in range(rounds - 1):
            one_round()
        recorded = in_effect if in_effect is not None else _current_threads()
    return {n: Timing.of(ts, recorded) for n, ts in times.items()}


def _forward(model: Callable[..., Any], x: Any) -> Callable[[], object]:
    """``model`` applied to ``x`` as every sckit call does (``sckit.macs._as_call``): a dict is
    keyword arguments, a tuple/list positional ones, a PackedSequence one argument."""
    from sckit.macs import _as_call

    args, kwargs = _as_call(x)
    return lambda: model(*args, **kwargs)


def time_forward(models: Mapping[str, Callable[..., Any]], example_input: Any, *, repeats: int = 5,
                 warmup: int = 1, threads: int | None = 1,
                 budget_s: float | None = None) -> dict[str, Timing]:
    """Latency of each model's forward on ``example_input``: the call for comparing models.

    The models run interleaved under ``torch.inference_mode()`` with ``threads`` intra-op
    threads (default 1, see the module docstring; None keeps torch's setting), after
    ``warmup`` calls each. ``example_input``: a tensor, a tuple/list of positional arguments or
    a dict of keyword arguments. Returns ``{name: Timing}``; e.g.
    ``time_forward({"dense": model, "compressed": sm}, x)["compressed"].median``.
    """
    import torch

    with torch.inference_mode():
        return interleaved({n: _forward(m, example_input) for n, m in models.items()},
                           repeats=repeats, warmup=warmup, budget_s=budget_s, threads=threads)


def cpu_model() -> str:
    """The CPU's model name (lscpu), for benchmark headers: machines differ between sessions,
    so figures are compared as ratios measured in one run on one named CPU."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"
