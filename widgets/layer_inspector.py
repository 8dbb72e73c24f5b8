"""LayerInspector: the per-layer table with a RAS toggle per layer and a live FPr threshold."""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as W

import sckit
from sckit.inspection import DEFAULT_FPR_THRESHOLD, choose_ras

from ._base import Panel, number_check, safe

__all__ = ["LayerInspector", "decode_cost"]

SHOW = ["layer", "type", "n_params", "macs", "fpr", "ras", "sparsity", "h0_bits", "dense_bytes",
        "succinct_bytes"]


def decode_cost(n_params: int, macs: int, ras: str) -> int:
    """Estimated weight symbols read per forward pass: a block-wise layer range-decodes each
    weight once; an element-wise layer accesses a weight per multiply-add (paper 3.1-3.2). The
    two agree when FPr = 2 (a fully connected layer at batch 1), which is why the FPr rule works."""
    if ras == "block":
        return int(n_params)
    if ras == "element":
        return int(macs)
    return 0


_THRESHOLD_CHECK = number_check("FPr threshold", low=0.0, low_open=True)


class LayerInspector(Panel):
    """``sckit.inspect`` as a dashboard.

    The model is inspected (and every weight row encoded) once block-wise and once element-wise,
    so moving the FPr slider or toggling a layer only looks sizes up: totals update instantly.
    ``choices()`` gives the current ``{layer: ras}``, ready for ``sckit.compress(ras=...)``.
    """

    def __init__(self, model: Any, example_input: Any, *,
                 fpr_threshold: float = DEFAULT_FPR_THRESHOLD) -> None:
        message = _THRESHOLD_CHECK(fpr_threshold)
        if message is not None:
            raise ValueError(message)
        base = sckit.inspect(model, example_input, fpr_threshold=fpr_threshold)
        weights = base.loc[base.ras != "", "layer"].tolist()
        self.sizes = {
            kind: sckit.inspect(model, example_input, fpr_threshold=fpr_threshold,
                                ras=dict.fromkeys(weights, kind)).set_index("layer")
            for kind in ("block", "element")
        }
        self.table = base
        self.overrides: dict[str, str] = {}
        self.threshold = W.FloatLogSlider(value=fpr_threshold, base=10, min=-1, max=6, step=0.05,
                                          description="FPr threshold", readout_format=".3g",
                                          continuous_update=False)
        self.layer = W.Dropdown(options=weights, description="layer")
        self.layer_ras = W.ToggleButtons(options=["auto", "block", "element"], value="auto")
        self.sort_by = W.Dropdown(options=["execution order", *SHOW[1:]], value="execution order",
                                  description="sort by")
        self.descending = W.Checkbox(value=True, description="descending")
        self.totals = W.HTML()
        self.view = W.HTML()
        super().__init__([
            W.HBox([self.threshold, self.sort_by, self.descending]),
            W.HBox([self.layer, self.layer_ras]),
            self.totals,
            self.view,
        ])
        # a NaN/inf/non-positive threshold is refused and the slider put back, so no later
        # action ever computes with it
        self.watch(self.threshold, _THRESHOLD_CHECK, then=self._threshold_changed)
        self.layer.observe(lambda _ch: self._show_layer_choice(), names="value")
        self.layer_ras.observe(lambda ch: self.set_layer_ras(self.layer.value, ch["new"]),
                               names="value")
        for w in (self.sort_by, self.descending):
            w.observe(lambda _ch: self.render(), names="value")
        self.refresh()

    # -- handlers (plain methods: tests call them directly) -----------------------------------
    @safe
    def set_threshold(self, value: float) -> None:
        message = _THRESHOLD_CHECK(value)
        if message is not None:
            raise ValueError(message)
        if self.threshold.value != value:
            self.threshold.value = value  # re-enters through the watcher, which refreshes
            return
        self._threshold_changed(value)

    @safe
    def _threshold_changed(self, value: float) -> None:
        self.refresh()
        self.info(f"FPr threshold {value:.3g}")

    @safe
    def set_layer_ras(self, layer: str, ras: str) -> None:
        if layer not in self.sizes["block"].index or self.sizes["block"].loc[layer, "ras"] == "":
            raise ValueError(f"{layer!r} is not a weight layer of this model")
        if ras not in ("auto", "block", "element"):
            raise ValueError(f"RAS must be 'auto', 'block' or 'element', got {ras!r}")
        if ras == "auto":
            self.overrides.pop(layer, None)
        else:
            self.overrides[layer] = ras
        self.refresh()
        self.info(f"{layer}: RAS {ras}")

    def choices(self) -> dict[str, str]:
        """``{layer: "block"|"element"}`` for every weight layer under the current settings."""
        t = self.threshold.value
        return {
            row.layer: self.overrides.get(row.layer) or choose_ras(row.fpr, t)
            for row in self.table.itertuples() if row.ras != ""
        }

    def refresh(self) -> None:
        choice = self.choices()
        df = self.table.copy()
        df["ras"] = [choice.get(layer, "") for layer in df.layer]
        for col in ("h0_bits", "succinct_bytes"):
            df[col] = [self.sizes[r].loc[layer, col] if r else math.nan
                       for layer, r in zip(df.layer, df.ras, strict=True)]
        df["decode_cost"] = [decode_cost(n, m, r)
                             for n, m, r in zip(df.n_params, df.macs, df.ras, strict=True)]
        self.table = df
        self._show_layer_choice()
        self.render()

    def totals_dict(self) -> dict[str, float]:
        w = self.table[self.table.ras != ""]
        dense, succ = int(w.dense_bytes.sum()), float(w.succinct_bytes.sum())
        return {"dense_bytes": dense, "succinct_bytes": succ,
                "ratio": dense / succ if succ else math.nan,
                "decode_cost": int(self.table.decode_cost.sum()),
                "n_block": int((w.ras == "block").sum()), "n_element": int((w.ras == "element").sum())}

    # -- view ------------------------------------------------------------------------------
    def _show_layer_choice(self) -> None:
        if self.layer.value is not None:
            self.layer_ras.value = self.overrides.get(self.layer.value, "auto")

    def render(self) -> None:
        t = self.totals_dict()
        self.totals.value = (
            f"<b>{t['dense_bytes'] / 2**20:,.2f} MiB dense -> {t['succinct_bytes'] / 2**20:,.2f} MiB "
            f"succinct ({t['ratio']:.3f}x)</b>; {t['n_block']} block-wise, {t['n_element']} "
            f"element-wise layers; estimated decode cost {t['decode_cost']:,} symbol reads per "
            f"forward (MACs and FLOPs: 1 MAC = 2 FLOPs)")
        df = self.table[SHOW]
        if self.sort_by.value != "execution order":
            df = df.sort_values(self.sort_by.value, ascending=not self.descending.value)
        self.view.value = (
            "<div style='max-height:420px;overflow:auto'>"
            + df.to_html(index=False, float_format=lambda x: f"{x:,.3f}", na_rep="",
                         formatters={**{c: "{:,}".format for c in ("n_params", "macs", "dense_bytes")},
                                     "succinct_bytes": "{:,.0f}".format},
                         escape=True)
            + "</div>")

    def __repr__(self) -> str:
        t = self.totals_dict()
        return f"LayerInspector({len(self.table)} rows, ratio {t['ratio']:.3f})"
