"""Launcher for ``kernels_cu/wm_query.cu``: batched rank and select on the GPU."""

from __future__ import annotations

import numpy as np

from sckit.backends.wm_decode import BLOCK, CudaWaveletMatrix

__all__ = ["CudaWaveletQueries"]

_ABSENT = np.uint64(np.iinfo(np.uint64).max)


class CudaWaveletQueries(CudaWaveletMatrix):
    """``rank_many`` / ``select_many`` on top of :class:`CudaWaveletMatrix`'s arrays."""

    def __init__(self, wm, *, device_index: int | None = None) -> None:
        super().__init__(wm, device_index=device_index)
        from sckit.backends.cuda_runtime import KernelModule

        self._queries = KernelModule("wm_query", defines={"BLOCK": BLOCK},
                                     device_index=self._module.device_index)

    def _run(self, name: str, c: int, values):
        import torch

        if not 0 <= int(c) < self.sigma:
            raise ValueError(f"symbol {c} outside the alphabet [0, {self.sigma})")
        vals = torch.as_tensor(values, device=self.device).to(torch.int64).contiguous()
        out = torch.empty(vals.numel(), dtype=torch.int64, device=self.device)
        if vals.numel():
            self._queries.launch(name, (*self._common(), np.uint32(c), vals,
                                        np.uint64(vals.numel()), out),
                                 n_items=vals.numel(), block=BLOCK)
        return out

    def rank_many(self, c: int, positions):
        """Occurrences of ``c`` in ``[0, p)`` for every ``p`` (CUDA int64 tensor)."""
        import torch

        pos = torch.as_tensor(positions)
        if pos.numel() and (int(pos.min()) < 0 or int(pos.max()) > self.layout.n):
            raise IndexError(f"positions outside [0, {self.layout.n}]")
        return self._run("wm_rank_many", c, pos)

    def select_many(self, c: int, ks):
        """Position of the ``k``-th ``c`` for every ``k``; IndexError when one does not exist."""
        out = self._run("wm_select_many", c, ks)
        if out.numel() and bool((out == int(_ABSENT.view(np.int64))).any()):
            raise IndexError(f"select({c}, k) out of range for some k")
        return out
