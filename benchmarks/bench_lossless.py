"""Lossless RAS size and speed: bits/weight vs the field-split order-0 bound, zstd-19 beside it.

Run: ``.venv/bin/python benchmarks/bench_lossless.py [--quick] [--write-docs]``.

1. float32 / bfloat16 / float16 weights drawn N(0, 0.02) (``torch.randn * 0.02``, n = 4Mi):
   bits per weight of the block-wise RAS, the field-split order-0 bound (H0 of the sign+exponent
   symbols + raw mantissa bits), zstd level 19 on the same bytes, encode / decode MB/s.
2. zoo models (random initialisation -- less realistic than trained weights: trained exponents
   spread differently and BN/bias tensors are not constant): whole-model bits/weight vs bound
   (every tensor's standalone ``to_bytes`` size, so its ~80-110 header bytes per tensor count),
   zstd-19 on a 4 MB sample of the same bytes and zstd-3 on all of them, encode s, decode MB/s.
3. delimiter overhead of element- vs block-wise RAS per layer of one model.
4. single-weight access: plain ``access`` vs the cached-rank ``accessor()`` over runs of
   consecutive weights.

5. (``lossless_peers.py``) trained weights (zoo digits checkpoints, an MLP / CNN / small ViT
   trained longer on digits) and N(0, sigma) tensors, fp32 and bf16: sckit (auto layout and the
   wavelet matrix alone) vs the real ZipNN package, zstd-19 and the order-0 bound, per model
   and pooled, with single-thread decode GB/s; decode speed by kind of tensor before/after.
6. (``thirdparty``) the same table on eight models trained by others, read from the files their
   PyPI wheels ship (``thirdparty_models.py``; install line there), left out when missing.

``--sections`` picks sections (default all); ``--write-docs`` appends the printed report as a
"Lossless" section to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import torch
import zstandard
from lossless_peers import UINT_VIEW, best_cpu, field_bound_bits
from lossless_peers import bits as bits_of

from sckit.tensor_io import decode_tensor, encode_tensor
from sckit.timing import cpu_model


def zstd_bits(data: bytes, level: int) -> int:
    return 8 * len(zstandard.ZstdCompressor(level=level).compress(data))


def synthetic(n: int, zstd_level: int) -> None:
    print(f"## N(0, 0.02) weights, n = {n:,} (torch.randn * 0.02, seed 0), block-wise RAS\n")
    print("| dtype | RAS bits/w | field-split bound | ratio | h0_bits (incl. delimiters) "
          f"| zstd-{zstd_level} bits/w | RAS vs zstd | encode MB/s | decode MB/s | WM decode Msym/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    w32 = torch.randn(n // 2048, 2048, generator=g) * 0.02
    for dt in (torch.float32, torch.bfloat16, torch.float16):
        t = w32.to(dt)
        bits = bits_of(t)
        enc = best_cpu(lambda t=t: encode_tensor(t), repeat=2)
        r = encode_tensor(t)
        out = torch.empty_like(t)
        dec = best_cpu(lambda r=r, out=out: decode_tensor(r, out=out), repeat=5)
        assert torch.equal(out.view(UINT_VIEW[dt]), t.view(UINT_VIEW[dt]))
        rw = r if r.wm is not None else encode_tensor(t, layout="wm")
        buf = np.empty(rw.n_stream, np.uint16)
        wm_dec = best_cpu(lambda r=rw, buf=buf: r.wm.decode_into(0, r.n_stream, buf), repeat=5)
        bound = field_bound_bits(bits, r.dtype) / t.numel()
        z = zstd_bits(bits.tobytes(), zstd_level) / t.numel()
        mb = t.numel() * t.element_size() / 1e6
        print(f"| {r.dtype} | {r.bits_per_weight:.3f} | {bound:.3f} | {r.bits_per_weight / bound:.4f} "
              f"| {r.h0_bits:.3f} | {z:.3f} | {100 * (1 - r.bits_per_weight / z):+.1f}% smaller "
              f"| {mb / enc:.0f} | {mb / dec:.0f} | {rw.n_stream / wm_dec / 1e6:.0f} |")
    print()


def model_sizes(names: list[str], zstd_level: int) -> None:
    import sckit.zoo as zoo

    print("## Zoo models (random initialisation, seed 0), all parameters, block-wise RAS, "
          "auto sparse/codebook\n")
    print(f"| model | tensors | params | RAS bits/w | of which headers | bound bits/w | ratio "
          f"| zstd-{zstd_level} bits/w (4 MB sample) | zstd-3 bits/w (all) | RAS vs zstd "
          "| encode CPU s | decode MB/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        model = zoo.create_model(name)
        params = [p.detach() for p in model.parameters()]
        n = sum(p.numel() for p in params)
        t0 = time.process_time()
        rs = [encode_tensor(p) for p in params]
        enc = time.process_time() - t0  # CPU s, see best_cpu
        outs = [torch.empty_like(p) for p in params]
        dec = best_cpu(
            lambda rs=rs, outs=outs: [decode_tensor(r, out=o) for r, o in zip(rs, outs, strict=True)],
            repeat=2)
        for o, p in zip(outs, params, strict=True):
            assert torch.equal(o.view(torch.int32), p.view(torch.int32))
        nbytes = sum(r.nbytes for r in rs)
        header_bytes = sum(r.space()["header"] for r in rs)
        bound = sum(field_bound_bits(bits_of(p), "float32") for p in params)
        raw = b"".join(bits_of(p).tobytes() for p in params)
        chunk = 1 << 18  # 16 evenly spaced 256 KB chunks
        starts = np.linspace(0, max(0, len(raw) - chunk), 16).astype(int)
        sample = b"".join(raw[s:s + chunk] for s in starts) if len(raw) > 16 * chunk else raw
        z19 = zstd_bits(sample, zstd_level) / (len(sample) / 4)
        z3 = zstd_bits(raw, 3) / n
        bpw = 8 * nbytes / n
        print(f"| {name} | {len(params)} | {n:,} | {bpw:.3f} | {8 * header_bytes / n:.3f} "
              f"| {bound / n:.3f} | {bpw / (bound / n):.4f} "
              f"| {z19:.3f} | {z3:.3f} | {100 * (1 - bpw / z19):+.1f}% smaller | {enc:.2f} "
              f"| {4 * n / dec / 1e6:.0f} |")
    print()


def delimiter_overhead(name: str) -> None:
    import sckit.zoo as zoo

    model = zoo.create_model(name)
    print(f"## Delimiter overhead, element- vs block-wise RAS ({name}, dense, no codebook)\n")
    print("`delimiter_bits` = n_stream * H0(stream) - n_entries * H0(value symbols): what the "
          "delimiters add to the order-0 bound. Real size difference in the last column.\n")
    print("| layer | shape | weights | block delim bits/w | element delim bits/w "
          "| block bits/w | element bits/w |")
    print("|---|---|---|---|---|---|---|")
    tot = np.zeros(5)
    for pname, p in model.named_parameters():
        if p.ndim < 2:
            continue
        rb = encode_tensor(p.detach(), kind="block", sparse=False, codebook=False, layout="wm")
        re = encode_tensor(p.detach(), kind="element", sparse=False, codebook=False, layout="wm")
        n = p.numel()
        tot += [n, rb.delimiter_bits, re.delimiter_bits, 8 * rb.nbytes, 8 * re.nbytes]
        print(f"| {pname} | {tuple(p.shape)} | {n:,} | {rb.delimiter_bits / n:.4f} "
              f"| {re.delimiter_bits / n:.4f} | {rb.bits_per_weight:.3f} | {re.bits_per_weight:.3f} |")
    n = tot[0]
    print(f"| **total** | | {int(n):,} | {tot[1] / n:.4f} | {tot[2] / n:.4f} | {tot[3] / n:.3f} "
          f"| {tot[4] / n:.3f} |\n")


def access_speed() -> None:
    g = torch.Generator().manual_seed(1)
    w = torch.randn(256, 256, 3, 3, generator=g) * 0.02  # a ResNet layer3-sized conv
    print("## Single-weight access: plain `access` vs cached-rank `accessor()` "
          "(all 2,304 weights of 4 consecutive filters, C order)\n")
    print("| RAS | plain us/access (CPU) | accessor us/access (CPU) | speed-up "
          "| accessor row hits/misses |")
    print("|---|---|---|---|---|")
    idx = list(np.ndindex(4, 256, 3, 3))
    for kind, sparse in (("block", False), ("element", False), ("block", True)):
        t = w.clone()
        if sparse:
            t[t.abs() < 0.02] = 0
        r = encode_tensor(t, kind=kind, sparse=sparse)
        sub = idx[:600]
        t0 = time.process_time()
        for i in sub:
            r.access(i)
        plain = (time.process_time() - t0) / len(sub)
        acc = r.accessor()
        t0 = time.process_time()
        for i in idx:
            acc.access(i)
        cached = (time.process_time() - t0) / len(idx)
        check = r.accessor()
        assert all(check.access_bits(i) == int(bits_of(t)[i]) for i in idx[::97])
        print(f"| {kind}{' sparse (68% zeros)' if sparse else ''} | {1e6 * plain:.1f} "
              f"| {1e6 * cached:.1f} | {plain / cached:.1f}x | {acc.hits}/{acc.misses} |")
    print()


def _steady_allocator() -> str:
    """Hold glibc's allocator steady (no mmap'd blocks, no trimming): otherwise whether a
    decode's outputs come with fresh pages depends on what the coder before it freed, which
    moved one coder's decode speed by up to 2x between rounds and runs. Every coder then runs
    on warm memory; a real first load pays the page faults, all coders alike."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, 1 << 30) == 1 and libc.mallopt(-1, 1 << 30) == 1  # MMAP, TRIM
    except (OSError, AttributeError):
        ok = False
    return ("glibc allocator held steady (M_MMAP_THRESHOLD = M_TRIM_THRESHOLD = 1 GiB)" if ok
            else "allocator left as is (not glibc)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1 << 22, help="synthetic weights (>= 4Mi for the report)")
    ap.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,deit_tiny")
    ap.add_argument("--overhead-model", default="resnet18")
    ap.add_argument("--zstd-level", type=int, default=19)
    ap.add_argument("--quick", action="store_true", help="small n, one model, zstd-3")
    ap.add_argument("--sections", default="synthetic,models,delimiters,access,peers,thirdparty,speed",
                    help="comma-separated sections to run")
    ap.add_argument("--write-docs", action="store_true", help="append to docs/benchmarks.md")
    a = ap.parse_args()
    if a.quick:
        a.n, a.models, a.zstd_level = 1 << 18, "resnet18", 3
    torch.set_num_threads(1)
    allocator = _steady_allocator()
    buf = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, s: str) -> int:
            buf.write(s)
            return __import__("sys").__stdout__.write(s)

    with redirect_stdout(Tee()):
        print("# Lossless\n")
        print(f"Machine: {cpu_model()} ({platform.machine()}), {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f} at the start; times are CPU seconds of this single-threaded process (one core), "
              "best of repeats; MB/s = MB of weights (encode input / decode output) per CPU "
              "second; torch threads = 1, "
              f"numpy {np.__version__}, torch {torch.__version__}; {allocator}. "
              f"`benchmarks/bench_lossless.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n")
        import lossless_peers

        sections = set(a.sections.split(","))
        if "synthetic" in sections:
            synthetic(a.n, a.zstd_level)
        if "models" in sections:
            model_sizes([m for m in a.models.split(",") if m], a.zstd_level)
        if "delimiters" in sections:
            delimiter_overhead(a.overhead_model)
        if "access" in sections:
            access_speed()
        if "peers" in sections:
            lossless_peers.peers(quick=a.quick)
        if "thirdparty" in sections:
            lossless_peers.thirdparty()
        if "speed" in sections:
            lossless_peers.speed_classes(1 << 18 if a.quick else 1 << 22)
    if a.write_docs:
        path = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
        with path.open("a") as f:
            f.write("\n" + buf.getvalue())
        print(f"appended to {path}")


if __name__ == "__main__":
    main()
