"""DeepSZ (Jin et al., HPDC 2019): error-bounded lossy coding of pruned FC layers.

The four steps of DeepSZ's framework, on the fully connected (``nn.Linear``) layers:

1. **Prune** each FC weight matrix by magnitude and **retrain** with the mask fixed (DeepSZ
   starts from networks pruned and retrained as in Deep Compression): on by default wherever
   the training set is known (zoo models with ``pretrained="digits"`` or ``"mnist"``, or
   ``dataset=``); a ``fine_tune`` callable replaces the built-in retraining. Store each layer as
   a *data array* (float32 values of the stored entries) and an *index array* (8-bit relative
   indices, filler entries where a gap overflows - the sparse format of the paper).
2. **Error-bound assessment**: for each FC layer alone and each candidate error bound (ascending)
   SZ-code that layer's data array, decode it into the pruned model and measure the accuracy
   (``eval_fn``). Testing stops for a layer once its loss exceeds the budget (the slides'
   "dynamically decide the testing range").
3. **Optimisation**: the slides assume per-layer losses are independent and add up
   (``sum_l Delta_l,eb_l < budget``); choosing one bound per layer to minimise the total size
   under that sum is a multiple-choice knapsack, solved by dynamic programming over the loss
   budget discretised into ``resolution`` steps (losses rounded *up*, so the sum is never
   underestimated). The chosen configuration is then evaluated as a whole; should the measured
   loss still exceed the budget (non-additive interactions), the layer with the largest
   single-layer loss steps down to its next smaller bound until it fits.
4. **Encode**: SZ on the data arrays with the chosen bounds, the best of zstd / lzma / bz2 on the
   index arrays. Convolution weights, biases and other state stay plain fp32 (DeepSZ codes the
   FC layers only).

The SZ stage is :mod:`sckit.baselines.sz` (our SZ-style coder, the default) or, with
``sz_backend="sz3"``, the SZ3 library through the optional PyPI package ``pysz``.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sckit.baselines.coders import best_fit_lossless, best_fit_lossless_decode
from sckit.baselines.result import (
    BaselineResult,
    check_model,
    dense_bytes,
    magnitude_prune,
    n_elements,
    per_layer_amount,
    positions_from_gaps,
    raw_state_bytes,
    rebuild_model,
    relative_indices,
    state_from_raw,
    state_tensors,
    weight_layers,
)
from sckit.baselines.retrain import check_training_args, retrain_pruned, training_set
from sckit.baselines.sz import sz3_compress, sz3_decompress, sz_compress, sz_decompress

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = ["DEFAULT_ERROR_BOUNDS", "deepsz", "optimize_error_bounds"]

DEFAULT_ERROR_BOUNDS: tuple[float, ...] = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2)
_LEN = struct.Struct("<II")


def optimize_error_bounds(
    options: Mapping[str, Sequence[tuple[float, int, float]]],
    budget: float,
    *,
    resolution: int = 100,
) -> dict[str, float]:
    """Pick one error bound per layer minimising total bytes with summed loss <= ``budget``.

    ``options[layer]`` lists ``(error_bound, size_bytes, accuracy_loss)``; the first option of
    each layer is the fallback taken when nothing fits. Multiple-choice knapsack by dynamic
    programming over the budget in ``resolution`` steps: O(layers * resolution * options).
    Negative losses (accuracy gains) count as zero.
    """
    if budget < 0 or not math.isfinite(budget):
        raise ValueError(f"accuracy_loss_budget must be a finite number >= 0, got {budget}")
    if resolution < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    unit = budget / resolution if budget > 0 else 1.0
    cap = resolution if budget > 0 else 0
    inf = float("inf")
    names = list(options)
    dp = [0.0] + [inf] * cap  # dp[b]: min bytes with loss units exactly b, layers so far
    choice: list[list[int]] = []
    for name in names:
        new = [inf] * (cap + 1)
        pick = [-1] * (cap + 1)
        for j, (_, size, loss) in enumerate(options[name]):
            u = 0 if loss <= 0 else (math.ceil(loss / unit - 1e-9) if budget > 0 else cap + 1)
            for b in range(cap + 1 - u if u <= cap else 0):
                if dp[b] + size < new[b + u]:
                    new[b + u] = dp[b] + size
                    pick[b + u] = j
        choice.append(pick)
        dp = new
        if all(v == inf for v in dp):  # nothing fits: fall back to each layer's first option
            return {n: float(options[n][0][0]) for n in names}
    b = min(range(cap + 1), key=lambda i: dp[i])
    out: dict[str, float] = {}
    # backtrack: recompute the unit cost of the chosen option at each layer, last to first
    for li in range(len(names) - 1, -1, -1):
        j = choice[li][b]
        eb, _, loss = options[names[li]][j]
        out[names[li]] = float(eb)
        u = 0 if loss <= 0 else math.ceil(loss / unit - 1e-9)
        b -= u
    return {n: out[n] for n in names}


def _sz_funcs(
    backend: str, predictor: str
) -> tuple[Callable[[np.ndarray, float], bytes], Callable[[bytes], np.ndarray]]:
    if backend == "builtin":
        return (lambda x, eb: sz_compress(x, eb, predictor=predictor)), sz_decompress
    if backend == "sz3":
        return sz3_compress, sz3_decompress
    raise ValueError(f"sz_backend must be 'builtin' or 'sz3', got {backend!r}")


def deepsz(
    model: nn.Module,
    *,
    prune_amount: float | Mapping[str, float] = 0.9,
    eval_fn: Callable[[nn.Module], float] | None = None,
    accuracy_loss_budget: float = 0.01,
    error_bounds: Sequence[float] = DEFAULT_ERROR_BOUNDS,
    error_bound: float | Mapping[str, float] | None = None,
    index_bits: int = 8,
    sz_backend: str = "builtin",
    predictor: str = "auto",
    resolution: int = 100,
    fine_tune: Callable[[nn.Module], nn.Module] | None = None,
    retrain: bool | None = None,
    epochs: int = 10,
    lr: float = 1e-3,
    dataset: str | None = None,
    size: int | None = None,
    progress: bool = True,
) -> BaselineResult:
    """DeepSZ on ``model``'s Linear layers; returns a lossy :class:`BaselineResult`.

    With ``eval_fn(model) -> accuracy`` (a fraction in [0, 1]) the per-layer error bounds are
    searched over ``error_bounds`` so that the accuracy loss relative to the *pruned* (and
    retrained) model stays within ``accuracy_loss_budget`` (same unit as ``eval_fn``). Where the
    training set is known and neither ``eval_fn`` nor ``error_bound`` is given, ``eval_fn`` is
    the test accuracy on it (:func:`sckit.data.evaluate`). Otherwise ``error_bound`` (one value
    or a per-layer mapping) must be given.

    Retraining after pruning, as in Deep Compression: ``retrain=None`` retrains wherever the
    training set is known (``dataset``, else the zoo model's), ``epochs`` of masked training at
    ``lr`` on images of side ``size`` with a tqdm bar when ``progress``; ``retrain=False`` skips
    it; ``fine_tune(model) -> model`` replaces it (the mask is re-applied to its output). Every decoded weight of a coded layer is within
    its layer's bound of the pruned weight (filler entries, stored as 0, may decode to ``+-eb``).

    ``to_frame()`` columns: layer, n_weights, weights_pct, n_entries, error_bound,
    data_bytes (SZ), index_bytes (best-fit lossless), index_coder, size_bytes, dense_bytes,
    ratio, max_abs_error, assessed_loss, plus a ``Total`` row. ``params`` holds the assessment
    (``params["assessment"]``: one row per test), the accuracies of the pruned and the final
    model, and the timing of the search (``assess_s``, included in ``encode_s``).
    """
    import torch

    check_model(model)
    retrain, ds, side = training_set(model, retrain, dataset, size)
    check_training_args(epochs=epochs, lr=lr)
    if fine_tune is not None and not callable(fine_tune):
        raise TypeError("fine_tune must be a callable model -> model or None")
    if eval_fn is None and error_bound is None and ds is not None:
        from functools import partial

        from sckit.data import evaluate

        eval_fn = partial(evaluate, dataset=ds, size=side)
    comp, decomp = _sz_funcs(sz_backend, predictor)
    if predictor not in ("auto", "zero", "lorenzo"):
        raise ValueError(f"predictor must be 'auto', 'zero' or 'lorenzo', got {predictor!r}")
    if isinstance(index_bits, bool) or not isinstance(index_bits, int) or not 1 <= index_bits <= 16:
        raise ValueError(f"index_bits must be an integer in 1..16, got {index_bits!r}")
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError("eval_fn must be a callable model -> accuracy")
    layers = list(weight_layers(model, kinds=("fc",)))
    if not layers:
        raise ValueError("model has no Linear (FC) layers: DeepSZ codes FC layers only")
    amounts = per_layer_amount(prune_amount, layers, "prune_amount")
    if error_bound is None:
        if eval_fn is None:
            raise ValueError(
                "deepsz needs eval_fn (to search error bounds) or an explicit error_bound"
            )
        ebs = sorted({float(e) for e in error_bounds})
        if not ebs or any(not (e > 0 and math.isfinite(e)) for e in ebs):
            raise ValueError(f"error_bounds must be finite numbers > 0, got {list(error_bounds)}")
        fixed = None
    else:
        raw_eb = (
            error_bound if isinstance(error_bound, Mapping) else dict.fromkeys(layers, error_bound)
        )
        fixed = {}
        for n in layers:
            e = raw_eb.get(n, raw_eb.get(n.removesuffix(".weight")))
            if (
                e is None
                or isinstance(e, bool)
                or not isinstance(e, int | float)
                or not (e > 0 and math.isfinite(e))
            ):
                raise ValueError(f"error_bound for {n} must be a finite number > 0, got {e!r}")
            fixed[n] = float(e)
    if not (accuracy_loss_budget >= 0 and math.isfinite(accuracy_loss_budget)):
        raise ValueError(
            f"accuracy_loss_budget must be a finite number >= 0, got {accuracy_loss_budget}"
        )

    # 1. prune (+ optional fine-tune) -> data and index arrays
    t_start = time.perf_counter()
    state = state_tensors(model)
    masks = {n: magnitude_prune(state[n].float().numpy(), amounts[n]) for n in layers}
    pruned_state = {n: state[n].float() * torch.from_numpy(masks[n]) for n in layers}
    fine_tune_s = 0.0
    accuracy_before_retrain = None
    if fine_tune is not None or retrain:
        pruned_only = rebuild_model(model, pruned_state)
        if eval_fn is not None:
            accuracy_before_retrain = float(eval_fn(pruned_only))
        tuned, fine_tune_s = retrain_pruned(
            pruned_only,
            masks,
            fine_tune,
            epochs=epochs,
            lr=lr,
            size=side,
            dataset=ds,
            progress=progress,
        )
        state = state_tensors(tuned)
        pruned_state = {n: state[n].float() * torch.from_numpy(masks[n]) for n in layers}
    idx_dtype = np.uint8 if index_bits <= 8 else np.uint16
    data: dict[str, np.ndarray] = {}
    positions: dict[str, np.ndarray] = {}
    index_blobs: dict[str, bytes] = {}
    index_coder: dict[str, str] = {}
    for n in layers:
        flat = pruned_state[n].numpy().reshape(-1)
        gaps, pos = relative_indices(masks[n].reshape(-1), index_bits)
        positions[n] = pos
        data[n] = np.ascontiguousarray(flat[pos], dtype=np.float32)
        index_blobs[n], index_coder[n] = best_fit_lossless(gaps.astype(idx_dtype).tobytes())
    # the reference for the accuracy budget: the pruned (and fine-tuned) model, biases included
    pruned_model = rebuild_model(model, {**state, **pruned_state})

    def dense_from(n: str, values: np.ndarray) -> torch.Tensor:
        out = np.zeros(state[n].numel(), dtype=np.float32)
        out[positions[n]] = values
        return torch.from_numpy(out).reshape(state[n].shape)

    # 2. + 3. assessment and optimisation
    assessment: list[dict[str, Any]] = []
    base_acc = final_acc = None
    t_assess = time.perf_counter()
    sz_cache: dict[tuple[str, float], bytes] = {}

    def coded(n: str, eb: float) -> bytes:
        if (n, eb) not in sz_cache:
            sz_cache[(n, eb)] = comp(data[n], eb)
        return sz_cache[(n, eb)]

    if eval_fn is not None:
        base_acc = float(eval_fn(pruned_model))
    if fixed is None:
        assert eval_fn is not None and base_acc is not None
        work = rebuild_model(pruned_model, {})
        wparams = dict(work.named_parameters())
        options: dict[str, list[tuple[float, int, float]]] = {}
        for n in layers:
            options[n] = []
            for eb in ebs:
                blob = coded(n, eb)
                with torch.no_grad():
                    wparams[n].copy_(dense_from(n, decomp(blob)))
                acc = float(eval_fn(work))
                loss = base_acc - acc
                assessment.append(
                    {
                        "layer": n.removesuffix(".weight"),
                        "error_bound": eb,
                        "data_bytes": len(blob),
                        "accuracy": acc,
                        "loss": loss,
                    }
                )
                options[n].append((eb, len(blob), loss))
                if loss > accuracy_loss_budget:
                    break  # dynamic testing range: larger bounds only lose more
            with torch.no_grad():
                wparams[n].copy_(pruned_state[n])
        chosen = optimize_error_bounds(options, accuracy_loss_budget, resolution=resolution)
    else:
        chosen = dict(fixed)
        options = {}
    assess_s = time.perf_counter() - t_assess

    # 4. encode with the chosen bounds (repairing a non-additive overshoot)
    n_repairs = 0
    while True:
        blobs = {n: coded(n, chosen[n]) for n in layers}
        if eval_fn is None or fixed is not None:
            break
        trial = rebuild_model(pruned_model, {n: dense_from(n, decomp(blobs[n])) for n in layers})
        final_acc = float(eval_fn(trial))
        if base_acc - final_acc <= accuracy_loss_budget:
            break
        steppable = [n for n in layers if ebs.index(chosen[n]) > 0]
        if not steppable:
            break
        worst = max(steppable, key=lambda n: next(o[2] for o in options[n] if o[0] == chosen[n]))
        chosen[worst] = ebs[ebs.index(chosen[worst]) - 1]
        n_repairs += 1
    others = {n: t for n, t in state.items() if n not in layers}
    raw = raw_state_bytes(others)
    encode_s = time.perf_counter() - t_start - fine_tune_s

    # decode from bytes
    t0 = time.perf_counter()
    decoded: dict[str, torch.Tensor] = {}
    for n in layers:
        gaps = np.frombuffer(best_fit_lossless_decode(index_blobs[n]), dtype=idx_dtype)
        pos = positions_from_gaps(gaps)
        out = np.zeros(state[n].numel(), dtype=np.float32)
        out[pos] = decomp(blobs[n])
        decoded[n] = torch.from_numpy(out).reshape(state[n].shape)
    decoded.update(state_from_raw(raw, others))
    decode_s = time.perf_counter() - t0
    out_model = rebuild_model(model, decoded)
    if eval_fn is not None:  # measured on the model handed back, whatever the loop saw
        final_acc = float(eval_fn(out_model))

    rows: list[dict[str, Any]] = []
    for n in layers:
        ref = pruned_state[n].numpy().reshape(-1)
        dec = decoded[n].numpy().reshape(-1)
        nw = ref.size
        size = len(blobs[n]) + len(index_blobs[n]) + _LEN.size
        single = [
            a["loss"]
            for a in assessment
            if a["layer"] == n.removesuffix(".weight") and a["error_bound"] == chosen[n]
        ]
        rows.append(
            {
                "layer": n.removesuffix(".weight"),
                "n_weights": nw,
                "weights_pct": 100.0 * masks[n].sum() / nw,
                "n_entries": int(positions[n].size),
                "error_bound": chosen[n],
                "data_bytes": len(blobs[n]),
                "index_bytes": len(index_blobs[n]),
                "index_coder": index_coder[n],
                "size_bytes": size,
                "dense_bytes": 4 * nw,
                "ratio": 4 * nw / size,
                "max_abs_error": float(np.abs(dec.astype(np.float64) - ref).max()) if nw else 0.0,
                "assessed_loss": single[0] if single else float("nan"),
            }
        )
    tot_n = sum(r["n_weights"] for r in rows)
    tot_size = sum(r["size_bytes"] for r in rows)
    rows.append(
        {
            "layer": "Total",
            "n_weights": tot_n,
            "weights_pct": 100.0 * sum(int(masks[n].sum()) for n in layers) / tot_n,
            "n_entries": sum(r["n_entries"] for r in rows),
            "error_bound": float("nan"),
            "data_bytes": sum(r["data_bytes"] for r in rows),
            "index_bytes": sum(r["index_bytes"] for r in rows),
            "index_coder": "",
            "size_bytes": tot_size,
            "dense_bytes": 4 * tot_n,
            "ratio": 4 * tot_n / tot_size,
            "max_abs_error": max(r["max_abs_error"] for r in rows),
            "assessed_loss": float("nan"),
        }
    )
    orig_state = state_tensors(model)
    return BaselineResult(
        method="deepsz",
        size_bytes=tot_size + len(raw),
        dense_bytes=dense_bytes(orig_state),
        n_weights=n_elements(orig_state),
        encode_s=encode_s,
        decode_s=decode_s,
        lossless=False,
        model=out_model,
        layers=tuple(rows),
        params={
            "error_bounds": {n.removesuffix(".weight"): chosen[n] for n in layers},
            "prune_amount": amounts,
            "accuracy_pruned": base_acc,
            "accuracy_final": final_acc,
            "accuracy_loss_budget": accuracy_loss_budget,
            "assessment": assessment,
            "assess_s": assess_s,
            "n_repairs": n_repairs,
            "retrained": bool(fine_tune is not None or retrain),
            "dataset": ds,
            "epochs": epochs if retrain and fine_tune is None else 0,
            "accuracy_before_retrain": accuracy_before_retrain,
            "fine_tune_s": fine_tune_s,
            "sz_backend": sz_backend,
            "other_bytes": len(raw),
        },
    )
