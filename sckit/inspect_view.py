"""How an inspection table looks: a formatted notebook view, a 100-column text view, totals.

:func:`sckit.inspect` returns an :class:`InspectFrame`: a ``pandas.DataFrame`` (every column,
method and ``attrs`` as before, numbers kept raw for analysis) whose notebook view is an HTML
table of every row in a scroll box -- thousands separators, bytes in KiB/MiB, FPr to 3
significant digits, RAS coloured, input/output shapes, depth, trainable flags and a totals
footer -- and whose ``print()`` shows every row in at most 100 columns. Frames derived from it
(filters, sorts) keep the views while they still have the table's core columns; anything else
falls back to pandas' own. Formatting lives here, apart from the numbers (house style).
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

__all__ = ["InspectFrame", "block_totals", "fmt_bytes", "fmt_sig", "to_html", "to_text", "totals"]

_CORE = ("layer", "type", "n_params", "macs", "fpr", "ras", "dense_bytes", "succinct_bytes")
_RAS_COLOURS = {"block": "#d8ecff", "element": "#fff0cc"}
TEXT_WIDTH = 100


def _has_core(df: pd.DataFrame) -> bool:
    return all(c in df.columns for c in _CORE)


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def fmt_sig(x: Any, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits, thousands separated, never in e-notation.

    >>> fmt_sig(1107.692), fmt_sig(1.99805), fmt_sig(0.000123456), fmt_sig(float("nan"))
    ('1,110', '2', '0.000123', '')
    """
    x = _num(x)
    if math.isnan(x):
        return ""
    if x == 0 or math.isinf(x):
        return f"{x:g}"
    decimals = digits - 1 - math.floor(math.log10(abs(x)))
    r = round(x, decimals)
    return f"{r:,.{max(0, decimals)}f}".rstrip("0").rstrip(".") if decimals > 0 else f"{r:,.0f}"


def fmt_bytes(n: Any) -> str:
    """Bytes in B, KiB, MiB or GiB (1 decimal above bytes); ``""`` for NaN.

    >>> fmt_bytes(512), fmt_bytes(1536), fmt_bytes(97.5 * 2**20)
    ('512 B', '1.5 KiB', '97.5 MiB')
    """
    x = _num(n)
    if math.isnan(x):
        return ""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(x) >= scale:
            return f"{x / scale:,.1f} {unit}"
    return f"{x:,.0f} B"


def _compact(n: Any) -> str:
    """Counts in K/M/G with 3 significant digits (text view): 25557032 -> '25.6M'."""
    x = _num(n)
    if math.isnan(x):
        return ""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return fmt_sig(x / scale) + unit
    return fmt_sig(x) if x else "0"


def _shape(s: Any) -> str:
    if isinstance(s, list):
        return ", ".join(_shape(v) for v in s)
    if isinstance(s, tuple):
        return "[" + ", ".join(str(v) for v in s) + "]" if s else ""
    return "" if s is None or (isinstance(s, float) and math.isnan(s)) else str(s)


def _elements(df: pd.DataFrame) -> int:
    """Encoded elements: parameters plus the elements of weight buffers."""
    n = int(df["n_params"].sum())
    if "type" in df.columns and "shape" in df.columns:
        n += sum(math.prod(s) for t, s in zip(df["type"], df["shape"], strict=True)
                 if t == "Buffer" and isinstance(s, tuple))
    return n


