"""Benchmark the CUDA kernels (issue 6): range decode GB/s, batched queries, ResNet-50 latency.

On a machine with a usable CUDA backend (driver + device + pycuda + CUDA torch) it prints, with
the device name:

- range-decode throughput in GB/s of *output* (decoded bytes written per second) for the plain
  wavelet matrix (uniform 256 symbols, uint8 out), the Huffman-shaped one (sign+exponent symbols
  of float32 N(0, 0.02) weights) and the whole RAS pipeline (float32 weights out);
- batched access / rank / select throughput (million queries per second) of the launcher
  calls, argument checks included (their min/max bounds checks synchronize with the device);
- ResNet-50 forward latency, compressed vs dense at batch 1 and 64, for both decode routes:
  ``backend="cuda"`` (sckit's kernels decode on the GPU) and ``backend="cpu"`` (CPU decode, copy).

Every GPU result is first checked bit for bit against the CPU structure; a mismatch aborts.
Times are CUDA-event times, the best of ``--reps`` runs after one warm-up.

Without a usable GPU it prints ``sckit.gpu.status()``, says that the GPU figures are not
measured, and exits 0: no figure is ever estimated or made up.

    python benchmarks/bench_gpu.py              # n = 2**25 symbols
    python benchmarks/bench_gpu.py --n 1000000  # quick
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np


def _gpu_time(fn: Callable[[], object], reps: int) -> float:
    """Best CUDA-event time of ``fn`` in seconds (one warm-up call first)."""
    import torch

    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best = float("inf")
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    return best


def _row(name: str, value: float, unit: str, extra: str = "") -> None:
    print(f"  {name:<52} {value:>10.2f} {unit:<8} {extra}")


def bench_decode(n: int, reps: int) -> None:
    import torch

    from sckit import ras
    from sckit.backends.float_fields import CudaRAS
    from sckit.backends.hwm_decode import CudaHuffmanWaveletMatrix
    from sckit.backends.wm_decode import CudaWaveletMatrix
    from sckit.succinct.huffman_wm import HuffmanWaveletMatrix
    from sckit.succinct.wavelet_matrix import WaveletMatrix

    rng = np.random.default_rng(0)
    print(f"range decode, n = {n:,} symbols (GB/s of output)")
    uni = rng.integers(0, 256, n).astype(np.uint8)
    wm = CudaWaveletMatrix(WaveletMatrix(uni, sigma=256))
    out = wm.decode()
    if not np.array_equal(out.cpu().numpy(), uni):
        sys.exit("WM GPU decode differs from the input: not timing it")
    t = _gpu_time(lambda: wm.decode(out=out), reps)
    _row("WaveletMatrix, uniform 256 symbols -> uint8", n / t / 1e9, "GB/s",
         f"({n / t / 1e9:.2f} Gsym/s)")

    w = rng.normal(0, 0.02, n).astype(np.float32)
    exp = (w.view(np.uint32) >> np.uint32(23)).astype(np.uint32)
    hwm_cpu = HuffmanWaveletMatrix(exp)
    hwm = CudaHuffmanWaveletMatrix(hwm_cpu)
    out = hwm.decode()
    if not np.array_equal(out.cpu().numpy().astype(np.uint32), exp):
        sys.exit("HWM GPU decode differs from the input: not timing it")
    t = _gpu_time(lambda: hwm.decode(out=out), reps)
    nbytes = out.numel() * out.element_size()
    _row(f"HuffmanWM, float32 sign+exp ({hwm_cpu.n_distinct} sym) -> uint{8 * out.element_size()}",
         nbytes / t / 1e9, "GB/s", f"({n / t / 1e9:.2f} Gsym/s)")

    rows = max(1, n // 4096)
    wt = w[: rows * 4096].reshape(rows, 4096)
    r = ras.encode(wt, kind="block", sparse=False, codebook=False)
    gr = CudaRAS(r)
    dec = gr.decode()
    if not torch.equal(dec.cpu().view(torch.int32), torch.from_numpy(wt.view(np.int32))):
        sys.exit("RAS GPU decode differs from the weights: not timing it")
    t = _gpu_time(lambda: gr.decode(out=dec), reps)
    _row(f"RAS block-wise float32 ({r.bits_per_weight:.2f} bits/w) -> float32",
         dec.numel() * 4 / t / 1e9, "GB/s", f"(sign_raw={r.sign_raw})")


def bench_queries(n: int, m: int, reps: int) -> None:
    import torch

    from sckit.backends.hwm_decode import CudaHuffmanWaveletMatrix
    from sckit.backends.wm_query import CudaWaveletQueries
    from sckit.succinct.huffman_wm import HuffmanWaveletMatrix
    from sckit.succinct.wavelet_matrix import WaveletMatrix

    rng = np.random.default_rng(1)
    print(f"batched queries, n = {n:,}, {m:,} random queries (M queries/s)")
    sym = rng.integers(0, 256, n).astype(np.uint8)
    cpu = WaveletMatrix(sym, sigma=256)
    q = CudaWaveletQueries(cpu)
    pos = torch.from_numpy(rng.integers(0, n, m)).to(q.device)
    head = pos[:1000].cpu().numpy()

    def rate(name: str, fn: Callable[[], object]) -> None:
        _row(name, m / _gpu_time(fn, reps) / 1e6, "Mq/s")

    if not np.array_equal(q.access_many(pos[:1000]).cpu().numpy(), cpu.access_many(head)):
        sys.exit("WM GPU access differs from the CPU: not timing it")
    rate("WaveletMatrix access_many (sigma 256)", lambda: q.access_many(pos))
    c = int(sym[0])
    rate("WaveletMatrix rank_many (sigma 256)", lambda: q.rank_many(c, pos))
    count = int(np.count_nonzero(sym == c))
    ks = torch.from_numpy(rng.integers(0, count, m)).to(q.device)
    rate("WaveletMatrix select_many (sigma 256)", lambda: q.select_many(c, ks))
    w = rng.normal(0, 0.02, n).astype(np.float32)
    exp = (w.view(np.uint32) >> np.uint32(23)).astype(np.uint32)
    h_cpu = HuffmanWaveletMatrix(exp)
    h = CudaHuffmanWaveletMatrix(h_cpu)
    if not np.array_equal(h.access_many(pos[:1000]).cpu().numpy(), h_cpu.access_many(head)):
        sys.exit("HWM GPU access differs from the CPU: not timing it")
    rate("HuffmanWM access_many (float32 sign+exp)", lambda: h.access_many(pos))


def bench_resnet50(reps: int) -> None:
    import torch

    import sckit
    from sckit.engine import bit_equal
    from sckit.zoo import create_model, default_input

    print("ResNet-50 forward latency (ms), compressed vs dense, both decode routes")
    dense = create_model("resnet50", seed=0).eval().cuda()
    routes = {}
    for backend in ("cuda", "cpu"):
        try:
            sm = sckit.compress(dense, default_input("resnet50", batch_size=1).cuda(),
                                backend=backend)
        except Exception as exc:  # noqa: BLE001 - report why, never make a figure up
            print(f"  route {backend!r} not measured: compress failed: "
                  f"{type(exc).__name__}: {exc}")
            continue
        on = sm.report()["decoded_on"].value_counts().to_dict()
        dev_mb = sm._runtime.decoder.device_bytes / 1e6
        print(f"  route {backend!r}: {sm.backend_note}; layers decoded on {on}; "
              f"compressed form on the GPU {dev_mb:.1f} MB")
        routes[backend] = sm
    for batch in (1, 64):
        x = default_input("resnet50", batch_size=batch).cuda()

        def run(m, x=x):
            with torch.no_grad():
                return m(x)

        ref = run(dense)
        t_d = _gpu_time(lambda: run(dense), reps)
        for backend, sm in routes.items():
            if not bit_equal(run(sm), ref):
                print(f"  batch {batch} route {backend}: output differs from dense - aborting")
                raise SystemExit(1)
            t_c = _gpu_time(lambda sm=sm: run(sm), reps)
            _row(f"batch {batch} dense / route {backend}", t_d * 1e3, "ms",
                 f"compressed {t_c * 1e3:.2f} ms = {t_c / t_d:.3f}x dense")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1 << 25, help="symbols per decode benchmark")
    ap.add_argument("--queries", type=int, default=1 << 20)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--skip-resnet", action="store_true")
    args = ap.parse_args(argv)

    from sckit.gpu import status

    st = status()
    print(st)
    if not st.usable:
        print(f"\nGPU figures: NOT MEASURED on this machine ({st.reason}).")
        return 0
    import torch

    print(f"\ndevice: {torch.cuda.get_device_name()} (torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n")
    bench_decode(args.n, args.reps)
    bench_queries(min(args.n, 1 << 24), args.queries, args.reps)
    if not args.skip_resnet:
        bench_resnet50(args.reps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
