"""Fuzz the layout JSON of packed checkpoints (``sckit.checkpoint_layout``).

One ``sckit.pack`` file (small tensors in groups of float32 and bfloat16, a tensor in row blocks,
a tied name, a float8 tensor stored raw) is rewritten with its layout JSON changed in one place:
a value anywhere in it replaced (by None, 0, -1, 2**40, "", a string, a list, an object, a
bool, a float, a neighbouring int, another tensor's name, a list shortened, lengthened or
reversed) or removed. Every container checksum is valid, so only the layout checks can object.
Each file is opened with ``sckit.open`` (``state_dict()`` twice, three tensors, a row slice)
and unpacked. Outcomes: ``format_error`` (wanted), ``ok`` (a forged but consistent layout)
and ``other`` (any other exception: a bug, printed). In-process: the layout never reaches
native code that the structures' own checks have not guarded (benchmarks/fuzz_container.py
covers damaged bytes, in worker processes). Run::

    python benchmarks/fuzz_layout.py --cases 5000 --seed 1

tests/test_fuzz_layout.py runs a few hundred cases through :func:`run`.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _seed_file(folder: Path) -> Path:
    import sckit

    g = torch.Generator().manual_seed(0)
    sd: dict[str, torch.Tensor] = {
        f"b{i}": (torch.randn(12, generator=g) * 0.1).to(torch.bfloat16 if i % 2 else torch.float32)
        for i in range(6)}
    sd["big"] = torch.randint(-9, 9, (40, 30), generator=g).float() / 4
    sd["tied"] = sd["big"]
    sd["f8"] = torch.randn(3, 4, generator=g).to(torch.float8_e4m3fn)
    torch.save(sd, folder / "seed.pt")
    return sckit.pack(folder / "seed.pt", folder / "seed.sck", progress=False,
                      part_weights=300).path


def _paths(x: Any, pre: tuple = ()) -> Iterator[tuple]:
    yield pre
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _paths(v, (*pre, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _paths(v, (*pre, i))


def mutate(layout: dict[str, Any], rng: random.Random, names: list[str]) -> tuple[dict[str, Any], str]:
    """``layout`` with one value replaced or removed, and a description of the change."""
    lay = copy.deepcopy(layout)
    where = rng.choice([p for p in _paths(lay) if p])
    parent = lay
    for k in where[:-1]:
        parent = parent[k]
    key = where[-1]
    old = parent[key]
    choices: list[Any] = [None, 0, -1, 1, 2**40, "", "zz", [], {}, True, 1.5, *names[:3]]
    if isinstance(old, int) and not isinstance(old, bool):
        choices += [old + 1, old - 1, old * 2, -old]
    if isinstance(old, str):
        choices += [old + "x", old.lower()]
    if isinstance(old, list) and old:
        choices += [old[:-1], old + old[-1:], old[::-1]]
    if rng.random() < 0.15:
        del parent[key]
        return lay, f"{where} removed"
    new = rng.choice(choices)
    parent[key] = new
    return lay, f"{where} {old!r} -> {new!r}"


def _exercise(path: Path, out: Path) -> None:
    import sckit

    with sckit.open(path) as f:
        f.state_dict()
        f.state_dict()
        for k in list(f)[:3]:
            f[k]
        if "big" in f:
            f.get_slice("big")[2:9]
    if out.exists():
        out.unlink()
    sckit.unpack(path, out, progress=False)


def run(cases: int, seed: int = 0) -> tuple[Counter, list[str]]:
    """``(outcome counts, descriptions of 'other' cases)`` for ``cases`` forged layouts."""
    from sckit.checkpoint import LAYOUT_KEY
    from sckit.container import Reader, Writer
    from sckit.errors import FormatError

    rng = random.Random(seed)
    counts: Counter = Counter()
    bad: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sckit-layout-fuzz-") as d:
        folder = Path(d)
        with Reader(_seed_file(folder)) as r:
            meta = dict(r.metadata)
            layout = json.loads(meta[LAYOUT_KEY])
            entries = []
            for n in r.names:
                e = r.entry(n)
                if e.storage == "ras":
                    entries.append((n, r.ras(n, copy=True), None, e.dtype, tuple(e.shape)))
                else:
                    entries.append((n, None, np.asarray(r.raw(n)).tobytes(), e.dtype, tuple(e.shape)))
        names = [t[0] for t in layout["tensors"]]
        for _ in range(cases):
            lay, desc = mutate(layout, rng, names)
            path = folder / "case.sck"
            with Writer(path, kind="checkpoint", metadata={**meta, LAYOUT_KEY: json.dumps(lay)}) as w:
                for n, ras, raw, dtype, shape in entries:
                    if ras is not None:
                        w.add_tensor(n, ras=ras)
                    else:
                        w.add_tensor(n, raw_bytes=raw, dtype=dtype, shape=shape)
            try:
                _exercise(path, folder / "out.pt")
                counts["ok"] += 1
            except FormatError:
                counts["format_error"] += 1
            except Exception as e:  # noqa: BLE001 - what the fuzzer is looking for
                counts["other"] += 1
                bad.append(f"{desc}: {type(e).__name__}: {e}")
    return counts, bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    counts, bad = run(a.cases, a.seed)
    print(f"{a.cases} forged layouts, seed {a.seed}: {dict(counts)}")
    for line in bad[:30]:
        print("  other:", line)


if __name__ == "__main__":
    main()
