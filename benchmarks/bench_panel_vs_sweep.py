"""WhatIfPanel against sckit.sweep: the same configuration timed both ways, before and after
both used :func:`sckit.timing.time_forward`.

"before" repeats the panel's former timing (torch's default thread count, one warm-up, the
models timed one after the other); "panel" and "sweep" are today's code. ``--load N`` starts N
busy processes (a browser and JupyterLab on the same cores, as when the discrepancy was seen).
Run: ``python benchmarks/bench_panel_vs_sweep.py --trials 5 --load 1``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

import torch
from sckit.widgets import WhatIfPanel

import sckit
from sckit.timing import cpu_model


def _busy(stop: float) -> None:
    while time.time() < stop:
        pass


def _before(model, sm, x, repeats: int) -> tuple[float, float]:
    """The panel's timing until this change: default threads, sequential, no interleaving."""
    def median_ms(fn):
        fn()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ts)

    with torch.no_grad():
        return median_ms(lambda: model(x)), median_ms(lambda: sm(x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--load", type=int, default=0, help="busy processes running meanwhile")
    args = ap.parse_args()
    model = sckit.zoo.create_model(args.model).eval()
    x = sckit.zoo.default_input(args.model, 1)
    grid = {"prune": [("magnitude", 0.8)], "quantize": [("kmeans", 4)]}
    busy = [mp.Process(target=_busy, args=(time.time() + 3600,), daemon=True) for _ in range(args.load)]
    for p in busy:
        p.start()
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, default threads {torch.get_num_threads()}; "
          f"{args.model} batch 1, magnitude 0.8 + kmeans 4; {args.load} busy processes; "
          f"medians of {args.repeats} runs, ms")
    print(f"{'trial':>5} {'before dense':>13} {'before comp':>12} {'panel dense':>12} "
          f"{'panel comp':>11} {'sweep dense':>12} {'sweep comp':>11}")
    try:
        for trial in range(args.trials):
            df = sckit.sweep(model, grid, example_input=x, repeats=args.repeats, progress=False)
            panel = WhatIfPanel(model, x, repeats=args.repeats)
            panel.configure(prune_method="magnitude", amount=0.8, quant_method="kmeans", bits=4)
            panel.apply()
            if panel.last_error:
                raise RuntimeError(panel.last_error)
            bd, bc = _before(model, panel.compressed, x, args.repeats)
            r = panel.results
            print(f"{trial:>5} {bd:>13.3f} {bc:>12.3f} {r.latency_ms[0]:>12.3f} {r.latency_ms[1]:>11.3f} "
                  f"{df.latency_ms[0]:>12.3f} {df.latency_ms[1]:>11.3f}")
    finally:
        for p in busy:
            p.terminate()


if __name__ == "__main__":
    main()
