"""Weight quantization: uniform k-bit, k-means weight sharing (Deep Compression), int8 static.

``uniform`` and ``kmeans`` replace each conv/linear weight by values from a small set (the
dequantized grid or the codebook) and keep the model float32, so it runs anywhere and the encoder
can store it as codes + codebook, losslessly with respect to the quantized model. ``int8_static``
is PyTorch's post-training static quantization (weights *and* activations int8, CPU kernels);
its result is a ``torch.fx.GraphModule`` of quantized modules.

Exact zeros survive both weight quantizers (the uniform grid always contains 0; k-means clusters
only the non-zero weights, as Deep Compression shares the weights left after pruning), so
prune-then-quantize keeps its sparsity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sckit.transforms._common import (
    check_bits,
    check_method,
    new_model,
    prunable_layers,
    record,
    require_layers,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = [
    "QUANTIZE_METHODS",
    "KMEANS_INITS",
    "quantize",
    "uniform_quantize",
    "kmeans_1d",
    "kmeans_quantize",
]

QUANTIZE_METHODS = ("uniform", "kmeans", "int8_static")
KMEANS_INITS = ("linear", "density", "random")
GRANULARITIES = ("channel", "tensor")


def quantize(
    model: nn.Module,
    bits: int,
    *,
    method: str = "uniform",
    calibration: torch.Tensor | Iterable[torch.Tensor] | None = None,
    qat: bool | int = False,
    granularity: str = "channel",
    layer_bits: Mapping[str, int] | None = None,
    exclude: Iterable[str] = (),
    init: str = "linear",
    max_iter: int = 100,
    qat_options: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Return a quantized copy of ``model``; ``model`` itself is not modified.

    - ``"uniform"``: affine ``bits``-bit quantization of each conv/linear weight, per output
      channel (``granularity="channel"``, default) or per tensor, on a grid that contains 0:
      ``w' = (clamp(round(w / s) + z, 0, 2**bits - 1) - z) * s`` with ``s, z`` from the channel's
      min/max (widened to include 0). At most ``2**bits`` distinct values per channel (tensor).
      Keeping 0 on the grid keeps pruned weights pruned, but makes ``bits=1`` degenerate (each
      channel becomes ``{0, s}`` or ``{-s, 0}``): use ``"kmeans"`` below 2 bits.
    - ``"kmeans"``: weight sharing (Han et al., Deep Compression): per layer, the non-zero weights
      are clustered into ``2**bits`` centroids (``2**bits - 1`` when the layer has zeros, which
      keep a code of their own) by 1-D Lloyd iterations from a *linear*
      initialisation (``init="linear"``: evenly spaced over ``[min, max]``; ``"density"`` and
      ``"random"`` are the paper's alternatives); weights become their centroid, zeros stay 0.
      At most ``2**bits`` distinct values per layer, zero included.
    - ``"int8_static"``: post-training static quantization with ``torch.ao.quantization`` (FX
      graph mode, x86/fbgemm backend, per-channel weights): observers are calibrated on
      ``calibration`` (a batch, or an iterable of batches; default 256 digits training images)
      and the model is converted to int8 CPU kernels. ``bits`` must be 8. Models torch cannot
      trace or quantize raise ValueError.

    ``qat``: quantization-aware fine-tuning on digits for ``qat`` epochs (``True`` = 2): for
    ``uniform`` fake quantization with a straight-through estimator, for ``kmeans`` Deep
    Compression's centroid fine-tuning (cluster assignments fixed, each centroid moved by the sum
    of its weights' gradients), for ``int8_static`` torch's ``prepare_qat_fx``. Pruned zeros are
    kept. ``qat_options`` go to the training loop (``lr``, ``batch_size``, ``seed``).

    ``layer_bits`` overrides ``bits`` per layer name (Deep Compression: 8 for conv, 5 for fc);
    ``exclude`` names layers left in float. The copy records ``{"op": "quantize", ...}`` in
    ``_sckit_transforms``.
    """
    check_method(method, QUANTIZE_METHODS, "quantize")
    bits = check_bits(bits)
    layers = require_layers(model, "quantize")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if init not in KMEANS_INITS:
        raise ValueError(f"init must be one of {KMEANS_INITS}, got {init!r}")
    epochs = _qat_epochs(qat)
    names = {n for n, _ in layers}
    per_layer = {n: bits for n in names}
    for name, b in dict(layer_bits or {}).items():
        if name not in names:
            raise ValueError(f"quantize: layer_bits names {name!r}, not a conv/linear layer")
        per_layer[name] = check_bits(b)
    exclude = set([exclude] if isinstance(exclude, str) else exclude)
    unknown = exclude - names
    if unknown:
        raise ValueError(f"quantize: exclude names {sorted(unknown)}, not conv/linear layers")
    options = dict(qat_options or {})
    if epochs:
        from sckit.training import check_digits_model

        # QAT trains on digits: fail here, clearly, rather than deep inside a forward pass
        check_digits_model(type(model).__name__, model, int(options.get("size", 28)))

    if method == "int8_static":
        if bits != 8 or layer_bits:
            raise ValueError("quantize(method='int8_static') supports bits=8 only")
        from sckit.transforms.qat import int8_static

        result = int8_static(model, calibration, qat_epochs=epochs, options=options)
        entry = {
            "op": "quantize",
            "method": method,
            "bits": 8,
            "backend": "x86",
            "qat_epochs": epochs,
        }
        return record(result, model, entry)

    result = new_model(model)
    targets = {n: per_layer[n] for n in names if n not in exclude}
    if epochs:
        from sckit.transforms.qat import qat_fine_tune

        qat_fine_tune(result, targets, method, granularity, init, max_iter, epochs, options)
    else:
        _quantize_weights(result, targets, method, granularity, init, max_iter)
    entry = {
        "op": "quantize",
        "method": method,
        "bits": bits,
        "layer_bits": dict(sorted(targets.items())),
        "qat_epochs": epochs,
    }
    if method == "uniform":
        entry["granularity"] = granularity
    else:
        entry["init"] = init
    return record(result, model, entry)


