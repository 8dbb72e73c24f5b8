"""``sckit.pack`` / ``sckit.unpack``: whole checkpoints (safetensors, sharded folders, PyTorch
state dicts) to a ``.sck`` container of RAS-encoded tensors and back, bit-exact.

Packing streams: tensors are read, encoded and written one at a time on a thread pool
(:mod:`sckit.parallel`), with at most a memory budget of work in flight, so a checkpoint larger
than the machine's RAM packs in a few GB. Each float/int tensor becomes a RAS (field split of
sign+exponent symbols and raw mantissas, the observation behind ZipNN and DFloat11; Succinct
Compression, sec. 3); a tensor whose dtype sckit cannot encode (int64, bool, float8, ...) or
whose RAS would not be smaller is stored raw and listed in the :class:`PackReport`.

Unpacking gives the same files back: a safetensors file's header is kept verbatim, so the
unpacked file is byte-identical to the packed one (sharded folders: every shard and the index
JSON). The container ``metadata`` holds the safetensors ``__metadata__`` plus one key,
:data:`LAYOUT_KEY`, with what unpack needs (JSON).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sckit import checkpoint_store as _store
from sckit.checkpoint_io import (
    ITEMSIZE,
    RAS_DTYPE,
    TensorSpec,
    open_source,
)
from sckit.checkpoint_layout import LAYOUT_KEY, read_layout
from sckit.errors import FormatError

__all__ = ["LAYOUT_KEY", "PackReport", "pack", "unpack"]

# tensors smaller than this are stored raw: a RAS's fixed overhead (code tables, rank
# directories, ~0.5 KiB) outweighs anything entropy coding saves on them
MIN_ENCODE_BYTES = 1024
# peak working memory of encoding one tensor, per weight (measured with tracemalloc on bf16
# N(0, 0.02) weights: ~20 bytes per weight while encode builds and compares its candidate
# layouts), plus the input bytes
ENCODE_BYTES_PER_WEIGHT = 24
DEFAULT_BUDGET_BYTES = 1 << 30
# tensors of more weights are encoded in row blocks of at most this many (see _plan): 4 Mi
# weights is ~100 MB of encoder memory, and a first slice into a block builds only that
# block's RAS; per-block code tables and directories cost < 0.001 bits per weight (measured
# 10.6746 -> 10.6750 bits/weight going from 16 Mi to 4 Mi weights on bf16 N(0, 0.02))
PART_WEIGHTS = 1 << 22
PART_SEP = "::rows["
# tensors of fewer weights (biases, norms, small convs) are encoded together, up to
# GROUP_WEIGHTS weights per group of one dtype in file order (layout["groups"]): one code
# table and one container entry for all, where each alone paid its own (PP-OCR's direction
# classifier, 202 of its 213 tensors under 4,096 weights: 27.05 -> 26.81 bits/weight, ZipNN's
# one stream 26.82). Groups of 32K weights, not 8K: float16's tables are the larger (~55
# symbols against float32's ~15 exponents), and there 8K groups left the classifier 0.1%
# above ZipNN (13.770 against 13.754 bits/weight; 32K: 13.743; float32 26.794 -> 26.786);
# state_dict() got faster too (5.6 -> 4.9 ms), the first read of one member is unchanged
# (~370 us either way, of which the group's decode is ~20-60). Reading one member decodes its group (<= 128 KB of float32),
# which an opened file keeps for the members after it (checkpoint_store._group_bits).
GROUP_MAX_WEIGHTS = 4096
GROUP_WEIGHTS = 32768
GROUP_PREFIX = "::group["


@dataclass(frozen=True)
class PackReport:
    """What :func:`pack` did: sizes, time, and every tensor stored raw with the reason."""

    path: Path
    n_tensors: int
    input_bytes: int
    output_bytes: int
    n_weights_encoded: int
    encoded_input_bytes: int
    seconds: float
    cpu_seconds: float  # process CPU time: on a shared machine, MB per CPU-second is per-core speed
    threads: int
    raw: dict[str, str] = field(default_factory=dict)  # tensor name -> why it is stored raw

    @property
    def ratio(self) -> float:
        return self.input_bytes / self.output_bytes if self.output_bytes else float("inf")

    @property
    def mb_per_s(self) -> float:
        return self.input_bytes / 1e6 / self.seconds if self.seconds else float("inf")

    def summary(self) -> str:
        lines = [f"packed {self.n_tensors} tensors, {self.input_bytes / 1e6:,.1f} MB -> "
                 f"{self.output_bytes / 1e6:,.1f} MB ({100 / self.ratio:.1f}%) in "
                 f"{self.seconds:.1f} s ({self.mb_per_s:.0f} MB/s, {self.threads} threads; "
                 f"{self.input_bytes / 1e6 / max(self.cpu_seconds, 1e-9):.0f} MB per CPU-second) "
                 f"-> {self.path}"]
        if self.raw:
            lines.append(f"stored raw ({len(self.raw)} tensors):")
            lines += [f"  {name}: {why}" for name, why in self.raw.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Job:
    """One container entry to write: a whole tensor, rows ``[r0, r1)`` of a big one, or a
    group of small tensors of one dtype (``members``, ``spec`` is the first)."""

    spec: TensorSpec
    entry: str
    rows: tuple[int, int] | None = None  # None: the whole tensor
    members: tuple[TensorSpec, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        if self.rows is None:
            return self.spec.shape
        return (self.rows[1] - self.rows[0], *self.spec.shape[1:])

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass
class _Encoded:
    job: _Job
    ras: Any = None
    raw: np.ndarray | None = None
    reason: str = ""
    singles: list[_Encoded] = field(default_factory=list)  # a group stored member by member


def part_name(name: str, r0: int, r1: int) -> str:
    """Container entry name of rows ``[r0, r1)`` of a tensor stored in row blocks."""
    return f"{name}{PART_SEP}{r0}:{r1}]"


def _plan(spec: TensorSpec, part_weights: int) -> list[_Job]:
    """Big encodable tensors become row blocks of at most ``part_weights`` weights each: the
    encoder's working memory (~24 bytes per weight) then follows the block, not the tensor,
    and the blocks of one big tensor (an embedding, an LM head) encode on all cores."""
    if not isinstance(part_weights, int) or part_weights < 1:
        raise ValueError(f"part_weights must be a positive int, got {part_weights!r}")
    if (spec.dtype not in RAS_DTYPE or len(spec.shape) < 2 or spec.n_elements <= part_weights
            or spec.nbytes != spec.n_elements * ITEMSIZE[spec.dtype]):
        return [_Job(spec, spec.name)]
    n0 = spec.shape[0]
    per = max(1, part_weights // max(1, spec.n_elements // n0))
    return [_Job(spec, part_name(spec.name, r0, min(r0 + per, n0)), (r0, min(r0 + per, n0)))
            for r0 in range(0, n0, per)]


def _groupable(spec: TensorSpec) -> bool:
    return (spec.dtype in RAS_DTYPE and 0 < spec.n_elements < GROUP_MAX_WEIGHTS
            and spec.nbytes == spec.n_elements * ITEMSIZE[spec.dtype])


def _jobs(tensors: list[TensorSpec], part_weights: int) -> list[_Job]:
    """Every entry to write, in file order: small tensors joined into groups of one dtype (a
    group closes when the next member would pass GROUP_WEIGHTS; it is written where its last
    member was), big ones split into row blocks."""
    jobs: list[_Job] = []
    open_groups: dict[str, list[TensorSpec]] = {}
    weights: dict[str, int] = {}  # of each open group

    def close(dtype: str) -> None:
        members = open_groups.pop(dtype)
        weights.pop(dtype)
        if len(members) == 1:
            jobs.append(_Job(members[0], members[0].name))
        else:
            jobs.append(_Job(members[0], f"{GROUP_PREFIX}{len(jobs)}]", members=tuple(members)))

    for t in tensors:
        if not _groupable(t):
            jobs += _plan(t, part_weights)
            continue
        if t.dtype in open_groups and weights[t.dtype] + t.n_elements > GROUP_WEIGHTS:
            close(t.dtype)
        open_groups.setdefault(t.dtype, []).append(t)
        weights[t.dtype] = weights.get(t.dtype, 0) + t.n_elements
    for dtype in list(open_groups):
        close(dtype)
    return jobs


def _encode_group(job: _Job) -> _Encoded:
    """A group's members as one 1-d RAS, kept where it is smaller than the members stored one
    by one (each encoded or raw, plus a container entry each, ~40 bytes); else those."""
    from sckit.ras import encode

    data = [_read(_Job(m, m.name)) for m in job.members]  # each member read once
    singles = [_encode_data(_Job(m, m.name), d) for m, d in zip(job.members, data, strict=True)]
    alone = 0
    for e in singles:
        alone += 40 + int(e.ras.nbytes if e.ras is not None else e.raw.nbytes)  # type: ignore[union-attr]
    bits = np.concatenate(data).view(f"<u{ITEMSIZE[job.spec.dtype]}")
    r = encode(bits, dtype=RAS_DTYPE[job.spec.dtype], kind="element", layout="auto")
    if r.nbytes + 40 < alone:
        return _Encoded(job, ras=r)
    return _Encoded(job, singles=singles)


def _encode(job: _Job) -> _Encoded:
    """Read one entry's bytes and encode them (runs on a pool thread; numba releases the GIL)."""
    return _encode_group(job) if job.members else _encode_data(job, _read(job))


