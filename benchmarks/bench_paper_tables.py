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
import time

import torch

import sckit
from sckit.timing import cpu_model
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


def speed_rows(name: str, batches: list[int], threads: list[int], configs: list[str],
               repeats: int) -> list[dict[str, object]]:
    """``sckit.engine.speed.speedup_table`` for zoo model ``name`` at each batch and thread count."""
    from sckit.engine.speed import speedup_table
    from sckit.zoo import default_input

    model = create_model(name, seed=0).eval()
    rows: list[dict[str, object]] = []
    for batch in batches:
        x0 = default_input(name)
        x = x0.expand(batch, *x0.shape[1:]).contiguous()
        for nt in threads:
            torch.set_num_threads(nt)
            df = speedup_table(model, x, configs=configs, repeats=repeats, name=name)
            for row in df.to_dict("records"):
                rows.append({"model": name, "batch": batch, "threads": nt, **row})
                print(f"  {name} b{batch} t{nt} {row['config']}: dense {row['dense_ms']:.1f} ms, alone "
                      f"{row['alone_ms']:.1f}, ours {row['ours_ms']:.1f} (improved {row['improved']:.2f}x)",
                      flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--speed", action="store_true", help="the Speedup columns instead of the sizes")
    ap.add_argument("--models", default="resnet50", help="--speed: comma-separated zoo models")
    ap.add_argument("--batches", default="1", help="--speed: comma-separated batch sizes")
    ap.add_argument("--threads", default="1", help="--speed: comma-separated torch thread counts")
    ap.add_argument("--configs", default="magnitude 90%,magnitude 95%,filter_l1 50%,8-bit,4-bit,2-bit",
                    help="--speed: configurations (sckit.engine.speed.CONFIGS)")
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
