"""Launcher for ``kernels_cu/hwm_decode.cu``: Huffman-shaped wavelet-matrix range decode and
batched access on the GPU (torch CUDA tensors in and out, PyTorch's primary context)."""

from __future__ import annotations

import numpy as np

from sckit.backends.hwm_layout import GpuHwmLayout, layout_from_huffman_wm
from sckit.backends.wm_decode import out_code

__all__ = ["BLOCK", "CudaHuffmanWaveletMatrix", "launch_defines", "module_device"]

BLOCK = 256


def launch_defines(sigma: int) -> dict[str, int]:
    """The -D set the launcher compiles ``hwm_decode.cu`` with for an alphabet of ``sigma``."""
    return {"OUT_T": out_code(sigma)[0], "BLOCK": BLOCK}


def module_device(module):
    """The torch device a loaded kernel module runs on. A test double of ``KernelModule`` may
    carry its own ``device`` (tests/gpu/test_launchers_emulated.py runs the launchers on the CPU
    against host builds of the kernels); the real one runs on ``cuda:<device_index>``."""
    import torch

    dev = getattr(module, "device", None)
    return dev if dev is not None else torch.device("cuda", module.device_index)


def _to_device(a: np.ndarray, dev):
    """A numpy array as a CUDA tensor of the same bytes (torch lacks some unsigned dtypes on
    every version we support, so unsigned arrays travel as their signed views)."""
    import torch

    signed = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize]
    return torch.from_numpy(np.ascontiguousarray(a).view(signed)).to(dev)


class CudaHuffmanWaveletMatrix:
    """A :class:`sckit.succinct.HuffmanWaveletMatrix` copied to the GPU; results are torch CUDA
    tensors bit-identical to the CPU structure's ``decode`` / ``access_many``.

    ``out_dtype``: force the output element type (``np.uint32`` for the RAS pipeline, which
    keeps one merge kernel per dtype); default: the smallest unsigned type holding ``sigma``.
    """

    def __init__(self, hwm, *, device_index: int | None = None, out_dtype=None) -> None:
        import torch

        from sckit.backends.cuda_runtime import KernelModule

        self.layout: GpuHwmLayout = layout_from_huffman_wm(hwm)
        self.sigma = int(hwm.sigma)
        code, self.dtype = out_code(self.sigma)
        if out_dtype is not None:
            self.dtype = np.dtype(out_dtype)
            if (self.dtype.kind != "u" or self.dtype.itemsize > 4
                    or np.iinfo(self.dtype).max < self.sigma - 1):
                raise ValueError(f"out_dtype {self.dtype} cannot hold symbols below {self.sigma}")
            code = {1: 0, 2: 1, 4: 2}[self.dtype.itemsize]
        self._module = KernelModule("hwm_decode", defines={"OUT_T": code, "BLOCK": BLOCK},
                                    device_index=device_index)
        self.device = module_device(self._module)
        self._arrays = tuple(_to_device(a, self.device) for a in self.layout.arrays())
        self._torch_dtype = {1: torch.uint8, 2: torch.uint16, 4: torch.uint32}[self.dtype.itemsize]

    def __len__(self) -> int:
        return self.layout.n

    @property
    def device_nbytes(self) -> int:
        """Bytes of the GPU layout (bit planes, rank directories, level tables)."""
        return sum(t.numel() * t.element_size() for t in self._arrays)

    def _common(self) -> tuple:
        return (*self._arrays, np.uint32(self.layout.n_internal), np.uint64(self.layout.n))

    def decode(self, start: int = 0, stop: int | None = None, out=None):
        """Symbols ``[start, stop)`` as a CUDA tensor (``out`` may be given: contiguous, right
        dtype and size)."""
        import torch

        n = self.layout.n
        stop = n if stop is None else int(stop)
        start = int(start)
        if not 0 <= start <= stop <= n:
            raise IndexError(f"range [{start}, {stop}) outside [0, {n}]")
        count = stop - start
        if out is None:
            out = torch.empty(count, dtype=self._torch_dtype, device=self.device)
        elif (out.numel() != count or out.dtype != self._torch_dtype or not out.is_contiguous()
              or out.device != self.device):
            raise ValueError(f"out must be a contiguous {self._torch_dtype} tensor of {count} "
                             f"elements on {self.device}")
        if count:
            self._module.launch("hwm_range_decode",
                                (*self._common(), np.uint64(start), np.uint64(count), out),
                                n_items=count, block=BLOCK)
        return out

    def access_many(self, positions):
        """``access`` of every position (CPU array or CUDA tensor) as a 1-d CUDA tensor."""
        import torch

        pos = torch.as_tensor(positions, device=self.device).to(torch.int64)
        pos = pos.reshape(-1).contiguous()
        if pos.numel() and (int(pos.min()) < 0 or int(pos.max()) >= self.layout.n):
            raise IndexError(f"positions outside [0, {self.layout.n})")
        out = torch.empty(pos.numel(), dtype=self._torch_dtype, device=self.device)
        if pos.numel():
            self._module.launch("hwm_access_many",
                                (*self._common(), pos, np.uint64(pos.numel()), out),
                                n_items=pos.numel(), block=BLOCK)
        return out
