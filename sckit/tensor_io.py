"""torch adapters for :mod:`sckit.ras`: encode a tensor, decode back bit-exactly.

``sckit.ras`` is numpy-only; these functions hand it integer *views* of the tensor's storage
(``t.view(torch.int16)`` for bfloat16, which numpy lacks), so no value ever goes through float
arithmetic and NaN payloads, -0.0, infinities and denormals survive.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sckit.ras import RAS, encode
from sckit.ras.bound_call import out_ok

__all__ = ["decode_tensor", "encode_tensor", "ras_dtype", "torch_dtype"]

# torch dtype -> (ras dtype name, same-size integer torch dtype used for the numpy view)
_TORCH: dict[torch.dtype, tuple[str, torch.dtype]] = {
    torch.float32: ("float32", torch.int32),
    torch.float16: ("float16", torch.int16),
    torch.bfloat16: ("bfloat16", torch.int16),
    torch.float64: ("float64", torch.int64),
    torch.int8: ("int8", torch.int8),
    torch.uint8: ("uint8", torch.uint8),
    torch.int16: ("int16", torch.int16),
    torch.int32: ("int32", torch.int32),
}
_BY_NAME = {name: (dt, view) for dt, (name, view) in _TORCH.items()}
# numpy dtypes with the tensor's own meaning (all but bfloat16): decoded bit patterns are
# re-typed by a numpy view, ~0.4 us cheaper than torch's view(dtype) on every small tensor
_NP_SAME: dict[str, np.dtype] = {name: np.dtype(name) for name in _BY_NAME if name != "bfloat16"}
_NP_UINT: dict[str, np.dtype] = {name: np.dtype(f"uint{8 * view.itemsize}")
                                 for name, (_, view) in _BY_NAME.items()}
_NP_INT = {torch.int8: np.int8, torch.uint8: np.uint8, torch.int16: np.int16,
           torch.int32: np.int32, torch.int64: np.int64}


def ras_dtype(dtype: torch.dtype) -> str:
    """The :mod:`sckit.ras` dtype name of a torch dtype (TypeError if unsupported)."""
    try:
        return _TORCH[dtype][0]
    except KeyError:
        raise TypeError(
            f"unsupported tensor dtype {dtype}; supported: {', '.join(map(str, _TORCH))}"
        ) from None


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a :mod:`sckit.ras` dtype name."""
    try:
        return _BY_NAME[name][0]
    except KeyError:
        raise TypeError(f"no torch dtype for RAS dtype {name!r}") from None


def encode_tensor(t: torch.Tensor, **kw: Any) -> RAS:
    """:func:`sckit.ras.encode` of a tensor (any device/layout; copied to contiguous CPU memory).

    Keyword arguments go to :func:`sckit.ras.encode` (``kind``, ``sparse``, ``codebook``, ...);
    ``layout`` defaults to "auto" here: the byte-grouped form where it is smaller.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(t).__name__}")
    if "dtype" in kw:
        raise TypeError("encode_tensor takes the dtype from the tensor; do not pass dtype=")
    name = ras_dtype(t.dtype)
    view_dt = _TORCH[t.dtype][1]
    a = t.detach().to("cpu").contiguous()
    bits = a.view(view_dt).numpy()
    kw.setdefault("layout", "auto")
    return encode(bits, dtype=name, **kw)


def decode_tensor(r: RAS, out: torch.Tensor | None = None) -> torch.Tensor:
    """Decode a :class:`~sckit.ras.RAS` into a tensor of its dtype and shape, bit-exactly.

    ``out``: optional contiguous CPU tensor of the right dtype and shape to decode into.
    """
    if not isinstance(r, RAS):
        raise TypeError(f"expected a sckit.ras.RAS, got {type(r).__name__}")
    # a model of hundreds of small tensors pays every call below per tensor: few torch calls
    same = _NP_SAME.get(r.dtype)
    if out is None:  # the unsigned bit patterns, re-typed without a copy
        bits = r.decode()
        return torch.from_numpy(bits.view(same)) if same is not None else torch.from_numpy(bits).view(torch_dtype(r.dtype))
    dt = torch_dtype(r.dtype)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"out must be a torch.Tensor, got {type(out).__name__}")
    elif out.dtype != dt or out.shape != r.shape:
        raise ValueError(f"out must be {dt}{tuple(r.shape)}, got {out.dtype}{tuple(out.shape)}")
    elif not out.is_cpu or not out.is_contiguous():
        raise ValueError("out must be a contiguous CPU tensor")
    # decode into the tensor's own storage through an unsigned numpy view of the same bytes
    # (checked above as a torch tensor: the RAS's own checks of an out array are skipped)
    arr = out.numpy() if same is not None else out.view(_TORCH[dt][1]).numpy()
    flat = arr.view(_NP_UINT[r.dtype]).reshape(-1)
    r._decode_flat(flat, out_ok(flat))
    return out
