"""ParetoExplorer without a browser."""

from __future__ import annotations

import pytest
import torch
from sckit.widgets import ParetoExplorer
from torch import nn

import sckit


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    x = torch.randn(2, 16)
    grid = {"ras": ["auto", "block"], "prune": [None, ("magnitude", 0.7)]}
    df = sckit.sweep(model, grid, example_input=x, repeats=1, progress=False)
    return model, x, df


def test_figure_and_front(setup):
    model, x, df = setup
    ex = ParetoExplorer(df, model=model, example_input=x)
    names = [t.name for t in ex.figure.data]
    assert "configurations" in names and "Pareto front" in names
    assert len(ex.front) >= 1 and set(ex.front.index) <= set(range(len(df)))


def test_select_shows_configuration_and_layer_table(setup):
    model, x, df = setup
    ex = ParetoExplorer(df, model=model, example_input=x)
    pruned = int(df.index[df.prune_method.astype(str) == "magnitude"][0])
    ex.select(pruned)
    assert ex.last_error is None, ex.last_error
    assert ex.selected == pruned and "magnitude" in ex.details.value
    assert ex.layers is not None and list(ex.layers.layer[:2]) == ["0", "2"]
    assert ex.layers.sparsity.iloc[0] > 0.5  # the table is the pruned model's
    ex._on_click(None, type("P", (), {"point_inds": [0]})(), None)
    assert ex.selected == 0


def test_bad_selection_and_empty_frame(setup):
    _, _, df = setup
    ex = ParetoExplorer(df)
    ex.select(999)
    assert "no configuration 999" in ex.last_error
    with pytest.raises(ValueError, match="empty"):
        ParetoExplorer(df.iloc[:0])


def test_silly_selections_keep_the_last_good_state(setup):
    model, x, df = setup
    ex = ParetoExplorer(df)
    ex.select(1)
    kept = ex.details.value
    for bad, msg in ((True, "row number"), (1.0, "row number"), (float("nan"), "row number"),
                     ("2", "row number"), (-1, "no configuration -1"), (len(df), "no configuration")):
        ex.select(bad)
        assert msg in ex.last_error and ex.selected == 1 and ex.details.value == kept
    ex.select(0)
    assert ex.last_error is None and ex.selected == 0


def test_native_figure_with_height_and_no_infinities(setup):
    import numpy as np
    import plotly.graph_objects as go

    _, _, df = setup
    df = df.copy()
    df.loc[1, "latency_ms"] = float("inf")  # e.g. a timing that overflowed
    ex = ParetoExplorer(df)
    assert isinstance(ex.figure, go.FigureWidget) and ex.figure.layout.height >= 300
    ys = np.asarray(ex.figure.data[0].y, dtype=float)
    assert np.isnan(ys[1]) and np.isfinite(ys[~np.isnan(ys)]).all()
    assert any("not drawn" in (t.name or "") for t in ex.figure.data)
    assert isinstance(sckit.plot_pareto(df), go.Figure)