def totals(df: pd.DataFrame) -> dict[str, Any]:
    """Totals of an inspection table: rows, n_params, trainable_params, weight_buffer_elements,
    macs, flops, dense_bytes, succinct_bytes (NaN when sizes were not computed),
    bits_per_weight, ratio (dense / succinct), sizes ("estimated", "exact", "none")."""
    elements = _elements(df)
    dense = int(df["dense_bytes"].sum())
    succ_col = df["succinct_bytes"]
    succ = float(succ_col.sum()) if succ_col.notna().any() else math.nan
    trainable = (int(df.loc[df["trainable"].astype(bool), "n_params"].sum())
                 if "trainable" in df.columns else int(df["n_params"].sum()))
    return {
        "rows": int(len(df)),
        "n_params": int(df["n_params"].sum()),
        "trainable_params": trainable,
        "weight_buffer_elements": elements - int(df["n_params"].sum()),
        "macs": int(df["macs"].sum()),
        "flops": 2 * int(df["macs"].sum()),
        "dense_bytes": dense,
        "succinct_bytes": succ,
        "bits_per_weight": 8 * succ / elements if elements and not math.isnan(succ) else math.nan,
        "ratio": dense / succ if succ and not math.isnan(succ) else math.nan,
        "sizes": _sizes(df),
    }


def _sizes(df: pd.DataFrame) -> str:
    """"estimated" if any row's size is, "exact" if sizes were computed, else "none"."""
    if df["succinct_bytes"].isna().all():
        return "none"
    if "size_estimated" in df.columns:
        return "estimated" if bool(df["size_estimated"].any()) else "exact"
    return str(df.attrs.get("sizes", "exact"))


def block_totals(df: pd.DataFrame, depth: int = 1) -> pd.DataFrame:
    """Per-block subtotals: rows grouped by the first ``depth`` components of their layer name
    (``layer1.0.conv1`` -> ``layer1`` at depth 1), in first-row order, summing n_params, macs,
    dense_bytes and succinct_bytes."""
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth must be an int >= 1, got {depth!r}")
    block = df["layer"].map(lambda s: ".".join(str(s).split(":")[0].split(".")[:depth]))
    cols = ["n_params", "macs", "dense_bytes", "succinct_bytes"]
    out = df[cols].groupby(block, sort=False).sum(min_count=1)
    out.insert(0, "rows", block.value_counts(sort=False).reindex(out.index))
    return pd.DataFrame(out).rename_axis("block").reset_index()


def _size_cell(row: Any, approx: str) -> str:
    s = fmt_bytes(row.succinct_bytes)
    return f"{approx}{s}" if s and bool(getattr(row, "size_estimated", False)) else s


def _cut(s: str, width: int) -> str:
    """Shorten to ``width`` keeping both ends (layer names differ at the end)."""
    if len(s) <= width:
        return s
    head = (width - 1) // 2
    return s[:head] + "~" + s[len(s) - (width - 1 - head):]


def to_text(df: pd.DataFrame, width: int = TEXT_WIDTH) -> str:
    """Every row in at most ``width`` columns (default 100): layer, type, output shape, params, MACs,
    FPr, RAS, succinct size (``~`` marks an estimate); then a totals footer."""
    cols = [("layer", max(10, 25 + width - TEXT_WIDTH), "<"), ("type", 11, "<"), ("output", 18, "<"), ("params", 7, ">"),
            ("MACs", 7, ">"), ("FPr", 6, ">"), ("RAS", 7, "<"), ("succinct", 10, ">")]

    def line(cells: list[str]) -> str:
        cells = [_cut(cells[0], cols[0][1]), *(c[:w] for c, (_, w, _) in zip(cells[1:], cols[1:],
                                                                           strict=True))]
        return " ".join(f"{c:{a}{w}}" for c, (_, w, a) in zip(cells, cols, strict=True))

    out = [line([c for c, _, _ in cols]), "-" * (sum(w for _, w, _ in cols) + len(cols) - 1)]
    for r in df.itertuples(index=False):
        depth = int(getattr(r, "depth", 0) or 0)
        name = " " * max(0, min(depth - 1, 6)) + str(r.layer)
        out.append(line([
            name, str(r.type), _shape(getattr(r, "output_shape", "")), _compact(r.n_params),
            _compact(r.macs), fmt_sig(r.fpr), str(r.ras), _size_cell(r, "~"),
        ]))
    out.append(out[1])
    out.extend(_footer_lines(totals(df), df.attrs, width))
    return "\n".join(s.rstrip() for s in out)


