"""Launcher for ``kernels_cu/wm_decode.cu``: wavelet-matrix range decode and batched access."""

from __future__ import annotations

import numpy as np

from sckit.backends.wm_layout import GpuWmLayout, layout_from_wavelet_matrix

__all__ = ["CudaWaveletMatrix", "out_code"]

BLOCK = 256
_OUT_CODES = {np.dtype(np.uint8): 0, np.dtype(np.uint16): 1, np.dtype(np.uint32): 2}


def out_code(sigma: int) -> tuple[int, np.dtype]:
    """The ``OUT_T`` define and numpy dtype the kernels write for an alphabet of ``sigma``."""
    dtype = np.dtype(np.uint8 if sigma <= 1 << 8 else np.uint16 if sigma <= 1 << 16 else np.uint32)
    return _OUT_CODES[dtype], dtype


class CudaWaveletMatrix:
    """A :class:`sckit.succinct.WaveletMatrix` copied to the GPU; results are torch CUDA tensors
    bit-identical to the CPU structure's ``decode`` / ``access_many``."""

    def __init__(self, wm, *, device_index: int | None = None) -> None:
        import torch

        from sckit.backends.cuda_runtime import KernelModule

        self.layout: GpuWmLayout = layout_from_wavelet_matrix(wm)
        self.sigma = int(wm.sigma)
        code, self.dtype = out_code(self.sigma)
        self._module = KernelModule("wm_decode", defines={"OUT_T": code, "BLOCK": BLOCK},
                                    device_index=device_index)
        dev = torch.device("cuda", self._module.device_index)
        as_t = lambda a: torch.from_numpy(a.view(np.int64) if a.dtype == np.uint64  # noqa: E731
                                          else a.view(np.int32)).to(dev)
        self._words, self._cum, self._zeros = (as_t(self.layout.words), as_t(self.layout.cum),
                                               as_t(self.layout.zeros))
        self._torch_dtype = {np.dtype(np.uint8): torch.uint8, np.dtype(np.uint16): torch.uint16,
                             np.dtype(np.uint32): torch.uint32}[self.dtype]
        self.device = dev

    def __len__(self) -> int:
        return self.layout.n

    def _common(self) -> tuple:
        lay = self.layout
        return (self._words, self._cum, self._zeros, np.uint32(lay.n_levels), np.uint64(lay.n),
                np.uint64(lay.n_words))

    def decode(self, start: int = 0, stop: int | None = None, out=None):
        """Symbols ``[start, stop)`` as a CUDA tensor (uint8/16/32 by sigma)."""
        import torch

        stop = self.layout.n if stop is None else stop
        if not 0 <= start <= stop <= self.layout.n:
            raise IndexError(f"range [{start}, {stop}) outside [0, {self.layout.n}]")
        count = stop - start
        if out is None:
            out = torch.empty(count, dtype=self._torch_dtype, device=self.device)
        elif out.numel() != count or out.dtype != self._torch_dtype or not out.is_contiguous():
            raise ValueError(f"out must be a contiguous {self._torch_dtype} tensor of {count} elements")
        if count:
            self._module.launch("wm_range_decode",
                                (*self._common(), np.uint64(start), np.uint64(count), out),
                                n_items=count, block=BLOCK)
        return out

    def access_many(self, positions):
        """``access`` of every position (CPU array or CUDA tensor) as a CUDA tensor."""
        import torch

        pos = torch.as_tensor(positions, device=self.device).to(torch.int64).contiguous()
        if pos.numel() and (int(pos.min()) < 0 or int(pos.max()) >= self.layout.n):
            raise IndexError(f"positions outside [0, {self.layout.n})")
        out = torch.empty(pos.numel(), dtype=self._torch_dtype, device=self.device)
        if pos.numel():
            self._module.launch("wm_access_many",
                                (*self._common(), pos, np.uint64(pos.numel()), out),
                                n_items=pos.numel(), block=BLOCK)
        return out
