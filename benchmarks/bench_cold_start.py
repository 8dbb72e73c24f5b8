"""Cold-start benchmark: the first ``sckit.compress`` of a zoo CNN in a fresh environment.

    .venv/bin/python benchmarks/bench_cold_start.py                     # lenet5 + resnet18
    .venv/bin/python benchmarks/bench_cold_start.py --models lenet5 --repeats 3
    .venv/bin/python benchmarks/bench_cold_start.py --warmup            # + `sckit warmup` first

numba compiles each kernel on its first call and keeps the machine code in its on-disk cache
(``cache=True``). A user's first run starts with that cache empty. Each measurement here is a
fresh Python process whose ``NUMBA_CACHE_DIR`` points at an empty temporary folder (the in-tree
``__pycache__`` caches are then ignored), so it pays exactly what a new install pays:

* cold: first ``compress`` (exact mode) and first forward, empty cache;
* warm cache: the same in another fresh process once the cache is filled (loading, no compiling);
* hot: a second ``compress`` in the cold process (everything already in memory).

compile = cold - warm cache: the seconds the user waits for numba. Wall-clock and CPU seconds
(the process and the compile workers it started) are both printed: on a shared machine the wall
clock grows with the load average (printed before and after) while CPU seconds stay comparable.
``--warmup`` also times ``sckit warmup`` (``sckit.warmup.warmup``) into an empty cache and the
first compress after it (what a user who ran it ahead of time, e.g. in an image build, waits).
The children run with ``SCKIT_COMPILE_PROGRESS=0`` (no bar in the benchmark's output).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, os, resource, sys, time

def cpu():
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

name = sys.argv[1]
t0, c0 = time.perf_counter(), cpu()
import torch
torch.set_num_threads(1)
import sckit
from sckit import zoo
model = zoo.create_model(name, seed=0).eval()
x = zoo.default_input(name)
t1, c1 = time.perf_counter(), cpu()
try:
    from sckit.warmup import compile_progress
except ImportError:  # a tree from before sckit.warmup: no kernel count
    import contextlib
    compile_progress = None
with (compile_progress(progress=False) if compile_progress else contextlib.nullcontext()) as log:
    sm = sckit.compress(model, x, mode="exact")
t2, c2 = time.perf_counter(), cpu()
with torch.inference_mode():
    sm(x)
t3, c3 = time.perf_counter(), cpu()
sckit.compress(model, x, mode="exact")
t4, c4 = time.perf_counter(), cpu()
print(json.dumps({"setup": t1 - t0, "compress": t2 - t1, "compress_cpu": c2 - c1,
                  "forward": t3 - t2, "forward_cpu": c3 - c2, "hot": t4 - t3,
                  "kernels": len(log.kernels) if log is not None else -1}))
"""


_WARMUP = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from sckit.warmup import warmup
rep = warmup(progress=False)
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"warmup": time.perf_counter() - t0, "warmup_cpu": u.ru_utime + u.ru_stime,
                  "kernels": len(rep.kernels)}))
"""


def _run_child(name: str, cache_dir: str, code: str = _CHILD) -> dict[str, float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, SCKIT_COMPILE_PROGRESS="0")
    out = subprocess.run([sys.executable, "-c", code, name], env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{name}: child failed\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def bench_warmup(name: str) -> None:
    with tempfile.TemporaryDirectory(prefix="sckit-numba-cold-") as cache:
        w = _run_child(name, cache, _WARMUP)
        after = _run_child(name, cache)
    print(f"  sckit warmup into an empty cache: {w['warmup']:.2f} s ({w['warmup_cpu']:.2f} CPU s, "
          f"{w['kernels']} kernel signatures); then {name}'s first compress {after['compress']:.2f} s "
          f"({after['compress_cpu']:.2f} CPU s)   [{_load()}]", flush=True)


def bench(name: str, repeats: int) -> None:
    rows: list[tuple[dict[str, float], dict[str, float]]] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="sckit-numba-cold-") as cache:
            cold = _run_child(name, cache)
            warm = _run_child(name, cache)
        rows.append((cold, warm))
        print(f"  {name}: cold compress {cold['compress']:6.2f} s ({cold['compress_cpu']:5.2f} "
              f"CPU s, {cold['kernels']} kernel signatures compiled), first forward "
              f"{cold['forward']:5.2f} s | warm cache compress "
              f"{warm['compress']:5.2f} s ({warm['compress_cpu']:5.2f} CPU s), forward "
              f"{warm['forward']:5.2f} s | hot compress {cold['hot']:5.2f} s   [{_load()}]",
              flush=True)

    def med(key: str, which: int) -> float:
        return statistics.median(r[which][key] for r in rows)

    comp = med("compress", 0) + med("forward", 0) - med("compress", 1) - med("forward", 1)
    comp_cpu = (med("compress_cpu", 0) + med("forward_cpu", 0) - med("compress_cpu", 1)
                - med("forward_cpu", 1))
    print(f"{name}: median of {repeats}: cold first compress {med('compress', 0):.2f} s "
          f"(+ first forward {med('forward', 0):.2f} s); warm cache {med('compress', 1):.2f} s; "
          f"hot {med('hot', 0):.2f} s; compile = cold - warm cache = {comp:.2f} s wall, "
          f"{comp_cpu:.2f} CPU s", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["lenet5", "resnet18"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--warmup", action="store_true", help="also time sckit warmup")
    args = ap.parse_args(argv)
    import numba

    from sckit.timing import cpu_model

    print(f"{cpu_model()}; numba {numba.__version__}; python {sys.version.split()[0]}; "
          f"{_load()}")
    for name in args.models:
        bench(name, args.repeats)
    if args.warmup:
        bench_warmup(args.models[0])
    print(f"done; {_load()}")


if __name__ == "__main__":
    main()
