"""Seed 000, Tables 1 and 2: what Succinct Compression adds on top of pruning and quantization.

The paper's "CR Improved" column is (size after pruning or quantization alone) / (size with
Succinct Compression on top). Its "pruning only" sizes count the non-zero weights at 4 bytes
each, no index (ResNet-50, 90% SNIP: 102 MB -> 10.3 MB), and its "quantization only" sizes the
weights at their bit width (8 bits: 25.5 MB). We build the same two baselines the same way and
compress the same models with ``sckit.compress`` (lossless with respect to them):

- unstructured magnitude pruning per layer (``sckit.prune(method="magnitude")``; the paper used
  SNIP) at 90 / 95 / 97 % of every conv/linear weight;
- per-tensor uniform quantization (``sckit.quantize(method="uniform", granularity="tensor")``;
  the paper used LSQ) at 8 / 4 / 2 bits, so each tensor has at most 2^bits values and its RAS
  stores codebook indices.

Sizes include everything that is not a pruned or quantized weight (biases, BatchNorm parameters
and statistics) at 4 bytes per value, in both columns. The weights are the zoo's initialisation
(no ImageNet here): a Gaussian per layer, like trained convolution weights, so accuracy and the
paper's speedup columns (a GPU engine) are not reproduced. Run:

    .venv/bin/python benchmarks/bench_paper_tables.py [--model resnet50]

``--speed`` prints the tables' Speedup columns measured here instead (CPU, PyTorch eager):
for each model and configuration, the compression alone run densely ("alone", as PyTorch runs a
pruned or fake-quantized model), then ``sckit.compress(mode="fast")`` on top ("ours"), both
against the dense model; "improved" = alone / ours, the paper's "Speedup Improved". Medians of
interleaved runs (``sckit.timing``), at the batch sizes and torch thread counts asked:

    .venv/bin/python benchmarks/bench_paper_tables.py --speed --models resnet50,vgg16 \
        --batches 1,32 --threads 1,2
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time

import torch

import sckit
from sckit.zoo import create_model

# seed 000: "CR Improved" for ResNet-50 (Table 1, SNIP rows; Table 2, LSQ rows)
PAPER_PRUNED = {0.90: 1.18, 0.95: 1.19, 0.97: 1.20}
PAPER_QUANTIZED = {8: 1.18, 4: 1.20, 2: 1.25}


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The conv/linear weights that pruning and quantization act on."""
    return {f"{n}.weight": m.weight for n, m in model.named_modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}