def _qat_epochs(qat: bool | int) -> int:
    if qat is True:
        return 2
    if qat is False or qat is None:
        return 0
    if isinstance(qat, int) and qat >= 0:
        return qat
    raise ValueError(f"qat must be a bool or a non-negative int (epochs), got {qat!r}")


def _quantize_weights(
    model: nn.Module,
    targets: Mapping[str, int],
    method: str,
    granularity: str,
    init: str,
    max_iter: int,
) -> None:
    import torch

    with torch.no_grad():
        for name, m in prunable_layers(model):
            if name not in targets:
                continue
            if method == "uniform":
                q = uniform_quantize(m.weight.data, targets[name], granularity=granularity)
            else:
                q = kmeans_quantize(m.weight.data, targets[name], init=init, max_iter=max_iter)
            m.weight.data.copy_(q)


# ----------------------------------------------------------------------------- uniform


def uniform_quantize(
    w: torch.Tensor, bits: int, *, granularity: str = "channel", exact: bool = True
) -> torch.Tensor:
    """Dequantized affine ``bits``-bit version of ``w`` (same shape and dtype; a new tensor).

    Per output channel (axis 0) or per tensor; the grid includes 0 exactly, so zeros stay zero.
    Computed in float64 so ``bits=16`` grids are not blurred by float32 rounding of the scale;
    ``exact=False`` computes in ``w``'s dtype (QAT's forward pass, ~3x faster; its final
    weights are recomputed exactly).
    """
    import torch

    bits = check_bits(bits)
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if w.numel() == 0:
        return w.clone()
    rows = w.shape[0] if granularity == "channel" and w.ndim > 0 else 1
    flat = w.detach().to(torch.float64 if exact else w.dtype).reshape(rows, -1)
    levels = float(2**bits - 1)
    lo = flat.min(dim=1, keepdim=True).values.clamp(max=0.0)
    hi = flat.max(dim=1, keepdim=True).values.clamp(min=0.0)
    scale = (hi - lo) / levels
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero channel
    zero_point = torch.round(-lo / scale).clamp(0.0, levels)
    q = torch.clamp(torch.round(flat / scale) + zero_point, 0.0, levels)
    return ((q - zero_point) * scale).reshape(w.shape).to(w.dtype)


# ----------------------------------------------------------------------------- k-means


