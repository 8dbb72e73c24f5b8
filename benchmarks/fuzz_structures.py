"""Fuzz the succinct structures and RAS tensors with forged serializations.

Each case takes a valid structure (BitVector, WaveletMatrix, HuffmanWaveletMatrix, or a RAS
tensor in one of its forms), changes one to three fields of its ``(meta, arrays)`` -- a count
set negative, huge, off by one or to the wrong type; a directory entry nudged; a bit flipped;
an array cut, grown, dropped or retyped -- or bytes of the packed form, re-packs it *with a
valid checksum* (so only the structure's own validation can catch it), loads it (a third of the
cases with ``validate="fast"``, which lets forged rank directories through to the kernels, so
their index clamps are tested on their own) and runs every query on it with arguments valid
for what loaded. Outcomes:

- ``format_error``: the load or a query raised :class:`sckit.errors.FormatError` (wanted);
- ``ok``: loaded and every query answered (a forged but self-consistent structure may decode
  to other values);
- ``other``: any other exception (a bug: the message is printed);
- ``crash``: the worker process died (segfault, abort);
- ``hang``: no answer within ``--timeout`` seconds (the worker is killed).

Cases run in worker subprocesses, restarted after a crash or hang, so one bad case costs one
case. Run::

    python benchmarks/fuzz_structures.py                 # 20,000 cases, seed 0
    python benchmarks/fuzz_structures.py --cases 500 --seed 3
    python benchmarks/fuzz_structures.py --load-cost resnet50   # validation cost on load

The test suite runs a few hundred cases through :func:`run` (tests/test_fuzz_structures.py).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from collections import Counter
from typing import Any

import numpy as np

if os.path.dirname(os.path.abspath(__file__)) not in sys.path:  # also when loaded by path (tests)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _fuzz_driver  # noqa: E402 - benchmarks/_fuzz_driver.py
from _fuzz_driver import OUTCOMES  # noqa: E402


# -------------------------------------------------------------------------------- base structures
def _bases() -> list[tuple[str, str, dict[str, Any], dict[str, np.ndarray]]]:
    """``(label, kind tag, meta, arrays)`` of every valid structure the cases start from."""
    from sckit import ras
    from sckit.succinct import BitVector, HuffmanWaveletMatrix, WaveletMatrix

    rng = np.random.default_rng(12345)
    out: list[tuple[str, str, dict[str, Any], dict[str, np.ndarray]]] = []

    def add(label: str, kind: str, obj: Any) -> None:
        meta, arrays = obj.to_arrays()
        out.append((label, kind, meta, {k: np.array(v) for k, v in arrays.items()}))

    for n, p in ((0, 0.5), (1, 1.0), (100, 0.3), (5000, 0.5), (70000, 0.02)):
        add(f"bv{n}", "BitVector", BitVector((rng.random(n) < p).astype(np.uint8)))
    for n, sigma in ((0, 1), (7, 1), (300, 2), (1000, 5), (3000, 256), (500, 300), (50, 1 << 20)):
        add(f"wm{n}/{sigma}", "WaveletMatrix", WaveletMatrix(rng.integers(0, sigma, n), sigma))
    skew = np.minimum(rng.geometric(0.15, 4000) - 1, 60)
    add("hwm_skew", "HuffmanWaveletMatrix", HuffmanWaveletMatrix(skew))
    add("hwm_one", "HuffmanWaveletMatrix", HuffmanWaveletMatrix(np.full(50, 9)))
    add("hwm_empty", "HuffmanWaveletMatrix", HuffmanWaveletMatrix(np.zeros(0, np.int64)))
    add("hwm_big", "HuffmanWaveletMatrix", HuffmanWaveletMatrix(rng.integers(0, 400, 20000)))
    add("hwm_bitmap", "HuffmanWaveletMatrix",
        HuffmanWaveletMatrix(rng.integers(0, 1 << 14, 9000) * 3))

    w = (rng.standard_normal((24, 3, 3, 3)) * 0.05).astype(np.float32)
    add("ras_block", "sckit.ras", ras.encode(w, kind="block"))
    add("ras_elem", "sckit.ras", ras.encode(w, kind="element"))
    sparse = w.copy()
    sparse[np.abs(sparse) < 0.06] = 0
    add("ras_sparse", "sckit.ras", ras.encode(sparse, kind="block", sparse=True))
    add("ras_sparse_el", "sckit.ras", ras.encode(sparse, kind="element", sparse=True))
    q = np.round(w * 40) / 40
    add("ras_cb", "sckit.ras", ras.encode(q.astype(np.float32), kind="block", codebook=True))
    add("ras_cb_sparse", "sckit.ras",
        ras.encode(np.where(np.abs(q) < 0.05, 0, q).astype(np.float32), kind="element",
                   sparse=True, codebook=True))
    add("ras_int8", "sckit.ras", ras.encode(rng.integers(-128, 128, (16, 40)).astype(np.int8)))
    add("ras_f16", "sckit.ras", ras.encode((w[:, 0] * 3).astype(np.float16), kind="element"))
    add("ras_1d", "sckit.ras", ras.encode(w.reshape(-1)[:300].copy()))
    add("ras_empty", "sckit.ras", ras.encode(np.zeros((0, 4), np.float32)))
    add("ras_i32", "sckit.ras", ras.encode(rng.integers(-5000, 5000, (9, 30)).astype(np.int32)))
    # bigger streams: several rank blocks and select samples, the fused decoder's scratch
    # refills, and (about 1000 distinct int16 values) its two-group path for big code trees
    add("ras_big", "sckit.ras", ras.encode((rng.standard_normal((64, 700)) * 0.02)
                                           .astype(np.float32), kind="element"))
    add("ras_bigtree", "sckit.ras",
        ras.encode(rng.integers(0, 1000, (30, 700)).astype(np.int16), codebook=False))
    try:  # the byte-grouped layout, where this sckit has it (same RAS.from_bytes entry point)
        big = (rng.standard_normal((40, 500)) * 0.02).astype(np.float32)
        add("bg_f32", "sckit.ras", ras.encode(big, kind="block", layout="bytegroup"))
        # the high-byte form of float32 / bfloat16 (all-positive: a norm layer's scales)
        scales = (rng.random(9000) + 0.5).astype(np.float32)
        add("bg_f32_hb", "sckit.ras", ras.encode(scales, kind="element", layout="bytegroup",
                                                 codebook=False))
        add("bg_bf16_hb", "sckit.ras",
            ras.encode((scales.view(np.uint32) >> 16).astype(np.uint16), dtype="bfloat16", kind="element",
                       layout="bytegroup", codebook=False))
        add("bg_cb", "sckit.ras", ras.encode(q.astype(np.float32), kind="element",
                                             layout="bytegroup", codebook=True))
        # > 256 values: the wide codebook (high byte coded, low byte raw, "codebook_entries")
        levels = (rng.standard_normal(1500) * 0.05).astype(np.float32)
        add("bg_wide", "sckit.ras", ras.encode(levels[rng.integers(0, 1500, (30, 400))],
                                               kind="block", layout="bytegroup", codebook=True))
        # pruned, unquantized: the zero skip (raw bytes only for non-zeros, "raw_at" offsets)
        pruned = (rng.standard_normal(7 * 4096) * 0.02) * (rng.random(7 * 4096) < 0.2)
        add("bg_zero_skip", "sckit.ras", ras.encode(pruned.astype(np.float32), kind="block",
                                                    layout="bytegroup", codebook=False))
        # float16: the high byte coded, the low byte a raw plane
        add("bg_f16", "sckit.ras", ras.encode((big[:20] * 50).astype(np.float16), kind="block",
                                              layout="bytegroup", codebook=False))
        # its other form, the whole high byte coded (signs that follow magnitudes)
        signed = np.where(rng.random(big[:20].shape) < 0.5, np.abs(big[:20]), -np.abs(big[:20]) / 64)
        add("bg_f16_hb", "sckit.ras", ras.encode(signed.astype(np.float16), kind="element",
                                                 layout="bytegroup", codebook=False))
        # its exponent form (mantissas uniform in each binade: the top mantissa bits carry
        # nothing, so the faster form is kept; 16K+ weights, three raw bit planes)
        binades = (rng.choice([-1.0, 1.0], 20000) * (1 + rng.random(20000))
                   * 2.0 ** rng.integers(-9, -2, 20000))
        add("bg_f16_exp", "sckit.ras", ras.encode(binades.astype(np.float16), kind="element",
                                                  layout="bytegroup", codebook=False))
        # its zero skip (magnitude-pruned: no subnormal shares a zero's high byte)
        keep16 = np.abs(pruned) > 2.0 ** -10
        add("bg_f16_zero_skip", "sckit.ras", ras.encode((pruned * keep16).astype(np.float16),
                                                        kind="block", layout="bytegroup",
                                                        codebook=False))
        # ...and beside subnormals (positive ones under their own symbol, merge mode 10)
        sub16 = (pruned * keep16).astype(np.float16)
        sub16[::50] = np.float16(2.0 ** -20)
        add("bg_f16_zero_skip_sub", "sckit.ras", ras.encode(sub16, kind="block",
                                                            layout="bytegroup", codebook=False))
    except TypeError:
        pass
    return out


# -------------------------------------------------------------------------------- mutations
_SPECIAL = (-1, 0, 1, 2, 3, 63, 64, 2047, 2048, 4096, 2**31, 2**32, 2**34, 2**40, 2**62, -(2**63),
            1.5, -0.0, "x", None, True, False, [], {}, [1, 2])


def _meta_paths(meta: Any, prefix: tuple = ()) -> list[tuple]:
    paths: list[tuple] = []
    if isinstance(meta, dict):
        for k, v in meta.items():
            paths.append(prefix + (k,))
            paths += _meta_paths(v, prefix + (k,))
    elif isinstance(meta, list):
        for i, v in enumerate(meta):
            paths.append(prefix + (i,))
            paths += _meta_paths(v, prefix + (i,))
    return paths


def _get(meta: Any, path: tuple) -> Any:
    for k in path:
        meta = meta[k]
    return meta


def _mutate_meta(rng: np.random.Generator, meta: dict[str, Any]) -> str:
    paths = _meta_paths(meta)
    if not paths:
        meta["junk"] = 1
        return "meta add junk"
    path = paths[rng.integers(len(paths))]
    old = _get(meta, path)
    if isinstance(old, (int, float)) and not isinstance(old, bool) and rng.random() < 0.5:
        new: Any = int(old) + int(rng.choice([-2, -1, 1, 2, 64, -64, 4096]))
        if rng.random() < 0.3:
            new = -int(old) - 1
    elif rng.random() < 0.15:
        parent = _get(meta, path[:-1])
        if isinstance(parent, dict):
            del parent[path[-1]]
            return f"meta del {'.'.join(map(str, path))}"
        new = copy.deepcopy(_SPECIAL[rng.integers(len(_SPECIAL))])
    else:
        new = copy.deepcopy(_SPECIAL[rng.integers(len(_SPECIAL))])
    _get(meta, path[:-1])[path[-1]] = new
    return f"meta {'.'.join(map(str, path))}={new!r}"


def _mutate_array(rng: np.random.Generator, arrays: dict[str, np.ndarray]) -> str:
    if not arrays:
        arrays["junk"] = np.zeros(3, np.uint64)
        return "array add junk"
    names = sorted(arrays)
    # directories, counts and samples are what the kernels trust: pick them more often
    weights = np.array([3.0 if any(t in k for t in ("rank_dir", "sel", "zeros", "level", "len"))
                        else 1.0 for k in names])
    name = names[rng.choice(len(names), p=weights / weights.sum())]
    a = np.array(arrays[name])
    op = rng.integers(9)
    if op == 0 and a.size:  # flip one bit
        flat = a.reshape(-1).view(np.uint8)
        i = rng.integers(flat.size)
        flat[i] ^= np.uint8(1 << int(rng.integers(8)))
        what = "bitflip"
    elif op == 1 and a.size:  # one element nudged (a forged directory entry)
        flat = a.reshape(-1)
        i = rng.integers(flat.size)
        d = int(rng.choice([1, -1, 2, 511, 1 << 34, 1 << 44, -(1 << 34)]))
        flat[i] = (int(flat[i]) + d) % (1 << (8 * a.itemsize)) if a.dtype.kind == "u" else \
            np.clip(int(flat[i]) + d, np.iinfo(a.dtype).min, np.iinfo(a.dtype).max)
        what = f"nudge[{i}]{d:+d}"
    elif op == 2 and a.size:  # one element set to an extreme
        flat = a.reshape(-1)
        i = rng.integers(flat.size)
        info = np.iinfo(a.dtype) if a.dtype.kind in "iu" else None
        flat[i] = rng.choice([info.max, info.min, 0]) if info else np.inf
        what = f"extreme[{i}]"
    elif op == 3 and a.ndim == 1 and a.size:  # cut
        a = a[: int(rng.integers(a.size))]
        what = "cut"
    elif op == 4 and a.ndim == 1:  # grow
        a = np.concatenate([a, a[:1] if a.size else np.zeros(1, a.dtype)])
        what = "grow"
    elif op == 5:
        del arrays[name]
        return f"array del {name}"
    elif op == 6:  # wrong dtype, same bytes where possible
        dt = [np.int64, np.uint32, np.uint8, np.float64][int(rng.integers(4))]
        a = a.astype(dt)
        what = f"astype {np.dtype(dt)}"
    elif op == 7 and a.size > 1:  # random bits in a random element
        flat = a.reshape(-1).view(np.uint8)
        i = rng.integers(flat.size)
        flat[i] = rng.integers(256)
        what = "byte"
    else:  # shuffle
        flat = a.reshape(-1)
        rng.shuffle(flat)
        what = "shuffle"
    arrays[name] = a
    return f"array {name} {what}"


def make_case(seed: int, i: int, bases: list) -> tuple[str, str, bytes]:
    """``(label, kind, bytes)`` of case ``i``: a base structure with 1-3 forged fields, packed
    with a valid checksum."""
    import struct
    import zlib

    from sckit.succinct import _serial

    rng = np.random.default_rng([seed, i])
    label, kind, meta, arrays = bases[i % len(bases)]
    meta = copy.deepcopy(meta)
    arrays = {k: v.copy() for k, v in arrays.items()}
    what = []
    for _ in range(int(rng.integers(1, 4))):
        try:  # a mutation that does not apply (empty array, float dtype, ...) is skipped
            if rng.random() < 0.35:
                what.append(_mutate_meta(rng, meta))
            else:
                what.append(_mutate_array(rng, arrays))
        except (ValueError, TypeError, KeyError, IndexError):
            what.append("skipped")
    try:
        b = bytearray(_serial.pack(kind, meta, arrays))
    except (TypeError, ValueError) as e:  # a value the format cannot even hold
        what.append(f"unpackable ({e})")
        b = bytearray(_serial.pack(kind, *bases[i % len(bases)][2:]))
    if rng.random() < 0.15 and len(b) > 8:  # bytes of the header or data, CRC recomputed
        for _ in range(int(rng.integers(1, 4))):
            j = int(rng.integers(8, len(b)))
            b[j] = int(rng.integers(256))
        struct.pack_into("<I", b, 4, zlib.crc32(memoryview(b)[8:]))
        what.append("bytes")
    return f"{label}: {'; '.join(what)}", kind, bytes(b)


# -------------------------------------------------------------------------------- exercising
# A structure may legitimately hold far more symbols than bytes (one distinct symbol costs no
# bits per symbol), so whole decodes and dense batches are capped: the harness must not be the
# one allocating gigabytes.
_BIG = 1 << 22


def _exercise_seq(s: Any, rng: np.random.Generator) -> None:
    n = len(s)
    if n <= _BIG:
        s.to_numpy()
    if n:
        a = int(rng.integers(n))
        b = int(rng.integers(a, min(n, a + _BIG) + 1))
        s.decode(a, b)
        s.access(int(rng.integers(n)))
        s.access_many(rng.integers(0, n, 5))
        s.access_many(rng.integers(0, n, min(n, _BIG)))
    sigma = s.sigma
    for c in {0, sigma - 1, int(rng.integers(sigma))}:
        s.rank(c, int(rng.integers(n + 1)))
        s.rank_many(c, rng.integers(0, n + 1, 20))
        s.rank_many(c, rng.integers(0, n + 1, max(min(n, _BIG) // 4, 1)))
        cnt = s.count(c)
        if cnt > 0:  # (a forged directory loaded with validate="fast" may count anything)
            s.select(c, int(rng.integers(cnt)))
            s.select_many(c, rng.integers(0, cnt, 9))
            s.select_many(c, np.sort(rng.integers(0, cnt, 9)))
            if cnt <= _BIG:
                s.select_many(c, rng.integers(0, cnt, cnt))


def _exercise(kind: str, obj: Any, rng: np.random.Generator) -> None:
    if kind == "BitVector":
        n = len(obj)
        if n <= 8 * _BIG:
            obj.to_numpy()
        if n:
            obj.access(int(rng.integers(n)))
            obj.rank1_many(rng.integers(0, n + 1, 20))
            obj.rank0(int(rng.integers(n + 1)))
        ones = obj.n_ones
        if ones:
            obj.select1(int(rng.integers(ones)))
            obj.select1_many(rng.integers(0, ones, 20))
        if n - ones:
            obj.select0(int(rng.integers(n - ones)))
            obj.select0_many(rng.integers(0, n - ones, 20))
    elif kind == "sckit.ras":
        if obj.n_weights <= _BIG:
            obj.decode()
        shape = obj.shape
        if obj.n_weights:
            idx = tuple(int(rng.integers(d)) for d in shape)
            obj.access(idx)
            obj.access_many(np.array([[int(rng.integers(d)) for d in shape] for _ in range(6)]))
            acc = obj.accessor()
            acc.access(idx)
            if shape and obj.n_weights <= _BIG:
                a = int(rng.integers(shape[0]))
                obj.decode_rows(a, int(rng.integers(a, shape[0] + 1)))
    else:
        _exercise_seq(obj, rng)


def _load(kind: str, b: bytes, validate: str) -> Any:
    from sckit import ras
    from sckit.succinct import BitVector, HuffmanWaveletMatrix, WaveletMatrix

    cls = {"BitVector": BitVector, "WaveletMatrix": WaveletMatrix,
           "HuffmanWaveletMatrix": HuffmanWaveletMatrix, "sckit.ras": ras.RAS}[kind]
    return cls.from_bytes(b, validate=validate)


def run_one(seed: int, i: int, bases: list) -> tuple[str, str]:
    """``(outcome, description)`` of case ``i`` run in this process."""
    from sckit.errors import FormatError

    label, kind, b = make_case(seed, i, bases)
    # a third of the cases load with validate="fast": the rank directories are then not
    # recomputed, so forged ones reach the kernels, whose index clamps must hold on their own
    validate = "fast" if np.random.default_rng([seed, i, 2]).random() < 1 / 3 else "full"
    label = f"{label} [{validate}]"
    try:
        obj = _load(kind, b, validate)
        _exercise(kind, obj, np.random.default_rng([seed, i, 1]))
    except FormatError:
        return "format_error", label
    except Exception as e:  # noqa: BLE001 - classified and reported
        return "other", f"{label} -> {type(e).__name__}: {e}"
    return "ok", label


def _worker(seed: int, start: int, stop: int) -> None:
    bases = _bases()
    _fuzz_driver.serve(lambda i: run_one(seed, i, bases), start, stop)


# -------------------------------------------------------------------------------- driver
def run(cases: int, seed: int = 0, *, timeout: float = 20.0, start_timeout: float = 600.0,
        verbose: bool = False) -> tuple[Counter, list[str]]:
    """Run cases ``0 .. cases-1`` in worker subprocesses; ``(outcome counts, descriptions of
    the cases that were not format_error/ok)``."""
    counts, bad, _ = _fuzz_driver.drive(
        __file__, cases, ["--seed", str(seed)], timeout=timeout, start_timeout=start_timeout,
        verbose=verbose, env={"NUMBA_NUM_THREADS": "1"})
    return counts, bad


def load_cost(model: str, reps: int = 7) -> None:
    """Print the time ``RAS.from_arrays`` takes for every >= 2-d weight of a zoo model (wavelet-
    matrix layout) with ``validate="full"`` and ``"fast"`` (the difference is the popcount pass
    that recomputes the rank directories), interleaved, median of ``reps``."""
    from sckit import ras, zoo
    from sckit.succinct import _serial

    m = zoo.create_model(model)
    parts = []
    for p in m.parameters():
        if p.dim() >= 2:
            b = ras.encode(p.detach().numpy(), kind="block", layout="wm").to_bytes()
            parts.append(_serial.unpack(b, "sckit.ras", verify=False))
    mb = sum(sum(a.nbytes for a in arrays.values()) for _, arrays in parts) / 1e6
    times: dict[str, list[float]] = {"full": [], "fast": []}
    for p in parts:
        ras.RAS.from_arrays(*p)  # compile / warm
    for _ in range(reps):
        for mode in times:
            t = time.perf_counter()
            for meta, arrays in parts:
                ras.RAS.from_arrays(meta, arrays, validate=mode)
            times[mode].append(time.perf_counter() - t)
    full, fast = (float(np.median(times[k])) for k in ("full", "fast"))
    print(f"{model}: {len(parts)} RAS tensors, {mb:.1f} MB of arrays; RAS.from_arrays total: "
          f"full {full * 1e3:.1f} ms, fast {fast * 1e3:.1f} ms (recomputing the rank "
          f"directories: {(full - fast) * 1e3:+.1f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per case before 'hang'")
    ap.add_argument("--load-cost", metavar="MODEL", default=None,
                    help="instead of fuzzing, time RAS.from_arrays full vs fast on a zoo model")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.seed, args.start, args.stop)
        return
    from sckit.timing import cpu_model

    if args.load_cost:
        print(f"machine: {cpu_model()}", flush=True)
        load_cost(args.load_cost)
        return
    print(f"machine: {cpu_model()}; cases: {args.cases}; seed: {args.seed}", flush=True)
    t0 = time.monotonic()
    counts, bad = run(args.cases, args.seed, timeout=args.timeout, verbose=True)
    for line in bad[:50]:
        print("  " + line[:400])
    print(f"{sum(counts.values())} cases in {time.monotonic() - t0:.0f} s:")
    for k in OUTCOMES:
        print(f"  {k:13s} {counts[k]}")


if __name__ == "__main__":
    main()