def _other_bytes(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> int:
    state = model.state_dict()
    return sum(t.numel() * t.element_size() for k, t in state.items() if k not in weights)


def pruned_row(model: torch.nn.Module, x: torch.Tensor, amount: float) -> dict[str, object]:
    pm = sckit.prune(model, amount, method="magnitude")
    w = _weights(pm)
    baseline = 4 * sum(int(t.count_nonzero()) for t in w.values()) + _other_bytes(pm, w)
    t0 = time.perf_counter()
    sm = sckit.compress(pm, x)
    return {"config": f"pruned {amount:.0%}", "baseline_MB": baseline / 1e6,
            "succinct_MB": sm.nbytes / 1e6, "cr_improved": baseline / sm.nbytes,
            "paper": PAPER_PRUNED.get(amount, float("nan")), "compress_s": time.perf_counter() - t0}


def quantized_row(model: torch.nn.Module, x: torch.Tensor, bits: int) -> dict[str, object]:
    qm = sckit.quantize(model, bits, method="uniform", granularity="tensor")
    w = _weights(qm)
    baseline = sum(t.numel() * bits for t in w.values()) / 8 + _other_bytes(qm, w)
    t0 = time.perf_counter()
    sm = sckit.compress(qm, x)
    return {"config": f"quantized {bits}-bit", "baseline_MB": baseline / 1e6,
            "succinct_MB": sm.nbytes / 1e6, "cr_improved": baseline / sm.nbytes,
            "paper": PAPER_QUANTIZED.get(bits, float("nan")),
            "compress_s": time.perf_counter() - t0}


# the paper's Speedup columns, "alone/ours" and improved (Tables 1-2; DBP/HRank/SNIP, LSQ, PQT)
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
SPEED_CONFIGS = ("magnitude 90%", "magnitude 95%", "filter_l1 50%", "8-bit", "4-bit", "2-bit")


def _configured(model: torch.nn.Module, config: str) -> torch.nn.Module:
    if config.endswith("-bit"):
        return sckit.quantize(model, int(config.split("-")[0]), method="uniform", granularity="tensor")
    method, amount = config.split()
    return sckit.prune(model, float(amount.rstrip("%")) / 100, method=method)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def speed_rows(name: str, batches: list[int], threads: list[int], configs: list[str],
               repeats: int) -> list[dict[str, object]]:
    """Speedup of each configuration alone (run densely) and with fast-mode Succinct
    Compression on top, against the dense model."""
    from sckit.timing import interleaved
    from sckit.zoo import default_input

    model = create_model(name, seed=0).eval()
    rows = []
    for batch in batches:
        x0 = default_input(name)
        x = x0.expand(batch, *x0.shape[1:]).contiguous() if isinstance(x0, torch.Tensor) else x0
        for nt in threads:
            torch.set_num_threads(nt)
            for config in configs:
                alone = _configured(model, config).eval()
                t0 = time.perf_counter()
                fast = sckit.compress(alone, x, mode="fast", verify=False)
                build_s = time.perf_counter() - t0
                kinds = fast.report()["kernel"].value_counts().to_dict()
                with torch.no_grad():
                    t = interleaved({"dense": lambda x=x: model(x), "alone": lambda a=alone, x=x: a(x),
                                     "ours": lambda f=fast, x=x: f(x)}, repeats=repeats)
                d = t["dense"].median
                rows.append({
                    "model": name, "batch": batch, "threads": nt, "config": config,
                    "dense_ms": d, "alone_ms": t["alone"].median, "ours_ms": t["ours"].median,
                    "speedup alone/ours": f"{d / t['alone'].median:.2f}/{d / t['ours'].median:.2f}",
                    "improved": t["alone"].median / t["ours"].median,
                    "paper alone/ours, improved": PAPER_SPEED.get((name, config), "-"),
                    "fast layers": ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()) if k != "dense"),
                    "compress_s": build_s,
                })
                print(f"  {name} b{batch} t{nt} {config}: dense {d:.1f} ms, alone "
                      f"{t['alone'].median:.1f}, ours {t['ours'].median:.1f} "
                      f"(improved {rows[-1]['improved']:.2f}x)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--speed", action="store_true", help="the Speedup columns instead of the sizes")
    ap.add_argument("--models", default="resnet50", help="--speed: comma-separated zoo models")
    ap.add_argument("--batches", default="1", help="--speed: comma-separated batch sizes")
    ap.add_argument("--threads", default="1", help="--speed: comma-separated torch thread counts")
    ap.add_argument("--configs", default=",".join(SPEED_CONFIGS), help="--speed: configurations")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--res", type=int, default=224,
                    help="example input side: the FPr test that picks each layer's RAS kind depends on it")
    args = ap.parse_args(argv)
    import pandas as pd

    if args.speed:
        print(f"CPU: {cpu_model()}; torch {torch.__version__}; medians of {args.repeats} interleaved runs")
        rows = []
        for name in args.models.split(","):
            rows += speed_rows(name, [int(b) for b in args.batches.split(",")],
                               [int(t) for t in args.threads.split(",")], args.configs.split(","),
                               args.repeats)
        df = pd.DataFrame(rows)
        with pd.option_context("display.float_format", "{:.2f}".format, "display.width", 200,
                               "display.max_colwidth", 40):
            print(df.to_string(index=False))
        return 0

    torch.manual_seed(0)
    model = create_model(args.model, seed=0).eval()
    x = torch.randn(1, 3, args.res, args.res)
    dense = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    print(f"{args.model}: {dense / 1e6:.1f} MB dense (float32, zoo initialisation)")
    rows = [pruned_row(model, x, a) for a in PAPER_PRUNED]
    rows += [quantized_row(model, x, b) for b in PAPER_QUANTIZED]
    df = pd.DataFrame(rows)
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