def _read(job: _Job) -> np.ndarray:
    """One entry's storage bytes (a whole tensor or its row block), length checked."""
    spec = job.spec
    if job.rows is None:
        data, want = spec.read(), spec.nbytes
    else:
        row_bytes = spec.nbytes // spec.shape[0]
        want = (job.rows[1] - job.rows[0]) * row_bytes
        data = spec.read_at(job.rows[0] * row_bytes, want)
    if data.nbytes != want:
        raise FormatError(f"tensor {spec.name!r}: read {data.nbytes} bytes, expected {want}")
    return data


def _encode_data(job: _Job, data: np.ndarray) -> _Encoded:
    """One entry's bytes encoded, or kept raw with the reason."""
    from sckit.ras import encode

    spec = job.spec
    name = RAS_DTYPE.get(spec.dtype)
    if name is None:
        return _Encoded(job, raw=data, reason=f"dtype {spec.dtype} is not encoded by sckit.ras")
    if spec.nbytes != spec.n_elements * ITEMSIZE[spec.dtype]:
        raise FormatError(f"tensor {spec.name!r}: {spec.nbytes} bytes do not fit shape "
                          f"{list(spec.shape)} of {spec.dtype}")
    if data.nbytes < MIN_ENCODE_BYTES:
        return _Encoded(job, raw=data, reason=f"small ({spec.nbytes} bytes)")
    bits = data.view(f"<u{ITEMSIZE[spec.dtype]}").reshape(job.shape)
    # block-wise rows are a Linear's output units: get_slice(name)[a:b] decodes just those;
    # "auto" as sckit.compress: the byte-grouped form where smaller (or the wavelet matrix
    # decodes slowly); both decode row ranges
    r = encode(bits, dtype=name, kind="block" if len(job.shape) >= 2 else "element",
               layout="auto")
    if r.nbytes >= data.nbytes:
        return _Encoded(job, raw=data, reason="RAS not smaller than the raw bytes")
    return _Encoded(job, ras=r)