def _footer_lines(t: dict[str, Any], attrs: dict[str, Any], width: int) -> list[str]:
    est = "~" if t["sizes"] == "estimated" else ""
    first = (f"Total: {t['rows']} rows, {t['n_params']:,} params ({t['trainable_params']:,} "
             f"trainable), {t['macs']:,} MACs")
    if t["weight_buffer_elements"]:
        first += f", {t['weight_buffer_elements']:,} weight-buffer elements"
    second = f"Dense {fmt_bytes(t['dense_bytes'])}"
    if not math.isnan(t["succinct_bytes"]):
        second += (f" -> succinct {est}{fmt_bytes(t['succinct_bytes'])} "
                   f"({fmt_sig(t['bits_per_weight'])} bits/weight, ratio {fmt_sig(t['ratio'])})")
    if t["sizes"] == "estimated":
        second += "; ~ = estimated (encode='exact' for real sizes)"
    other = attrs.get("other_buffer_bytes")
    lines = [first, second]
    if other:
        lines.append(f"Other buffers (running statistics, ...): {fmt_bytes(other)}")
    return [_wrap(s, width) for s in lines]


def _wrap(s: str, width: int) -> str:
    if len(s) <= width:
        return s
    cut = s.rfind(" ", 0, width)
    cut = cut if cut > 0 else width
    return s[:cut] + "\n  " + _wrap(s[cut:].lstrip(), width - 2)


_HTML_COLS = ["#", "layer", "type", "depth", "input shape", "output shape", "params", "trainable",
              "MACs", "FPr", "RAS", "zeros", "H0 bits/w", "bits/w", "dense", "succinct", "ratio",
              "dtype", "shared"]
_RIGHT = {"#", "depth", "params", "MACs", "FPr", "zeros", "H0 bits/w", "bits/w", "dense",
          "succinct", "ratio"}


def _td(text: str, col: str, style: str = "") -> str:
    align = "text-align:right;" if col in _RIGHT else "text-align:left;"
    return f'<td style="padding:1px 6px;{align}{style}">{html.escape(text)}</td>'


