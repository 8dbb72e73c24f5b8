from __future__ import annotations

import math

import pytest
import torch

from sckit.baselines import BaselineResult, compare, zstd
from sckit.baselines.compare import COLUMNS

from .conftest import agreement_eval


@pytest.mark.slow  # runs every method incl. the engine: ~4 s alone, more on a busy machine
def test_compare_tiny_model(tiny_cnn, inputs):
    ev = agreement_eval(tiny_cnn, inputs)
    methods = [
        "dense",
        "zstd-3",
        "zstd-19",
        "lzma",
        "zipnn",
        "deep_compression",
        "deepsz",
        "succinct",
        "deep_compression+succinct",
    ]
    df = compare(
        tiny_cnn,
        methods,
        eval=ev,
        example_input=inputs[:2],
        options={
            "deep_compression": {"prune_amount": 0.5},
            "deepsz": {"prune_amount": 0.5, "error_bound": 1e-3},
        },
    )
    assert list(df.columns) == COLUMNS
    assert list(df["method"]) == methods
    rows = df.set_index("method")
    dense = rows.loc["dense"]
    assert dense["ratio"] == 1.0 and dense["accuracy"] == 1.0
    assert 32.0 <= dense["bits_per_weight"] < 32.1  # fp32 + one int64 BatchNorm counter
    for m in ("zstd-3", "zstd-19", "lzma", "zipnn"):
        assert rows.loc[m, "lossless"] and rows.loc[m, "accuracy"] == 1.0
        assert rows.loc[m, "ratio"] == pytest.approx(
            dense["size_bytes"] / rows.loc[m, "size_bytes"]
        )
    assert not rows.loc["deep_compression", "lossless"]
    # a 36-weight conv carries a 256-entry fp32 codebook, so only a modest gain on this tiny model
    assert rows.loc["deep_compression", "size_bytes"] < rows.loc["zstd-19", "size_bytes"]
    for m in ("succinct", "deep_compression+succinct"):
        if isinstance(rows.loc[m, "note"], str) and rows.loc[m, "note"].startswith("unavailable"):
            pytest.fail(f"{m} unavailable: {rows.loc[m, 'note']}")
    assert rows.loc["succinct", "lossless"] and rows.loc["succinct", "accuracy"] == 1.0
    # Succinct on top of P+Q is lossless w.r.t. the P+Q model: same predictions, same accuracy
    assert (
        rows.loc["deep_compression+succinct", "accuracy"]
        == rows.loc["deep_compression", "accuracy"]
    )


def test_compare_without_eval_and_custom_method(tiny_mlp, capsys):
    def custom(model):
        r = zstd(model, level=1)
        return r

    df = compare(tiny_mlp, ["zstd-3", custom, "deepsz"])
    assert list(df["method"]) == ["zstd-3", "custom", "deepsz"]
    err = capsys.readouterr().err
    assert "compare" in err and "3/3" in err  # the progress bar, on stderr
    quiet = compare(tiny_mlp, ["zstd-3"], progress=False)
    assert len(quiet) == 1 and "compare" not in capsys.readouterr().err
    assert df["accuracy"].isna().all()
    assert "fixed error bound" in df.iloc[2]["note"]
    assert all(math.isfinite(x) for x in df["size_bytes"])


def test_compare_bad_arguments(tiny_mlp):
    with pytest.raises(ValueError, match="unknown method"):
        compare(tiny_mlp, ["gzip"])
    with pytest.raises(ValueError, match="unknown method"):
        compare(tiny_mlp, ["zstd-3"], options={"gzip": {}})
    with pytest.raises(TypeError):
        compare(tiny_mlp, [42])
    with pytest.raises(TypeError):
        compare("model")
    with pytest.raises(TypeError):
        compare(tiny_mlp, [lambda m: 3])


def test_result_repr_and_summary(tiny_mlp):
    r = zstd(tiny_mlp)
    assert isinstance(r, BaselineResult)
    assert repr(r).startswith("BaselineResult(method='zstd-3'")
    s = r.summary()
    assert s["size_bytes"] == r.size_bytes and s["lossless"] is True
    with pytest.raises(AttributeError):
        r.size_bytes = 0  # frozen
    assert isinstance(r.model, torch.nn.Module)
