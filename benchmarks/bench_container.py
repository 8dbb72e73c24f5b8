"""Container overhead and load time: bytes per tensor beyond the payload, file/raw ratio on small
models (dense, compressed, pruned, quantized), and the load time of a compressed ResNet-50.

    python benchmarks/bench_container.py [--no-resnet] [--resnet-file PATH]

Overhead is format-independent: file size minus the payload (each raw tensor's bytes plus each
RAS's ``to_arrays()`` array bytes), divided by the number of state_dict entries.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import sckit
from sckit import container, zoo
from sckit.timing import cpu_model


class TinyCnn(nn.Module):
    """6,601 parameters: the size of the smallest CNNs people ship for digits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc1 = nn.Linear(16 * 5 * 5, 13)
        self.fc2 = nn.Linear(13, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def _raw_bytes(m: nn.Module) -> int:
    seen, total = set(), 0
    for t in m.state_dict().values():
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


def _payload(obj: nn.Module) -> tuple[int, int]:
    """(payload bytes, number of state_dict entries) of what save() stores."""
    from sckit.engine import SuccinctModel

    if isinstance(obj, SuccinctModel):
        module, ras = obj.module, obj._runtime.ras
    else:
        module, ras = obj, {}
    sd = module.state_dict(keep_vars=True)
    canon = {id(p): n for n, p in module.named_parameters()}
    total = 0
    for k, v in sd.items():
        if isinstance(v, nn.Parameter) and canon.get(id(v), k) != k:
            continue
        if k in ras:
            total += sum(np.asarray(a).nbytes for a in ras[k].to_arrays()[1].values())
        else:
            total += v.numel() * v.element_size()
    return total, len(sd)


def _variants(name: str, m: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module]]:
    out: list[tuple[str, nn.Module]] = [("dense", m)]
    out.append(("compressed", sckit.compress(m, x, decode_ahead=False)))
    pruned = sckit.prune(m, 0.8)
    out.append(("pruned 80%", sckit.compress(pruned, x, decode_ahead=False)))
    q = sckit.quantize(m, 4, method="kmeans")
    out.append(("4-bit k-means", sckit.compress(q, x, decode_ahead=False)))
    return out


def small_models(folder: Path) -> None:
    models = [("tiny_cnn (6.6K)", TinyCnn().eval(), torch.randn(1, 1, 28, 28))]
    for n in ("lenet5", "lenet300_100", "small_resnet"):
        models.append((n, zoo.create_model(n), zoo.default_input(n)))
    print(f"{'model':18} {'variant':14} {'tensors':>7} {'raw B':>9} {'file B':>9} "
          f"{'file/raw':>8} {'file-raw':>8} {'ovh B/tensor':>12}")
    for name, m, x in models:
        raw = _raw_bytes(m)
        for variant, obj in _variants(name, m, x):
            path = folder / "m.sck"
            sckit.save(obj, path)
            size = path.stat().st_size
            payload, n = _payload(obj)
            print(f"{name:18} {variant:14} {n:7d} {raw:9d} {size:9d} {size / raw:8.3f} "
                  f"{size - raw:8d} {(size - payload) / n:12.1f}")


def resnet50_load(folder: Path, file: Path | None) -> None:
    if file is None or not file.exists():
        m = zoo.create_model("resnet50")
        x = zoo.default_input("resnet50")
        t0 = time.perf_counter()
        sm = sckit.compress(m, x, decode_ahead=False, verify=False)
        print(f"resnet50 compress {time.perf_counter() - t0:.1f} s")
        file = file or folder / "resnet50.sck"
        sckit.save(sm, file)
    files = [file]
    version = int.from_bytes(file.read_bytes()[8:12], "little")
    if version != container.FORMAT_VERSION:  # the same model re-saved in this version too
        files.append(folder / "resnet50_resaved.sck")
        sckit.save(sckit.load(file), files[-1])
    for f in files:
        v = int.from_bytes(f.read_bytes()[8:12], "little")
        print(f"resnet50 compressed file (format {v}): {f.stat().st_size:,} bytes")
        for mmap in (False, True):
            sckit.load(f, mmap=mmap)  # warm-up: kernels compiled, file in the page cache
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                sckit.load(f, mmap=mmap)
                times.append(time.perf_counter() - t0)
            print(f"  load mmap={mmap}: median {np.median(times) * 1e3:.0f} ms, "
                  f"min {min(times) * 1e3:.0f} ms (5 loads)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-resnet", action="store_true")
    ap.add_argument("--resnet-file", type=Path, default=None,
                    help="a compressed resnet50 container to time (written there if missing)")
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"machine: {cpu_model()}, torch threads {torch.get_num_threads()}, "
          f"format version {container.FORMAT_VERSION}")
    with tempfile.TemporaryDirectory() as d:
        small_models(Path(d))
        if not args.no_resnet:
            resnet50_load(Path(d), args.resnet_file)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
