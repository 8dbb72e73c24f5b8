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
from sckit.errors import FormatError

__all__ = ["LAYOUT_KEY", "PackReport", "pack", "unpack"]

LAYOUT_KEY = "sckit.checkpoint"
# tensors smaller than this are stored raw: a RAS's fixed overhead (code tables, rank
# directories, ~0.5 KiB) outweighs anything entropy coding saves on them
MIN_ENCODE_BYTES = 1024
# peak working memory of encoding one tensor, per weight (measured with tracemalloc on bf16
# N(0, 0.02) weights: ~20 bytes per weight while encode builds and compares its candidate
# layouts), plus the input bytes
ENCODE_BYTES_PER_WEIGHT = 24
DEFAULT_BUDGET_BYTES = 1 << 30


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
                 f"{self.seconds:.1f} s ({self.mb_per_s:.0f} MB/s, {self.threads} threads) "
                 f"-> {self.path}"]
        if self.raw:
            lines.append(f"stored raw ({len(self.raw)} tensors):")
            lines += [f"  {name}: {why}" for name, why in self.raw.items()]
        return "\n".join(lines)


@dataclass
class _Encoded:
    spec: TensorSpec
    ras: Any = None
    raw: np.ndarray | None = None
    reason: str = ""


def _encode(spec: TensorSpec) -> _Encoded:
    """Read one tensor's bytes and encode them (runs on a pool thread; numba releases the GIL)."""
    from sckit.ras import encode

    data = spec.read()
    if data.nbytes != spec.nbytes:
        raise FormatError(f"tensor {spec.name!r}: read {data.nbytes} bytes, expected {spec.nbytes}")
    name = RAS_DTYPE.get(spec.dtype)
    if name is None:
        return _Encoded(spec, raw=data, reason=f"dtype {spec.dtype} is not encoded by sckit.ras")
    if spec.nbytes != spec.n_elements * ITEMSIZE[spec.dtype]:
        raise FormatError(f"tensor {spec.name!r}: {spec.nbytes} bytes do not fit shape "
                          f"{list(spec.shape)} of {spec.dtype}")
    if spec.nbytes < MIN_ENCODE_BYTES:
        return _Encoded(spec, raw=data, reason=f"small ({spec.nbytes} bytes)")
    bits = data.view(f"<u{ITEMSIZE[spec.dtype]}").reshape(spec.shape)
    # block-wise rows are a Linear's output units: get_slice(name)[a:b] decodes just those
    r = encode(bits, dtype=name, kind="block" if len(spec.shape) >= 2 else "element")
    if r.nbytes >= spec.nbytes:
        return _Encoded(spec, raw=data, reason="RAS not smaller than the raw bytes")
    return _Encoded(spec, ras=r)


def _cost(spec: TensorSpec) -> float:
    return spec.nbytes + ENCODE_BYTES_PER_WEIGHT * spec.n_elements


def _check_target(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass force=True (--force) to overwrite it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"cannot write {out}: folder {out.parent} does not exist")


def pack(src: str | os.PathLike[str], out: str | os.PathLike[str], *, threads: int | None = None,
         force: bool = False, progress: bool = True,
         memory_budget_bytes: int = DEFAULT_BUDGET_BYTES) -> PackReport:
    """Pack a checkpoint into a ``.sck`` container, tensor by tensor, bit-exact.

    Args:
        src: a ``.safetensors`` file, a folder of ``*.safetensors`` shards (with its
            ``model.safetensors.index.json``), or a PyTorch state-dict file (loaded with
            ``torch.load(weights_only=True, mmap=True)``).
        out: the ``.sck`` file to write (atomically: a failed pack leaves no partial file).
        threads: encoder threads (default: all cores); the file is the same for any count.
        force: overwrite ``out`` if it exists (else FileExistsError).
        progress: a tqdm bar with MB/s.
        memory_budget_bytes: estimated encoder working memory allowed in flight; one tensor
            always runs, so the peak is about ``max(budget, largest tensor's work)``.

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
    t0 = time.perf_counter()
    bar = tqdm(total=source.nbytes, unit="B", unit_scale=True, unit_divisor=1000,
               desc=f"pack {Path(src).name}", disable=not progress)
    try:
        layout = dict(source.layout)
        layout["tensors"] = [[t.name, t.dtype, list(t.shape), t.shard] for t in source.tensors]
        metadata = {**source.metadata, LAYOUT_KEY: json.dumps(layout, separators=(",", ":"))}
        with _store.writer(out, metadata) as w:
            for enc in imap_bounded(_encode, source.tensors, threads=n_threads, cost=_cost,
                                    budget=memory_budget_bytes):
                spec = enc.spec
                if enc.ras is not None:
                    _store.add_ras(w, spec, enc.ras)
                    n_enc += spec.n_elements
                    enc_bytes += spec.nbytes
                else:
                    assert enc.raw is not None
                    _store.add_raw(w, spec, enc.raw)
                    if not enc.reason.startswith("small"):
                        raw[spec.name] = enc.reason
                bar.update(spec.nbytes)
    finally:
        bar.close()
        source.close()
    return PackReport(out, len(source.tensors), source.nbytes, out.stat().st_size, n_enc,
                      enc_bytes, time.perf_counter() - t0, n_threads, raw)


# ------------------------------------------------------------------ unpack
def read_layout(metadata: dict[str, str], path: Path) -> dict[str, Any]:
    text = metadata.get(LAYOUT_KEY)
    if text is None:
        raise FormatError(f"{path}: not a packed checkpoint (no {LAYOUT_KEY!r} metadata); "
                          "use sckit.load for models saved with sckit.save")
    try:
        layout = json.loads(text)
        layout["tensors"] = [(str(n), str(c), tuple(int(s) for s in sh), sd)
                             for n, c, sh, sd in layout["tensors"]]
        layout["format"] = str(layout["format"])
    except (ValueError, KeyError, TypeError) as e:
        raise FormatError(f"{path}: malformed {LAYOUT_KEY!r} metadata ({e})") from None
    return layout


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
    layout = read_layout(reader.metadata, src)
    kind = _target_format(out, layout, format)
    return unpack_to(reader, layout, out, kind, threads=threads, force=force, progress=progress)