def kmeans_1d(
    values: np.ndarray,
    k: int,
    *,
    init: str = "linear",
    max_iter: int = 100,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means (Lloyd) of ``values``; returns ``(centroids float64 (k,), labels int64)``.

    ``init="linear"`` spaces the initial centroids evenly over ``[min, max]`` (Deep Compression's
    choice, which keeps the rare large weights represented); ``"density"`` places them at evenly
    spaced quantiles; ``"random"`` picks ``k`` values (seeded). In 1-D the clusters of sorted
    centroids are intervals, so on the sorted values one Lloyd iteration is ``k`` binary searches
    for the cluster boundaries (midpoints between centroids) and ``k`` differences of a prefix sum:
    O(k log n) after one O(n log n) sort. A cluster that loses all its points keeps its centroid.
    Stops when no boundary moves. The returned centroids are sorted; ``labels`` index them, each
    value labelled with its nearest centroid (ties to the lower one).
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if init not in KMEANS_INITS:
        raise ValueError(f"init must be one of {KMEANS_INITS}, got {init!r}")
    if x.size == 0:
        return np.zeros(k), np.zeros(0, dtype=np.int64)
    if not np.isfinite(x).all():
        raise ValueError("kmeans_1d: values contain NaN or infinity")
    xs = np.sort(x, kind="stable")
    prefix = np.concatenate(([0.0], np.cumsum(xs)))
    if init == "linear":
        centroids = np.linspace(xs[0], xs[-1], k)
    elif init == "density":
        centroids = np.quantile(xs, np.linspace(0.0, 1.0, k))
    else:
        rng = np.random.default_rng(seed)
        centroids = np.sort(rng.choice(xs, size=k, replace=xs.size < k))
    cuts = None
    for _ in range(max(1, int(max_iter))):
        # value v goes to cluster j when boundary[j-1] < v <= boundary[j]
        new_cuts = np.searchsorted(xs, (centroids[1:] + centroids[:-1]) / 2.0, side="right")
        if cuts is not None and np.array_equal(new_cuts, cuts):
            break
        cuts = new_cuts
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [xs.size]))
        counts = ends - starts
        sums = prefix[ends] - prefix[starts]
        centroids = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), centroids))
    labels = np.searchsorted((centroids[1:] + centroids[:-1]) / 2.0, x, side="left")
    return centroids, labels.astype(np.int64)


def _n_clusters(bits: int, has_zeros: bool) -> int:
    """Clusters for the non-zero weights: one code of ``2**bits`` is kept for 0 when the layer has
    zeros, so a layer never holds more than ``2**bits`` distinct values (codes fit in ``bits``);
    the same convention as :func:`sckit.baselines.deep_compression`."""
    return 2**bits - 1 if has_zeros else 2**bits


def kmeans_quantize(
    w: torch.Tensor,
    bits: int,
    *,
    init: str = "linear",
    max_iter: int = 100,
    keep_zeros: bool = True,
) -> torch.Tensor:
    """``w`` with each weight replaced by its k-means centroid; at most ``2**bits`` values.

    With ``keep_zeros`` (default) exact zeros (pruned weights) stay 0 and are left out of the
    clustering, as in Deep Compression where only surviving weights share the codebook; 0 then
    takes one of the ``2**bits`` codes and the non-zero weights share ``2**bits - 1`` centroids.
    """
    import torch

    bits = check_bits(bits)
    arr = w.detach().cpu().to(torch.float64).numpy().reshape(-1)
    keep = arr != 0 if keep_zeros else np.ones(arr.shape, dtype=bool)
    out = np.zeros_like(arr)
    if keep.any():
        k = _n_clusters(bits, not keep.all())
        centroids, labels = kmeans_1d(arr[keep], k, init=init, max_iter=max_iter)
        out[keep] = centroids[labels]
    return torch.from_numpy(out.reshape(tuple(w.shape))).to(w.dtype)


def kmeans_codebook(
    w: torch.Tensor, bits: int, *, init: str = "linear", max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(centroids, labels, nonzero mask)`` for the non-zero weights of ``w`` (QAT's start)."""
    import torch

    arr = w.detach().cpu().to(torch.float64).numpy().reshape(-1)
    keep = arr != 0
    k = _n_clusters(check_bits(bits), not keep.all())
    if not keep.any():
        return np.zeros(k), np.zeros(0, dtype=np.int64), keep
    centroids, labels = kmeans_1d(arr[keep], k, init=init, max_iter=max_iter)
    return centroids, labels, keep
