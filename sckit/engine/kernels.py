"""Fast-mode compute layouts for one layer: shrunk (structured sparsity) and CSR (unstructured).

A kernel replaces one ``nn.Linear`` / ``nn.Conv2d`` forward in ``mode="fast"``. It is built once,
from the layer's exactly decoded weights, and holds what it computes with (shrunk dense weights,
or CSR indices and values); the RAS stays the stored form (``to_dense()`` and ``save`` use it).
Outputs equal the dense layer's up to floating-point reassociation: a dropped all-zero filter
adds nothing but its bias, which the kernel writes as a constant, and a sparse dot product sums
the same non-zero terms in another order.

Which kernel runs is decided per layer by measured cost (``sckit.engine.plan``); this module only
builds them and says which apply. The engine installs a kernel as the module's instance
``forward``, so hooks, ``named_modules`` and weight tying see the same module as before.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["KERNELS", "CsrKernel", "FastKernel", "ShiftCsrKernel", "ShrunkKernel", "applicable", "build"]

#: every kernel name a plan may hold; "dense" is the exact decode-then-compute route
KERNELS = ("dense", "shrunk", "csr", "csr_shift")



def _to_csr(w2: torch.Tensor) -> torch.Tensor:
    """CSR of a 2-D tensor, with 32-bit indices where they fit: MKL's sparse product takes
    32-bit indices, and with 64-bit ones torch converts them on every call (a 4096x25088
    product at 10% density ran 3x slower than with 32-bit indices, here)."""
    with warnings.catch_warnings():
        # torch warns that CSR support is "beta" on every conversion; sckit tests what it uses
        warnings.simplefilter("ignore", UserWarning)
        c = w2.to_sparse_csr()
        if c.values().numel() < 2**31 - 1 and max(w2.shape) < 2**31 - 1:
            c = torch.sparse_csr_tensor(c.crow_indices().to(torch.int32), c.col_indices().to(torch.int32),
                                        c.values(), c.shape)
    return c


def _supported(mod: Any) -> str | None:
    """Why ``mod`` cannot take a fast kernel, or None when it can."""
    if type(mod) is nn.Linear:
        return None
    if type(mod) is nn.Conv2d:
        if mod.padding_mode != "zeros":
            return f"padding_mode={mod.padding_mode!r}"
        if isinstance(mod.padding, str) and mod.padding != "valid":
            return f"padding={mod.padding!r}"
        return None
    return f"no fast kernel for {type(mod).__name__}"


class FastKernel:
    """One layer's fast forward. ``nbytes``: resident bytes of what it holds."""

    name = "dense"

    def __init__(self, mod: Any, bias: torch.Tensor | None) -> None:
        self.linear = isinstance(mod, nn.Linear)
        self.bias = None if bias is None else bias.detach().clone()
        if not self.linear:
            self.stride, self.padding = mod.stride, mod.padding
            self.dilation, self.groups = mod.dilation, mod.groups
            self.kernel_size = mod.kernel_size
            if self.padding == "valid":
                self.padding = (0, 0)

    @property
    def nbytes(self) -> int:
        return _bytes(self.bias)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def _conv_out_hw(k: FastKernel, hw: Any) -> list[int]:
    """Output height and width of conv kernel ``k`` on an input of spatial size ``hw``."""
    return [(s + 2 * p - d * (ks - 1) - 1) // st + 1 for s, p, d, ks, st in zip(
        hw, k.padding, k.dilation, k.kernel_size, k.stride, strict=True)]


def _bytes(*ts: torch.Tensor | None) -> int:
    return sum(t.numel() * t.element_size() for t in ts if t is not None)


def _zero_rows(w: torch.Tensor) -> torch.Tensor:
    """Bool per output unit: every weight of it equals zero (-0.0 included)."""
    return (w.reshape(w.shape[0], -1) == 0).all(dim=1)


def _zero_inputs(w: torch.Tensor, groups: int) -> torch.Tensor:
    """Bool per input channel (feature): no output unit reads it with a non-zero weight."""
    if groups != 1:
        return torch.zeros(w.shape[1], dtype=torch.bool)
    return (w.transpose(0, 1).reshape(w.shape[1], -1) == 0).all(dim=1)


