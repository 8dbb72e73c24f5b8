"""A 1.1B-parameter Llama-shaped checkpoint end to end: pack, unpack, random access, threads,
against the real zipnn package on the same tensors.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--layers 22] [--workdir DIR] [--keep]``
(about 10-15 minutes on 2 cores; ``--layers 2`` for a quick run of the same stages).

The model is TinyLlama-1.1B's shape (hidden 2048, MLP 5632, 22 layers, 32 heads / 4 KV heads,
vocabulary 32000, untied lm_head) built by ``transformers.LlamaForCausalLM`` from its config
with **random initialisation** (N(0, 0.02) weights, RMSNorm scales of 1): no weights are
downloaded. Random init is not trained weights (trained exponents spread wider and norms are
not constant); the last section packs the small *trained* models of the sckit zoo cache, when
present, for a real-weights check. One extra tensor of Llama-7B's MLP shape (4096 x 11008)
rides along so random-access latency is measured on that shape inside a multi-GB file.

Each stage runs in its own process so its peak resident set (``VmHWM``) is its own: the build,
pack, unpack, access and inspect figures never include another stage's memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXTRA = "extra.llama7b_shape.mlp.down_proj.weight"  # (4096, 11008), as Llama-7B's down_proj


def _config(layers: int) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=layers,
                       num_attention_heads=32, num_key_value_heads=4, vocab_size=32000,
                       max_position_embeddings=2048, tie_word_embeddings=False)


# ------------------------------------------------------------------ stages (child processes)
def stage_build(a: argparse.Namespace) -> dict[str, Any]:
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    t0 = time.perf_counter()
    torch.set_default_dtype(torch.bfloat16)  # initialise in bf16: no 4.4 GB float32 copy
    model = LlamaForCausalLM(_config(a.layers))
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    sd[EXTRA] = (torch.randn(4096, 11008, dtype=torch.float32) * 0.02).to(torch.bfloat16)
    n = sum(v.numel() for v in sd.values())
    save_file(sd, a.src, metadata={"format": "pt", "init": "random (LlamaForCausalLM)"})
    return {"n_params": n, "n_model_params": n - sd[EXTRA].numel(), "n_tensors": len(sd),
            "largest_tensor_bytes": max(v.numel() * v.element_size() for v in sd.values()),
            "file_bytes": os.path.getsize(a.src), "build_s": time.perf_counter() - t0}


def stage_pack(a: argparse.Namespace) -> dict[str, Any]:
    import sckit

    _warm()
    base = _rss()
    t0 = time.perf_counter()
    c0 = time.process_time()
    rep = sckit.pack(a.src, a.out, threads=a.threads, force=True, progress=False)
    return {"pack_s": time.perf_counter() - t0, "pack_cpu_s": time.process_time() - c0,
            "loadavg_pack": os.getloadavg()[0],
            "sck_bytes": rep.output_bytes, "raw": rep.raw, "peak_rss": _rss("VmHWM"),
            "rss_before": base, "threads": rep.threads}


def _rss(field: str = "VmRSS") -> int:
    """Resident set (or with ``"VmHWM"`` its peak) of this process in bytes; 0 off Linux."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _warm() -> None:
    """Compile/load the numba kernels on a tiny tensor so timings hold none of it."""
    import numpy as np

    from sckit.ras import encode

    x = (np.random.default_rng(0).standard_normal((64, 256), dtype=np.float32) * 0.02)
    r = encode((x.view(np.uint32) >> 16).astype(np.uint16), dtype="bfloat16")
    r.decode()
    r.decode_rows(3, 9)


def stage_unpack(a: argparse.Namespace) -> dict[str, Any]:
    import sckit

    _warm()
    t0 = time.perf_counter()
    sckit.unpack(a.out, a.back, threads=a.threads, force=True, progress=False)
    return {"unpack_s": time.perf_counter() - t0, "peak_rss_unpack": _rss("VmHWM")}


def stage_zipnn(a: argparse.Namespace) -> dict[str, Any]:
    from safetensors import safe_open

    from sckit.baselines import zipnn_pkg

    if zipnn_pkg.version() is None:
        return {"zipnn": None}
    total = comp = 0
    secs = 0.0
    with safe_open(a.src, framework="pt") as f:
        for k in f.keys():
            t = f.get_tensor(k)
            raw = t.contiguous().reshape(-1).view(__import__("torch").uint8).numpy()
            total += raw.nbytes
            dt = str(t.dtype).removeprefix("torch.")
            if dt not in zipnn_pkg.DTYPES:
                comp += raw.nbytes
                continue
            t0 = time.perf_counter()
            comp += len(zipnn_pkg.compress_bytes(raw, dt, threads=a.threads))
            secs += time.perf_counter() - t0
    return {"zipnn": zipnn_pkg.label(), "zipnn_bytes": comp, "zipnn_s": secs,
            "zipnn_input_bytes": total}


