"""Pareto fronts of sweep results, and their plots.

``pareto_front`` keeps the non-dominated rows of a table (2 or 3 objectives, any mix of
minimised and maximised columns); ``plot_pareto`` draws every configuration with the front on
top; ``save_figure`` writes a figure as self-contained HTML or, through kaleido and a Chromium
browser, as PNG/SVG/PDF.

Definitions. After turning every maximised objective into a minimised one (negation),
row ``a`` *dominates* row ``b`` when ``a <= b`` in every objective and ``a < b`` in at least one.
The front is the set of rows no row dominates. Consequences:

* exact duplicates of a front point do not dominate each other, so **all copies are kept**;
* rows tied in one objective are separated by the others (``(1, 2)`` dominates ``(1, 3)``);
* rows with NaN in an objective cannot be compared: they are **excluded** from the front
  (``nan="drop"``, the default) or rejected with ``ValueError`` (``nan="raise"``).
  +/-inf are ordinary values.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import plotly.graph_objects as go

__all__ = ["pareto_front", "pareto_mask", "plot_pareto", "save_figure", "find_chromium"]

# Block size for the general (d >= 3) front: a block of candidates is compared against the
# front found so far, so memory is O(block * front * d) booleans; 512 keeps that small.
_BLOCK = 512
# marker symbols for the categories of plot_pareto's ``symbol`` column, in order of appearance
_SYMBOLS = ("circle", "diamond", "square", "triangle-up", "cross", "star", "x", "pentagon")


# --------------------------------------------------------------------------------------------
# fronts on plain arrays
# --------------------------------------------------------------------------------------------
def _front_mask_2d(pts: np.ndarray) -> np.ndarray:
    """Non-dominated mask of an (n, 2) minimisation problem in O(n log n).

    Sort by (x, y). A point survives iff its y is the smallest y among points with the same x
    *and* strictly smaller than every y seen at strictly smaller x (a prefix minimum over the
    x groups). Duplicates pass both tests together, so they are all kept.
    """
    n = pts.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    order = np.lexsort((pts[:, 1], pts[:, 0]))  # primary x, secondary y
    xs, ys = pts[order, 0], pts[order, 1]
    # group starts: first row of each distinct x (sorted, so ys[start] is the group's min y)
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    group_min = ys[starts]
    group_id = np.cumsum(np.r_[True, xs[1:] != xs[:-1]]) - 1
    # best y over all strictly smaller x: exclusive prefix minimum over groups
    prev_best = np.r_[np.inf, np.minimum.accumulate(group_min)[:-1]]
    # the smallest x group has nothing to its left (needed when its y is +inf)
    beats_left = (ys < prev_best[group_id]) | (group_id == 0)
    keep_sorted = (ys == group_min[group_id]) & beats_left
    mask[order] = keep_sorted
    return mask


def _dominates_any(cand: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """For each row of ``cand``: is it dominated by some row of ``ref``? (vectorised)."""
    if ref.shape[0] == 0 or cand.shape[0] == 0:
        return np.zeros(cand.shape[0], dtype=bool)
    le = np.all(ref[None, :, :] <= cand[:, None, :], axis=2)
    lt = np.any(ref[None, :, :] < cand[:, None, :], axis=2)
    return np.asarray(np.any(le & lt, axis=1))


def _front_mask_nd(pts: np.ndarray) -> np.ndarray:
    """Non-dominated mask for any number of minimised objectives.

    Rows are visited in lexicographic order: a dominating row is lexicographically smaller, so
    a row can only be dominated by rows before it, and (by transitivity over a finite set) by a
    *front* row before it. Each block of candidates is compared with the front found so far and
    with itself, all in numpy: cost O(n * |front| * d), not O(n^2) Python steps.
    """
    n, _d = pts.shape
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    order = np.lexsort(pts.T[::-1])
    sorted_pts = pts[order]
    front_rows: list[np.ndarray] = []
    front = np.empty((0, pts.shape[1]), dtype=pts.dtype)
    keep_sorted = np.zeros(n, dtype=bool)
    for start in range(0, n, _BLOCK):
        block = sorted_pts[start : start + _BLOCK]
        dominated = _dominates_any(block, front) | _dominates_any(block, block)
        keep_sorted[start : start + _BLOCK] = ~dominated
        if (~dominated).any():
            front_rows.append(block[~dominated])
            front = np.concatenate(front_rows)
            front_rows = [front]
    mask[order] = keep_sorted
    return mask


def pareto_mask(points: np.ndarray, minimize: Sequence[bool] | None = None) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (shape ``(n, d)``, finite or inf).

    ``minimize[k]`` False means column k is maximised. NaN is not allowed here (see
    :func:`pareto_front` for the NaN rule). 2 objectives take an O(n log n) sweep; more take
    the blocked comparison of :func:`_front_mask_nd`.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2:
        raise ValueError(f"points must be 2-D (n, d); got shape {pts.shape}")
    d = pts.shape[1]
    if minimize is None:
        minimize = (True,) * d
    if len(minimize) != d:
        raise ValueError(f"minimize has {len(minimize)} entries for {d} objectives")
    if np.isnan(pts).any():
        raise ValueError("points contain NaN; drop those rows first")
    signs = np.where(np.asarray(minimize, dtype=bool), 1.0, -1.0)
    pts = pts * signs
    if d == 1:
        return pts[:, 0] == pts[:, 0].min() if len(pts) else np.zeros(0, dtype=bool)
    if d == 2:
        return _front_mask_2d(pts)
    return _front_mask_nd(pts)


# --------------------------------------------------------------------------------------------
# DataFrame API
# --------------------------------------------------------------------------------------------
def _is_numeric(col: Any) -> bool:
    from pandas.api.types import is_numeric_dtype

    return bool(is_numeric_dtype(col.dtype))


def _objective_columns(
    df: pd.DataFrame, x: str, y: str, z: str | None, minimize: Sequence[bool] | None
) -> tuple[list[str], tuple[bool, ...]]:
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame (e.g. the result of sckit.sweep), "
                        f"got {type(df).__name__}")
    cols = [x, y] if z is None else [x, y, z]
    if len(set(cols)) != len(cols):
        raise ValueError(f"objective columns must be distinct; got {cols}")
    for c in cols:
        if c not in df.columns:
            raise ValueError(f"column {c!r} not in the frame (columns: {list(df.columns)})")
        if not _is_numeric(df[c]):
            raise TypeError(f"column {c!r} must be numeric, got dtype {df[c].dtype}")
    if minimize is None:
        minimize = (True, True) if z is None else (True, True, False)
    minimize = tuple(bool(m) for m in minimize)
    if len(minimize) == 2 and z is not None:
        minimize = (*minimize, False)  # the third objective (accuracy) is maximised by default
    if len(minimize) != len(cols):
        raise ValueError(f"minimize has {len(minimize)} entries for objectives {cols}")
    return cols, minimize


def pareto_front(
    df: pd.DataFrame,
    x: str = "size_bytes",
    y: str = "latency_ms",
    *,
    z: str | None = None,
    minimize: Sequence[bool] | None = None,
    nan: str = "drop",
) -> pd.DataFrame:
    """Return the non-dominated rows of ``df`` for objectives ``x``, ``y`` (and ``z``).

    Args:
        df: one row per configuration (e.g. the result of :func:`sckit.sweep`).
        x, y, z: objective columns; ``z`` optional (typically ``"accuracy"``).
        minimize: one flag per objective; default ``(True, True)`` and, with ``z``,
            ``(True, True, False)`` - size and latency minimised, accuracy maximised. Two flags
            with ``z`` given extend to ``(*minimize, False)``.
        nan: ``"drop"`` excludes rows with NaN in an objective (they cannot be compared);
            ``"raise"`` rejects them with ``ValueError``.

    Returns:
        The front rows of ``df`` (same columns and index) in their original order. Exact
        duplicates of a front point are all kept.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"size_bytes": [1, 2, 2, 3], "latency_ms": [3.0, 1.0, 1.0, 2.0]})
    >>> pareto_front(df).index.tolist()
    [0, 1, 2]
    """
    if nan not in ("drop", "raise"):
        raise ValueError(f"nan must be 'drop' or 'raise', got {nan!r}")
    cols, flags = _objective_columns(df, x, y, z, minimize)
    pts = df[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    finite_rows = ~np.isnan(pts).any(axis=1)
    if not finite_rows.all() and nan == "raise":
        bad = df.index[~finite_rows].tolist()[:5]
        raise ValueError(f"NaN in objective columns {cols} at rows {bad}")
    mask = np.zeros(len(df), dtype=bool)
    mask[finite_rows] = pareto_mask(pts[finite_rows], flags)
    return df.loc[mask]


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------
def _as_float(col: Any) -> np.ndarray:
    """A column as float64 with NaN for missing values (nullable Int64/boolean included)."""
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def _spans_decades(values: np.ndarray, decades: float = 2.0) -> bool:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0 or (v <= 0).any():
        return False  # a log axis cannot show zero or negative values
    return math.log10(v.max() / v.min()) >= decades


def _resolve_log(flag: bool | str, values: Any, name: str) -> bool:
    if flag == "auto":
        return _spans_decades(values)
    if isinstance(flag, bool):
        return flag
    raise ValueError(f"{name} must be True, False or 'auto', got {flag!r}")


def _missing(v: Any) -> bool:
    import pandas as pd

    return v is None or (not isinstance(v, str | bytes) and bool(pd.isna(v)))


def _fmt(v: Any) -> str:
    """A hover value: thousands separators for counts, 4 significant digits otherwise."""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        v = float(v)
        if math.isinf(v):
            return "infinite"
        return f"{v:,.0f}" if v.is_integer() and abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


#: sweep columns worth a hover line besides the name, the axes and the colour
_HOVER_EXTRA = ("compression_ratio", "speedup", "accuracy", "mode", "error")


def _default_hover(df: pd.DataFrame, x: str, y: str, color: str | None, symbol: str | None) -> list[str]:
    """A short hover: the row's name (``label``, else the first text column), the axes, the
    colour and symbol columns and a few sweep measurements, not every column of the frame."""
    names = ["label"] if "label" in df.columns else \
        [c for c in df.columns if not _is_numeric(df[c])][:1]
    wanted = [*names, x, y, color, symbol, *_HOVER_EXTRA]
    return [c for c in dict.fromkeys(wanted) if c is not None and c in df.columns]


def plot_pareto(
    df: pd.DataFrame,
    x: str = "size_bytes",
    y: str = "latency_ms",
    *,
    color: str | None = "accuracy",
    symbol: str | None = None,
    front: bool = True,
    minimize: Sequence[bool] = (True, True),
    log_x: bool | str = "auto",
    log_y: bool | str = "auto",
    hover_cols: Sequence[str] | None = None,
    title: str | None = None,
    height: int = 460,
) -> go.Figure:
    """A plotly figure of every configuration with the (x, y) Pareto front drawn on top.

    Traces: ``"configurations"`` (one marker per row, coloured by ``color`` when that column
    exists and is numeric, with a colour bar) and, with ``front=True``, ``"Pareto front"``: the
    front points sorted by ``x`` joined by a staircase (the region the front dominates). Hover
    shows ``hover_cols`` for each point (missing values left out); the default is short: the
    row's ``label``, the axes, colour and symbol columns, and ``compression_ratio``,
    ``speedup``, ``accuracy``, ``mode`` and ``error`` where the frame has them.
    ``symbol``: a categorical column (e.g. ``"mode"`` of a sweep) whose values get distinct
    marker shapes, with one legend entry per value (missing values show as "none"); the
    markers stay in the one ``"configurations"`` trace, one per row in frame order.
    ``log_x``/``log_y``: ``"auto"`` switches to a log axis when the positive values span at
    least two decades. ``minimize`` gives the front's directions for (x, y).

    Infinite values (a zero-byte size makes an infinite ratio) cannot be drawn: those points
    are left out of both traces (the configurations trace keeps one entry per row, as NaN) and
    a legend entry says how many were left out and why. ``height`` (pixels, >= 300) is set
    explicitly, so the figure never collapses in a flexible notebook container. Returns a
    native ``go.Figure``: display it, ``fig.show()`` it or wrap it in ``go.FigureWidget``.
    """
    import plotly.graph_objects as go

    for c in (x, y) if symbol is None else (x, y, symbol):
        if c not in df.columns:
            raise ValueError(f"column {c!r} not in the frame (columns: {list(df.columns)})")
    if hover_cols is None:
        hover_cols = _default_hover(df, x, y, color, symbol)
    missing = [c for c in hover_cols if c not in df.columns]
    if missing:
        raise ValueError(f"hover_cols not in the frame: {missing}")
    for c in (x, y):
        if not _is_numeric(df[c]):
            raise TypeError(f"column {c!r} must be numeric, got dtype {df[c].dtype}")
    if isinstance(height, bool) or not isinstance(height, int) or height < 300:
        raise ValueError(f"height must be an int >= 300 (pixels), got {height!r}")
    xs, ys = _as_float(df[x]), _as_float(df[y])
    # plotly cannot place a point at infinity (the browser logs `<text> attribute x: Expected
    # length, "Infinity"`): leave such points out, as NaN so rows keep their marker index
    infinite = np.isinf(xs) | np.isinf(ys)
    xs, ys = np.where(infinite, np.nan, xs), np.where(infinite, np.nan, ys)
    use_log_x = _resolve_log(log_x, xs, "log_x")
    use_log_y = _resolve_log(log_y, ys, "log_y")

    hover_text = [
        "<br>".join(f"{c}: {_fmt(v)}" for c, v in zip(hover_cols, row, strict=True) if not _missing(v))
        for row in df[list(hover_cols)].itertuples(index=False, name=None)
    ]
    marker: dict[str, Any] = {"size": 9, "line": {"width": 0.5, "color": "#333"}}
    has_color = (
        color is not None
        and color in df.columns
        and _is_numeric(df[color])
        and df[color].notna().any()
    )
    if has_color:
        colors = _as_float(df[color])
        marker.update(color=np.where(np.isinf(colors), np.nan, colors), colorscale="Viridis", showscale=True,
                      colorbar={"title": {"text": color}})
    keys: list[str] = []
    if symbol is not None:
        import pandas as pd

        cats = ["none" if pd.isna(v) else str(v) for v in df[symbol].tolist()]
        keys = list(dict.fromkeys(cats))
        if len(keys) > len(_SYMBOLS):
            raise ValueError(f"symbol column {symbol!r} has {len(keys)} values; at most {len(_SYMBOLS)} shapes")
        marker["symbol"] = [_SYMBOLS[keys.index(c)] for c in cats]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs, y=ys, mode="markers", name="configurations",
            marker=marker, text=hover_text, hovertemplate="%{text}<extra></extra>",
        )
    )
    if front and len(df):
        f = pareto_front(df, x, y, minimize=minimize).sort_values([x, y])
        fx, fy = _as_float(f[x]), _as_float(f[y])
        drawn = np.isfinite(fx) & np.isfinite(fy)
        fig.add_trace(
            go.Scatter(
                x=fx[drawn], y=fy[drawn], mode="lines+markers", name="Pareto front",
                line={"shape": "hv", "color": "crimson", "width": 2},
                marker={"symbol": "circle-open", "size": 13, "color": "crimson"},
                hoverinfo="skip",
            )
        )
    for k in keys:  # legend entries for the shapes (no points of their own)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"{symbol}: {k}",
                                 marker={"symbol": _SYMBOLS[keys.index(k)], "size": 9, "color": "#888"},
                                 hoverinfo="skip"))
    if infinite.any():  # say what is missing: a legend entry without points
        n = int(infinite.sum())
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", hoverinfo="skip",
            name=f"{n} configuration{'s' if n != 1 else ''} with infinite {x} or {y}: not drawn",
            marker={"symbol": "x-thin-open", "size": 9, "color": "#888"}))
    fig.update_layout(
        title=title or f"{y} vs {x}", xaxis_title=x, yaxis_title=y, template="plotly_white",
        legend={"orientation": "h", "y": -0.2}, height=height, autosize=True,
    )
    if use_log_x:
        fig.update_xaxes(type="log")
    if use_log_y:
        fig.update_yaxes(type="log")
    return fig


def find_chromium() -> str | None:
    """Path of a Chromium-based browser kaleido 1.x can drive, or None.

    Looks where kaleido looks (``BROWSER_PATH``, PATH, kaleido's own download), never downloads.
    """
    try:
        from choreographer.browsers.chromium import Chromium

        path = Chromium.find_browser(skip_local=False)
        if path:
            return str(path)
    except Exception:  # choreographer internals move; fall back to PATH
        pass
    for exe in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(exe)
        if found:
            return found
    return None


def save_figure(fig: go.Figure, path: str | Path, *, include_plotlyjs: bool | str = True) -> Path:
    """Write ``fig`` to ``path``; the suffix picks the format.

    ``.html``: self-contained by default (plotly.js inlined, opens offline; pass
    ``include_plotlyjs="cdn"`` for a small file). ``.png``/``.svg``/``.pdf``/``.jpeg``/``.webp``:
    static export through kaleido 1.x, which drives a Chromium browser - without one this raises
    ``RuntimeError`` saying how to get it (Debian: ``apt-get install chromium``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        fig.write_html(str(path), include_plotlyjs=include_plotlyjs, full_html=True)
        return path
    if suffix not in (".png", ".svg", ".pdf", ".jpeg", ".jpg", ".webp"):
        raise ValueError(f"unsupported figure format {suffix!r}: use .html, .png, .svg or .pdf")
    if find_chromium() is None:
        raise RuntimeError(
            f"cannot write {path.name}: static export needs kaleido 1.x and a Chromium browser, "
            "and none was found (checked BROWSER_PATH, PATH for chromium/chrome and kaleido's "
            "download). Install one (Debian: `apt-get install chromium`) or save as .html."
        )
    try:
        import kaleido  # noqa: F401
    except ImportError as exc:  # pragma: no cover - kaleido is in the jupyter extra
        raise RuntimeError("static export needs the kaleido package (pip install kaleido)") from exc
    fig.write_image(str(path))
    return path
