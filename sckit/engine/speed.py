"""The Succinct Compression paper's Speedup columns (Tables 1-2), measured on this machine.

For each configuration (pruning or quantization), three models run on the same input: the dense
source, the configuration "alone" (the pruned or fake-quantized model run densely, as PyTorch runs
it) and "ours" (``sckit.compress(..., mode="fast")`` on top of it). The paper's "xx/yy" Speedup
entry is alone/ours against dense; "Speedup Improved" is alone / ours.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from sckit.engine.outputs import bit_equal
from sckit.engine.trace import call_model

__all__ = ["CONFIGS", "PAPER_SPEED", "configured", "speedup_table"]

#: the configurations of the paper's Tables 1-2 that sckit can build (SNIP -> magnitude, HRank ->
#: filter_l1, LSQ -> per-tensor uniform quantization)
CONFIGS = ("magnitude 90%", "magnitude 95%", "filter_l1 50%", "8-bit", "4-bit", "2-bit")

#: the paper's Speedup "alone/ours" and Speedup Improved, per (zoo model, configuration)
PAPER_SPEED = {
    ("resnet50", "magnitude 90%"): "1.12/2.8, 2.50", ("resnet50", "magnitude 95%"): "1.14/3.5, 3.07",
    ("resnet50", "filter_l1 50%"): "1.4/2.6, 1.86", ("resnet50", "8-bit"): "3.5/3.8, 1.09",
    ("resnet50", "4-bit"): "3.4/6.6, 1.94", ("resnet50", "2-bit"): "2.9/7.0, 2.41",
    ("resnet101", "magnitude 90%"): "1.08/5.3, 4.91", ("resnet101", "magnitude 95%"): "1.09/6.4, 5.87",
    ("resnet101", "filter_l1 50%"): "1.4/2.6, 1.86", ("resnet101", "8-bit"): "3.2/3.9, 1.22",
    ("resnet101", "4-bit"): "3.1/7.2, 2.32", ("resnet101", "2-bit"): "2.5/9.3, 3.72",
    ("vgg16", "magnitude 90%"): "1.08/1.3, 1.20", ("vgg16", "magnitude 95%"): "1.08/1.4, 1.30",
    ("vgg16", "filter_l1 50%"): "1.7/1.8, 1.06", ("vgg16", "8-bit"): "3.4/3.2, 0.94",
    ("vgg16", "4-bit"): "3.1/3.4, 1.10", ("vgg16", "2-bit"): "2.6/3.8, 1.46",
    ("deit_base", "8-bit"): "2.6/3.3, 1.27", ("deit_base", "4-bit"): "2.4/5.2, 2.17",
    ("deit_base", "2-bit"): "1.8/6.7, 3.72",
}


def configured(model: nn.Module, config: str) -> nn.Module:
    """``model`` pruned ("magnitude 90%", "filter_l1 50%") or quantized ("4-bit"), a new copy."""
    import sckit

    if not isinstance(config, str):
        raise ValueError(f"configuration {config!r}: expected e.g. 'magnitude 90%' or '4-bit'")
    if config.endswith("-bit"):
        bits = config[:-4]
        if not bits.isdigit():
            raise ValueError(f"configuration {config!r}: expected '<bits>-bit', e.g. '4-bit'")
        return sckit.quantize(model, int(bits), method="uniform", granularity="tensor")
    parts = config.split()
    if len(parts) != 2 or not parts[1].endswith("%"):
        raise ValueError(f"configuration {config!r}: expected '<method> <amount>%', e.g. 'magnitude 90%'")
    try:
        amount = float(parts[1][:-1]) / 100
    except ValueError:
        raise ValueError(f"configuration {config!r}: the amount is not a number") from None
    return sckit.prune(model, amount, method=parts[0])


def speedup_table(model: nn.Module, example_input: Any, *, configs: tuple[str, ...] | list[str] = CONFIGS,
                  repeats: int = 5, name: str | None = None) -> Any:
    """One row per configuration: dense / alone / ours milliseconds (medians of interleaved
    runs), the Speedup "alone/ours" and Speedup Improved, the paper's entry when ``name`` (a
    zoo name) has one, the fast kernels used, and whether the weights stayed bit-exact."""
    import pandas as pd

    import sckit
    from sckit.timing import interleaved

    model = model.eval()
    rows = []
    for config in configs:
        alone = configured(model, config).eval()
        t0 = time.perf_counter()
        fast = sckit.compress(alone, example_input, mode="fast")
        build_s = time.perf_counter() - t0
        exact = all(bit_equal(a, b) for a, b in zip(fast.to_dense().state_dict().values(),
                                                    alone.state_dict().values(), strict=True))
        kinds = fast.report()["kernel"].value_counts().to_dict()
        runs: dict[str, Any] = {"dense": model, "alone": alone, "ours": fast}
        with torch.no_grad():
            t = interleaved({k: _caller(m, example_input) for k, m in runs.items()}, repeats=repeats)
        d, a, o = t["dense"].median, t["alone"].median, t["ours"].median
        rows.append({
            "config": config, "dense_ms": d, "alone_ms": a, "ours_ms": o,
            "speedup alone/ours": f"{d / a:.2f}/{d / o:.2f}", "improved": a / o,
            "paper alone/ours, improved": PAPER_SPEED.get((name, config), "-") if name else "-",
            "fast kernels": ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()) if k != "dense") or "none",
            "weights_exact": exact, "compress_s": build_s,
        })
    df = pd.DataFrame(rows)
    df.attrs["threads"] = torch.get_num_threads()
    return df


def _caller(model: Any, example_input: Any) -> Any:
    return lambda: call_model(model, example_input)