def _cost(job: _Job) -> float:
    n = sum(m.n_elements for m in job.members) if job.members else job.n_elements
    return n * (ENCODE_BYTES_PER_WEIGHT + ITEMSIZE.get(job.spec.dtype, 1))


def _check_target(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass force=True (--force) to overwrite it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"cannot write {out}: folder {out.parent} does not exist")


def pack(src: str | os.PathLike[str], out: str | os.PathLike[str], *, threads: int | None = None,
         force: bool = False, progress: bool = True,
         memory_budget_bytes: int = DEFAULT_BUDGET_BYTES,
         part_weights: int = PART_WEIGHTS) -> PackReport:
    """Pack a checkpoint into a ``.sck`` container, tensor by tensor, bit-exact.

    Args:
        src: a ``.safetensors`` file, a folder of ``*.safetensors`` shards (with its
            ``model.safetensors.index.json``), or a PyTorch state-dict file (loaded with
            ``torch.load(weights_only=True, mmap=True)``).
        out: the ``.sck`` file to write (atomically: a failed pack leaves no partial file).
        threads: encoder threads (default: all cores); the file is the same for any count.
        force: overwrite ``out`` if it exists (else FileExistsError).
        progress: a tqdm bar with MB/s.
        memory_budget_bytes: estimated encoder working memory allowed in flight; one job
            always runs, so the peak is about ``max(budget, one row block's work)``.
        part_weights: tensors with more weights are encoded as row blocks of at most this many
            (each its own RAS; ``sckit.open`` and ``unpack`` join them), which bounds the
            encoder's memory (~24 bytes per weight) whatever the largest tensor.

    Returns a :class:`PackReport` (sizes, MB/s, tensors stored raw and why).
    """
    from tqdm.auto import tqdm

    from sckit.parallel import _check_threads, imap_bounded

    out = Path(out)
    n_threads = _check_threads(threads)
    _check_target(out, force)
    source = open_source(src)
    raw: dict[str, str] = {}
    n_enc = enc_bytes = 0
    t0, c0 = time.perf_counter(), time.process_time()
    bar = tqdm(total=source.nbytes, unit="B", unit_scale=True, unit_divisor=1000,
               desc=f"pack {Path(src).name}", disable=not progress)
    try:
        jobs = _jobs(source.tensors, part_weights)
        taken = {t.name for t in source.tensors}
        parts: dict[str, list[list[Any]]] = {}
        groups: dict[str, list[list[Any]]] = {}
        for j in jobs:
            if (j.rows is not None or j.members) and j.entry in taken:
                raise ValueError(f"tensor name {j.entry!r} collides with a row block or group "
                                 "entry name")
            if j.rows is not None:
                parts.setdefault(j.spec.name, []).append([j.entry, *j.rows])
        layout = dict(source.layout)
        layout["tensors"] = [[t.name, t.dtype, list(t.shape), t.shard] for t in source.tensors]
        layout["parts"] = parts
        metadata = {**source.metadata, LAYOUT_KEY: ""}  # the layout once the groups are known
        with _store.writer(out, metadata) as w:
            done = imap_bounded(_encode, jobs, threads=n_threads, cost=_cost,
                                budget=memory_budget_bytes)
            for enc in (e for g in done for e in (g.singles or [g])):
                job = enc.job
                if job.members:  # a group: its members' offsets (weights) in the one RAS
                    offs = np.cumsum([0] + [m.n_elements for m in job.members]).tolist()
                    groups[job.entry] = [[m.name, o] for m, o in zip(job.members, offs, strict=False)]
                    _store.add_ras(w, job.entry, enc.ras)
                    n_enc += offs[-1]
                    enc_bytes += sum(m.nbytes for m in job.members)
                    bar.update(sum(m.nbytes for m in job.members))
                    continue
                if enc.ras is not None:
                    _store.add_ras(w, job.entry, enc.ras)
                    n_enc += job.n_elements
                    enc_bytes += job.n_elements * ITEMSIZE[job.spec.dtype]
                else:
                    assert enc.raw is not None
                    _store.add_raw(w, job.entry, job.spec.dtype, job.shape, enc.raw)
                    if not enc.reason.startswith("small"):
                        raw[job.spec.name] = enc.reason
                bar.update(enc.raw.nbytes if enc.raw is not None else
                           job.n_elements * ITEMSIZE[job.spec.dtype])
            if groups:
                layout["groups"] = groups
            w.metadata[LAYOUT_KEY] = json.dumps(layout, separators=(",", ":"))
    finally:
        bar.close()
        source.close()
    return PackReport(out, len(source.tensors), source.nbytes, out.stat().st_size, n_enc,
                      enc_bytes, time.perf_counter() - t0, time.process_time() - c0, n_threads,
                      raw)


