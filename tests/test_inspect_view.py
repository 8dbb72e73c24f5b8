"""The inspection table's views: formatted HTML with every row and a totals footer, a print()
view within 100 columns, totals in attrs; and it stays a DataFrame for analysis."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import torch
from torch import nn

import sckit
from sckit.inspect_view import InspectFrame, block_totals, fmt_bytes, fmt_sig
from tests.fixtures import TinyCNN


class Deep(nn.Module):
    """130 weight rows in 10 blocks: more than pandas' 60-row display limit."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(*[nn.Linear(80, 80) for _ in range(13)]) for _ in range(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return x


@pytest.fixture(scope="module")
def deep() -> pd.DataFrame:
    torch.manual_seed(0)
    return sckit.inspect(Deep(), torch.randn(1, 80))


def test_still_a_dataframe(deep):
    assert isinstance(deep, pd.DataFrame) and isinstance(deep, InspectFrame)
    assert len(deep) == 130 and int(deep["macs"].sum()) == 130 * 80 * 80
    sub = deep[deep.layer.str.startswith("blocks.1.")]
    assert isinstance(sub, InspectFrame) and len(sub) == 13
    assert deep.attrs["totals"]["n_params"] == 130 * (80 * 80 + 80)
    assert deep.attrs["sizes"] == "estimated" and deep.size_estimated.any()
    for col in ("depth", "input_shape", "output_shape", "trainable", "size_estimated"):
        assert col in deep.columns
    assert deep.depth.iloc[0] == 3 and deep.output_shape.iloc[0] == (1, 80)


def test_html_has_every_row_footer_and_formatting(deep):
    html = deep._repr_html_()
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == 130
    assert "blocks.9.12" in body and "blocks.0.0" in body
    assert "overflow:auto" in html and "<tfoot>" in html
    foot = html.split("<tfoot>")[1]
    assert "Total (130 rows)" in foot and f"{130 * 80 * 80:,}" in foot
    assert f"{130 * 6480:,}" in foot  # parameters with thousands separators
    assert re.search(r"\d KiB", body) and "\u2248" in body  # byte units, estimates marked
    assert "background:#fff0cc" in body  # element-wise RAS coloured
    assert "1.00e" not in html and "e+0" not in html


def test_print_view_fits_100_columns_and_shows_all_rows(deep):
    text = str(deep)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert sum("Linear" in line for line in lines) == 130
    assert any(line.startswith("Total: 130 rows") for line in lines)
    assert "..." not in text


def test_formatters():
    assert fmt_sig(1107.692) == "1,110" and fmt_sig(1.99805) == "2" and fmt_sig(394.2) == "394"
    assert fmt_sig(0.012345) == "0.0123" and fmt_sig(float("nan")) == ""
    assert fmt_bytes(1536) == "1.5 KiB" and fmt_bytes(3 * 2**20) == "3.0 MiB"
    assert fmt_bytes(100) == "100 B"


def test_other_columns_fall_back_to_pandas(deep):
    part = deep[["layer", "macs"]]
    assert "<table" in part._repr_html_() and "Total" not in part._repr_html_()
    assert "Total" not in repr(part)


def test_block_totals_and_footer_of_a_cnn():
    df = sckit.inspect(TinyCNN(), torch.randn(1, 1, 8, 8), encode="exact")
    assert df.attrs["sizes"] == "exact" and not df.size_estimated.any()
    t = df.attrs["totals"]
    assert t["succinct_bytes"] == pytest.approx(df.succinct_bytes.sum())
    assert t["ratio"] == pytest.approx(t["dense_bytes"] / t["succinct_bytes"])
    assert "\u2248" not in df._repr_html_()
    assert df.trainable.all()


def test_block_subtotals(deep):
    b = block_totals(deep, depth=2)
    assert list(b.block[:2]) == ["blocks.0", "blocks.1"] and len(b) == 10
    assert (b.rows == 13).all() and b.n_params.sum() == deep.n_params.sum()
    with pytest.raises(ValueError, match="depth"):
        block_totals(deep, depth=0)


def test_frozen_layers_are_flagged():
    model = TinyCNN()
    model.conv.requires_grad_(False)
    df = sckit.inspect(model, torch.randn(1, 1, 8, 8), encode=False).set_index("layer")
    assert not df.trainable["conv"] and df.trainable["fc"]
    t = df.attrs["totals"]
    assert t["trainable_params"] == t["n_params"] - df.n_params["conv"]


def test_resnet50_every_row_in_html_and_print():
    from sckit import zoo

    df = sckit.inspect(zoo.create_model("resnet50"), torch.zeros(1, 3, 64, 64), encode=False)
    assert len(df) == 107
    assert df._repr_html_().split("<tbody>")[1].split("</tbody>")[0].count("<tr>") == 107
    lines = str(df).splitlines()
    assert sum(" Conv2d " in line or " BatchNorm2d " in line for line in lines) == 106
    assert max(map(len, lines)) <= 100