def stage_access(a: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch  # noqa: F401 - imported before timing: open's time is the file's, not torch's

    import sckit
    import sckit.checkpoint
    import sckit.container  # noqa: F401

    _warm()
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    f = sckit.open(a.out)
    out["open_ms"] = 1e3 * (time.perf_counter() - t0)
    # the process's first slice loads the decode kernels' other specialisations from numba's
    # cache; timed apart so the per-tensor first-touch figures below are the tensor's own
    t0 = time.perf_counter()
    f.get_slice("model.layers.0.mlp.down_proj.weight")[0:16]
    out["process_first_slice_ms"] = 1e3 * (time.perf_counter() - t0)
    rng = np.random.default_rng(0)
    for label, name in (("7b_down_proj", EXTRA), ("up_proj_l3", "model.layers.3.mlp.up_proj.weight")):
        if name not in f:
            continue
        sl = f.get_slice(name)
        n0 = sl.get_shape()[0]
        t0 = time.perf_counter()
        first = sl[100:116]
        out[f"{label}_first_ms"] = 1e3 * (time.perf_counter() - t0)  # builds the RAS from the map
        assert tuple(first.shape) == (16, *sl.get_shape()[1:])
        times = []
        for _ in range(200):
            s = int(rng.integers(0, n0 - 16))
            t0 = time.perf_counter()
            sl[s:s + 16]
            times.append(time.perf_counter() - t0)
        out[f"{label}_median_ms"] = 1e3 * float(np.median(times))
        out[f"{label}_p99_ms"] = 1e3 * float(np.percentile(times, 99))
        out[f"{label}_shape"] = sl.get_shape()
        t0 = time.perf_counter()
        f[name]
        out[f"{label}_whole_ms"] = 1e3 * (time.perf_counter() - t0)
    out["peak_rss_access"] = _rss("VmHWM")
    return out


def stage_inspect(a: argparse.Namespace) -> dict[str, Any]:
    import torch
    from safetensors.torch import load_file
    from transformers import LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    import sckit

    cfg = _config(a.layers)
    with torch.device("meta"):  # no second random init: the weights come from the file
        model = LlamaForCausalLM(cfg)
    sd = load_file(a.src)
    sd.pop(EXTRA)
    model.load_state_dict(sd, assign=True)
    model.model.rotary_emb = LlamaRotaryEmbedding(config=cfg)  # its buffer is not in the file
    model.eval()
    x = torch.randint(0, 32000, (1, 16))
    out = {}
    for enc in (False, True):
        t0 = time.perf_counter()
        table = sckit.inspect(model, x, encode=enc)
        out[f"inspect_encode_{enc}_s"] = time.perf_counter() - t0
    out["inspect_rows"] = len(table)
    return out


def stage_threads(a: argparse.Namespace) -> dict[str, Any]:
    """Encode/decode of the MLP matrices of two layers with 1 and 2 threads, interleaved, best
    of 3; CPU seconds beside wall seconds (the machine is shared: wall time says how many cores
    the pool got, CPU time what a core does)."""
    import numpy as np
    from safetensors import safe_open

    from sckit.parallel import decode_many, encode_many

    _warm()
    arrays = []
    with safe_open(a.src, framework="numpy") as f:
        names = [k for k in f.keys() if ".mlp." in k][:6]
    import torch

    with safe_open(a.src, framework="pt") as f:
        for k in names:
            arrays.append(f.get_tensor(k).view(torch.int16).numpy().view(np.uint16))
    mb = sum(x.nbytes for x in arrays) / 1e6
    res: dict[str, Any] = {"threads_mb": mb, "loadavg_before": os.getloadavg()[0]}
    best: dict[str, tuple[float, float]] = {}
    for _ in range(3):
        for n in (1, 2):
            c0, t0 = time.process_time(), time.perf_counter()
            rs = encode_many(arrays, dtypes=["bfloat16"] * len(arrays), threads=n, kind="block")
            c1, t1 = time.process_time(), time.perf_counter()
            outs = decode_many(rs, threads=n)
            c2, t2 = time.process_time(), time.perf_counter()
            res[f"bit_exact_{n}"] = res.get(f"bit_exact_{n}", True) and all(
                np.array_equal(o, x) for o, x in zip(outs, arrays, strict=True))
            for key, w, c in ((f"enc{n}", t1 - t0, c1 - c0), (f"dec{n}", t2 - t1, c2 - c1)):
                if key not in best or w < best[key][0]:
                    best[key] = (w, c)
    for key, (w, c) in best.items():
        res[f"{key}_wall_mb_s"] = mb / w
        res[f"{key}_cpu_mb_s"] = mb / c  # MB per CPU-second: the per-core speed
        res[f"{key}_cpu_per_wall"] = c / w
    res["loadavg_after"] = os.getloadavg()[0]
    res["gil_enc"] = _python_progress(lambda: encode_many(arrays[:2], dtypes=["bfloat16"] * 2,
                                                          threads=1, kind="block"))
    res["gil_dec"] = _python_progress(lambda: [decode_many(rs, threads=1) for _ in range(4)])
    return res


def _python_progress(work: Any) -> float:
    """A pure-Python counting thread's speed while ``work`` runs in another thread, as a
    fraction of its speed alone. About 0 means ``work`` holds the GIL (threads could not run
    it concurrently); about 0.5 means it does not, and the two share this process's CPU
    (this machine is shared, so the process may get less than its 2 cores).

    Load-independent evidence that the kernels release the GIL, where the wall-time speedup of
    2 threads only shows on an idle machine."""
    import threading

    def count(stop: threading.Event, out: list[int]) -> None:
        n = 0
        while not stop.is_set():
            for _ in range(1000):
                n += 1
        out.append(n)

    def rate(during: Any) -> float:
        stop, out = threading.Event(), []
        th = threading.Thread(target=count, args=(stop, out))
        t0 = time.perf_counter()
        th.start()
        during()
        stop.set()
        th.join()
        return out[0] / (time.perf_counter() - t0)

    alone = rate(lambda: time.sleep(1.0))
    return rate(work) / alone


def stage_trained(a: argparse.Namespace) -> dict[str, Any]:
    """The sckit zoo's trained digit models (float32), when cached: sckit vs zipnn bits/weight."""
    import torch

    import sckit
    from sckit.baselines import zipnn_pkg

    cache = Path(os.environ.get("SCKIT_CACHE", Path.home() / ".cache" / "sckit"))
    rows = []
    seen = set()
    for p in sorted(cache.glob("digits-*.pt")):
        family = p.stem.rsplit("-", 1)[0]
        if family in seen:
            continue
        seen.add(family)
        try:
            sd = torch.load(p, weights_only=True, map_location="cpu")
        except Exception:  # noqa: BLE001 - not a state dict we can read: skip it
            continue
        sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd  # the zoo cache's layout
        if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            continue
        fp = {k: v for k, v in sd.items() if v.dtype == torch.float32}
        n = sum(v.numel() for v in fp.values())
        tmp = Path(a.workdir) / "trained.pt"
        torch.save(fp, tmp)
        rep = sckit.pack(tmp, Path(a.workdir) / "trained.sck", force=True, progress=False)
        z = sum(len(zipnn_pkg.compress_bytes(v.contiguous().view(-1).view(torch.uint8).numpy(),
                                             "float32")) for v in fp.values())
        rows.append({"model": p.stem, "n_params": n, "sckit_bpw": 8 * rep.output_bytes / n,
                     "zipnn_bpw": 8 * z / n})
    return {"trained": rows}


def stage_big_build(a: argparse.Namespace) -> dict[str, Any]:
    """A synthetic checkpoint of ``--big-gb`` GB, written as a stream (8 distinct random
    4096 x 11008 bf16 tensors under many names): bigger than half the RAM without ever
    holding it."""
    import numpy as np
    import torch

    from sckit.checkpoint_io import build_header, write_safetensors

    g = torch.Generator().manual_seed(1)
    pool = [(torch.randn(4096, 11008, generator=g) * 0.02).to(torch.bfloat16) for _ in range(8)]
    nbytes = pool[0].numel() * 2
    n = max(1, int(a.big_gb * 1e9 // nbytes))
    names = [f"block.{i}.weight" for i in range(n)]
    header = build_header([(k, "BF16", (4096, 11008), nbytes) for k in names], {"format": "pt"})

    def chunks() -> Any:
        for i, k in enumerate(names):
            yield k, pool[i % len(pool)].view(torch.int16).numpy().view(np.uint8).reshape(-1)

    t0 = time.perf_counter()
    write_safetensors(Path(a.big), header, chunks(), names)
    return {"big_bytes": os.path.getsize(a.big), "big_tensors": n,
            "big_build_s": time.perf_counter() - t0, "ram_bytes": _ram()}


def _ram() -> int:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) * 1024


def stage_big_pack(a: argparse.Namespace) -> dict[str, Any]:
    import sckit

    _warm()
    base = _rss()
    t0 = time.perf_counter()
    rep = sckit.pack(a.big, a.big + ".sck", threads=a.threads, force=True, progress=False)
    return {"big_pack_s": time.perf_counter() - t0, "big_sck_bytes": rep.output_bytes,
            "big_peak_rss": _rss("VmHWM"), "big_rss_before": base,
            "big_cpu_s": rep.cpu_seconds}


STAGES = {"build": stage_build, "pack": stage_pack, "unpack": stage_unpack,
          "zipnn": stage_zipnn, "access": stage_access, "inspect": stage_inspect,
          "threads": stage_threads, "trained": stage_trained, "big_build": stage_big_build,
          "big_pack": stage_big_pack}


# ------------------------------------------------------------------ driver
def _run(stage: str, a: argparse.Namespace) -> dict[str, Any]:
    args = [sys.executable, __file__, "--stage", stage, "--layers", str(a.layers),
            "--workdir", a.workdir, "--threads", str(a.threads), "--big-gb", str(a.big_gb)]
    t0 = time.perf_counter()
    res = subprocess.run(args, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        print(f"[{stage}] failed:\n{res.stderr[-3000:]}", file=sys.stderr)
        return {}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"  [{stage}] {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def _sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=22, help="decoder layers (22: 1.1B parameters)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workdir", default=None)
    p.add_argument("--keep", action="store_true", help="keep the files written")
    p.add_argument("--big-gb", type=float, default=0.0,
                   help="also pack a synthetic checkpoint of this many GB (e.g. 13: over half "
                        "of a 24 GiB machine's RAM) and report its peak RSS")
    p.add_argument("--only-big", action="store_true", help="run only the --big-gb stages")
    p.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.workdir is None:
        a.workdir = tempfile.mkdtemp(prefix="sckit_scale_", dir=os.environ.get("TMPDIR", "/tmp"))
    os.makedirs(a.workdir, exist_ok=True)
    a.src = os.path.join(a.workdir, "model.safetensors")
    a.out = os.path.join(a.workdir, "model.sck")
    a.back = os.path.join(a.workdir, "back.safetensors")
    a.big = os.path.join(a.workdir, "big.safetensors")
    if a.stage:
        print(json.dumps(STAGES[a.stage](a)))
        return
    from sckit.timing import cpu_model

    t_all = time.perf_counter()
    r: dict[str, Any] = {}
    try:
        stages = [] if a.only_big else ["build", "pack", "unpack", "zipnn", "access", "threads",
                                         "inspect", "trained"]
        if a.big_gb > 0:
            stages += ["big_build", "big_pack"]
        for stage in stages:
            got = _run(stage, a)
            if stage in ("build", "big_build") and not got:
                break
            r.update(got)
            if stage == "big_pack":
                for leftover in (a.big, a.big + ".sck"):
                    if os.path.exists(leftover):
                        os.unlink(leftover)
        identical = _sha(a.src) == _sha(a.back) if os.path.exists(a.back) else None
    finally:
        if not a.keep:
            shutil.rmtree(a.workdir, ignore_errors=True)
    _report(r, a, identical, time.perf_counter() - t_all, cpu_model())


def _report(r: dict[str, Any], a: argparse.Namespace, identical: bool | None, total_s: float,
            cpu: str) -> None:
    gb, mb = 1e9, 1e6
    n = r.get("n_params", 0)
    print(f"# bench_scale: Llama-shaped checkpoint, {a.layers} layers, bf16 -- {cpu}, "
          f"{os.cpu_count()} cores, {a.threads} threads")
    print("weights: RANDOM initialisation (LlamaForCausalLM from its config), not trained "
          "weights; see 'trained models' below for real ones")
    if "big_pack_s" in r:
        print(f"big synthetic checkpoint: {r['big_bytes'] / gb:.1f} GB ({r['big_tensors']} bf16 "
              f"tensors of 4096x11008; machine RAM {r['ram_bytes'] / gb:.1f} GB): packed in "
              f"{r['big_pack_s']:.0f} s ({r['big_bytes'] / mb / r['big_pack_s']:.0f} MB/s wall, "
              f"{r['big_bytes'] / mb / r['big_cpu_s']:.0f} MB per CPU-second) to "
              f"{r['big_sck_bytes'] / gb:.1f} GB; peak RSS {r['big_peak_rss'] / gb:.2f} GB "
              f"({(r['big_peak_rss'] - r['big_rss_before']) / gb:.2f} GB above the process "
              f"before packing)")
    if "n_params" not in r:
        return
    print(f"parameters: {r['n_model_params'] / 1e9:.3f} B in the model + {n - r['n_model_params']:,} "
          f"in the extra 4096x11008 tensor; {r['n_tensors']} tensors; file "
          f"{r['file_bytes'] / gb:.2f} GB; largest tensor {r['largest_tensor_bytes'] / mb:.0f} MB")
    if "pack_s" in r:
        print(f"pack:   {r['pack_s']:.1f} s, {r['file_bytes'] / mb / r['pack_s']:.0f} MB/s wall "
              f"({r['file_bytes'] / mb / r['pack_cpu_s']:.0f} MB per CPU-second), "
              f"{8 * r['sck_bytes'] / n:.3f} bits/weight ({r['sck_bytes'] / gb:.2f} GB, "
              f"{100 * r['sck_bytes'] / r['file_bytes']:.1f}% of the file); peak RSS "
              f"{r['peak_rss'] / gb:.2f} GB ({(r['peak_rss'] - r['rss_before']) / gb:.2f} GB above "
              f"the process before packing; largest tensor "
              f"{r['largest_tensor_bytes'] / gb:.2f} GB); stored raw: {r['raw'] or 'none'}; load "
              f"average {r['loadavg_pack']:.1f}")
    if r.get("zipnn"):
        print(f"zipnn:  {r['zipnn']} (default method, {a.threads} threads) on the same tensors: "
              f"{8 * r['zipnn_bytes'] / n:.3f} bits/weight, {r['zipnn_input_bytes'] / mb / r['zipnn_s']:.0f} MB/s "
              f"compress")
    if "unpack_s" in r:
        print(f"unpack: {r['unpack_s']:.1f} s, {r['file_bytes'] / mb / r['unpack_s']:.0f} MB/s; "
              f"peak RSS {r['peak_rss_unpack'] / gb:.2f} GB; output byte-identical to the input: "
              f"{identical}")
    for label in ("7b_down_proj", "up_proj_l3"):
        if f"{label}_median_ms" in r:
            print(f"random access, 16 rows of {label} {r[f'{label}_shape']}: first "
                  f"{r[f'{label}_first_ms']:.2f} ms (its RAS built from the map), then median "
                  f"{r[f'{label}_median_ms']:.3f} ms, p99 {r[f'{label}_p99_ms']:.3f} ms; whole "
                  f"tensor {r[f'{label}_whole_ms']:.0f} ms")
    if "open_ms" in r:
        print(f"sckit.open: {r['open_ms']:.1f} ms; the process's first slice (kernels loaded "
              f"from numba's cache): {r['process_first_slice_ms']:.0f} ms; access process peak RSS "
              f"{r['peak_rss_access'] / gb:.2f} GB")
    if "enc1_cpu_mb_s" in r:
        print(f"threads ({r['threads_mb']:.0f} MB of MLP matrices, load average "
              f"{r['loadavg_before']:.1f} -> {r['loadavg_after']:.1f}; decoded bit-exact: "
              f"1 thread {r['bit_exact_1']}, 2 threads {r['bit_exact_2']}):")
        for op in ("enc", "dec"):
            print(f"  {op}: 1 thread {r[f'{op}1_wall_mb_s']:.0f} MB/s wall, "
                  f"{r[f'{op}1_cpu_mb_s']:.0f} MB/CPU-s; 2 threads {r[f'{op}2_wall_mb_s']:.0f} MB/s "
                  f"wall (x{r[f'{op}2_wall_mb_s'] / r[f'{op}1_wall_mb_s']:.2f}), CPU/wall "
                  f"{r[f'{op}2_cpu_per_wall']:.2f}; a Python thread kept "
                  f"{100 * r[f'gil_{op}']:.0f}% of its speed meanwhile (0%: GIL held)")
    if "inspect_encode_False_s" in r:
        print(f"sckit.inspect (sequence length 16, {r['inspect_rows']} rows): "
              f"{r['inspect_encode_False_s']:.1f} s with encode=False, "
              f"{r['inspect_encode_True_s']:.1f} s with encode=True")
    for row in r.get("trained", []):
        print(f"trained model {row['model']} ({row['n_params']:,} float32 weights): sckit "
              f"{row['sckit_bpw']:.2f} bits/weight, zipnn {row['zipnn_bpw']:.2f}")
    print(f"total {total_s / 60:.1f} min")


if __name__ == "__main__":
    main()
