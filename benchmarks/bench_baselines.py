"""Baselines on the digits models: seed-002-style Deep Compression tables and compare() tables.

Run: ``.venv/bin/python benchmarks/bench_baselines.py [--models lenet300_100 lenet5 small_resnet]
[--epochs 10] [--n-weights 1048576]``. Prints:

1. per model, Deep Compression's per-layer table in seed 002's layout (Tables 6-7), with the
   paper's per-layer pruning rates and bit widths for the LeNets;
2. per model, ``sckit.baselines.compare`` with test accuracy on the digits split;
3. the general lossless coders (and Succinct Compression) on N(0, 0.02) float32 weights.

Timings are wall-clock on the machine it runs on (ours: a shared 2-core x86 CPU, no GPU).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

# seed 002, Tables 6 and 7: fraction of weights *remaining* per layer and the bit widths used.
PAPER_SETTINGS = {
    "lenet300_100": {
        "prune_amount": {"fc1": 0.92, "fc2": 0.91, "fc3": 0.74},
        "bits_fc": 6,
        "index_bits_fc": 5,
    },
    "lenet5": {
        "prune_amount": {"conv1": 0.34, "conv2": 0.88, "fc1": 0.92, "fc2": 0.81},
        "bits_conv": 8,
        "bits_fc": 5,
        "index_bits_conv": 5,
        "index_bits_fc": 5,
    },
}
GENERIC_SETTINGS = {
    "prune_amount": 0.8,
    "bits_conv": 8,
    "bits_fc": 5,
    "index_bits_conv": 8,
    "index_bits_fc": 5,
}


def _fmt(df: pd.DataFrame) -> str:
    return df.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _warm_up() -> None:
    """Load the numba kernels once so the first measured decode does not pay for it."""
    from sckit.baselines.huffman_coding import huffman_decode, huffman_encode
    from sckit.baselines.sz import sz_compress, sz_decompress

    huffman_decode(huffman_encode(np.arange(10) % 3))
    sz_decompress(sz_compress(np.ones(10, dtype=np.float32), 1e-3))


def bench_model(name: str, epochs: int, budget: float) -> None:
    import sckit.baselines as B
    from sckit.data import digits_split, evaluate, predict
    from sckit.training import fine_tune
    from sckit.zoo import create_model, default_input

    model = create_model(name, pretrained="digits")

    def tune(m: torch.nn.Module) -> torch.nn.Module:
        return fine_tune(m, epochs=epochs, lr=1e-3)

    dc_kw = {**PAPER_SETTINGS.get(name, GENERIC_SETTINGS), "fine_tune": tune if epochs else None}
    amounts = dc_kw["prune_amount"]
    # DeepSZ prunes and codes the FC layers only: same FC rates as Deep Compression
    fc_amounts = (
        {k: v for k, v in amounts.items() if k.startswith("fc")}
        if isinstance(amounts, dict)
        else amounts
    )
    sz_kw = {
        "prune_amount": fc_amounts,
        "accuracy_loss_budget": budget,
        "fine_tune": dc_kw["fine_tune"],
    }
    n_params = sum(p.numel() for p in model.parameters())
    print(f"\n=== {name}: {n_params:,} parameters, test accuracy {evaluate(model):.4f} ===")
    # run each lossy baseline once (fine-tuning dominates) and hand the results to compare()
    dc = B.deep_compression(model, **dc_kw)
    sz = B.deepsz(model, **sz_kw, eval_fn=evaluate)

    def deep_compression(_m: torch.nn.Module) -> B.BaselineResult:
        return dc

    def deepsz(_m: torch.nn.Module) -> B.BaselineResult:
        return sz

    methods = [
        "dense",
        "zstd-3",
        "zstd-19",
        "lzma",
        "zipnn",
        deep_compression,
        deepsz,
        "succinct",
        "deep_compression+succinct",
    ]
    t0 = time.perf_counter()
    df = B.compare(model, methods, eval=evaluate, example_input=default_input(name))
    wall = time.perf_counter() - t0
    settings = {k: v for k, v in dc_kw.items() if k != "fine_tune"}
    print(f"\nDeep Compression, seed-002 layout (settings: {settings}, fine-tune {epochs} epochs):")
    print(B.seed002_table(dc).to_string(index=False))
    print(
        f"accuracy: dense {evaluate(model):.4f}, P+Q+H decoded {evaluate(dc.model):.4f}; "
        f"encode {dc.encode_s:.3f} s (+ fine-tune {dc.params['fine_tune_s']:.1f} s), decode {dc.decode_s:.4f} s"
    )
    print(f"\ncompare() ({wall:.1f} s, the two lossy baselines precomputed):")
    print(_fmt(df))
    rows = df.set_index("method")
    dcs, sc = (
        rows.loc["deep_compression", "size_bytes"],
        rows.loc["deep_compression+succinct", "size_bytes"],
    )
    same = (
        rows.loc["deep_compression", "accuracy"]
        == rows.loc["deep_compression+succinct", "accuracy"]
    )
    print(
        f"Succinct on P+Q / Deep Compression P+Q+H size: {sc / dcs:.3f} "
        f"({int(sc)} vs {int(dcs)} bytes); same accuracy: {same}"
    )
    sub = B.succinct(dc.model, example_input=default_input(name))
    x_test = digits_split()[2]
    same_pred = torch.equal(predict(sub.model, x_test), predict(dc.model, x_test))
    print(
        f"Succinct(P+Q) predictions identical to the P+Q model on all {len(x_test)} test images: {same_pred}"
    )
    print("\nDeepSZ per-layer (FC layers only; other layers stay fp32):")
    print(_fmt(sz.to_frame()))
    print(
        f"DeepSZ: pruned accuracy {sz.params['accuracy_pruned']:.4f}, final {sz.params['accuracy_final']:.4f}, "
        f"bounds {sz.params['error_bounds']}, search {sz.params['assess_s']:.2f} s "
        f"({len(sz.params['assessment'])} evaluations), repairs {sz.params['n_repairs']}"
    )


def bench_gaussian(n: int) -> None:
    import sckit.baselines as B

    torch.manual_seed(0)
    side = int(np.sqrt(n))
    m = torch.nn.Linear(side, side, bias=False)
    with torch.no_grad():
        m.weight.normal_(0.0, 0.02)
    rows = []
    for f in (
        lambda: B.zstd(m, level=3),
        lambda: B.zstd(m, level=19),
        lambda: B.lzma_coder(m),
        lambda: B.zipnn(m),  # the zipnn package when installed ("zipnn <version>")
        lambda: B.zipnn(m, package=False),  # the stand-in, "zipnn-style (sckit)"
        lambda: B.zipnn(m, entropy="huffman"),
        lambda: B.succinct(m),
    ):
        try:
            r = f()
        except ImportError as exc:
            rows.append({"method": "succinct", "note": f"unavailable: {exc}"})
            continue
        rows.append({**r.summary(), "note": r.params.get("via", "")})
    print(
        f"\n=== general coders on {side}x{side} N(0, 0.02) float32 weights ({4 * side * side:,} bytes) ==="
    )
    print(_fmt(pd.DataFrame(rows)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=["lenet300_100", "lenet5", "small_resnet"])
    ap.add_argument(
        "--epochs", type=int, default=10, help="fine-tuning epochs after pruning (0: none)"
    )
    ap.add_argument(
        "--budget", type=float, default=0.005, help="DeepSZ accuracy-loss budget (fraction)"
    )
    ap.add_argument("--n-weights", type=int, default=1 << 20)
    args = ap.parse_args()
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    _warm_up()
    for name in args.models:
        bench_model(name, args.epochs, args.budget)
    bench_gaussian(args.n_weights)


if __name__ == "__main__":
    main()
