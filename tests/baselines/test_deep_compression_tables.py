"""Deep Compression's LeNet tables: the paper's figures and the configuration we repeat."""

from __future__ import annotations

import math

import pytest

from sckit.baselines import deep_compression
from sckit.baselines.lenet_tables import PAPER_LENET, lenet_summary, lenet_table, paper_options

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_paper_options_repeat_the_papers_pruning_and_bits():
    o = paper_options("lenet300_100")
    assert o == {
        "prune_amount": {"fc1": 0.92, "fc2": 0.91, "fc3": 0.74},
        "bits_fc": 6,
        "index_bits_fc": 5,
    }
    o5 = paper_options("lenet5")
    assert o5["prune_amount"] == {"conv1": 0.34, "conv2": 0.88, "fc1": 0.92, "fc2": 0.81}
    assert (o5["bits_conv"], o5["bits_fc"]) == (8, 5)
    # the paper's totals agree with its own ratio column (2.49% -> 40x, 2.55% -> 39x)
    for p in PAPER_LENET.values():
        assert round(100 / p["layers"]["Total"]["compress_rate_pqh"]) == p["ratio"]
    with pytest.raises(ValueError, match="no Deep Compression table for 'vgg16'"):
        paper_options("vgg16")


def test_table_and_summary_put_ours_beside_the_papers():
    from sckit.zoo import create_model

    model = create_model("lenet300_100")  # random weights: no training set, no retraining
    r = deep_compression(model, **paper_options("lenet300_100"), progress=False)
    t = lenet_table(r, "lenet300_100")
    assert list(t.layer) == ["fc1", "fc2", "fc3", "Total"]
    assert list(t.weights_pct_paper) == [8, 9, 26, 8]
    assert t.weights_pct.iloc[:3].round(1).tolist() == [8.0, 9.0, 26.0]  # the same pruning
    assert t.compress_rate_pqh.iloc[-1] == r.layers[-1]["compress_rate_pqh"]
    s = lenet_summary(r, "lenet300_100", succinct_bytes=r.size_bytes // 2)
    assert s["ratio"] == r.ratio and s["ratio_paper"] == 40.0
    assert s["accuracy_after_paper"] == pytest.approx(0.9842)
    assert math.isnan(s["accuracy_before"])  # nothing to evaluate on: not made up
    assert s["succinct_ratio"] == pytest.approx(2 * r.ratio, rel=1e-3)
