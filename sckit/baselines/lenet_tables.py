"""Deep Compression's LeNet tables (Han et al., Tables 2 and 3, MNIST), and ours beside them.

:data:`PAPER_LENET` holds the paper's figures per layer and in total, with the per-layer pruning
and bit widths it used; :func:`run_lenet` repeats that configuration on a zoo LeNet with
:func:`sckit.baselines.deep_compression` (retraining and centroid fine-tuning included);
:func:`lenet_table` and :func:`lenet_summary` put our measurements beside the paper's.

>>> r = run_lenet("lenet300_100", dataset="mnist")          # doctest: +SKIP
>>> lenet_table(r, "lenet300_100")                          # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from sckit.baselines.result import BaselineResult

__all__ = ["PAPER_LENET", "lenet_summary", "lenet_table", "paper_options", "run_lenet"]

_COLS = (
    "weights_pct",
    "weight_bits_pq",
    "weight_bits_pqh",
    "index_bits_pq",
    "index_bits_pqh",
    "compress_rate_pq",
    "compress_rate_pqh",
)


def _rows(*rows: tuple[Any, ...]) -> dict[str, dict[str, float]]:
    return {r[0]: dict(zip(_COLS, r[1:], strict=True)) for r in rows}


#: The paper's tables (percentages in percent) keyed by our layer names (its ip1.. are our
#: fc1..), its reference and compressed top-1 errors (Table 1) and model sizes.
PAPER_LENET: dict[str, dict[str, Any]] = {
    "lenet300_100": {
        "layers": _rows(
            ("fc1", 8, 6, 4.4, 5, 3.7, 3.1, 2.32),
            ("fc2", 9, 6, 4.4, 5, 4.3, 3.8, 3.04),
            ("fc3", 26, 6, 4.3, 5, 3.2, 15.7, 12.70),
            ("Total", 8, 6, 5.1, 5, 3.7, 3.1, 2.49),
        ),
        "options": {"bits_fc": 6, "index_bits_fc": 5},
        "top1_error_pct": (1.64, 1.58),
        "size_kb": (1070, 27),
        "ratio": 40.0,
    },
    "lenet5": {
        "layers": _rows(
            ("conv1", 66, 8, 7.2, 5, 1.5, 78.5, 67.45),
            ("conv2", 12, 8, 7.2, 5, 3.9, 6.0, 5.28),
            ("fc1", 8, 5, 4.5, 5, 4.5, 2.7, 2.45),
            ("fc2", 19, 5, 5.2, 5, 3.7, 6.9, 6.13),
            ("Total", 8, 5.3, 4.1, 5, 4.4, 3.05, 2.55),
        ),
        "options": {"bits_conv": 8, "bits_fc": 5, "index_bits_conv": 5, "index_bits_fc": 5},
        "top1_error_pct": (0.80, 0.74),
        "size_kb": (1720, 44),
        "ratio": 39.0,
    },
}


def _paper(name: str) -> dict[str, Any]:
    if name not in PAPER_LENET:
        raise ValueError(f"no Deep Compression table for {name!r}; known: {list(PAPER_LENET)}")
    return PAPER_LENET[name]


def paper_options(name: str) -> dict[str, Any]:
    """:func:`deep_compression` keyword arguments of the paper's run: per-layer pruning (the
    kept fractions of its "Weights% (P)" column) and its weight and index bit widths."""
    paper = _paper(name)
    prune = {
        layer: round(1.0 - row["weights_pct"] / 100.0, 4)
        for layer, row in paper["layers"].items()
        if layer != "Total"
    }
    return {"prune_amount": prune, **paper["options"]}


def run_lenet(
    name: str, *, dataset: str = "mnist", seed: int = 0, **options: Any
) -> BaselineResult:
    """Deep Compression of zoo model ``name`` trained on ``dataset`` with the paper's
    configuration (:func:`paper_options`); ``options`` override it (e.g. ``epochs=2``)."""
    from sckit.baselines.deep_compression import deep_compression
    from sckit.zoo import create_model

    model = create_model(name, seed=seed, pretrained=dataset)
    return deep_compression(model, **{**paper_options(name), **options})


def lenet_table(result: BaselineResult, name: str) -> pd.DataFrame:
    """Our Deep Compression table (``result.to_frame()``) and the paper's, column beside column:
    ``<column>`` is ours, ``<column>_paper`` the paper's (percentages in percent)."""
    import pandas as pd

    paper = _paper(name)["layers"]
    rows = []
    for r in result.layers:
        ref = paper.get(r["layer"], {})
        row: dict[str, Any] = {"layer": r["layer"], "n_weights": r["n_weights"]}
        for col in _COLS:
            row[col] = r[col]
            row[f"{col}_paper"] = ref.get(col, float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def lenet_summary(
    result: BaselineResult, name: str, *, succinct_bytes: int | None = None
) -> dict[str, Any]:
    """Headline figures, ours beside the paper's: whole-model ratio (every byte the decoder reads,
    biases included) and test accuracy before/after (from ``result.params["accuracy"]``); with
    ``succinct_bytes``, the size of Succinct Compression applied to the result's model."""
    paper = _paper(name)
    acc = result.params.get("accuracy", {}) if isinstance(result.params, dict) else {}
    before, after = acc.get("original", float("nan")), acc.get("final", float("nan"))
    err_before, err_after = paper["top1_error_pct"]
    out: dict[str, Any] = {
        "model": name,
        "dataset": result.params.get("dataset"),
        "dense_bytes": result.dense_bytes,
        "dc_bytes": result.size_bytes,
        "ratio": result.ratio,
        "ratio_paper": paper["ratio"],
        "accuracy_before": before,
        "accuracy_after": after,
        "loss_points": 100.0 * (before - after),
        "accuracy_before_paper": 1.0 - err_before / 100.0,
        "accuracy_after_paper": 1.0 - err_after / 100.0,
        "loss_points_paper": err_after - err_before,
    }
    if succinct_bytes is not None:
        out["succinct_bytes"] = int(succinct_bytes)
        out["succinct_ratio"] = result.dense_bytes / succinct_bytes
    return out