class ShrunkKernel(FastKernel):
    """Computes only the output units with a non-zero weight (and reads only the input channels
    some unit uses); dropped outputs are their bias (zero without one), written as constants.

    Exactly the dense result but for reassociation: a dropped unit's dense output is
    ``sum(0 * x) + b``, i.e. ``b``, for finite inputs.
    """

    name = "shrunk"

    def __init__(self, mod: Any, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__(mod, bias)
        groups = 1 if self.linear else self.groups
        out_keep = ~_zero_rows(weight)
        if groups != 1:
            # a group's outputs read only that group's inputs: keep whole groups so the shrunk
            # conv still has equal groups (a group whose filters are all zero is dropped)
            per = weight.shape[0] // groups
            g_keep = out_keep.reshape(groups, per).any(dim=1)
            out_keep = g_keep.repeat_interleave(per)
            self.groups = int(g_keep.sum())
            # the input channels of the kept groups (None: every group kept)
            per_in = weight.shape[1]
            kept = torch.nonzero(g_keep).flatten()
            all_kept = kept.numel() == groups
            self.in_idx: torch.Tensor | None = None if all_kept else (
                kept[:, None] * per_in + torch.arange(per_in)).flatten()
        else:
            in_keep = ~_zero_inputs(weight, 1)
            self.in_idx = None if bool(in_keep.all()) else torch.nonzero(in_keep).flatten()
        self.out_features = weight.shape[0]
        self.keep = torch.nonzero(out_keep).flatten()
        drop = torch.nonzero(~out_keep).flatten()
        self.drop = drop if drop.numel() else None
        w = weight.detach().index_select(0, self.keep)
        if self.in_idx is not None and groups == 1:  # grouped: a filter's inputs stay its group's
            w = w.index_select(1, self.in_idx)
        self.weight = w.contiguous()
        b = self.bias
        self.bias_keep = None if b is None else b.index_select(0, self.keep).contiguous()
        fill = None if b is None or self.drop is None else b.index_select(0, self.drop)
        # one value for every dropped unit (0 without a bias): index_fill_, else a copied block
        self.fill_value: float | None = 0.0
        self.fill = None
        if fill is not None:
            # same bits, not just equal: +0.0 and -0.0 compare equal but are distinct biases
            if (bool((fill == fill[0]).all()) and bool((fill.signbit() == fill[0].signbit()).all())
                    and fill[0].item() == fill[0].item()):
                self.fill_value = float(fill[0])
            else:
                self.fill_value, self.fill = None, fill

    @property
    def fraction(self) -> float:
        """Share of output units computed."""
        return self.keep.numel() / max(1, self.out_features)

    @property
    def nbytes(self) -> int:
        return _bytes(self.weight, self.bias_keep, self.fill, self.keep, self.drop, self.in_idx)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # channels: the last axis of a Linear input; axis 1 of an (N, C, H, W) conv input, 0 of (C, H, W)
        ch = -1 if self.linear else (1 if x.dim() == 4 else 0)
        xs = x if self.in_idx is None else x.index_select(ch, self.in_idx)
        if self.linear:
            y = F.linear(xs, self.weight, self.bias_keep) if self.keep.numel() else None
            dim = x.dim() - 1
            shape = (*x.shape[:-1], self.out_features)
        else:
            y = None
            if self.keep.numel():
                y = F.conv2d(xs, self.weight, self.bias_keep, self.stride, self.padding,
                             self.dilation, self.groups)
            dim = 1 if x.dim() == 4 else 0
            if y is None:
                # every filter dropped: the output's spatial size from the conv arithmetic
                shape = (*x.shape[:-3], self.out_features, *_conv_out_hw(self, x.shape[-2:]))
            else:
                shape = (*y.shape[:dim], self.out_features, *y.shape[dim + 1:])
        if self.drop is None:
            return y  # type: ignore[return-value]
        out = x.new_empty(shape, dtype=self.weight.dtype)
        return scatter_outputs(out, dim, y, self.keep, self.drop, self.fill_value, self.fill)


def scatter_outputs(out: torch.Tensor, dim: int, y: torch.Tensor | None, keep: torch.Tensor,
                    drop: torch.Tensor, fill_value: float | None, fill: torch.Tensor | None) -> torch.Tensor:
    """Fill ``out`` along ``dim``: the computed units ``y`` at ``keep``, the dropped ones at
    ``drop`` with their constant (one ``fill_value`` for all, else ``fill`` per unit)."""
    if fill_value is not None:
        out.index_fill_(dim, drop, fill_value)
    else:
        assert fill is not None
        view = [1] * out.dim()
        view[dim] = drop.numel()
        block = list(out.shape)
        block[dim] = drop.numel()
        out.index_copy_(dim, drop, fill.reshape(view).expand(block))
    if y is not None:
        out.index_copy_(dim, keep, y)
    return out


class CsrKernel(FastKernel):
    """Sparse weights in CSR, multiplied with torch.sparse (MKL on x86): Linear as ``W @ x^T``,
    Conv2d as ``W @ unfold(x)`` (a 1x1 stride-1 conv needs no unfold: the input is the matrix).
    Built once; a forward allocates only the unfolded input and the output."""

    name = "csr"

    def __init__(self, mod: Any, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__(mod, bias)
        if not self.linear and self.groups != 1:
            raise ValueError("CSR conv needs groups=1")
        self.out_features = weight.shape[0]
        w2 = weight.detach().reshape(weight.shape[0], -1)
        self.in_features = w2.shape[1]
        self.csr = _to_csr(w2)
        self.plain = (not self.linear and tuple(self.kernel_size) == (1, 1)
                      and tuple(self.stride) == (1, 1) and tuple(self.padding) == (0, 0))
        self.bias_col = None if self.bias is None else self.bias.reshape(-1, 1)

    @property
    def density(self) -> float:
        return self.csr.values().numel() / max(1, self.out_features * self.in_features)

    @property
    def nbytes(self) -> int:
        c = self.csr
        return _bytes(c.crow_indices(), c.col_indices(), c.values(), self.bias)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.linear:
            lead = x.shape[:-1]
            x2 = x.reshape(-1, self.in_features)
            if x2.shape[0] == 1:  # one row: MKL's sparse mv skips the matrix setup (20 -> 11 us)
                y = torch.mv(self.csr, x2[0]).unsqueeze(1)
            else:
                y = torch.mm(self.csr, x2.t())  # (out, rows)
            if self.bias_col is not None:
                y += self.bias_col
            # contiguous, as F.linear's output is: code after the layer may .view() it
            return y.t().contiguous().reshape(*lead, self.out_features)
        batched = x.dim() == 4
        xb = x if batched else x.unsqueeze(0)
        n = xb.shape[0]
        if self.plain:
            h, w = xb.shape[-2:]
            cols = xb.reshape(n, xb.shape[1], h * w)
        else:
            cols = F.unfold(xb, self.kernel_size, self.dilation, self.padding, self.stride)
            h, w = _conv_out_hw(self, xb.shape[-2:])
        # one product for the whole batch: images side by side as columns (no copy for one)
        mat = cols[0] if n == 1 else cols.transpose(0, 1).reshape(cols.shape[1], n * h * w)
        y = torch.mm(self.csr, mat)
        if self.bias_col is not None:
            y += self.bias_col
        out = y.reshape(self.out_features, n, h, w).transpose(0, 1).contiguous()
        return out if batched else out[0]


class ShiftCsrKernel(FastKernel):
    """A stride-1 Conv2d as a sum of 1x1 sparse products over shifted views of the padded input:
    ``out = sum_(i,j) W[:, :, i, j] @ shift_(i,j)(x)``. With the padded image flattened row by
    row, each shift is a column offset, so no unfold copy is made; columns that wrap across a
    row (or, batched, across images) are computed and cropped away.
    """

    name = "csr_shift"

    def __init__(self, mod: Any, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__(mod, bias)
        if self.linear or self.groups != 1 or tuple(self.stride) != (1, 1):
            raise ValueError("shifted CSR needs a Conv2d with groups=1 and stride 1")
        self.out_features = weight.shape[0]
        kh, kw = weight.shape[-2:]
        w = weight.detach()
        taps = [(i, j) for i in range(kh) for j in range(kw) if bool((w[:, :, i, j] != 0).any())]
        self.taps = [(i, j, _to_csr(w[:, :, i, j].contiguous())) for i, j in taps]
        self.bias_col = None if self.bias is None else self.bias.reshape(-1, 1)

    @property
    def nbytes(self) -> int:
        return sum(_bytes(c.crow_indices(), c.col_indices(), c.values()) for _, _, c in self.taps) + _bytes(self.bias)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        batched = x.dim() == 4
        xb = x if batched else x.unsqueeze(0)
        n, c, h, w = xb.shape
        (p0, p1), (d0, d1) = self.padding, self.dilation
        kh, kw = self.kernel_size
        hp, wp = h + 2 * p0, w + 2 * p1
        ho, wo = hp - d0 * (kh - 1), wp - d1 * (kw - 1)
        xp = F.pad(xb, (p1, p1, p0, p0)).transpose(0, 1).reshape(c, n * hp * wp)
        span = n * hp * wp - (d0 * (kh - 1) * wp + d1 * (kw - 1))
        out = xb.new_zeros((self.out_features, n * hp * wp))
        acc = out[:, :span]
        for i, j, csr in self.taps:
            off = i * d0 * wp + j * d1
            acc += torch.mm(csr, xp[:, off:off + span])
        if self.bias_col is not None:
            out += self.bias_col
        y = out.view(self.out_features, n, hp, wp)[:, :, :ho, :wo].transpose(0, 1).contiguous()
        return y if batched else y[0]


def applicable(mod: Any, weight: torch.Tensor) -> tuple[list[str], str]:
    """Kernel names worth measuring for ``mod`` with exact weights ``weight``, and a note saying
    why the others are not (a kernel that cannot be faster is not measured)."""
    why = _supported(mod)
    if why is not None:
        return [], why
    if not weight.dtype.is_floating_point:
        return [], f"{weight.dtype} weights"
    names: list[str] = []
    notes: list[str] = []
    groups = getattr(mod, "groups", 1)
    zero_out = int(_zero_rows(weight).sum())
    zero_in = int(_zero_inputs(weight, groups).sum())
    if groups != 1:
        per = weight.shape[0] // groups
        zero_groups = int(_zero_rows(weight).reshape(groups, per).all(dim=1).sum())
        if zero_groups:
            names.append("shrunk")
        else:
            notes.append("no all-zero group")
    elif zero_out or zero_in:
        names.append("shrunk")
    else:
        notes.append("no all-zero filter")
    nnz = int(torch.count_nonzero(weight))
    if groups == 1 and nnz < weight.numel():
        names.append("csr")
        if isinstance(mod, nn.Conv2d) and tuple(mod.stride) == (1, 1) and tuple(mod.kernel_size) != (1, 1):
            names.append("csr_shift")
    elif groups != 1:
        notes.append("CSR needs groups=1")
    else:
        notes.append("no zero weights")
    return names, "; ".join(notes)


def build(name: str, mod: Any, weight: torch.Tensor, bias: torch.Tensor | None) -> FastKernel:
    """Build kernel ``name`` for ``mod`` from its exactly decoded ``weight`` and ``bias``."""
    if name == "shrunk":
        return ShrunkKernel(mod, weight, bias)
    if name == "csr":
        return CsrKernel(mod, weight, bias)
    if name == "csr_shift":
        return ShiftCsrKernel(mod, weight, bias)
    raise ValueError(f"unknown fast kernel {name!r}; expected one of {KERNELS[1:]}")


def describe(k: Any) -> str:
    """A short phrase for the report: what the kernel computes with."""
    if isinstance(k, ShrunkKernel):
        return f"{k.keep.numel()}/{k.out_features} outputs computed"
    if isinstance(k, CsrKernel):
        return f"CSR, density {k.density:.3f}"
    if isinstance(k, ShiftCsrKernel):
        return f"CSR per tap ({len(k.taps)} taps), no unfold"
    return ""
