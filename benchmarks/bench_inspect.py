"""Inspection benchmark (issue 3): ``sckit.inspect`` time on one CPU core, and zoo MAC totals.

    .venv/bin/python benchmarks/bench_inspect.py                # ResNet-50 at 224x224, 1 thread
    .venv/bin/python benchmarks/bench_inspect.py --all          # + every zoo model's totals
    .venv/bin/python benchmarks/bench_inspect.py --tables       # + the paper's Tables 4 and 5

Target: ResNet-50 at 224x224 inspects in <= 2 s on one core *including* RAS encoding of all
25.6M weights. Prints the cold first call (numba cache load, first-touch costs), then the median
and spread of ``--repeats`` warm calls of: the plain forward, ``inspect(encode=False)`` (tracing
overhead) and ``inspect(encode=True)``. ``--all`` prints per zoo model: parameters, sckit MACs,
FlopCounterMode MACs and their difference (SDPA, see sckit.macs). Timings are wall-clock on the
machine it runs on (ours: a shared 2-core x86 CPU, no GPU), so the spread is printed too.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable


def _timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, float, float]:
    """(median, min, max) wall seconds and median process CPU seconds of ``repeats`` calls.

    CPU seconds are reported because on a shared machine wall time includes waiting for a core.
    """
    ts, cs = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    return statistics.median(ts), min(ts), max(ts), statistics.median(cs)


def bench_resnet50(repeats: int) -> None:
    import torch

    from sckit import zoo
    from sckit.inspection import inspect

    model, x = zoo.create_model("resnet50"), zoo.default_input("resnet50")
    t = time.perf_counter()
    df = inspect(model, x)
    cold = time.perf_counter() - t
    print(f"resnet50 224x224, torch threads={torch.get_num_threads()}")
    print(f"  inspect(encode=True) cold (first call in process): {cold:.3f} s")
    with torch.no_grad():
        rows = {
            "forward only": lambda: model(x),
            "inspect(encode=False)": lambda: inspect(model, x, encode=False),
            "inspect(encode=True)": lambda: inspect(model, x),
        }
        for label, fn in rows.items():
            med, lo, hi, cpu = _timed(fn, repeats)
            flag = "  (target <= 2 s)" if label == "inspect(encode=True)" else ""
            print(
                f"  {label:24s} median {med:.3f} s  [min {lo:.3f}, max {hi:.3f}]  cpu {cpu:.3f} s{flag}"
            )
    dense, succ = df.dense_bytes.sum(), df.succinct_bytes.sum()
    print(f"  rows {len(df)}, params {df.n_params.sum():,}, MACs {df.macs.sum():,}")
    print(
        f"  dense {dense / 2**20:.1f} MiB -> succinct {succ / 2**20:.1f} MiB "
        f"({8 * succ / df.n_params.sum():.2f} bits/weight, ratio {dense / succ:.3f})"
    )


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
    ap.add_argument("--all", action="store_true", help="also print every zoo model's totals")
    ap.add_argument("--tables", action="store_true", help="also print the paper's Tables 4-5")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    bench_resnet50(args.repeats)
    if args.all:
        bench_zoo()
    if args.tables:
        print_paper_tables()


if __name__ == "__main__":
    main()