def to_html(df: pd.DataFrame, max_height: str = "32em") -> str:
    """Formatted HTML table of every row in a scroll box, header and totals footer kept in view."""
    head = "".join(
        f'<th style="position:sticky;top:0;background:#f4f4f4;padding:2px 6px;'
        f'text-align:{"right" if c in _RIGHT else "left"}">{html.escape(c)}</th>'
        for c in _HTML_COLS
    )
    body = []
    for i, r in enumerate(df.itertuples(index=False)):
        n = _elements(df.iloc[[i]]) if str(r.type) == "Buffer" else int(r.n_params)
        succ, dense = _num(r.succinct_bytes), _num(r.dense_bytes)
        bpw = 8 * succ / n if n and not math.isnan(succ) else math.nan
        depth = int(getattr(r, "depth", 0) or 0)
        ras = str(r.ras)
        cells = [
            _td(str(i), "#"),
            _td(str(r.layer), "layer", f"padding-left:{0.3 + 1.0 * max(0, depth - 1)}em;"
                                       "white-space:nowrap;"),
            _td(str(r.type), "type"),
            _td(str(depth), "depth"),
            _td(_shape(getattr(r, "input_shape", "")), "input shape", "white-space:nowrap;"),
            _td(_shape(getattr(r, "output_shape", "")), "output shape", "white-space:nowrap;"),
            _td(f"{int(r.n_params):,}", "params"),
            _td(("yes" if bool(r.trainable) else "no") if hasattr(r, "trainable") and (
                int(r.n_params) or str(r.type) == "Buffer") else "", "trainable"),
            _td(f"{int(r.macs):,}", "MACs"),
            _td(fmt_sig(r.fpr), "FPr"),
            _td(ras, "RAS", f"background:{_RAS_COLOURS[ras]};" if ras in _RAS_COLOURS else ""),
            _td(f"{100 * _num(getattr(r, 'sparsity', math.nan)):.1f} %"
                if not math.isnan(_num(getattr(r, "sparsity", math.nan))) else "", "zeros"),
            _td(fmt_sig(getattr(r, "h0_bits", math.nan)), "H0 bits/w"),
            _td(fmt_sig(bpw), "bits/w"),
            _td(fmt_bytes(dense) if dense else "", "dense"),
            _td(_size_cell(r, "\u2248"), "succinct"),
            _td(fmt_sig(dense / succ) if succ and not math.isnan(succ) else "", "ratio"),
            _td(str(getattr(r, "dtype", "")), "dtype"),
            _td(str(getattr(r, "shared", "")), "shared"),
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    t = totals(df)
    approx = "\u2248" if t["sizes"] == "estimated" else ""
    foot_cells = {
        "layer": f"Total ({t['rows']} rows)",
        "params": f"{t['n_params']:,}",
        "trainable": f"{t['trainable_params']:,}",
        "MACs": f"{t['macs']:,}",
        "bits/w": fmt_sig(t["bits_per_weight"]),
        "dense": fmt_bytes(t["dense_bytes"]),
        "succinct": approx + fmt_bytes(t["succinct_bytes"]) if fmt_bytes(t["succinct_bytes"]) else "",
        "ratio": fmt_sig(t["ratio"]),
    }
    foot = "".join(_td(foot_cells.get(c, ""), c, "position:sticky;bottom:0;background:#f4f4f4;"
                       "font-weight:bold;border-top:1px solid #999;") for c in _HTML_COLS)
    notes = []
    if t["sizes"] == "estimated":
        notes.append("\u2248 succinct sizes estimated from symbol histograms "
                     "(sckit.inspect(..., encode='exact') for real sizes)")
    if df.attrs.get("other_buffer_bytes"):
        notes.append(f"other buffers (running statistics, ...): "
                     f"{fmt_bytes(df.attrs['other_buffer_bytes'])}")
    if "fpr_threshold" in df.attrs:
        notes.append(f"RAS: block where FPr \u2265 {fmt_sig(df.attrs['fpr_threshold'])}, "
                     "else element")
    note = ("<div style='font-size:11px;color:#555;margin-top:2px'>"
            + html.escape("; ".join(notes)) + "</div>") if notes else ""
    return (f"<div class='sckit-inspect' style='max-height:{max_height};overflow:auto;"
            "border:1px solid #ddd'><table style='border-collapse:collapse;font-size:12px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            f"<tfoot><tr>{foot}</tr></tfoot></table></div>{note}")


class InspectFrame(pd.DataFrame):
    """The DataFrame :func:`sckit.inspect` returns: a plain ``pandas.DataFrame`` in every
    respect (columns, indexing, ``attrs``, arithmetic) plus a formatted notebook view
    (:func:`to_html`) and a 100-column ``print()`` view (:func:`to_text`)."""

    @property
    def _constructor(self) -> Any:
        return InspectFrame

    def _repr_html_(self) -> str | None:
        if _has_core(self):
            return to_html(self)
        return super()._repr_html_()

    def __repr__(self) -> str:
        if _has_core(self):
            return to_text(self)
        return super().__repr__()

    def to_text(self, width: int = TEXT_WIDTH) -> str:
        """The ``print()`` view (see :func:`to_text`)."""
        return to_text(self, width)

    def totals(self) -> dict[str, Any]:
        """Totals of the rows in this frame (see :func:`totals`)."""
        return totals(self)

    def block_totals(self, depth: int = 1) -> pd.DataFrame:
        """Per-block subtotals (see :func:`block_totals`)."""
        return block_totals(self, depth)
