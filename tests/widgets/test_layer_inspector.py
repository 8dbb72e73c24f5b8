"""LayerInspector without a browser."""

from __future__ import annotations

import math

import pytest
import torch
from sckit.widgets import LayerInspector
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def panel():
    torch.manual_seed(0)
    return LayerInspector(Tiny(), torch.randn(1, 1, 8, 8))


def test_auto_choice_and_totals(panel):
    c = panel.choices()
    assert c == {"conv": "block", "fc": "element"}  # conv FPr 72, fc FPr 2 at the default 32
    t = panel.totals_dict()
    assert t["dense_bytes"] == sum(p.numel() * 4 for p in Tiny().parameters())
    assert t["succinct_bytes"] > 0 and t["ratio"] == pytest.approx(t["dense_bytes"] / t["succinct_bytes"])
    assert "succinct" in panel.totals.value


def test_slider_and_toggle_update_totals(panel):
    before = panel.totals_dict()
    panel.set_threshold(1.0)  # everything block-wise
    assert set(panel.choices().values()) == {"block"}
    after = panel.totals_dict()
    assert after["n_block"] == 2 and after["decode_cost"] != before["decode_cost"]
    panel.set_layer_ras("conv", "element")
    assert panel.choices()["conv"] == "element"
    # the total is looked up in the table of the chosen kind per layer (the two kinds may
    # encode a small random layer to the same size, so compare with the lookups themselves)
    want = panel.sizes["element"].loc["conv", "succinct_bytes"] + panel.sizes["block"].loc["fc", "succinct_bytes"]
    assert panel.totals_dict()["succinct_bytes"] == want
    panel.layer.value = "conv"
    assert panel.layer_ras.value == "element"
    panel.set_layer_ras("conv", "auto")
    assert panel.choices()["conv"] == "block"


def test_sorting(panel):
    panel.sort_by.value, panel.descending.value = "n_params", True
    assert panel.view.value.index(">fc<") < panel.view.value.index(">conv<")


def test_silly_values_show_messages(panel):
    state = panel.totals_dict()
    for bad in (-3, 0, math.nan, math.inf, True, "32", None):
        panel.set_threshold(bad)
        assert f"FPr threshold={bad!r} is not valid" in panel.last_error
    panel.set_layer_ras("nope", "block")
    assert "not a weight layer" in panel.last_error
    panel.set_layer_ras("fc", "diagonal")
    assert "RAS must be" in panel.last_error
    assert panel.totals_dict() == state


def test_a_nan_slider_is_reverted_and_later_actions_work():
    torch.manual_seed(0)
    p = LayerInspector(Tiny(), torch.randn(1, 1, 8, 8))
    p.set_threshold(10.0)
    state, html = p.totals_dict(), p.view.value
    for bad in (math.nan,):  # the one bad value the slider itself lets through (it clamps the rest)
        p.threshold.value = bad
        assert "is not valid" in p.last_error and p.threshold.value == 10.0
        assert p.totals_dict() == state and p.view.value == html
    # every later action still works (a kept NaN used to break them all)
    p.set_layer_ras("conv", "element")
    assert p.last_error is None and p.choices()["conv"] == "element"
    p.set_threshold(1.0)
    assert p.last_error is None and p.choices()["fc"] == "block"
    with pytest.raises(ValueError, match="FPr threshold"):
        LayerInspector(Tiny(), torch.randn(1, 1, 8, 8), fpr_threshold=math.nan)
