from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sckit.baselines import deepsz, optimize_error_bounds
from sckit.baselines.result import magnitude_prune

from .conftest import agreement_eval, state_bit_equal


def _pruned(w: torch.Tensor, amount: float) -> np.ndarray:
    a = w.detach().numpy()
    return a * magnitude_prune(a, amount)


@pytest.mark.parametrize("eb", [1e-4, 1e-2])
def test_fixed_bound_within_error_bound(tiny_cnn, eb):
    before = copy.deepcopy(tiny_cnn)
    r = deepsz(tiny_cnn, prune_amount=0.7, error_bound=eb)
    assert state_bit_equal(tiny_cnn, before)
    dec = r.model.state_dict()
    ref = _pruned(tiny_cnn.fc.weight, 0.7)
    err = np.abs(dec["fc.weight"].numpy().astype(np.float64) - ref)
    assert err.max() <= eb
    # pruned positions that are not filler entries decode to exact zeros (8-bit gaps: no fillers here)
    assert np.all(dec["fc.weight"].numpy()[ref == 0] == 0)
    # conv layers are not DeepSZ's business: bit-exact
    for name in ("conv.weight", "conv.bias", "bn.running_var", "fc.bias"):
        assert torch.equal(dec[name], tiny_cnn.state_dict()[name]), name
    df = r.to_frame()
    assert list(df["layer"]) == ["fc", "Total"]
    assert df.iloc[0]["max_abs_error"] <= eb
    assert r.size_bytes == df.iloc[-1]["size_bytes"] + r.params["other_bytes"]


def test_filler_entries_stay_within_bound(tiny_mlp):
    # 2-bit gaps force many filler entries; they hold 0 and must decode within eb of 0
    r = deepsz(tiny_mlp, prune_amount=0.9, error_bound=1e-3, index_bits=2)
    for name in ("fc1.weight", "fc2.weight"):
        ref = _pruned(getattr(tiny_mlp, name.split(".")[0]).weight, 0.9)
        got = r.model.state_dict()[name].numpy().astype(np.float64)
        assert np.abs(got - ref).max() <= 1e-3


def test_search_respects_budget_and_records_assessment(tiny_mlp, inputs):
    ev = agreement_eval(tiny_mlp, inputs)
    budget = 0.02
    r = deepsz(
        tiny_mlp,
        prune_amount=0.5,
        eval_fn=ev,
        accuracy_loss_budget=budget,
        error_bounds=(1e-3, 1e-2, 5e-2, 2e-1),
    )
    p = r.params
    assert p["accuracy_pruned"] - p["accuracy_final"] <= budget + 1e-12
    assert p["accuracy_final"] == pytest.approx(ev(r.model))
    assert {a["layer"] for a in p["assessment"]} == {"fc1", "fc2"}
    for name in ("fc1", "fc2"):
        tested = [a for a in p["assessment"] if a["layer"] == name]
        # testing stops at the first bound over budget: only the last tested may exceed it
        assert all(a["loss"] <= budget for a in tested[:-1])
        eb = p["error_bounds"][name]
        ref = _pruned(getattr(tiny_mlp, name).weight, 0.5)
        got = r.model.state_dict()[f"{name}.weight"].numpy().astype(np.float64)
        assert np.abs(got - ref).max() <= eb
    assert p["assess_s"] <= r.encode_s


def test_larger_budget_never_larger_model(tiny_mlp, inputs):
    ev = agreement_eval(tiny_mlp, inputs)
    sizes = [
        deepsz(tiny_mlp, prune_amount=0.5, eval_fn=ev, accuracy_loss_budget=b).size_bytes
        for b in (0.0, 0.1)
    ]
    assert sizes[1] <= sizes[0]


def test_optimize_known_answer():
    options = {
        "a": [(1e-3, 100, 0.0), (1e-2, 50, 0.004), (1e-1, 10, 0.02)],
        "b": [(1e-3, 80, 0.0), (1e-2, 30, 0.006)],
    }
    assert optimize_error_bounds(options, 0.01) == {"a": 1e-2, "b": 1e-2}
    assert optimize_error_bounds(options, 0.005) == {"a": 1e-2, "b": 1e-3}
    assert optimize_error_bounds(options, 0.0) == {"a": 1e-3, "b": 1e-3}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(1, 1000), st.integers(-5, 60)), min_size=1, max_size=4),
        min_size=1,
        max_size=3,
    ),
)
def test_optimize_matches_brute_force(layers):
    # losses on the DP grid (multiples of budget / resolution) so the optimum is exact
    budget = 0.5
    unit = budget / 100
    options = {
        f"l{i}": [(float(j + 1), size, loss * unit) for j, (size, loss) in enumerate(opts)]
        for i, opts in enumerate(layers)
    }
    got = optimize_error_bounds(options, budget, resolution=100)
    best = math.inf
    for combo in itertools.product(*options.values()):
        if sum(max(o[2], 0.0) for o in combo) <= budget + 1e-12:
            best = min(best, sum(o[1] for o in combo))
    size = sum(next(o[1] for o in options[n] if o[0] == eb) for n, eb in got.items())
    if best < math.inf:
        assert size == best
    else:  # nothing fits: each layer's first option
        assert got == {n: opts[0][0] for n, opts in options.items()}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # neither eval_fn nor error_bound
        {"error_bound": 0.0},
        {"error_bound": {"fc1": 1e-3}},  # fc2 missing
        {"error_bound": 1e-3, "prune_amount": 1.5},
        {"error_bound": 1e-3, "index_bits": 0},
        {"error_bound": 1e-3, "sz_backend": "zfp"},
        {"error_bound": 1e-3, "predictor": "cubic"},
        {"eval_fn": lambda m: 1.0, "error_bounds": (-1.0,)},
        {"eval_fn": lambda m: 1.0, "accuracy_loss_budget": -0.1},
    ],
)
def test_bad_arguments(tiny_mlp, kwargs):
    with pytest.raises(ValueError):
        deepsz(tiny_mlp, **kwargs)


def test_model_without_fc_layers():
    with pytest.raises(ValueError, match="FC"):
        deepsz(torch.nn.Conv2d(1, 2, 3), error_bound=1e-3)


def test_fine_tuned_state_is_the_reference(tiny_mlp, inputs):
    ev = agreement_eval(tiny_mlp, inputs)
    seen = {}

    def tune(model):
        out = copy.deepcopy(model)
        with torch.no_grad():
            out.fc2.bias.add_(0.3)  # a visible change outside the coded weights
        seen["model"] = out
        return out

    r = deepsz(tiny_mlp, prune_amount=0.5, eval_fn=ev, accuracy_loss_budget=0.05, fine_tune=tune)
    assert torch.equal(r.model.fc2.bias, seen["model"].fc2.bias)
    # the budget is measured against the pruned + fine-tuned model, biases included
    assert r.params["accuracy_pruned"] == ev(seen["model"])
    assert r.params["accuracy_pruned"] - r.params["accuracy_final"] <= 0.05 + 1e-12
