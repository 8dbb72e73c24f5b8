"""pareto_front against a brute-force oracle; plot_pareto traces and axes; figure export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sckit.sweeps.pareto import find_chromium, pareto_front, pareto_mask, plot_pareto, save_figure


def oracle_mask(pts: np.ndarray, minimize: tuple[bool, ...]) -> np.ndarray:
    """O(n^2) definition: no row is <= in every objective and < in one."""
    signs = np.where(np.asarray(minimize), 1.0, -1.0)
    p = pts * signs
    n = len(p)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if np.all(p[j] <= p[i]) and np.any(p[j] < p[i]):
                keep[i] = False
                break
    return keep


# small integer grids force many ties and duplicates
values = st.integers(min_value=0, max_value=5).map(float)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 3).flatmap(
        lambda d: st.tuples(
            st.lists(st.lists(values, min_size=d, max_size=d), min_size=0, max_size=40),
            st.lists(st.booleans(), min_size=d, max_size=d),
        )
    )
)
def test_mask_matches_oracle(data):
    rows, minimize = data
    d = len(minimize)
    pts = np.array(rows, dtype=float).reshape(-1, d)
    got = pareto_mask(pts, minimize)
    np.testing.assert_array_equal(got, oracle_mask(pts, tuple(minimize)))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_nd_blocks_match_oracle(seed):
    # more rows than one block (512) so the cross-block path is exercised
    rng = np.random.default_rng(seed)
    pts = rng.integers(0, 12, size=(700, 3)).astype(float)
    np.testing.assert_array_equal(
        pareto_mask(pts, (True, True, False)), oracle_mask_fast(pts, (True, True, False))
    )


def oracle_mask_fast(pts, minimize):
    # same definition as oracle_mask, vectorised per row (700^2 Python pairs is too slow)
    p = pts * np.where(np.asarray(minimize), 1.0, -1.0)
    return np.array(
        [not np.any(np.all(p <= q, axis=1) & np.any(p < q, axis=1)) for q in p], dtype=bool
    )


def test_duplicates_and_ties():
    df = pd.DataFrame(
        {
            "size_bytes": [1, 1, 1, 2, 2, 3, 0],
            "latency_ms": [5.0, 5.0, 6.0, 2.0, 2.0, 2.0, 9.0],
        }
    )
    front = pareto_front(df)
    # both copies of (1,5) and of (2,2) kept; (1,6) tied in x loses on y; (3,2) tied in y loses
    assert front.index.tolist() == [0, 1, 3, 4, 6]


def test_three_objectives_accuracy_maximised():
    df = pd.DataFrame(
        {
            "size_bytes": [10, 10, 20],
            "latency_ms": [1.0, 1.0, 1.0],
            "accuracy": [0.9, 0.95, 0.99],
        }
    )
    assert pareto_front(df).index.tolist() == [0, 1]  # (10,1) duplicates in 2-D
    assert pareto_front(df, z="accuracy").index.tolist() == [1, 2]
    # two flags + z extends to (..., False); explicit minimisation flips the answer
    assert pareto_front(df, z="accuracy", minimize=(True, True)).index.tolist() == [1, 2]
    assert pareto_front(df, z="accuracy", minimize=(True, True, True)).index.tolist() == [0]


def test_nan_rule():
    df = pd.DataFrame({"size_bytes": [1.0, np.nan, 3.0], "latency_ms": [3.0, 0.0, 1.0]})
    assert pareto_front(df).index.tolist() == [0, 2]
    with pytest.raises(ValueError, match="NaN"):
        pareto_front(df, nan="raise")


def test_infinities_are_values():
    pts = np.array([[0.0, np.inf], [1.0, 1.0], [2.0, -np.inf]])
    np.testing.assert_array_equal(pareto_mask(pts), oracle_mask(pts, (True, True)))


def test_bad_input():
    df = pd.DataFrame({"size_bytes": [1], "latency_ms": [1.0], "name": ["a"]})
    with pytest.raises(ValueError, match="'missing'"):
        pareto_front(df, x="missing")
    with pytest.raises(TypeError, match="'name'"):
        pareto_front(df, y="name")
    with pytest.raises(ValueError, match="minimize"):
        pareto_front(df, minimize=(True,))
    with pytest.raises(ValueError, match="nan"):
        pareto_front(df, nan="keep")
    with pytest.raises(TypeError, match="pandas DataFrame.*got list"):
        pareto_front([{"size_bytes": 1, "latency_ms": 1.0}])  # type: ignore[arg-type]


def test_large_2d_is_fast_and_correct():
    rng = np.random.default_rng(0)
    pts = rng.random((200_000, 2))
    import time

    t0 = time.perf_counter()
    m = pareto_mask(pts)
    assert time.perf_counter() - t0 < 2.0
    # every kept point is undominated by all points (check the front only: small)
    for q in pts[m]:
        assert not np.any(np.all(pts <= q, axis=1) & np.any(pts < q, axis=1))
    # and the front's complement is dominated by the front (spot-check 200 rows)
    front = pts[m]
    for q in pts[~m][:200]:
        assert np.any(np.all(front <= q, axis=1) & np.any(front < q, axis=1))


def _frame():
    return pd.DataFrame(
        {
            "method": ["dense", "prune", "prune", "quant", "both"],
            "size_bytes": [100_000, 40_000, 20_000, 25_000, 500],
            "latency_ms": [1.0, 1.2, 1.1, 0.9, 1.5],
            "accuracy": [0.98, 0.97, 0.95, 0.96, 0.5],
        }
    )


def test_plot_traces_and_axes():
    df = _frame()
    fig = plot_pareto(df)
    names = [t.name for t in fig.data]
    assert names == ["configurations", "Pareto front"]
    pts, fr = fig.data
    assert len(pts.x) == len(df)
    assert list(pts.marker.color) == df["accuracy"].tolist()
    expected = pareto_front(df).sort_values("size_bytes")
    assert list(fr.x) == expected["size_bytes"].tolist()
    assert fr.line.shape == "hv"
    assert fig.layout.xaxis.type == "log"  # 500 .. 100000 spans > 2 decades
    assert fig.layout.yaxis.type != "log"  # 0.9 .. 1.5 does not
    assert "method: quant" in pts.text[3] and "accuracy: 0.96" in pts.text[3]


def test_plot_options():
    df = _frame()
    df["size_bytes"] = [100, 90, 80, 70, 60]
    fig = plot_pareto(df, front=False, color=None, hover_cols=["method"])
    assert [t.name for t in fig.data] == ["configurations"]
    assert fig.layout.xaxis.type != "log"
    assert fig.data[0].text[0] == "method: dense"
    assert plot_pareto(df, log_x=True).layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="hover_cols"):
        plot_pareto(df, hover_cols=["nope"])
    with pytest.raises(ValueError, match="log_x"):
        plot_pareto(df, log_x="yes")


def test_html_export(tmp_path):
    out = save_figure(plot_pareto(_frame()), tmp_path / "front.html", include_plotlyjs="cdn")
    html = out.read_text()
    assert "Pareto front" in html and "plotly" in html.lower()


def test_png_export_without_chromium_fails_clearly(tmp_path, monkeypatch):
    import sckit.sweeps.pareto as pareto

    monkeypatch.setattr(pareto, "find_chromium", lambda: None)
    with pytest.raises(RuntimeError, match="Chromium"):
        save_figure(plot_pareto(_frame()), tmp_path / "front.png")
    assert not (tmp_path / "front.png").exists()


@pytest.mark.slow
def test_png_export(tmp_path):
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium): PNG export not exercised")
    out = save_figure(plot_pareto(_frame()), tmp_path / "front.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_bad_suffix(tmp_path):
    with pytest.raises(ValueError, match="unsupported"):
        save_figure(plot_pareto(_frame()), tmp_path / "front.txt")


def test_nullable_columns_like_a_sweep():
    # sweeps return Int64 sizes with <NA> for failed rows, and boolean columns with <NA>
    df = _frame()
    df["size_bytes"] = pd.array([100_000, None, 20_000, 25_000, 500], dtype="Int64")
    df["roundtrip_ok"] = pd.array([None, True, True, True, False], dtype="boolean")
    assert pareto_front(df).index.tolist() == [2, 3, 4]  # row 1 (NA) excluded, row 0 dominated
    fig = plot_pareto(df)
    assert np.isnan(fig.data[0].x[1]) and fig.layout.xaxis.type == "log"
    fig = plot_pareto(df, hover_cols=["method", "size_bytes", "roundtrip_ok"])
    assert fig.data[0].text[0] == "method: dense<br>size_bytes: 100,000"  # <NA> left out
    assert fig.data[0].text[4] == "method: both<br>size_bytes: 500<br>roundtrip_ok: False"


def test_infinite_values_are_not_drawn_and_the_legend_says_so():
    df = _frame()
    df["compression_ratio"] = [1.0, 2.5, 5.0, float("inf"), 200.0]
    df.loc[1, "latency_ms"] = -float("inf")
    fig = plot_pareto(df, x="compression_ratio", y="latency_ms", minimize=(False, True))
    pts, fr, note = fig.data
    assert len(pts.x) == len(df)  # one entry per row still (clicks map to rows)
    for trace in (pts, fr):  # nothing infinite reaches plotly
        assert np.isfinite(np.asarray(trace.x, dtype=float)[~np.isnan(np.asarray(trace.x, dtype=float))]).all()
        assert np.isfinite(np.asarray(trace.y, dtype=float)[~np.isnan(np.asarray(trace.y, dtype=float))]).all()
    assert np.isnan(pts.x[3]) and np.isnan(pts.y[1])
    assert note.name == "2 configurations with infinite compression_ratio or latency_ms: not drawn"
    assert "compression_ratio: infinite" in pts.text[3]
    assert "Infinity" not in fig.to_json()
    assert fig.layout.height >= 300


def test_figure_is_native_with_an_explicit_height():
    import plotly.graph_objects as go

    fig = plot_pareto(_frame())
    assert isinstance(fig, go.Figure) and fig.layout.height == 460
    assert plot_pareto(_frame(), height=320).layout.height == 320
    for bad in (100, 460.0, True):
        with pytest.raises(ValueError, match="height"):
            plot_pareto(_frame(), height=bad)
    # the default hover is short: name, axes, colour (not every column)
    assert fig.data[0].text[0] == "method: dense<br>size_bytes: 100,000<br>latency_ms: 1<br>accuracy: 0.98"


def test_plot_symbols_by_category():
    df = _frame()
    df["mode"] = pd.array([None, "exact", "fast", "exact", "fast"], dtype="string")
    fig = plot_pareto(df, symbol="mode")
    assert [t.name for t in fig.data] == ["configurations", "Pareto front", "mode: none", "mode: exact", "mode: fast"]
    pts = fig.data[0]
    assert len(pts.x) == len(df)  # still one marker per row, in frame order
    assert list(pts.marker.symbol) == ["circle", "diamond", "square", "diamond", "square"]
    assert [t.marker.symbol for t in fig.data[2:]] == ["circle", "diamond", "square"]
    assert all(list(t.x) == [None] for t in fig.data[2:])  # legend entries only
    assert plot_pareto(df).data[0].marker.symbol is None  # without symbol=: plotly's default
    with pytest.raises(ValueError, match="'nope' not in the frame"):
        plot_pareto(df, symbol="nope")
    df["many"] = [str(i) for i in range(5)]
    assert len(plot_pareto(df, symbol="many").data) == 2 + 5
    with pytest.raises(ValueError, match="at most"):
        plot_pareto(pd.concat([df] * 2, ignore_index=True).assign(many=[str(i) for i in range(10)]), symbol="many")
