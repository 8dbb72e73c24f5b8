"""Engine benchmark (issue 4): decode throughput, compressed vs dense forward, decode-ahead, memory.

    .venv/bin/python benchmarks/bench_engine.py                 # ResNet-50, batch 32 and 1, 224x224
    .venv/bin/python benchmarks/bench_engine.py --quick         # resnet18, 64x64: a smoke run

Prints, side by side: whole-model lossless decode throughput (GB/s of float32 output, 1 and 2
threads), dense vs compressed forward time with and without decode-ahead at torch 1 and 2 threads,
peak RSS of a fresh process running the dense vs the compressed model (loaded from a container,
so the dense weights never exist in that process), and CSR vs dense for a pruned Linear. Timings
are medians of ``--repeats`` runs; on a shared machine the spread is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

import sckit
from sckit import zoo
from sckit.engine import bit_equal
from sckit.tensor_io import decode_tensor
from sckit.timing import cpu_model, interleaved


def _timed(fn, repeats: int) -> tuple[float, float, float]:
    """(median, min, max) seconds of ``repeats`` calls after one warm-up call (sckit.timing)."""
    t = interleaved({"f": fn}, repeats=repeats, warmup=1)["f"]
    return t.median / 1e3, t.low / 1e3, t.high / 1e3


def decode_throughput(sm: sckit.SuccinctModel, repeats: int) -> None:
    """Decode every encoded weight of the model; GB/s of dense output, 1 and 2 decode threads."""
    ras = list(sm.ras.values())
    out_bytes = sum(int(torch.Size(r.shape).numel()) * 4 for r in ras if r.dtype == "float32")
    print(f"\n## whole-model lossless decode ({len(ras)} tensors, {out_bytes / 1e6:.1f} MB float32 out)")
    print(f"{'threads':>8} {'median s':>9} {'GB/s':>7} {'GB/s/core':>10}  (min..max s)")
    for threads in (1, 2):
        if threads == 1:
            def run() -> None:
                for r in ras:
                    decode_tensor(r)
        else:
            # two threads over size-balanced halves: scales only if the numba kernels release
            # the GIL (nogil=True)
            order = sorted(ras, key=lambda r: -int(torch.Size(r.shape).numel()))
            halves = [order[0::2], order[1::2]]
            pool = ThreadPoolExecutor(2)

            def run(pool: ThreadPoolExecutor = pool, halves: list = halves) -> None:
                list(pool.map(lambda rs: [decode_tensor(r) for r in rs], halves))
        med, lo, hi = _timed(run, repeats)
        gbs = out_bytes / med / 1e9
        print(f"{threads:>8} {med:>9.3f} {gbs:>7.3f} {gbs / threads:>10.3f}  ({lo:.3f}..{hi:.3f})")


def forward_times(model: torch.nn.Module, sm: sckit.SuccinctModel, res: int, batches: list[int], repeats: int) -> None:
    """Dense vs compressed forward (decode-ahead on/off) at torch 1 and 2 threads."""
    print("\n## forward: dense vs compressed (median s; ratio = compressed / dense)")
    print(f"{'thr':>3} {'batch':>5} {'dense':>8} {'ahead':>8} {'x':>6} {'no-ahead':>9} {'x':>6}  spread dense/ahead/no-ahead")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for batch in batches:
            x = torch.randn(batch, 3, res, res, generator=torch.Generator().manual_seed(batch))
            with torch.no_grad():
                ref = model(x)
            assert bit_equal(sm(x), ref), "compressed output differs from dense"

            def dense(x: torch.Tensor = x) -> None:
                with torch.no_grad():
                    model(x)

            def run(ahead: bool, x: torch.Tensor = x) -> None:
                sm.decode_ahead = ahead
                sm(x)

            # interleaved (dense, ahead, no-ahead, dense, ...): drift hits all three alike
            t = interleaved({"dense": dense, "ahead": lambda: run(True), "sync": lambda: run(False)},
                            repeats=repeats, warmup=1)
            d, a, n = ((t[k].median / 1e3, t[k].low / 1e3, t[k].high / 1e3) for k in ("dense", "ahead", "sync"))
            rep_sync = sm.report()  # the last run of a round is the no-ahead one
            run(True)
            rep_ahead = sm.report()
            print(
                f"{threads:>3} {batch:>5} {d[0]:>8.3f} {a[0]:>8.3f} {a[0] / d[0]:>6.2f} {n[0]:>9.3f} {n[0] / d[0]:>6.2f}"
                f"  {d[1]:.2f}-{d[2]:.2f} / {a[1]:.2f}-{a[2]:.2f} / {n[1]:.2f}-{n[2]:.2f}"
            )
            print(
                f"{'':>9} last forward: decode {rep_sync['decode_ms'].sum():.0f} ms, forward-thread wait "
                f"{rep_sync['wait_ms'].sum():.0f} ms without decode-ahead, {rep_ahead['wait_ms'].sum():.0f} ms with it"
            )


_CHILD = r"""
import ctypes, gc, json, sys, torch
torch.set_num_threads(1)
import sckit
from sckit import zoo
mode, path, name, batch, res = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def mb(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key + ":")) / 1e3

def build():
    return zoo.create_model(name) if mode == "dense" else sckit.load(path)

