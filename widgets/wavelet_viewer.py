"""WaveletMatrixViewer: the levels of a wavelet matrix as bit rows, and queries walked step by step."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W
import numpy as np

from sckit.succinct import WaveletMatrix
from sckit.succinct.trace import Trace, trace_access, trace_rank, trace_select

from ._base import Panel, safe

__all__ = ["WaveletMatrixViewer"]

MAX_SYMBOLS = 64  # beyond this the bit rows stop being readable


def _parse(symbols: Any) -> np.ndarray:
    if isinstance(symbols, str):
        parts = symbols.replace(",", " ").split()
        if not all(p.isdigit() for p in parts):
            raise ValueError("symbols must be non-negative integers separated by spaces or commas")
        symbols = [int(p) for p in parts]
    arr = np.asarray(symbols)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("give a non-empty 1-D sequence of symbols")
    if arr.size > MAX_SYMBOLS:
        raise ValueError(f"{arr.size} symbols is too many to draw; the viewer shows at most {MAX_SYMBOLS}")
    return arr


class WaveletMatrixViewer(Panel):
    """Teach the wavelet matrix: bit rows per level, zero counts, and access/rank/select walks.

    ``step()`` advances the highlighted walk one level; ``run()`` shows all of it. Bad input
    (non-integers, too many symbols, arguments out of range) is reported in the panel.
    """

    def __init__(self, symbols: Any = (4, 7, 6, 5, 3, 2, 1, 0, 1, 4, 1, 7)) -> None:
        self.symbols_text = W.Text(description="symbols", layout=W.Layout(width="420px"))
        self.op = W.ToggleButtons(options=["access", "rank", "select"], value="access")
        self.c = W.IntText(value=1, description="c", layout=W.Layout(width="140px"))
        self.i = W.IntText(value=2, description="i / k", layout=W.Layout(width="140px"))
        self.step_button = W.Button(description="Step", icon="step-forward")
        self.run_button = W.Button(description="Run", icon="play")
        self.view = W.HTML()
        self.wm: WaveletMatrix | None = None
        self.symbols: np.ndarray | None = None
        self.trace: Trace | None = None
        self.shown_steps = 0
        super().__init__([
            W.HBox([self.symbols_text]),
            W.HBox([self.op, self.c, self.i, self.step_button, self.run_button]),
            self.view,
        ])
        self.symbols_text.observe(lambda ch: self.set_symbols(ch["new"]), names="value")
        for w in (self.op, self.c, self.i):
            w.observe(lambda _ch: self.reset(), names="value")
        self.step_button.on_click(lambda _b: self.step())
        self.run_button.on_click(lambda _b: self.run())
        self.symbols_text.value = " ".join(str(int(s)) for s in _parse(symbols))

    @safe
    def set_symbols(self, symbols: Any) -> None:
        arr = _parse(symbols)
        self.wm, self.symbols = WaveletMatrix(arr), arr
        self.reset()

    def _make_trace(self) -> Trace:
        if self.wm is None:
            raise ValueError("no symbols yet")
        if self.op.value == "access":
            return trace_access(self.wm, self.i.value)
        if self.op.value == "rank":
            return trace_rank(self.wm, self.c.value, self.i.value)
        return trace_select(self.wm, self.c.value, self.i.value)

    @safe
    def reset(self) -> None:
        self.trace, self.shown_steps = None, 0
        self.render()
        self.info("Step walks one level; Run shows the whole query.")

    @safe
    def step(self) -> None:
        if self.trace is None:
            self.trace = self._make_trace()
        self.shown_steps = min(self.shown_steps + 1, len(self.trace.steps))
        self.render()
        self._say()

    @safe
    def run(self) -> None:
        self.trace = self._make_trace()
        self.shown_steps = len(self.trace.steps)
        self.render()
        self._say()

    def _say(self) -> None:
        assert self.trace is not None
        done = self.shown_steps == len(self.trace.steps)
        last = self.trace.steps[self.shown_steps - 1].note if self.shown_steps else ""
        self.info(f"{self.trace.query}: {last}" + (f"; result {self.trace.result}" if done else ""))

    def highlighted(self) -> dict[int, set[int]]:
        """Level -> positions highlighted in the current view (what the walk has read so far)."""
        out: dict[int, set[int]] = {}
        if self.trace is not None:
            for s in self.trace.steps[: self.shown_steps]:
                out.setdefault(s.level, set()).update(s.positions)
        return out

    def render(self) -> None:
        if self.wm is None or self.symbols is None:
            self.view.value = ""
            return
        hi = self.highlighted()
        cell = "padding:1px 5px;font-family:monospace;text-align:center;"
        rows = ["<tr><th style='text-align:left'>S</th>"
                + "".join(f"<td style='{cell}color:#555'>{int(s)}</td>" for s in self.symbols)
                + "<th>zeros</th></tr>"]
        for lvl in range(self.wm.n_levels):
            bits = self.wm.level_bits(lvl)
            tds = "".join(
                f"<td style='{cell}{'background:#ffd54f;font-weight:bold;' if p in hi.get(lvl, ()) else ''}'>"
                f"{int(b)}</td>" for p, b in enumerate(bits))
            rows.append(f"<tr><th style='text-align:left'>B{lvl}</th>{tds}"
                        f"<td style='{cell}'>{int(self.wm.zeros[lvl])}</td></tr>")
        self.view.value = (f"<table style='border-collapse:collapse'>{''.join(rows)}</table>"
                           f"<div style='color:#555'>sigma = {self.wm.sigma}, "
                           f"{self.wm.n_levels} levels, {html.escape(str(self.wm.nbytes))} bytes</div>")
