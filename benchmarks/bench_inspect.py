"""Inspection benchmark: ``sckit.inspect`` time on VGG-16 and ResNet-50, and how close the default
(estimated) sizes are to the exact ones.

    .venv/bin/python benchmarks/bench_inspect.py                # VGG-16 + ResNet-50, 1 thread
    .venv/bin/python benchmarks/bench_inspect.py --check        # + estimate vs exact, whole zoo
    .venv/bin/python benchmarks/bench_inspect.py --all          # + every zoo model's MAC totals
    .venv/bin/python benchmarks/bench_inspect.py --tables       # + the paper's Tables 4 and 5

Target: the default call (``encode=True``: sizes estimated from symbol histograms,
``sckit.inspect_size``) on VGG-16 at 224x224 in <= 3 s warm. Prints, per model, the cold first
call, then the medians and spreads of warm calls (interleaved, ``sckit.timing``) of the plain
forward, ``encode=False`` (tracing only), the default and ``encode="exact"`` (every tensor
encoded). ``--check`` prints, per zoo model and RAS kind, the estimate's error against the
exact sizes (total and worst row), then the same on pruned and quantized versions of a few zoo
models. Timings are wall-clock on the machine it runs on (printed);
on a shared machine compare figures from one run only.
"""

from __future__ import annotations

import argparse
import time


def bench_model(name: str, repeats: int) -> None:
    import torch

    from sckit import zoo
    from sckit.inspection import inspect
    from sckit.timing import interleaved

    model, x = zoo.create_model(name), zoo.default_input(name)
    t = time.perf_counter()
    df = inspect(model, x)
    cold = time.perf_counter() - t
    n = df.n_params.sum()
    print(f"\n{name} {tuple(x.shape)}: {n:,} params, {len(df)} rows; torch threads "
          f"{torch.get_num_threads()}")
    print(f"  default inspect, cold (first call in process): {cold:.3f} s")
    with torch.no_grad():
        fns = {
            "forward only": lambda: model(x),
            "inspect(encode=False)": lambda: inspect(model, x, encode=False),
            "inspect() [estimated]": lambda: inspect(model, x),
        }
        timed = interleaved(fns, repeats=repeats, warmup=1)
        exact = interleaved({"inspect(encode='exact')": lambda: inspect(model, x, encode="exact")},
                            repeats=1, warmup=0)
    for label, tm in {**timed, **exact}.items():
        flag = "  (target <= 3 s)" if name == "vgg16" and "estimated" in label else ""
        print(f"  {label:26s} {tm.median / 1e3:7.3f} s  [range {tm.low / 1e3:.3f}-"
              f"{tm.high / 1e3:.3f}, {tm.runs} runs]{flag}")
    t = df.attrs["totals"]
    print(f"  dense {t['dense_bytes'] / 2**20:.1f} MiB -> succinct ~{t['succinct_bytes'] / 2**20:.1f} "
          f"MiB ({t['bits_per_weight']:.2f} bits/weight), sizes {t['sizes']}")


def _error_row(head: str, est, real) -> float:  # noqa: ANN001 - inspect() tables
    """Print one row of estimated vs exact sizes; return the largest |relative error| of an
    estimated row."""
    rel = (est.succinct_bytes / real.succinct_bytes - 1)[est.size_estimated]
    worst = rel.abs().idxmax() if len(rel) else None
    w = float(rel[worst]) if worst is not None else 0.0
    total = est.succinct_bytes.sum() / real.succinct_bytes.sum() - 1
    print(f"{head} {int(est.size_estimated.sum()):>5d} "
          f"{real.succinct_bytes.sum() / 2**20:>10.2f} {100 * total:>+9.3f}% "
          f"{100 * w:>+9.3f}%  {est.layer[worst] if worst is not None else '-'}")
    return abs(w)


