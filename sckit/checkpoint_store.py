"""How packed checkpoints sit in the sckit container (``sckit.container.Writer`` / ``Reader``,
kind "checkpoint"): one container tensor per checkpoint tensor, RAS-encoded or raw.

A tensor whose dtype code torch has no name for (safetensors' sub-byte "F4", say) is stored as
its bytes (``uint8``, 1-d); its real dtype and shape live in the checkpoint layout metadata
(:data:`sckit.checkpoint.LAYOUT_KEY`), which unpack and ``sckit.open`` read first.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sckit.checkpoint_io import TensorSpec, torch_name

__all__ = ["add_ras", "add_raw", "reader", "stored_nbytes", "tensor_bytes", "writer"]


def writer(path: str | os.PathLike[str], metadata: dict[str, str]) -> Any:
    from sckit.container import Writer

    return Writer(path, kind="checkpoint", metadata=metadata)


def add_ras(w: Any, spec: TensorSpec, ras: Any) -> None:
    w.add_tensor(spec.name, ras=ras)


def add_raw(w: Any, spec: TensorSpec, data: np.ndarray) -> None:
    name = torch_name(spec.dtype)
    if name is None:
        w.add_tensor(spec.name, raw_bytes=data, dtype="uint8", shape=(data.nbytes,))
    else:
        w.add_tensor(spec.name, raw_bytes=data, dtype=name, shape=spec.shape)


def reader(path: str | os.PathLike[str], *, verify: bool = True) -> Any:
    from sckit.container import Reader

    return Reader(path, mmap=True, verify=verify)


def stored_nbytes(r: Any, name: str) -> int:
    """Bytes of tensor ``name`` once decoded."""
    return int(r.entry(name).raw_nbytes)


def tensor_bytes(r: Any, name: str) -> np.ndarray:
    """Tensor ``name``'s storage bytes (``uint8``, little-endian, C order), decoded if encoded."""
    if r.entry(name).storage == "ras":
        bits = r.ras(name).decode()
        return bits.reshape(-1).view(np.uint8)
    return np.asarray(r.raw(name)).reshape(-1)
