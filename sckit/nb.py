"""Notebook plumbing: quiet records of headline results, and plotly figures that render offline.

``record(name, value)`` emits a display output that only :func:`records` reads: its one mimetype
(``application/vnd.sckit.record+json``) has no renderer, so JupyterLab shows nothing and
nbconvert writes an empty output. After a headless run (papermill / nbclient) ``records(path)``
reads every marked output back with nbformat. (scrapbook did this once; it is unmaintained and
partly broken on pandas 3.) Outside a Jupyter kernel ``record`` stores the value in an
in-process dict (``recorded()``), so the same code runs in scripts and tests.

Importing this module inside a Jupyter kernel calls :func:`setup`, which makes every plotly
figure a native output: the plotly mimetype (JupyterLab's own renderer) plus an HTML fallback for
nbconvert and other front ends, with plotly.js embedded once per kernel and never fetched from a
CDN (no MathJax, no require.js).

>>> record("ratio", 3.5)
>>> recorded()["ratio"]
3.5
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from os import PathLike
from typing import Any

__all__ = ["record", "records", "recorded", "clear", "setup", "styled", "human_bytes", "MARKER", "MIME",
           "RENDERER"]

MARKER = "sckit_record"  # output metadata key; its value is the record name
MIME = "application/vnd.sckit.record+json"  # no front end renders it: records stay invisible
_OLD_MIMES = ("application/json",)  # what notebooks executed by earlier versions carry
RENDERER = "plotly_mimetype+sckit_offline"  # what setup() makes plotly's default
FIGURE_HEIGHT = 480  # px of the HTML fallback when the figure's layout gives no height

_RECORDS: dict[str, Any] = {}
_PLOTLYJS = {"embedded": False}  # has a figure of this process carried plotly.js yet?


def _offline_html_renderer() -> Any:
    """A plotly renderer writing ``text/html`` that needs no network.

    The first figure of the process carries plotly.js (about 5 MB) inline; later ones call the
    ``window.Plotly`` it defined, guarded so that a notebook whose first figure was re-run away
    shows an empty box instead of a script error. plotly's own ``"notebook"`` renderer adds a
    MathJax ``<script src>`` from a CDN to every figure, which is why it is not used.
    """
    from plotly.io import to_html
    from plotly.io._base_renderers import MimetypeRenderer

    class OfflineHTMLRenderer(MimetypeRenderer):
        def to_mimebundle(self, fig_dict: Any) -> dict[str, str]:
            # plotly renders with a shallow copy of the renderer: the flag lives in the module
            embedded = _PLOTLYJS["embedded"]
            html = to_html(fig_dict, include_plotlyjs=not embedded, include_mathjax=False,
                           full_html=False, default_width="100%",
                           default_height=f"{FIGURE_HEIGHT}px", validate=False,
                           config={"displaylogo": False})
            if embedded:
                html = re.sub(r'if \(document\.getElementById\("([^"]+)"\)\) \{',
                              r'if (document.getElementById("\1") && window.Plotly) {', html, count=1)
            _PLOTLYJS["embedded"] = True
            return {"text/html": html}

    return OfflineHTMLRenderer()


def setup(renderer: str | None = None) -> str:
    """Make plotly figures native, offline notebook outputs; returns the renderer now default.

    ``renderer`` overrides the choice (any plotly renderer name); otherwise a renderer the user
    named in ``PLOTLY_RENDERER`` is kept, and sckit's is set: the plotly mimetype, which
    JupyterLab (and VS Code) draw with their bundled plotly.js, plus the offline HTML that
    nbconvert exports. Calling it again embeds plotly.js again in the next figure (for a
    notebook whose first figure's cell was cleared).
    """
    import plotly.io as pio

    _PLOTLYJS["embedded"] = False
    if "sckit_offline" not in pio.renderers:
        pio.renderers["sckit_offline"] = _offline_html_renderer()
    if renderer is None:
        renderer = os.environ.get("PLOTLY_RENDERER") or RENDERER
    pio.renderers.default = renderer
    return renderer


def _jsonable(value: Any, where: str = "value") -> Any:
    """Return ``value`` as plain JSON types; numpy scalars become Python numbers.

    Raises TypeError naming the offending type (and where it sits in a nested value), and
    ValueError for NaN/inf, which JSON cannot represent.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value!r}; JSON cannot represent NaN or infinity")
        return float(value)
    # numpy scalars (np.float32, np.int64, np.bool_) and 0-d arrays: convert, lazily (no numpy
    # import needed for plain values)
    mod = type(value).__module__
    if mod == "numpy":
        import numpy as np

        if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
            return _jsonable(value.item(), where)
        raise TypeError(
            f"{where} has type numpy.{type(value).__name__}; record JSON values only "
            "(convert arrays with .tolist())"
        )
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a key of type {type(k).__name__}; keys must be str")
            out[k] = _jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, numbers.Integral):
        return int(value)
    raise TypeError(
        f"{where} has type {type(value).__module__}.{type(value).__qualname__}, which is not "
        "JSON-serialisable; record str, bool, int, float, None, lists or dicts of them"
    )


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (not a terminal IPython, not plain Python)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def record(name: str, value: Any) -> None:
    """Record ``value`` under ``name``.

    Always stores into the in-process dict (``recorded()``). Inside a Jupyter kernel it also
    displays an output ``{MIME: {"name": name, "value": value}}`` with metadata
    ``{"sckit_record": name}`` so :func:`records` finds it in the saved notebook. No front end
    renders that mimetype: the cell shows nothing.

    Raises:
        TypeError: ``name`` is not a str, or ``value`` is not JSON-serialisable (the message
            names its type).
        ValueError: empty name, or NaN/inf in ``value``.
    """
    if not isinstance(name, str):
        raise TypeError(f"record name must be str, got {type(name).__name__}")
    if not name:
        raise ValueError("record name must not be empty")
    clean = _jsonable(value)
    _RECORDS[name] = clean
    if _in_kernel():
        from IPython.display import display

        display(
            {MIME: {"name": name, "value": clean}},
            raw=True,
            metadata={MARKER: name},
        )