# ------------------------------------------------------------------ unpack
def _target_format(out: Path, layout: dict[str, Any], fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("safetensors", "folder", "torch"):
            raise ValueError(f"format must be 'safetensors', 'folder' or 'torch', got {fmt!r}")
        return fmt
    if out.suffix == ".safetensors":
        return "safetensors"
    if out.suffix in (".pt", ".pth", ".bin"):
        return "torch"
    if out.suffix == "" or out.is_dir():
        return "folder"
    raise ValueError(f"cannot tell the output format from {out.name!r}: name a .safetensors, "
                     ".pt or a folder, or pass format=")


def unpack(path: str | os.PathLike[str], out: str | os.PathLike[str], *,
           threads: int | None = None, force: bool = False, progress: bool = True,
           format: str | None = None) -> Path:
    """Unpack a ``.sck`` checkpoint written by :func:`pack` to ``out``, bit-exact.

    ``out`` ending in ``.safetensors``: one safetensors file (the original file byte for byte
    when it was packed from one); ``.pt``/``.pth``/``.bin``: a PyTorch state dict
    (``torch.save``); a folder: the original shards and index JSON (a single packed file goes
    to ``out/<its name>``). ``format`` ("safetensors", "folder", "torch") overrides the suffix.
    ``force`` overwrites existing files (else FileExistsError). Decoding runs on ``threads``
    threads (default all cores), streaming tensor by tensor into the output file.
    """
    from sckit.checkpoint_unpack import unpack_to

    src, out = Path(path), Path(out)
    reader = _store.reader(src)
    layout = read_layout(reader.metadata, src, reader)
    kind = _target_format(out, layout, format)
    return unpack_to(reader, layout, out, kind, threads=threads, force=force, progress=progress)
