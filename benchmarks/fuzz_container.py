"""Fuzz the sckit container file format: damaged and forged files through ``sckit.load`` and
``sckit.container.Reader``.

Each case takes one valid file (a compressed model in element, block and sparse RAS forms, a
dense model with a tied weight, a checkpoint of raw/float8/empty/RAS tensors, a ``sckit.pack``
file with groups, row blocks and a tied name, and the version-1 fixtures) and damages it one way:

- ``truncate``: cut at a random or structural offset;
- ``flip``: one to eight random bit flips;
- ``overwrite``: a random range set to random bytes, zeros or 0xff;
- ``header``: one header field (any depth) changed, dropped or retyped, the header re-deflated
  and its CRC recomputed (only the schema and the semantic checks can object);
- ``forge``: bytes of one RAS array (a rank directory, select samples, code lengths, level
  sizes, symbols, words...) or a raw tensor overwritten with boundary values *and every data
  CRC recomputed* (only the structures' own validation can object; a forged but
  self-consistent file may decode to other weights, never crash);
- ``prefix``: a prefix field (offsets, lengths, dictionary id) changed, header CRC kept valid.

The file is then loaded (models with ``sckit.load`` and run forward once, which decodes every
encoded weight; checkpoints with ``Reader``, every tensor decoded; the packed file with
``sckit.open``: ``state_dict()`` twice and a row slice; models also through
``sckit.open(path).state_dict()``). Outcomes:

- ``format_error``: FormatError (or FileNotFoundError/IsADirectoryError): wanted;
- ``ok``: loaded and ran (a forged but self-consistent file);
- ``other``: any other exception (a bug: printed);
- ``crash``: the worker died (segfault, abort); ``hang``: no answer within ``--timeout`` s.

Cases run in worker subprocesses, many per process, restarted after a crash or hang. Run::

    python benchmarks/fuzz_container.py                  # 20,000 cases, seed 0
    python benchmarks/fuzz_container.py --cases 300 --seed 1

tests/test_fuzz_container.py runs a few hundred cases through :func:`run`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import struct
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

if str(Path(__file__).resolve().parent) not in sys.path:  # also when loaded by path (the tests)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import _fuzz_driver  # noqa: E402 - benchmarks/_fuzz_driver.py
from _fuzz_driver import OUTCOMES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("truncate", "flip", "overwrite", "header", "forge", "prefix")
WEIGHTS = (0.1, 0.15, 0.1, 0.3, 0.3, 0.05)


# -------------------------------------------------------------------------------- seed files
@functools.lru_cache(maxsize=1)
def _models() -> Any:
    import torch
    from torch import nn

    class FuzzMlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(24, 96)
            self.bn = nn.BatchNorm1d(96)
            self.fc2 = nn.Linear(96, 40)
            self.head = nn.Linear(40, 40, bias=False)
            self.head2 = nn.Linear(40, 40, bias=False)
            self.head2.weight = self.head.weight  # tied
            self.register_buffer("steps", torch.zeros(2, dtype=torch.int64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.fc2(torch.relu(self.bn(self.fc1(x))))
            return self.head(h) + self.head2(torch.relu(h))

    # one name in every process (the worker runs this file as __main__)
    FuzzMlp.__module__, FuzzMlp.__qualname__ = "sckit_fuzz", "FuzzMlp"
    return FuzzMlp


def _input() -> Any:
    import torch

    return torch.randn(3, 24, generator=torch.Generator().manual_seed(7))


def build_seeds(folder: Path) -> list[tuple[str, str]]:
    """Write the valid files cases start from into ``folder``; ``(file name, how to load)``."""
    import torch

    import sckit
    from sckit.container import Writer
    from sckit.tensor_io import encode_tensor

    cls = _models()
    torch.manual_seed(0)
    m = cls().eval()
    with torch.no_grad():  # a few levels per tensor, so RAS pays and every layout is used
        for p in (m.fc1.weight, m.fc2.weight, m.head.weight):
            p.copy_(torch.randint(-6, 6, p.shape).float() / 8)
        m.bn.running_var.uniform_(0.5, 2.0)
    x = _input()
    seeds = []
    for kind in ("element", "block"):
        sckit.save(sckit.compress(m, x, ras=kind, decode_ahead=False), folder / f"{kind}.sck")
        seeds.append((f"{kind}.sck", "model"))
    pruned = cls().eval()
    pruned.load_state_dict(m.state_dict())
    with torch.no_grad():
        for p in (pruned.fc1.weight, pruned.fc2.weight):
            p.mul_((torch.rand(p.shape) < 0.25).float())
    sckit.save(sckit.compress(pruned, x, ras="element", decode_ahead=False), folder / "sparse.sck")
    seeds.append(("sparse.sck", "model"))
    sckit.save(m, folder / "dense.sck")
    seeds.append(("dense.sck", "model"))
    g = torch.Generator().manual_seed(3)
    with Writer(folder / "ckpt.sck", metadata={"format": "pt", "note": "fuzz"}) as w:
        w.add_tensor("emb", ras=encode_tensor(torch.randint(-20, 20, (64, 48), generator=g).to(torch.bfloat16)))
        w.add_tensor("sparse", ras=encode_tensor((torch.randint(-3, 3, (40, 40), generator=g)
                                                  * (torch.rand(40, 40, generator=g) < 0.2)).float(), kind="element"))
        w.add_tensor("blk", ras=encode_tensor(torch.randint(-4, 4, (32, 30), generator=g).half(), kind="block"))
        # > 256 distinct values: the byte-grouped "wide" codebook (meta "codebook_entries")
        w.add_tensor("wide", ras=encode_tensor(torch.randn(900, generator=g)[torch.randint(0, 900, (40, 60), generator=g)],
                                               layout="bytegroup"))
        w.add_tensor("f8", torch.randn(5, 7, generator=g).to(torch.float8_e4m3fn))
        w.add_tensor("u32", torch.arange(12, dtype=torch.int32).view(torch.uint32))
        w.add_tensor("empty", torch.empty(0, 3))
        w.add_tensor("scalar", torch.tensor(2.5, dtype=torch.float64))
        w.add_tensor("raw", torch.randn(300, generator=g))
    seeds.append(("ckpt.sck", "checkpoint"))
    # a packed checkpoint (sckit.pack's layout: small tensors in groups, a big one in row
    # blocks, a tied name), read back as sckit.open's state_dict() and a row slice read it
    sd = {f"b{i}": (torch.randn(12, generator=g) * 0.1).to(torch.bfloat16 if i % 2 else torch.float32)
          for i in range(6)}
    sd["big"] = torch.randint(-9, 9, (40, 30), generator=g).float() / 4
    sd["tied"] = sd["big"]
    torch.save(sd, folder / "packed.pt")
    sckit.pack(folder / "packed.pt", folder / "packed.sck", progress=False, part_weights=300)
    seeds.append(("packed.sck", "packed"))
    # files of earlier format versions, still read (version 2's model is version 1's)
    for name, how in (("v1_succinct.sck", "v1"), ("v1_dense.sck", "v1"), ("v2_succinct.sck", "v1"),
                      ("v2_checkpoint.sck", "checkpoint")):
        src = ROOT / "tests" / "fixtures" / name
        if src.exists():
            (folder / name).write_bytes(src.read_bytes())
            seeds.append((name, how))
    return seeds


# -------------------------------------------------------------------------------- mutations
def _prefix(raw: bytes) -> tuple[int, int, int, int, int]:
    """(version, header offset, stored header length, dictionary id, data start)."""
    from sckit.container._layout import HEADER_INFO, PREFIX_V3

    version = struct.unpack_from("<I", raw, 8)[0]
    if version >= 3:
        _, _, _, hoff, hlen, zid = PREFIX_V3.unpack_from(raw)
        return version, hoff, hlen, zid, PREFIX_V3.size
    _, _, _, hoff, hlen, info = struct.unpack("<8sIIQQ32s", raw[:64])
    return version, hoff, hlen, (HEADER_INFO.unpack(info)[1] if version == 2 else 0), 64


def _header_v2(raw: bytes) -> tuple[Any, int, int]:
    from sckit.container._zdict import DICTIONARIES

    _, hoff, hlen, zid, _ = _prefix(raw)
    d = zlib.decompressobj(zdict=DICTIONARIES[zid])
    return json.loads(d.decompress(raw[hoff : hoff + hlen]) + d.flush()), hoff, zid


def _with_header(raw: bytes, version: int, header: Any, hoff: int) -> bytes:
    from sckit.container._layout import HEADER_INFO, PREFIX_V3
    from sckit.container._zdict import DICTIONARIES

    start = _prefix(raw)[4]
    hj = json.dumps(header).encode()
    if version == 1:
        hb, info = hj, bytes(32)
    else:
        zid = 2 if version >= 3 else 1
        c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARIES[zid])
        hb, info = c.compress(hj) + c.flush(), HEADER_INFO.pack(len(hj), zid)
    if version >= 3:
        prefix = PREFIX_V3.pack(raw[:8], version, zlib.crc32(hb), hoff, len(hb), 2)
    else:
        prefix = struct.pack("<8sIIQQ", raw[:8], version, zlib.crc32(hb), hoff, len(hb)) + info
    return prefix + raw[start:hoff] + hb


def _parse(raw: bytes) -> tuple[int, Any, int]:
    version = struct.unpack_from("<I", raw, 8)[0]
    if version == 1:
        _, _, _, hoff, hlen, _ = struct.unpack("<8sIIQQ32s", raw[:64])
        return 1, json.loads(raw[hoff : hoff + hlen]), hoff
    h, hoff, _ = _header_v2(raw)
    return version, h, hoff


def _leaves(v: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _leaves(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _leaves(x, (*path, i))
    return out


_ODD = [None, True, -1, 0, 1, 2**31, 2**32, 2**62, 2**63, -(2**63), 10**30, 1e308, -0.5, 3.5, "",
        "x", "float32", "ras", [], {}, [0], [-1], [2**40], {"a": 1}, "auto", 255, 256, 65535]


def _edit_header(rng: np.random.Generator, h: Any) -> str:
    paths = [p for p in _leaves(h) if p]
    path = paths[rng.integers(len(paths))]
    node = h
    for k in path[:-1]:
        node = node[k]
    key, old = path[-1], node[path[-1]]
    r = rng.random()
    if r < 0.15 and isinstance(node, dict):
        del node[key]
        return f"drop {path}"
    if r < 0.25 and isinstance(node, list):
        node.insert(int(key), json.loads(json.dumps(old)))
        return f"dup {path}"
    if isinstance(old, int) and not isinstance(old, bool) and r < 0.7:
        new: Any = int(old + rng.choice([-1, 1, -old - 1, 64, -64, 2**20, old]))
    else:
        new = _ODD[rng.integers(len(_ODD))]
    node[key] = new
    return f"set {path} {str(old)[:30]} -> {str(new)[:30]}"


def _fix_data_crcs(raw: bytearray, version: int, h: Any, hoff: int) -> bytes:
    """Recompute every data checksum in the header, so forged data passes the integrity checks."""
    if version == 1:
        for s in h["sections"]:
            s["crc32"] = zlib.crc32(bytes(raw[s["offset"] : s["offset"] + s["bytes"]]))
        return _with_header(bytes(raw), 1, h, hoff)
    from sckit.container.reader import Reader

    with tempfile.NamedTemporaryFile(suffix=".sck") as f:  # where the groups lie
        f.write(bytes(raw))
        f.flush()
        r = Reader(f.name, mmap=False, verify=False)
        ranges = [r._entries[n].checks for n in r.names]
    for row, checks in zip(h["tensors"], ranges, strict=True):
        if "c" in row and checks:
            start, end, _ = checks[0]
            row["c"] = zlib.crc32(bytes(raw[start:end]))
    return _with_header(bytes(raw), version, h, hoff)


def _sections(raw: bytes) -> list[tuple[str, int, int, int]]:
    """``(label, offset, nbytes, itemsize)`` of every array in the file."""
    from sckit.container._layout import np_dtype
    from sckit.container.reader import Reader

    with tempfile.NamedTemporaryFile(suffix=".sck") as f:
        f.write(raw)
        f.flush()
        r = Reader(f.name, mmap=False, verify=False)
        out = []
        for n in r.names:
            e = r._entries[n]
            if e.raw is not None:
                out.append((f"{n}:raw", e.raw.offset, e.raw.nbytes, 1))
            for k, s in (e.arrays or {}).items():
                out.append((f"{n}:{k}", s.offset, s.nbytes, np_dtype(s.dtype).itemsize))
    return [s for s in out if s[2]]


def make_case(seed: int, i: int, seeds: list[tuple[str, str, bytes]]) -> tuple[str, str, bytes]:
    """``(description, how to load, file bytes)`` of case ``i``."""
    rng = np.random.default_rng([seed, i])
    name, how, base = seeds[rng.integers(len(seeds))]
    kind = KINDS[rng.choice(len(KINDS), p=WEIGHTS)]
    raw = bytearray(base)
    n = len(raw)
    if kind == "truncate":
        cut = int(rng.choice([rng.integers(n), rng.integers(64), n - 1, 63, 64]))
        return f"{name} truncate {cut}", how, bytes(raw[:cut])
    if kind == "flip":
        pos = [int(rng.integers(n)) for _ in range(rng.integers(1, 9))]
        for p in pos:
            raw[p] ^= 1 << int(rng.integers(8))
        return f"{name} flip {pos}", how, bytes(raw)
    if kind == "overwrite":
        p, ln = int(rng.integers(n)), int(rng.integers(1, 64))
        fill = rng.choice(["rand", "zero", "ff"])
        val = rng.integers(0, 256, ln, dtype=np.uint8).tobytes() if fill == "rand" else (b"\0" if fill == "zero" else b"\xff") * ln
        k = min(ln, n - p)
        if raw[p : p + k] == val[:k]:  # zeros over zeros is no damage: change one bit
            val = bytes([val[0] ^ 1]) + val[1:]
        raw[p : p + k] = val[:k]
        return f"{name} overwrite {p}+{ln} {fill}", how, bytes(raw)
    version, h, hoff = _parse(base)
    if kind == "header":
        what = _edit_header(rng, h)
        return f"{name} header {what}", how, _with_header(base, version, h, hoff)
    if kind == "prefix":
        field = int(rng.integers(4))
        start = _prefix(base)[4]
        if version >= 3:
            _, ver, crc, ho, hl, zid = struct.unpack("<8sIIQI4s", base[:32])
            info = zid  # the dictionary id and 3 reserved bytes
        else:
            _, ver, crc, ho, hl, info = struct.unpack("<8sIIQQ32s", base[:64])
        vals = [ver, ho, hl]
        if field < 3:  # a value other than the one there
            top = 2**32 if version >= 3 and field == 2 else 2**64  # what the field can hold
            options = [v for v in (0, 1, 2, 3, 31, 32, 63, 64, 2**63 - 1, vals[field] + 1, vals[field] - 1, 2**32)
                       if v != vals[field] and 0 <= v < top]
            vals[field] = int(options[rng.integers(len(options))])
        else:  # the dictionary id / a reserved byte (version 3), the decompressed length or
            # dictionary id (version 2), a reserved byte (version 1)
            at = int(rng.integers(4 if version >= 3 else 9 if version == 2 else 32))
            info = bytes([*info[:at], info[at] ^ int(rng.integers(1, 256)), *info[at + 1:]])
        try:
            if version >= 3:
                prefix = struct.pack("<8sIIQI4s", base[:8], vals[0] & 0xFFFFFFFF, crc, vals[1], vals[2], info)
            else:
                prefix = struct.pack("<8sIIQQ32s", base[:8], vals[0] & 0xFFFFFFFF, crc, vals[1], vals[2], info)
        except struct.error:
            prefix = base[:start]
        return f"{name} prefix field {field} -> {vals}", how, prefix + base[start:]
    # forge: overwrite part of one array with boundary values, then fix every data CRC
    secs = _sections(base)
    label, off, nb, item = secs[rng.integers(len(secs))]
    width = item if item > 1 else int(rng.choice([1, 2, 4, 8]))
    count = int(rng.integers(1, 4))
    forged = []
    for _ in range(count):
        p = off + int(rng.integers(max(nb // width, 1))) * width
        choices = [0, 1, 2**(8 * width) - 1, 2**(8 * width - 1), int(rng.integers(0, 2**min(8 * width, 62)))]
        old = int.from_bytes(raw[p : p + width], "little")
        choices += [(old + 1) % 2**(8 * width), (old - 1) % 2**(8 * width), (old * 2) % 2**(8 * width)]
        v = int(choices[rng.integers(len(choices))])
        k = min(width, off + nb - p)  # stay inside the array; the file keeps its length
        raw[p : p + k] = v.to_bytes(width, "little")[:k]
        forged.append((p - off, v))
    return f"{name} forge {label} {forged}", how, _fix_data_crcs(raw, version, h, hoff)


# -------------------------------------------------------------------------------- one case
def _exercise(how: str, path: Path, mmap: bool) -> None:
    import torch

    import sckit
    from sckit.container import Reader

    if how == "checkpoint":
        r = Reader(path, mmap=mmap, verify=mmap)  # lazy checks, or none (open()'s fast path)
        for name in r.names:
            r.tensor(name)
            e = r.entry(name)
            if e.storage == "ras" and e.shape and e.shape[0] > 1 and hasattr(r.ras(name), "decode_rows"):
                r.ras(name).decode_rows(1, e.shape[0])  # random access, as sckit.open does
        r.verify()
        return
    if how == "packed":
        with sckit.open(path, verify=True if mmap else "always") as f:
            f.state_dict()
            f.state_dict()  # the second through the read plan the first made
            f.get_slice("big")[3:17]
        return
    if how == "v1":
        sys.path.insert(0, str(ROOT))
        from tests.test_container_v1 import V1_INPUT, V1Net

        m = sckit.load(path, model=V1Net(), mmap=mmap)
        x = V1_INPUT
    else:
        m = sckit.load(path, model=_models()(), mmap=mmap)
        x = _input()
    with torch.no_grad():
        m(x)
    if hasattr(m, "to_dense"):
        m.to_dense()
    with sckit.open(path, verify=True if mmap else "always") as f:  # the same file as tensors
        f.state_dict()


def run_one(seed: int, i: int, seeds: list[tuple[str, str, bytes]], path: Path) -> tuple[str, str]:
    from sckit.errors import FormatError

    try:
        label, how, data = make_case(seed, i, seeds)
    except Exception as e:  # noqa: BLE001 - a bug of the fuzzer itself, reported as such
        return "other", f"case {i}: the fuzzer failed to build it: {type(e).__name__}: {e}"
    path.write_bytes(data)
    try:
        _exercise(how, path, mmap=i % 2 == 0)
    except (FormatError, FileNotFoundError, IsADirectoryError):
        return "format_error", label
    except Exception as e:  # noqa: BLE001 - classified and reported
        return "other", f"{label} -> {type(e).__name__}: {str(e)[:300]}"
    return "ok", label


def _worker(seed: int, start: int, stop: int, folder: str) -> None:
    try:
        import resource

        # an allocation a forged size asks for fails as MemoryError instead of swapping
        resource.setrlimit(resource.RLIMIT_AS, (16 << 30, 16 << 30))
    except (ImportError, ValueError, OSError):
        pass
    index = json.loads((Path(folder) / "seeds.json").read_text())
    seeds = [(n, how, (Path(folder) / n).read_bytes()) for n, how in index]
    path = Path(folder) / f"case.{os.getpid()}.sck"
    _fuzz_driver.serve(lambda i: run_one(seed, i, seeds, path), start, stop)


# -------------------------------------------------------------------------------- driver
def run(cases: int, seed: int = 0, *, timeout: float = 20.0, start_timeout: float = 600.0,
        verbose: bool = False) -> tuple[Counter, list[str], Counter]:
    """Run cases ``0 .. cases-1`` in worker subprocesses; ``(outcome counts, descriptions of
    the cases that were not format_error/ok, counts by (damage kind, outcome))``."""
    with tempfile.TemporaryDirectory(prefix="sckit-fuzz-") as folder:
        seeds = build_seeds(Path(folder))
        (Path(folder) / "seeds.json").write_text(json.dumps(seeds))
        return _fuzz_driver.drive(
            __file__, cases, ["--seed", str(seed), "--folder", folder], timeout=timeout,
            start_timeout=start_timeout, verbose=verbose, cwd=ROOT,
            env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per case before 'hang'")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--folder", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        sys.path.insert(0, str(ROOT))
        _worker(args.seed, args.start, args.stop, args.folder)
        return
    from sckit.timing import cpu_model

    print(f"machine: {cpu_model()}; cases: {args.cases}; seed: {args.seed}", flush=True)
    t0 = time.monotonic()
    counts, bad, by_kind = run(args.cases, args.seed, timeout=args.timeout, verbose=True)
    for line in bad[:50]:
        print("  " + line[:400])
    print(f"{sum(counts.values())} cases in {time.monotonic() - t0:.0f} s:")
    for k in OUTCOMES:
        print(f"  {k:13s} {counts[k]}")
    print("by damage kind (format_error / ok / other):")
    for kind in KINDS:
        print(f"  {kind:10s} " + " / ".join(str(by_kind[(kind, o)]) for o in ("format_error", "ok", "other")))


if __name__ == "__main__":
    main()