def recorded() -> dict[str, Any]:
    """A copy of the values recorded in this process (last write per name wins)."""
    return dict(_RECORDS)


def clear() -> None:
    """Forget the values recorded in this process."""
    _RECORDS.clear()


def records(path: str | PathLike[str] | Any) -> dict[str, Any]:
    """Read ``{name: value}`` from an executed notebook's outputs (last record of a name wins).

    ``path`` is a ``.ipynb`` path or an already-loaded ``nbformat.NotebookNode``. Outputs
    without the ``sckit_record`` marker are ignored.
    """
    import nbformat

    if isinstance(path, str | PathLike):
        nb = nbformat.read(path, as_version=4)
    elif isinstance(path, dict) and "cells" in path:
        nb = path
    else:
        raise TypeError(f"records() takes a notebook path or NotebookNode, got {type(path).__name__}")
    found: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") not in ("display_data", "execute_result"):
                continue
            name = (out.get("metadata") or {}).get(MARKER)
            if name is None:
                continue
            data = out.get("data") or {}
            payload = next((data[m] for m in (MIME, *_OLD_MIMES) if m in data), None)
            if isinstance(payload, str):  # some writers keep JSON mime data as text
                payload = json.loads(payload)
            if not isinstance(payload, dict) or "value" not in payload:
                raise ValueError(f"record {name!r} in {path!s} has no {MIME} value")
            found[str(payload.get("name", name))] = payload["value"]
    return found



def human_bytes(n: float) -> str:
    """``1430800`` -> ``"1.36 MiB"``; below 1 KiB the exact count (``"980 B"``)."""
    n = float(n)
    if abs(n) < 1024:
        return f"{n:,.0f} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if abs(n) < 1024 or unit == "TiB":
            break
    return f"{n:.0f} {unit}" if abs(n) >= 100 else f"{n:.3g} {unit}"


def styled(df: Any, *, percent: tuple[str, ...] = ("accuracy",), hide_index: bool = True) -> Any:
    """A pandas Styler showing ``df`` for people: thousands separators on integers, byte columns
    (``bytes``, ``*_bytes``) in KiB/MiB, other floats to 4 significant digits, ``percent``
    columns as percentages, and missing values as a dash (never nan / None / <NA>).

    The frame itself is untouched (analysis keeps the raw numbers).
    """
    import pandas as pd

    fmt: dict[str, Any] = {}
    for col in df.columns:
        s = df[col]
        name = str(col)
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            continue
        if name == "bytes" or name.endswith("_bytes"):
            fmt[col] = human_bytes
        elif name in percent:
            fmt[col] = "{:.2%}".format
        elif pd.api.types.is_integer_dtype(s):
            fmt[col] = "{:,}".format
        else:
            fmt[col] = "{:.4g}".format
    sty = df.style.format(fmt, na_rep="\u2014")
    return sty.hide(axis="index") if hide_index else sty


if _in_kernel():  # a notebook that imports sckit.nb gets offline, native figures
    try:
        setup()
    except ImportError:  # plotly is in the jupyter extra; records work without it
        pass
