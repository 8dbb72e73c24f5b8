"""Decode-ahead and the decoded-weight cache (engine.schedule): compressed vs dense forward time.

    .venv/bin/python benchmarks/bench_decode_ahead.py              # ResNet-50 b1, b32; resnet18 b1, b32
    .venv/bin/python benchmarks/bench_decode_ahead.py --quick      # resnet18 at batch 1 only
    .venv/bin/python benchmarks/bench_decode_ahead.py --only resnet50:1

torch runs one intra-op thread, so decode-ahead's worker has the second core. For each model and
batch the variants run interleaved, round after round (dense, exact compressed with decode_ahead
False / True / "auto", and with the cache at 25/50/100% of the dense weight bytes, decode-ahead
off; each cache budget is its own model, filled once), and the median of each is printed with its ratio to dense. On a shared machine interleaving
spreads load changes over all variants alike; the min..max spread shows how noisy it was. The
forward thread's CPU time is printed too: it is what decode-ahead and the cache take off that
thread, and it does not count time the thread stood waiting for a core (or for the worker).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch

import sckit
from sckit import zoo
from sckit.engine import bit_equal
from sckit.engine.schedule import decode_ras
from sckit.timing import cpu_model, interleaved


def variants(dense_bytes: int) -> list[tuple[str, object, int]]:
    """(label, decode_ahead, cache_bytes); decode_ahead None is the dense model."""
    return [
        ("dense", None, 0),
        ("ahead=False", False, 0),
        ("ahead=True", True, 0),
        ("ahead='auto'", "auto", 0),
        ("cache 25%", False, dense_bytes // 4),
        ("cache 50%", False, dense_bytes // 2),
        ("cache 100%", False, dense_bytes),
    ]


def spare_core_probe(model: torch.nn.Module, sm: sckit.SuccinctModel, x: torch.Tensor,
                     repeats: int) -> str:
    """Whether the second core is really free now: the dense forward alone vs the same forward
    while another thread decodes every weight once (what decode-ahead does, all at once)."""
    ras = list(sm.ras.values())

    def decode_all() -> None:
        for r in ras:
            decode_ras(r)

    # not sckit.timing: the shared run must stop its clock before joining the decode thread
    alone, shared, dec = [], [], []
    with torch.no_grad():
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            alone.append(time.perf_counter() - t0)
            th = threading.Thread(target=decode_all)
            t0 = time.perf_counter()
            th.start()
            model(x)
            shared.append(time.perf_counter() - t0)
            th.join()
            t0 = time.perf_counter()
            decode_all()
            dec.append(time.perf_counter() - t0)
    a, s, d = (statistics.median(v) * 1e3 for v in (alone, shared, dec))
    return (f"spare-core probe: dense forward {a:.1f} ms alone, {s:.1f} ms while a thread decodes "
            f"all weights ({d:.1f} ms alone): overlap hides {max(0.0, 1 - (s - a) / d):.0%} of the decode")


def bench(name: str, batch: int, res: int, repeats: int) -> None:
    model = zoo.create_model(name).eval()
    x1 = torch.randn(1, 3, res, res, generator=torch.Generator().manual_seed(0))
    sm = sckit.compress(model, x1)
    x = torch.randn(batch, 3, res, res, generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        ref = model(x)
    dense_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    vs = variants(dense_bytes)
    # one model per cache budget (loaded from one container), so no round refills a cache
    # right before it is timed: steady state is a cache filled once
    models: dict[int, sckit.SuccinctModel] = {0: sm}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.sck"
        sckit.save(sm, path)
        for _, _, cache in vs:
            if cache not in models:
                models[cache] = sckit.load(path)
                models[cache](x1)  # measures decode costs
                models[cache]._runtime.set_cache_bytes(cache)
    for m in models.values():
        assert bit_equal(m(x), ref), "compressed output differs from dense"
    cpu_runs: dict[str, list[float]] = {label: [] for label, _, _ in vs}
    last: dict[str, str] = {}

    def variant(label: str, ahead: object, cache: int):
        m = models[cache]
        rt = m._runtime

        def fn() -> None:
            c0 = time.thread_time()
            if ahead is None:
                with torch.no_grad():
                    model(x)
            else:
                rt.decode_ahead = ahead  # a plain attribute: negligible inside the timed call
                m(x)
            cpu_runs[label].append(time.thread_time() - c0)
            if ahead is not None:  # microseconds, against forwards of milliseconds
                last[label] = (f"wait {sum(rt.wait_ms.values()):6.1f} ms, decode "
                               f"{sum(rt.decode_ms.values()):6.1f} ms, prefetch hits "
                               f"{rt.prefetch_hits}/{len(rt.schedule)}, cached "
                               f"{rt.cache_nbytes / 1e6:5.1f} MB")
        return fn

    # sckit.timing: one warm-up round, then the variants interleaved round after round
    timed = interleaved({label: variant(label, ahead, cache) for label, ahead, cache in vs},
                        repeats=repeats, warmup=1)
    cpu = {label: runs[1:] for label, runs in cpu_runs.items()}  # drop the warm-up call
    rt = sm._runtime
    probe = spare_core_probe(model, sm, x, repeats)
    d = timed["dense"].median
    print(f"\n## {name}, batch {batch}, {res}x{res}, torch {timed['dense'].threads} thread(s); "
          f"dense weights {dense_bytes / 1e6:.1f} MB, {len(rt.ras)} encoded, "
          f"ahead budget {rt.ahead_bytes / 2**20:.1f} MiB")
    print(probe)
    dc = statistics.median(cpu["dense"])
    print(f"{'variant':<13} {'median ms':>9} {'x dense':>7}  {'min..max ms':>17}  {'fwd-thread cpu ms':>17} "
          f"{'x':>6}  last forward")
    for label, _, _ in vs:
        t, mc = timed[label], statistics.median(cpu[label])
        print(f"{label:<13} {t.median:>9.1f} {t.median / d:>7.3f}  {t.low:>7.1f}..{t.high:<8.1f}"
              f"  {mc * 1e3:>17.1f} {mc / dc:>6.3f}  {last.get(label, '')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9, help="timed rounds per configuration")
    ap.add_argument("--res", type=int, default=224)
    ap.add_argument("--quick", action="store_true", help="resnet18 at batch 1 only")
    ap.add_argument("--only", default="", help="comma-separated model:batch, e.g. resnet50:1")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"# bench_decode_ahead: CPU {cpu_model()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    configs = [("resnet18", 1)] if args.quick else [("resnet50", 1), ("resnet50", 32),
                                                    ("resnet18", 1), ("resnet18", 32)]
    if args.only:
        configs = [(m, int(b)) for m, b in (item.split(":") for item in args.only.split(","))]
    for name, batch in configs:
        # batch 32 forwards take seconds: fewer rounds keep the run short
        bench(name, batch, args.res, args.repeats if batch == 1 else max(3, args.repeats // 3))
    print(f"\n# load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