x = torch.randn(batch, 3, res, res)
# warm-up with the very same model, then drop it: numba kernels are loaded/compiled and torch's
# one-off buffers exist, so the baseline below differs from the measurement only by the model
model = build()
with torch.no_grad():
    model(x)
del model
gc.collect()
ctypes.CDLL("libc.so.6").malloc_trim(0)
base = mb("VmRSS")
model = build()
loaded = mb("VmRSS")
with open("/proc/self/clear_refs", "w") as f:  # "5" resets the peak RSS (VmHWM), Linux >= 4.0
    f.write("5")
with torch.no_grad():
    model(x)
print(json.dumps({"base_mb": base, "loaded_mb": loaded, "peak_mb": mb("VmHWM")}))
"""


def memory(sm: sckit.SuccinctModel, name: str, res: int, batch: int) -> None:
    """RSS of fresh processes: dense model vs the compressed one loaded from a container."""
    print(f"\n## memory: fresh process, torch 1 thread, batch {batch}, {res}x{res} (/proc VmRSS, VmHWM)")
    dense_w = sum(p.numel() * p.element_size() for p in zoo.create_model(name).parameters())
    print(f"weight bytes: dense {dense_w / 1e6:.1f} MB; compressed sm.nbytes (RAS + dense leftovers + buffers) {sm.nbytes / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.sck"
        sckit.save(sm, path)
        print(f"container file: {path.stat().st_size / 1e6:.1f} MB")
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        for mode in ("dense", "succinct"):
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, mode, str(path), name, str(batch), str(res)],
                capture_output=True, text=True, env=env,
            )
            if out.returncode:
                print(f"{mode:>9}: child failed (rc {out.returncode}): {out.stderr.strip()[-600:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{mode:>9}: model resident +{r['loaded_mb'] - r['base_mb']:.0f} MB over a warmed-up baseline "
                f"of {r['base_mb']:.0f} MB; peak during forward +{r['peak_mb'] - r['base_mb']:.0f} MB"
            )


def sparse_linear(repeats: int) -> None:
    """Element-wise/sparse layers: dense decode + F.linear vs CSR sparse.mm, 90% pruned 2048x2048."""
    print("\n## sparse kernel choice: 90%-pruned Linear 2048x2048, torch 1 thread (median ms)")
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(2048, 2048, generator=g)
    w[w.abs() < torch.quantile(w.abs().flatten()[:100000], 0.9)] = 0.0
    r = sckit.tensor_io.encode_tensor(w, kind="element")
    csr = w.to_sparse_csr()
    print(f"RAS element-wise sparse={r.sparse}: {r.nbytes / 1e6:.2f} MB vs dense {w.numel() * 4 / 1e6:.1f} MB")
    print(f"{'batch':>5} {'decode':>8} {'dense mm':>9} {'to_csr':>8} {'csr mm':>8}  (csr exact?)")
    for batch in (1, 32):
        x = torch.randn(batch, 2048, generator=g)
        dec = _timed(lambda: decode_tensor(r), repeats)[0]
        dmm = _timed(lambda x=x: torch.nn.functional.linear(x, w), repeats)[0]
        conv = _timed(lambda: w.to_sparse_csr(), repeats)[0]
        smm = _timed(lambda x=x: torch.sparse.mm(csr, x.t()).t(), repeats)[0]
        exact = bit_equal(torch.sparse.mm(csr, x.t()).t().contiguous(), torch.nn.functional.linear(x, w))
        print(f"{batch:>5} {dec * 1e3:>8.2f} {dmm * 1e3:>9.2f} {conv * 1e3:>8.2f} {smm * 1e3:>8.2f}  ({exact})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--res", type=int, default=224)
    ap.add_argument("--batches", default="32,1")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="resnet18 at 64x64, batches 8,1, 2 repeats")
    args = ap.parse_args()
    if args.quick:
        args.model, args.res, args.batches, args.repeats = "resnet18", 64, "8,1", 2
    batches = [int(b) for b in args.batches.split(",")]
    print(f"# bench_engine: {args.model}, {args.res}x{args.res}, batches {batches}, {args.repeats} repeats")
    print(f"# CPU: {cpu_model()}; torch {torch.__version__}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} (shared machine: expect noise)")
    model = zoo.create_model(args.model)
    model._sckit_zoo = getattr(model, "_sckit_zoo", None) or {"name": args.model, "kwargs": {}}
    x = torch.randn(1, 3, args.res, args.res)
    t0 = time.perf_counter()
    sm = sckit.compress(model, x)
    print(f"compress: {time.perf_counter() - t0:.1f} s, {len(sm.ras)} tensors as RAS")
    rep = sm.report()
    print(f"weights: dense {rep['dense_bytes'].sum() / 1e6:.1f} MB -> {rep['bytes'].sum() / 1e6:.1f} MB "
          f"(ratio {rep['dense_bytes'].sum() / rep['bytes'].sum():.3f}); ras kinds {dict(rep['ras'].value_counts())}")
    torch.set_num_threads(1)
    decode_throughput(sm, args.repeats)
    forward_times(model, sm, args.res, batches, args.repeats)
    memory(sm, args.model, args.res, 1)
    sparse_linear(args.repeats)


if __name__ == "__main__":
    main()
