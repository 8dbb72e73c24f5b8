"""Wall-clock timing that is fair between the things compared: warm-up, interleaved runs, medians.

Interleaving (a, b, a, b, ...) instead of (a, a, ..., b, b, ...) makes drift on a shared machine
(another process waking up, frequency changes) hit every candidate alike; medians keep one
descheduled run from dragging a figure.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Timing", "cpu_model", "interleaved"]


@dataclass(frozen=True)
class Timing:
    """Milliseconds of one candidate over its runs."""

    median: float
    low: float
    high: float
    runs: int


def interleaved(fns: dict[str, Callable[[], object]], *, repeats: int = 5, warmup: int = 1,
                budget_s: float | None = None) -> dict[str, Timing]:
    """Time every function in ``fns`` ``repeats`` times, interleaved, after ``warmup`` calls each.

    ``budget_s``: when given, ``repeats`` becomes as many rounds as fit the budget (between 3
    and ``repeats``), judged from the slowest function's first timed run.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
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
    return {n: Timing(statistics.median(ts), min(ts), max(ts), len(ts)) for n, ts in times.items()}


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
