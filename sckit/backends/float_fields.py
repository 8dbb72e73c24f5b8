"""Launcher for ``kernels_cu/float_fields.cu``: a dense :class:`sckit.ras.RAS` decoded on the GPU.

Two kernels per decode, no host round trip: ``hwm_range_decode`` (``hwm_decode.cu``) writes the
symbol stream of the wanted rows into a uint32 scratch tensor, then ``ff_merge`` skips the
delimiters by position arithmetic, joins each symbol with its raw field (mantissa, and sign when
stored raw) or looks it up in the codebook, and writes the bit patterns straight into the output
tensor (float32 / float16 / bfloat16 / integer dtypes). Sparse RAS (relative distances) are not
handled here: callers use the CPU path for them (:func:`supports`).

:func:`merge_plan` derives the kernel arguments from the RAS's public attributes with numpy only;
tests/gpu/test_float_fields_logic.py runs the same arguments through the host build of
``float_fields.cuh`` and compares with ``RAS.decode`` on machines without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BLOCK", "CudaRAS", "MergePlan", "decode_ras", "launch_defines", "merge_plan",
           "supports", "torch_dtype"]

BLOCK = 256
_OUT_T = {1: 0, 2: 1, 4: 2, 8: 3}  # output itemsize -> OUT_T define
_TORCH_NAMES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16",
                "float64": "float64", "int8": "int8", "uint8": "uint8", "int16": "int16",
                "uint16": "uint16", "int32": "int32", "uint32": "uint32"}


def launch_defines(itemsize: int) -> dict[str, int]:
    """The -D set ``float_fields.cu`` is compiled with for output items of ``itemsize`` bytes."""
    if itemsize not in _OUT_T:
        raise ValueError(f"output items must be 1, 2, 4 or 8 bytes, got {itemsize}")
    return {"OUT_T": _OUT_T[itemsize], "BLOCK": BLOCK}


def torch_dtype(name: str):
    """The torch dtype a RAS of logical dtype ``name`` decodes to."""
    import torch

    try:
        return getattr(torch, _TORCH_NAMES[name])
    except KeyError:
        raise ValueError(f"no torch dtype for RAS dtype {name!r}") from None


def supports(r) -> bool:
    """True when :class:`CudaRAS` can decode ``r`` (dense wavelet-matrix streams; sparse and
    byte-grouped ones (:mod:`sckit.ras.bytegroup`) stay on the CPU)."""
    return not r.sparse and r.dtype in _TORCH_NAMES and getattr(r, "layout_name", "wm") == "wm"


@dataclass(frozen=True)
class MergePlan:
    """Arguments of one ``ff_merge`` launch over rows ``[r0, r1)`` (see float_fields.cuh)."""

    sym_start: int  # stream positions [sym_start, sym_stop) are decoded; base = sym_start
    sym_stop: int
    e0: int  # first weight
    count: int  # weights written
    rps: np.ndarray  # uint64, at least one element
    n_rps: int
    row_len: int
    shift: int
    sign_pos: int
    raw: np.ndarray  # uint64 packed raw fields (2 zero words when there are none)
    codebook: np.ndarray  # uint64 bit patterns (one zero when there is no codebook)
    n_codebook: int


def merge_plan(r, r0: int | None = None, r1: int | None = None) -> MergePlan:
    """Kernel arguments to decode rows ``[r0, r1)`` (layout rows: blocks for block-wise RAS) of
    a dense RAS ``r``; the whole tensor by default. Mirrors ``RAS.decode`` / ``decode_rows``."""
    if r.sparse:
        raise ValueError("merge_plan handles dense RAS only; sparse streams decode on the CPU")
    lay = r.layout
    r0 = 0 if r0 is None else int(r0)
    r1 = lay.n_rows if r1 is None else int(r1)
    if not 0 <= r0 <= r1 <= lay.n_rows:
        raise IndexError(f"rows [{r0}, {r1}) out of range [0, {lay.n_rows}]")
    if r1 > r0:
        p0 = lay.row_position(r0)
        p1 = lay.row_position(r1 - 1) + lay.row_len
    else:
        p0 = p1 = 0
    rps = np.asarray(lay.rows_per_slice, dtype=np.uint64)
    if r.codebook is not None:
        cb = np.asarray(r.codebook).astype(np.uint64)
        shift, sign_pos = 0, -1
    else:
        cb = np.zeros(0, np.uint64)
        shift = r.split.raw_bits
        sign_pos = r.split.sign_pos if r.sign_raw else -1
    raw = np.asarray(r.raw, dtype=np.uint64)
    return MergePlan(
        sym_start=p0, sym_stop=p1, e0=r0 * lay.row_len, count=(r1 - r0) * lay.row_len,
        rps=rps if rps.size else np.ones(1, np.uint64), n_rps=int(rps.size),
        row_len=max(1, int(lay.row_len)), shift=int(shift), sign_pos=int(sign_pos),
        raw=np.ascontiguousarray(raw) if raw.size else np.zeros(2, np.uint64),
        codebook=cb if cb.size else np.zeros(1, np.uint64), n_codebook=int(cb.size),
    )


class CudaRAS:
    """A dense :class:`sckit.ras.RAS` copied to the GPU (wavelet matrix in the GPU layout, raw
    fields, codebook); :meth:`decode` / :meth:`decode_rows` return torch CUDA tensors of the
    tensor's dtype whose bits equal ``RAS.decode`` / ``decode_rows``."""

    def __init__(self, r, *, device_index: int | None = None) -> None:
        import torch

        from sckit.backends.cuda_runtime import KernelModule
        from sckit.backends.hwm_decode import CudaHuffmanWaveletMatrix, _to_device, module_device

        if not supports(r):
            raise ValueError(f"CudaRAS handles dense RAS only (got sparse={r.sparse}, "
                             f"dtype={r.dtype!r}); use the CPU decode")
        self.ras = r
        self.dtype = torch_dtype(r.dtype)
        self._itemsize = r.split.itemsize
        self._module = KernelModule("float_fields", defines=launch_defines(self._itemsize),
                                    device_index=device_index)
        self.device = module_device(self._module)
        self._hwm = (CudaHuffmanWaveletMatrix(r.wm, device_index=self._module.device_index,
                                              out_dtype=np.uint32) if r.n_stream else None)
        plan = merge_plan(r)
        self._raw, self._rps, self._cb = (_to_device(a, self.device)
                                          for a in (plan.raw, plan.rps, plan.codebook))
        self._err = torch.zeros(1, dtype=torch.int32, device=self.device)

    @property
    def device_nbytes(self) -> int:
        """Bytes this RAS occupies on the GPU (wavelet matrix layout, raw fields, codebook)."""
        own = sum(t.numel() * t.element_size() for t in (self._raw, self._rps, self._cb))
        return own + (self._hwm.device_nbytes if self._hwm is not None else 0)

    def _run(self, plan: MergePlan, out) -> None:
        import torch

        if plan.count == 0:
            return
        if self._hwm is None:  # a RAS with weights always has a symbol stream
            raise RuntimeError("RAS has weights but no symbol stream")
        sym = torch.empty(plan.sym_stop - plan.sym_start, dtype=torch.uint32, device=self.device)
        self._hwm.decode(plan.sym_start, plan.sym_stop, out=sym)
        if plan.n_codebook:
            self._err.zero_()
        self._module.launch("ff_merge", (
            sym, np.uint64(plan.sym_start), self._raw, self._rps, np.uint32(plan.n_rps),
            np.uint64(plan.row_len), np.uint32(plan.shift), np.int32(plan.sign_pos), self._cb,
            np.uint64(plan.n_codebook), np.uint64(plan.e0), np.uint64(plan.count), out, self._err,
        ), n_items=plan.count, block=BLOCK)
        if plan.n_codebook and int(self._err.item()):  # only codebook streams can be corrupt
            from sckit.errors import FormatError

            raise FormatError("RAS: a codebook symbol is out of range (corrupt stream)")

    def _check_out(self, out, shape: tuple[int, ...]):
        import torch

        if out is None:
            return torch.empty(shape, dtype=self.dtype, device=self.device)
        if (not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(shape)
                or out.dtype != self.dtype or out.device != self.device
                or not out.is_contiguous()):
            raise ValueError(f"out must be a contiguous {self.dtype} CUDA tensor of shape "
                             f"{tuple(shape)} on {self.device}")
        return out

    def decode(self, out=None):
        """The whole tensor (shape ``ras.shape``, dtype of the RAS) as a CUDA tensor."""
        out = self._check_out(out, self.ras.shape)
        self._run(merge_plan(self.ras), out)
        return out

    def decode_rows(self, start: int, stop: int, out=None):
        """Dim-0 slices ``[start, stop)``, decoding only their part of the stream."""
        r = self.ras
        if not r.shape:
            raise IndexError("decode_rows needs a tensor with at least one dimension")
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= r.shape[0]:
            raise IndexError(f"rows [{start}, {stop}) out of range for dim 0 of size {r.shape[0]}")
        out = self._check_out(out, (stop - start, *r.shape[1:]))
        if out.numel() == 0:
            return out
        if len(r.shape) == 1:  # one row: decode it and cut, as RAS.decode_rows does
            out.copy_(self.decode()[start:stop])
            return out
        rpd = r.layout.rows_per_dim0()
        self._run(merge_plan(r, start * rpd, stop * rpd), out)
        return out


def decode_ras(r, out=None, *, device_index: int | None = None):
    """Decode a dense RAS on the GPU into a CUDA tensor (``out``: optional destination)."""
    return CudaRAS(r, device_index=device_index).decode(out)
