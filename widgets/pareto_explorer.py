"""ParetoExplorer: the sweep's Pareto front as a live plotly figure; click a point for details."""

from __future__ import annotations

import math
import numbers
from typing import Any

import ipywidgets as W

import sckit
from sckit.sweeps import configured_model
from sckit.sweeps.grid import CONFIG_COLUMNS

from ._base import FIGURE_HEIGHT, Panel, safe

__all__ = ["ParetoExplorer"]


class ParetoExplorer(Panel):
    """A ``plotly.graph_objects.FigureWidget`` of ``sckit.plot_pareto(sweep_df)``.

    Clicking a configuration (or calling ``select(row_index)``) shows its measurements and, when
    ``model`` and ``example_input`` are given, that configuration's per-layer table
    (``sckit.inspect`` of the pruned/quantized model with its RAS policy).
    """

    def __init__(self, sweep_df: Any, *, x: str = "size_bytes", y: str = "latency_ms",
                 model: Any = None, example_input: Any = None) -> None:
        import pandas as pd
        import plotly.graph_objects as go

        if not isinstance(sweep_df, pd.DataFrame):
            raise TypeError(f"sweep_df must be a DataFrame (sckit.sweep's result), got {type(sweep_df).__name__}")
        if len(sweep_df) == 0:
            raise ValueError("the sweep frame is empty: nothing to plot")
        self.df = sweep_df.reset_index(drop=True)
        self.model, self.example_input = model, example_input
        # a FigureWidget (clicks reach Python) of the native figure, at an explicit height
        self.figure = go.FigureWidget(sckit.plot_pareto(self.df, x=x, y=y, height=FIGURE_HEIGHT))
        self.front = sckit.pareto_front(self.df.dropna(subset=[x, y]), x=x, y=y)
        self.details = W.HTML("<i>click a point to see its configuration</i>")
        self.layer_table = W.HTML()
        self.selected: int | None = None
        self.layers = None
        super().__init__([self.figure, self.details, self.layer_table])
        for trace in self.figure.data:
            if trace.name == "configurations":
                trace.on_click(self._on_click)

    def _on_click(self, trace: Any, points: Any, _state: Any) -> None:
        if points.point_inds:
            # the configurations trace has one marker per frame row, in frame order
            self.select(int(points.point_inds[0]))

    @safe
    def select(self, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"select takes a row number (int), got {type(index).__name__} {index!r}")
        index = int(index)
        if not 0 <= index < len(self.df):
            raise IndexError(f"no configuration {index}; the sweep has {len(self.df)} rows")
        row = self.df.iloc[index]
        cols = [c for c in [*CONFIG_COLUMNS, "size_bytes", "compression_ratio", "latency_ms",
                                             "speedup", "accuracy", "roundtrip_ok"] if c in row]
        on_front = index in set(self.front.index)
        self.details.value = (
            f"<b>{row.get('label', index)}</b> {'(on the Pareto front)' if on_front else ''}"
            + row[cols].to_frame().to_html(header=False, na_rep="-"))
        self.selected = index
        if self.model is not None and self.example_input is not None and row.get("kind") != "baseline":
            self.layers = self._layers(row)
            self.layer_table.value = self.layers[["layer", "type", "n_params", "macs", "ras",
                                                  "sparsity", "h0_bits", "succinct_bytes"]].to_html(
                index=False, float_format=lambda v: f"{v:,.3f}", na_rep="")
        self.info(f"configuration {index} selected")

    def _layers(self, row: Any):
        m = configured_model(self.model, row)
        kw: dict[str, Any] = {}
        thr = row.get("fpr_threshold")
        if thr is not None and not (isinstance(thr, float) and math.isnan(thr)):
            kw["fpr_threshold"] = float(thr)
        df = sckit.inspect(m, self.example_input, **kw)
        if row.get("ras") in ("block", "element"):
            weights = df.loc[df.ras != "", "layer"].tolist()
            df = sckit.inspect(m, self.example_input, ras=dict.fromkeys(weights, row["ras"]), **kw)
        return df