def check_estimates() -> None:
    """Estimated vs exact succinct bytes on every zoo model (both RAS kinds, every weight row)."""
    import torch

    from sckit import zoo
    from sckit.inspection import inspect

    print(f"\n{'model':14s} {'kind':8s} {'rows':>5s} {'exact MiB':>10s} {'total err':>10s} "
          f"{'worst row':>10s}  worst layer (estimated rows only)")
    worst_all = 0.0
    for name in zoo.list_models():
        model, x = zoo.create_model(name), zoo.default_input(name)
        for kind in ("block", "element"):
            torch.manual_seed(0)
            weights = inspect(model, x, encode=False)
            ras = dict.fromkeys(weights.loc[weights.ras != "", "layer"], kind)
            est = inspect(model, x, ras=ras)
            real = inspect(model, x, ras=ras, encode="exact")
            worst_all = max(worst_all, _error_row(f"{name:14s} {kind:8s}", est, real))
        del model
    print(f"largest row error over the zoo: {100 * worst_all:.3f} %")


VARIANT_MODELS = ("lenet300_100", "resnet18", "mobilenet_v2", "deit_tiny")


def check_variants() -> None:
    """Estimated vs exact sizes on pruned and quantized zoo models (``sckit.transforms``; no
    fine-tuning), RAS kinds as ``inspect`` chooses them."""
    from sckit import zoo
    from sckit.inspection import inspect
    from sckit.transforms import prune, quantize

    variants = {
        "magnitude 50%": lambda m: prune(m, 0.5),
        "magnitude 90%": lambda m: prune(m, 0.9),
        "uniform 4-bit": lambda m: quantize(m, 4),
        "90% + 4-bit": lambda m: quantize(prune(m, 0.9), 4),
    }
    print(f"\n{'model':14s} {'variant':14s} {'rows':>5s} {'exact MiB':>10s} {'total err':>10s} "
          f"{'worst row':>10s}  worst layer (estimated rows only)")
    worst_all = 0.0
    for name in VARIANT_MODELS:
        base, x = zoo.create_model(name), zoo.default_input(name)
        for label, make in variants.items():
            model = make(base)
            est = inspect(model, x)
            real = inspect(model, x, encode="exact")
            worst_all = max(worst_all, _error_row(f"{name:14s} {label:14s}", est, real))
    print(f"largest row error on pruned/quantized models: {100 * worst_all:.3f} %")


def bench_zoo() -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from sckit import zoo
    from sckit.inspection import inspect

    print(
        f"\n{'model':14s} {'params':>13s} {'sckit MACs':>16s} {'FlopCounter/2':>16s} {'SDPA (diff)':>14s} {'inspect s':>9s}"
    )
    for name in zoo.list_models():
        model, x = zoo.create_model(name), zoo.default_input(name)
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            model(x)
        t = time.perf_counter()
        df = inspect(model, x, encode=False)
        dt = time.perf_counter() - t
        ref = fc.get_total_flops() // 2
        print(
            f"{name:14s} {df.n_params.sum():>13,} {df.macs.sum():>16,} {ref:>16,} {df.macs.sum() - ref:>14,} {dt:>9.3f}"
        )
        del model


def print_paper_tables() -> None:
    """The paper's appendix A tables (Table 4 ResNet-50, Table 5 VGG-16) with our MAC figures."""
    from sckit import zoo
    from sckit.inspection import inspect, paper_table

    for name in ("resnet50", "vgg16"):
        t = paper_table(
            inspect(zoo.create_model(name), zoo.default_input(name), encode=False), name
        )
        t["macs_per_param"] = t.macs_per_param.round(1)
        print(f"\n{name} (paper appendix A, our counts)\n{t.to_string(index=False)}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (target: 1)")
    ap.add_argument("--models", nargs="+", default=["vgg16", "resnet50"])
    ap.add_argument("--check", action="store_true", help="estimated vs exact sizes on the zoo")
    ap.add_argument("--all", action="store_true", help="also print every zoo model's totals")
    ap.add_argument("--tables", action="store_true", help="also print the paper's Tables 4-5")
    args = ap.parse_args()
    import torch

    from sckit.timing import cpu_model

    torch.set_num_threads(args.threads)
    print(f"machine: {cpu_model()}; torch {torch.__version__}")
    for name in args.models:
        bench_model(name, args.repeats)
    if args.check:
        check_estimates()
        check_variants()
    if args.all:
        bench_zoo()
    if args.tables:
        print_paper_tables()


if __name__ == "__main__":
    main()
