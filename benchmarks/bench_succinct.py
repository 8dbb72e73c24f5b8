"""Benchmark the succinct core: build, range decode, batched queries, space.

Prints one table per data set (sigma 16 and 256, uniform and skewed) with, per structure:
build Msym/s; range-decode Msym/s for 4K-symbol ranges and for the whole sequence; batched
access/rank/select ns per query; bits per symbol. Baselines: numpy ``take`` (fancy indexing) on a
plain uint8 array, and the PyPI ``wavelet-matrix`` package when importable (its API has no batched
queries, so its figures include one Python call per query). The HuffmanWaveletMatrix row appears
when ``sckit.succinct.huffman_wm`` imports.

Run single-threaded for comparable figures::

    NUMBA_NUM_THREADS=1 python benchmarks/bench_succinct.py            # n = 10M
    NUMBA_NUM_THREADS=1 python benchmarks/bench_succinct.py --n 200000  # quick

Times are the best of ``--reps`` runs, measured as process CPU time (``time.process_time``) so
that other processes on a shared machine distort them less; with one thread this is the
single-core time.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from sckit.succinct.wavelet_matrix import WaveletMatrix  # noqa: E402

try:  # written by another helper; optional here
    from sckit.succinct.huffman_wm import HuffmanWaveletMatrix
except Exception:  # noqa: BLE001 - any import failure just drops the row
    HuffmanWaveletMatrix = None

try:
    from wavelet_matrix import WaveletMatrix as PyPIWaveletMatrix
except ImportError:
    PyPIWaveletMatrix = None

RANGE = 4096


def best(f: Callable[[], Any], reps: int) -> float:
    t_best = float("inf")
    for _ in range(reps):
        t = time.process_time()
        f()
        t_best = min(t_best, time.process_time() - t)
    return max(t_best, 1e-9)


def datasets(n: int, seed: int = 0) -> dict[str, tuple[np.ndarray, int]]:
    rng = np.random.default_rng(seed)
    # skewed: rounded Gaussian, like quantized weights (most mass on a few central codes)
    def gauss(sigma: int, scale: float) -> np.ndarray:
        return np.clip(np.rint(rng.normal(sigma / 2, scale, n)), 0, sigma - 1).astype(np.uint8)

    return {
        "sigma=16 uniform": (rng.integers(0, 16, n).astype(np.uint8), 16),
        "sigma=16 skewed": (gauss(16, 1.5), 16),
        "sigma=256 uniform": (rng.integers(0, 256, n).astype(np.uint8), 256),
        "sigma=256 skewed": (gauss(256, 12.0), 256),
    }


def bench_structure(cls: Any, x: np.ndarray, sigma: int, q: dict[str, np.ndarray], reps: int) -> dict[str, float]:
    n = x.shape[0]
    kw = {"sigma": sigma} if cls is WaveletMatrix else {}
    # warm-up on a small prefix: numba compiles (or loads from its cache) on first use
    w = cls(x[:5000], **kw)
    w.decode_into(0, 4096, np.empty(4096, np.uint8))
    w.access_many(q["idx"][:10] % 5000)
    w.rank_many(int(x[0]), q["idx"][:10] % 5000)
    w.select_many(int(x[0]), [0])
    t_build = best(lambda: cls(x, **kw), max(1, reps - 1))
    s = cls(x, **kw)
    out = np.empty(n, dtype=np.uint8)
    starts = q["starts"]

    def dec4k() -> None:
        o = out[:RANGE]
        for a in starts:
            s.decode_into(int(a), int(a) + RANGE, o)

    t4k = best(dec4k, reps)
    tall = best(lambda: s.decode_into(0, n, out), reps)
    assert np.array_equal(out, x), "decode mismatch"
    c = int(q["c"])
    t_acc = best(lambda: s.access_many(q["idx"]), reps)
    t_rank = best(lambda: s.rank_many(c, q["idx"]), reps)
    ks = q["ks"]
    t_sel = best(lambda: s.select_many(c, ks), reps)
    m = q["idx"].size
    return {
        "build Msym/s": n / t_build / 1e6,
        "dec 4K Msym/s": starts.size * RANGE / t4k / 1e6,
        "dec all Msym/s": n / tall / 1e6,
        "access ns": t_acc / m * 1e9,
        "rank ns": t_rank / m * 1e9,
        "select ns": t_sel / ks.size * 1e9,
        "bits/sym": 8 * s.nbytes / n,
    }


def bench_numpy(x: np.ndarray, q: dict[str, np.ndarray], reps: int) -> dict[str, float]:
    n = x.shape[0]
    out = np.empty(n, dtype=x.dtype)
    ranges = [np.arange(a, a + RANGE) for a in q["starts"]]

    def dec4k() -> None:
        o = out[:RANGE]
        for r in ranges:
            np.take(x, r, out=o)

    allidx = np.arange(n)
    return {
        "build Msym/s": float("nan"),
        "dec 4K Msym/s": q["starts"].size * RANGE / best(dec4k, reps) / 1e6,
        "dec all Msym/s": n / best(lambda: np.take(x, allidx, out=out), reps) / 1e6,
        "access ns": best(lambda: np.take(x, q["idx"]), reps) / q["idx"].size * 1e9,
        "rank ns": float("nan"),
        "select ns": float("nan"),
        "bits/sym": 8.0 * x.itemsize,
    }


def bench_pypi(x: np.ndarray, q: dict[str, np.ndarray], reps: int) -> dict[str, float]:
    n = x.shape[0]
    lst = x.tolist()
    t_build = best(lambda: PyPIWaveletMatrix(lst), 1)
    w = PyPIWaveletMatrix(lst)
    c = int(q["c"])
    few = q["idx"][:20_000].tolist()
    ks = (q["ks"][:20_000] + 1).tolist()  # its select is 1-based
    starts = q["starts"][:20].tolist()

    def dec4k() -> None:
        for a in starts:
            [w.access(i) for i in range(a, a + RANGE)]

    return {
        "build Msym/s": n / t_build / 1e6,
        "dec 4K Msym/s": len(starts) * RANGE / best(dec4k, 1) / 1e6,
        "dec all Msym/s": n / best(w.values, 1) / 1e6,
        "access ns": best(lambda: [w.access(i) for i in few], reps) / len(few) * 1e9,
        "rank ns": best(lambda: [w.rank(c, i) for i in few], reps) / len(few) * 1e9,
        "select ns": best(lambda: [w.select(c, k) for k in ks], reps) / len(ks) * 1e9,
        "bits/sym": float("nan"),
    }


def fmt(v: float) -> str:
    if v != v:  # nan
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="symbols per data set")
    ap.add_argument("--queries", type=int, default=1_000_000, help="batched queries per kind")
    ap.add_argument("--ranges", type=int, default=500, help="4K-symbol ranges decoded")
    ap.add_argument("--reps", type=int, default=3, help="best of this many runs")
    args = ap.parse_args()
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"# {cpu}, {os.cpu_count()} cores, {platform.python_version()}, numpy {np.__version__}, "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS')}, n={args.n:,}")
    print(f"# PyPI wavelet-matrix: {'installed' if PyPIWaveletMatrix else 'not installed'}; "
          f"HuffmanWaveletMatrix: {'available' if HuffmanWaveletMatrix else 'not available'}")
    rng = np.random.default_rng(1)
    cols = ["build Msym/s", "dec 4K Msym/s", "dec all Msym/s", "access ns", "rank ns", "select ns", "bits/sym"]
    for name, (x, sigma) in datasets(args.n).items():
        n = x.shape[0]
        c = int(np.bincount(x).argmax())  # the most frequent symbol: select has many ranks to hit
        cnt = int((x == c).sum())
        q = {
            "idx": rng.integers(0, n, args.queries),
            "ks": rng.integers(0, cnt, args.queries),
            "starts": rng.integers(0, max(n - RANGE, 1), args.ranges),
            "c": np.int64(c),
        }
        rows: list[tuple[str, dict[str, float] | None]] = [("numpy take (uint8)", bench_numpy(x, q, args.reps))]
        rows.append(("WaveletMatrix", bench_structure(WaveletMatrix, x, sigma, q, args.reps)))
        if HuffmanWaveletMatrix is not None:
            rows.append(("HuffmanWaveletMatrix", bench_structure(HuffmanWaveletMatrix, x, sigma, q, args.reps)))
        rows.append(("PyPI wavelet-matrix", bench_pypi(x, q, 1) if PyPIWaveletMatrix else None))
        print(f"\n## {name}  (n={n:,}, H0={entropy(x):.2f} bits/sym)\n")
        print("| structure | " + " | ".join(cols) + " |")
        print("|---" * (len(cols) + 1) + "|")
        for label, r in rows:
            cells = ["not installed"] + [""] * (len(cols) - 1) if r is None else [fmt(r[k]) for k in cols]
            print(f"| {label} | " + " | ".join(cells) + " |")
        wm = dict(rows)["WaveletMatrix"]
        base = dict(rows)["numpy take (uint8)"]
        print(f"\nWaveletMatrix / numpy take: 4K ranges {wm['dec 4K Msym/s'] / base['dec 4K Msym/s']:.2f}x, "
              f"whole sequence {wm['dec all Msym/s'] / base['dec all Msym/s']:.2f}x")


def entropy(x: np.ndarray) -> float:
    p = np.bincount(x) / x.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


if __name__ == "__main__":
    main()
