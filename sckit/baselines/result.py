"""The result every baseline returns, and the model/state plumbing the baselines share."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch
    from torch import nn

__all__ = ["BaselineResult"]


@dataclass(frozen=True, repr=False)
class BaselineResult:
    """What a baseline produced: its exact size, its timings and the decoded model.

    ``size_bytes`` counts every byte the decoder needs besides the architecture (layer names,
    shapes and dtypes are known to both sides, as for a ``state_dict`` loaded into a fresh model).
    ``dense_bytes`` is the size of the same tensors stored plainly (fp32 for fp32 models), so
    ``ratio = dense_bytes / size_bytes``. ``encode_s`` / ``decode_s`` are wall-clock seconds on
    this machine: encoding from the model, decoding from the encoded bytes to dense tensors.
    ``model`` is a new module holding the decoded weights (the input model is never modified).
    ``layers`` holds one row per coded layer (see the method's docstring for its columns);
    ``params`` the settings and side results (error bounds chosen, assessments, ...).
    """

    method: str
    size_bytes: int
    dense_bytes: int
    n_weights: int
    encode_s: float
    decode_s: float
    lossless: bool
    model: nn.Module = field(compare=False)
    layers: tuple[Mapping[str, Any], ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ratio(self) -> float:
        """Dense bytes over compressed bytes."""
        return self.dense_bytes / self.size_bytes if self.size_bytes else float("inf")

    @property
    def bits_per_weight(self) -> float:
        """Compressed bits per stored element (parameters and buffers)."""
        return 8.0 * self.size_bytes / self.n_weights if self.n_weights else 0.0

    def __repr__(self) -> str:
        return (
            f"BaselineResult(method={self.method!r}, size_bytes={self.size_bytes}, "
            f"ratio={self.ratio:.2f}, bits_per_weight={self.bits_per_weight:.3f}, "
            f"lossless={self.lossless})"
        )

    def to_frame(self) -> pd.DataFrame:
        """The per-layer table (one row per coded layer, plus a ``Total`` row where defined)."""
        import pandas as pd

        return pd.DataFrame([dict(r) for r in self.layers])

    def summary(self) -> dict[str, Any]:
        """One row for :func:`sckit.baselines.compare`."""
        return {
            "method": self.method,
            "size_bytes": self.size_bytes,
            "ratio": self.ratio,
            "bits_per_weight": self.bits_per_weight,
            "encode_s": self.encode_s,
            "decode_s": self.decode_s,
            "lossless": self.lossless,
        }


# --- shared plumbing -----------------------------------------------------------------------------


def check_model(model: Any) -> None:
    """Raise TypeError unless ``model`` is an ``nn.Module``."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def state_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state (parameters and persistent buffers), detached, tied tensors once.

    Tied weights (same storage, offset, shape) are kept under their first name only, so sizes
    count them once (the torchinfo rule in STYLE.md).
    """
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int, tuple[int, ...], str]] = set()
    for name, t in model.state_dict().items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), str(t.dtype))
        if t.numel() and key in seen:
            continue
        seen.add(key)
        out[name] = t.detach()
    return out


def dense_bytes(state: Mapping[str, torch.Tensor]) -> int:
    """Bytes of the tensors stored plainly in their own dtype."""
    return int(sum(t.numel() * t.element_size() for t in state.values()))


def n_elements(state: Mapping[str, torch.Tensor]) -> int:
    """Number of stored elements."""
    return int(sum(t.numel() for t in state.values()))


def rebuild_model(model: nn.Module, new_state: Mapping[str, torch.Tensor]) -> nn.Module:
    """A deep copy of ``model`` with ``new_state`` loaded (names not given keep their values)."""
    import torch

    clone = copy.deepcopy(model)
    with torch.no_grad():
        current = clone.state_dict()
        for name, value in new_state.items():
            current[name].copy_(value.to(current[name].dtype).reshape(current[name].shape))
    return clone


def weight_layers(model: nn.Module, *, kinds: tuple[str, ...] = ("conv", "fc")) -> dict[str, str]:
    """``{"<module>.weight": "conv"|"fc"}`` for the Conv/Linear weights the pruning methods code.

    Deep Compression and DeepSZ code the weight matrices of convolution and fully connected
    layers; biases and normalisation state stay plain fp32, as in both papers.
    """
    from torch import nn

    out: dict[str, str] = {}
    for name, mod in model.named_modules():
        kind = None
        if isinstance(mod, nn.Linear):
            kind = "fc"
        elif isinstance(mod, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            kind = "conv"
        if kind in kinds and getattr(mod, "weight", None) is not None:
            out[f"{name}.weight" if name else "weight"] = kind
    return out


def per_layer_amount(
    amount: float | Mapping[str, float], names: list[str], what: str
) -> dict[str, float]:
    """Expand a scalar or a per-layer mapping (by weight name or module name) and validate it."""
    if isinstance(amount, Mapping):
        unknown = [k for k in amount if k not in names and f"{k}.weight" not in names]
        if unknown:
            raise ValueError(f"{what}: unknown layer name(s) {unknown}; layers are {names}")
        out = {}
        for n in names:
            mod = n[: -len(".weight")] if n.endswith(".weight") else n
            out[n] = float(amount.get(n, amount.get(mod, 0.0)))
    else:
        out = dict.fromkeys(names, float(amount))
    for n, a in out.items():
        if not (0.0 <= a < 1.0) or a != a:
            raise ValueError(f"{what} must be in [0, 1), got {a} for {n}")
    return out


def magnitude_prune(w: np.ndarray, amount: float) -> np.ndarray:
    """Boolean keep-mask removing the ``round(amount * n)`` smallest-magnitude entries.

    Deep Compression and DeepSZ both prune by magnitude threshold; ties are broken by position
    (stable sort) so the mask is deterministic.
    """
    flat = np.abs(w.reshape(-1))
    n_prune = int(round(amount * flat.size))
    keep = np.ones(flat.size, dtype=bool)
    if n_prune:
        keep[np.argsort(flat, kind="stable")[:n_prune]] = False
    keep &= w.reshape(-1) != 0  # weights already zero stay pruned
    return keep.reshape(w.shape)


def relative_indices(keep_flat: np.ndarray, index_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative-index sparse form with filler zeros (Han et al., Deep Compression, Fig. 2).

    Returns ``(gaps, positions)``: ``positions`` are the flat positions of the stored entries
    (kept weights plus filler entries), ``gaps[j] = positions[j] - positions[j-1] - 1`` (the first
    is relative to position -1), each in ``[0, 2**index_bits)`` so it fits ``index_bits`` bits.
    When two kept weights are more than ``2**index_bits`` apart, a filler entry (value zero) is
    stored every ``2**index_bits`` positions in between.
    """
    span = 1 << index_bits
    kept = np.flatnonzero(keep_flat).astype(np.int64)
    if kept.size == 0:
        return np.zeros(0, dtype=np.int64), kept
    steps = np.diff(kept, prepend=-1)  # >= 1
    n_fill = (steps - 1) // span
    total = kept.size + int(n_fill.sum())
    positions = np.empty(total, dtype=np.int64)
    # place each kept weight after its fillers, then fill the filler slots
    slot = np.arange(kept.size) + np.cumsum(n_fill)
    positions[slot] = kept
    is_filler = np.ones(total, dtype=bool)
    is_filler[slot] = False
    if n_fill.any():
        prev = np.concatenate(([-1], kept[:-1]))
        owner = np.repeat(np.arange(kept.size), n_fill)  # the kept weight each filler precedes
        rank = np.arange(owner.size) - np.repeat(np.cumsum(n_fill) - n_fill, n_fill)
        positions[is_filler] = prev[owner] + span * (rank + 1)
    gaps = np.diff(positions, prepend=-1) - 1
    return gaps, positions


def positions_from_gaps(gaps: np.ndarray) -> np.ndarray:
    """Inverse of :func:`relative_indices`: flat positions of the stored entries."""
    return np.cumsum(gaps.astype(np.int64) + 1) - 1


def tensor_to_numpy(t: torch.Tensor) -> np.ndarray:
    """A contiguous numpy view of ``t``; dtypes numpy lacks (bfloat16) come as their bit pattern."""
    import torch

    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy()
    return t.numpy()


def numpy_to_tensor(arr: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`tensor_to_numpy` (copies ``arr``), shaped and typed like ``like``."""
    import torch

    out = torch.from_numpy(np.array(arr, copy=True)).reshape(like.shape)
    return out.view(torch.bfloat16) if like.dtype == torch.bfloat16 else out


def raw_state_bytes(state: Mapping[str, torch.Tensor]) -> bytes:
    """The tensors' raw little-endian bytes, concatenated in order."""
    return b"".join(tensor_to_numpy(t).tobytes() for t in state.values())


def state_from_raw(raw: bytes, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`raw_state_bytes`, given the tensors as templates (shape, dtype)."""
    from sckit.errors import FormatError

    out: dict[str, torch.Tensor] = {}
    off = 0
    for n, t in state.items():
        dt = tensor_to_numpy(t).dtype
        nb = t.numel() * t.element_size()
        if off + nb > len(raw):
            raise FormatError(f"raw state truncated at {n}")
        out[n] = numpy_to_tensor(np.frombuffer(raw, dtype=dt, count=t.numel(), offset=off), t)
        off += nb
    if off != len(raw):
        raise FormatError(f"raw state has {len(raw) - off} trailing bytes")
    return out
