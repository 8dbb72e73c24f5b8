"""Load compiled sckit kernels into PyTorch's CUDA context through pycuda (imported lazily).

Never ``pycuda.autoinit``: it creates a second context that fights PyTorch's. We retain the
device's *primary* context, which is the one PyTorch uses, so kernels write straight into torch
CUDA tensors (``tensor.data_ptr()``) without copies, and launch on the legacy default stream,
which orders our launches with PyTorch's default-stream work.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any

from sckit.backends.cuda_compile import CompiledKernel, compile_kernel

__all__ = ["KernelModule", "launch_grid", "primary_context"]

_lock = threading.Lock()
_contexts: dict[int, Any] = {}


def _require_cuda():
    from sckit.gpu import status

    st = status()
    if not st.usable:
        raise RuntimeError(f"the CUDA backend is unavailable: {st.reason}. Use backend='cpu'.")
    import pycuda.driver as cuda  # noqa: PLC0415 - optional dependency, imported on demand
    import torch

    return cuda, torch


@contextmanager
def primary_context(device_index: int | None = None):
    """Push PyTorch's primary context of ``device_index`` (default: torch's current device)."""
    cuda, torch = _require_cuda()
    torch.cuda.init()
    idx = torch.cuda.current_device() if device_index is None else int(device_index)
    with _lock:
        ctx = _contexts.get(idx)
        if ctx is None:
            cuda.init()
            ctx = cuda.Device(idx).retain_primary_context()
            _contexts[idx] = ctx
    ctx.push()
    try:
        yield ctx
    finally:
        cuda.Context.pop()


def launch_grid(n_items: int, block: int, *, max_blocks: int = 65535) -> tuple[int, int, int]:
    """Grid for a grid-stride kernel over ``n_items`` with ``block`` threads per block."""
    return (max(1, min(max_blocks, -(-n_items // block))), 1, 1)


class KernelModule:
    """One compiled ``kernels_cu/<stem>.cu`` loaded on the GPU, functions fetched by name."""

    def __init__(self, stem: str, *, defines: dict[str, int] | None = None,
                 device_index: int | None = None) -> None:
        cuda, torch = _require_cuda()
        idx = torch.cuda.current_device() if device_index is None else device_index
        major, minor = torch.cuda.get_device_capability(idx)
        self.device_index = idx
        self.compiled: CompiledKernel = compile_kernel(stem, arch=f"sm_{major}{minor}",
                                                       defines=defines)
        with primary_context(idx):
            self._module = cuda.module_from_buffer(self.compiled.image)
        self._functions: dict[str, Any] = {}

    def function(self, name: str):
        fn = self._functions.get(name)
        if fn is None:
            fn = self._functions[name] = self._module.get_function(name)
        return fn

    def launch(self, name: str, args: tuple, *, n_items: int, block: int) -> None:
        import numpy as np

        converted = tuple(np.uintp(a.data_ptr()) if hasattr(a, "data_ptr") else a for a in args)
        with primary_context(self.device_index):
            self.function(name)(*converted, block=(block, 1, 1), grid=launch_grid(n_items, block))
