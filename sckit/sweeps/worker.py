"""Measuring one sweep configuration: transform, compress, hash, time, evaluate.

Everything here runs in the sweeping process or in a worker process (concurrent.futures or Dask).
``run_config_remote`` is the worker entry point: a top-level function taking picklable arguments
(the model, input and evaluate callable travel as one cloudpickle blob, so classes and functions
defined in a notebook reach ``spawn`` workers too - ../shared/ENVIRONMENT.md).
"""

from __future__ import annotations

import copy
import hashlib
import math
import pickle
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from sckit.timing import Timing

__all__ = [
    "weights_hash",
    "state_bytes",
    "opaque_state_bytes",
    "measure_latency",
    "run_config",
    "run_config_remote",
    "score_value",
    "dump_payload",
]


def weights_hash(model: nn.Module) -> str:
    """BLAKE2b of the model's state_dict: names, dtypes, shapes and raw bytes (bit-exact).

    Quantized tensors hash their integer representation plus scale/zero-point; non-tensor state
    (packed parameters of ``torch.ao`` int8 modules are tuples) is walked recursively.
    """
    h = hashlib.blake2b(digest_size=16)
    for name, value in sorted(model.state_dict().items()):
        h.update(f"{name}=".encode())
        _hash_value(h, value)
    return h.hexdigest()


def _hash_value(h: Any, value: Any) -> None:
    import torch

    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        h.update(f"T{t.dtype}{tuple(t.shape)}|".encode())
        if t.is_quantized:
            if t.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
                h.update(f"q{t.q_scale()!r},{t.q_zero_point()}|".encode())
            else:
                _hash_value(h, t.q_per_channel_scales())
                _hash_value(h, t.q_per_channel_zero_points())
                h.update(f"axis{t.q_per_channel_axis()}|".encode())
            t = t.int_repr()
        # raw bytes through a uint8 view: exact for every dtype, NaN payloads and -0.0 included
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, tuple | list):
        h.update(f"L{len(value)}[".encode())
        for item in value:
            _hash_value(h, item)
        h.update(b"]")
    elif isinstance(value, Mapping):
        for k in sorted(value, key=str):
            h.update(f"K{k}:".encode())
            _hash_value(h, value[k])
    else:
        h.update(f"O{type(value).__name__}:{value!r}|".encode())


def state_bytes(model: nn.Module) -> int:
    """Bytes of the model's state stored plainly (parameters and buffers, tied tensors once).

    Non-tensor state entries (int8 packed parameters) count the tensors inside them.
    """
    import torch

    seen: set[tuple[int, int, tuple[int, ...], str]] = set()
    total = 0

    def add(t: Any) -> None:
        nonlocal total
        if isinstance(t, tuple | list):
            for item in t:
                add(item)
            return
        if not isinstance(t, torch.Tensor):
            return
        if t.is_quantized:
            t = t.int_repr()
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), str(t.dtype))
        if t.numel() and key in seen:
            return
        seen.add(key)
        total += t.numel() * t.element_size()

    for value in model.state_dict().values():
        add(value)
    return total


def opaque_state_bytes(model: nn.Module) -> int:
    """Bytes of state_dict entries that are neither parameters nor buffers of ``model``.

    ``torch.ao`` int8 modules keep their weights in packed objects and only write them into
    the state dict (qint8 tensors, tuples): the engine never sees them, so they stay resident.
    """
    known = {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()}
    return sum(_tensor_bytes(v) for k, v in model.state_dict().items() if k not in known)


def _tensor_bytes(value: Any) -> int:
    import torch

    if isinstance(value, torch.Tensor):
        return int(value.numel() * value.element_size())
    if isinstance(value, tuple | list):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def batch_size_of(x: Any) -> int | None:
    """Leading dimension of the first tensor in ``example_input`` (None if there is none)."""
    import torch

    if isinstance(x, torch.Tensor):
        return int(x.shape[0]) if x.ndim else 1
    items = x.values() if isinstance(x, Mapping) else x if isinstance(x, tuple | list) else []
    for item in items:
        b = batch_size_of(item)
        if b is not None:
            return b
    return None


def measure_latency(model: nn.Module, example_input: Any, *, repeats: int, warmup: int) -> Timing:
    """Latency of one forward on ``example_input`` (:func:`sckit.timing.time_forward`, the
    timing every sckit figure uses) with the torch thread count the caller set (recorded)."""
    from sckit.timing import time_forward

    return time_forward({"model": model}, example_input, repeats=repeats, warmup=warmup,
                        threads=None)["model"]


def seed_all(seed: int) -> None:
    """Seed Python, numpy and torch so every configuration starts from the same RNG state."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global state older code draws from
    torch.manual_seed(seed)


def score_value(value: Any, what: str = "evaluate(model)") -> float:
    """``value`` as a float when it is a finite real number (a 0-d/1-element tensor or array
    counts); otherwise a ``TypeError``/``ValueError`` naming ``what`` and the value. A string
    ("0.9"), a bool, NaN or an infinity is a broken evaluate function, never a score."""
    import numbers

    if not isinstance(value, numbers.Real) and hasattr(value, "item"):  # torch / numpy scalars
        numel = value.numel() if callable(getattr(value, "numel", None)) else getattr(value, "size", 0)
        if numel == 1:
            value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must return a number, got {type(value).__name__} {value!r:.60}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{what} must return a finite number, got {v!r}")
    return v


def _accuracy(evaluate: Callable[[Any], Any] | None, model: nn.Module) -> float | None:
    return None if evaluate is None else score_value(evaluate(model))


def configured_model(model: nn.Module, cfg: Mapping[str, Any]) -> nn.Module:
    """The model a sweep configuration measures: ``model`` pruned then quantized as ``cfg`` (a
    grid configuration or a row of the sweep's frame) says; each transform returns a new model.
    A missing method (None, or NaN in a frame row) means that step is skipped."""
    prune_method, quant_method = cfg.get("prune_method"), cfg.get("quantize_method")
    if isinstance(prune_method, str) and prune_method:
        from sckit.transforms import prune

        model = prune(model, float(cfg["prune_amount"]), method=prune_method)
    if isinstance(quant_method, str) and quant_method:
        from sckit.transforms import quantize

        model = quantize(model, int(cfg["quantize_bits"]), method=quant_method)
    return model


def _run_baseline(
    model: nn.Module, cfg: Mapping[str, Any], example_input: Any, evaluate: Callable[[Any], Any] | None
) -> tuple[nn.Module, Any]:
    """Run a :mod:`sckit.baselines` method by its ``compare`` name; returns (model it coded, result).

    The dispatch is ``sckit.baselines.compare``'s, so names and options mean the same in
    ``sckit.compare`` and in a sweep. "deep_compression+succinct" codes Deep Compression's pruned
    and quantized model losslessly, so its round trip is checked against that model.
    """

    from sckit.baselines import deep_compression, run_method, succinct

    name = cfg["baseline"]
    kwargs = dict(cfg.get("baseline_kwargs") or {})
    source = copy.deepcopy(model).eval()
    if name == "deep_compression+succinct":
        dc = deep_compression(source, **kwargs)
        return dc.model, succinct(dc.model, example_input=example_input)
    return source, run_method(name, source, eval=evaluate, example_input=example_input, **kwargs)


def run_config(
    model: nn.Module,
    cfg: Mapping[str, Any],
    *,
    example_input: Any,
    evaluate: Callable[[Any], Any] | None,
    repeats: int,
    warmup: int,
    seed: int,
    dense_bytes: int,
) -> dict[str, Any]:
    """Measure one configuration; returns the measurement columns of its sweep row.

    ``dense_bytes`` is the original model's plain size (the compression-ratio denominator). The
    input model is never modified. ``roundtrip_ok``: the weights handed to the compressor hash
    equal to the weights decoded back (``to_dense()``); for baselines, whether the decoded model
    equals the original (False for lossy baselines); None for the dense reference.
    ``cfg["mode"]`` ("exact" when absent) is passed to ``compress``: latency and accuracy are
    those of that mode. ``size_bytes`` is the compressed size (the same in both modes: the
    weights are); ``resident_bytes`` adds what the model keeps in memory besides while it runs
    (fast mode's shrunk weights and CSR arrays).
    """
    import torch

    t0 = time.perf_counter()
    seed_all(seed)
    kind = cfg["kind"]
    roundtrip: bool | None = None
    if kind == "dense":
        measured = copy.deepcopy(model).eval()
        w_hash = weights_hash(measured)
        size = resident = state_bytes(measured)
    elif kind == "succinct":
        from sckit.engine import compress

        transformed = configured_model(copy.deepcopy(model).eval(), cfg).eval()
        w_hash = weights_hash(transformed)
        kw = {} if cfg.get("fpr_threshold") is None else {"fpr_threshold": cfg["fpr_threshold"]}
        # "fast": calibrated on example_input, the input latency is timed on below
        mode = cfg.get("mode") or "exact"
        measured = compress(transformed, example_input, ras=cfg["ras"], mode=mode, **kw)
        # state the engine cannot see (torch.ao int8 packed parameters are tuples in the state
        # dict, not parameters or buffers) stays resident as it is: count it, or int8 models
        # would look ~70,000x smaller than they are
        opaque = opaque_state_bytes(transformed)
        size = int(measured.nbytes) + opaque
        # fast mode's kernels keep shrunk weights / CSR arrays beside the RAS
        resident = int(getattr(measured, "resident_nbytes", measured.nbytes)) + opaque
        roundtrip = weights_hash(measured.to_dense()) == w_hash
    elif kind == "baseline":
        given, result = _run_baseline(model, cfg, example_input, evaluate)
        measured = result.model.eval()
        decoded = measured.to_dense() if hasattr(measured, "to_dense") else measured
        w_hash = weights_hash(decoded)
        size = int(result.size_bytes)
        # what the measured model holds while it runs (a SuccinctModel's RAS, else plain tensors)
        resident = int(getattr(measured, "resident_nbytes", None) or state_bytes(measured))
        roundtrip = w_hash == weights_hash(given)
    else:
        raise ValueError(f"unknown configuration kind {kind!r}")
    latency = measure_latency(measured, example_input, repeats=repeats, warmup=warmup)
    accuracy = _accuracy(evaluate, measured)
    return {
        "size_bytes": size,
        "compression_ratio": dense_bytes / size if size else float("inf"),
        "resident_bytes": resident,
        "latency_ms": latency.median,
        "latency_q1_ms": latency.q1,
        "latency_q3_ms": latency.q3,
        "latency_min_ms": latency.low,
        "batch_size": batch_size_of(example_input),
        "threads": latency.threads if latency.threads is not None else torch.get_num_threads(),
        "accuracy": accuracy,
        "roundtrip_ok": roundtrip,
        "weights_hash": w_hash,
        "run_s": time.perf_counter() - t0,
    }


# ---------------------------------------------------------------------------------------------
# worker side
# ---------------------------------------------------------------------------------------------
def dump_payload(model: nn.Module, example_input: Any, evaluate: Callable[[Any], Any] | None) -> bytes:
    """Serialise what every worker needs. cloudpickle (a Dask dependency) pickles classes and
    functions defined in ``__main__``/a notebook by value, which plain pickle cannot."""
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - plain pickle works for importable classes
        return pickle.dumps((model, example_input, evaluate), protocol=pickle.HIGHEST_PROTOCOL)
    return cloudpickle.dumps((model, example_input, evaluate), protocol=pickle.HIGHEST_PROTOCOL)


_LOADED: dict[str, tuple[Any, Any, Any]] = {}  # per-worker: payload digest -> objects (last one)


def run_config_remote(payload: bytes, cfg: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Worker entry point: unpickle the payload (once per worker), set threads, run the config.

    ``settings``: repeats, warmup, seed, dense_bytes and threads (torch intra-op threads in the
    worker; 1 unless the sweep said otherwise, so two workers on two cores do not oversubscribe).
    """
    import torch

    digest = hashlib.blake2b(payload, digest_size=16).hexdigest()
    if digest not in _LOADED:
        _LOADED.clear()
        _LOADED[digest] = pickle.loads(payload)
    model, example_input, evaluate = _LOADED[digest]
    torch.set_num_threads(int(settings.get("threads") or 1))
    return run_config(
        model,
        cfg,
        example_input=example_input,
        evaluate=evaluate,
        repeats=settings["repeats"],
        warmup=settings["warmup"],
        seed=settings["seed"],
        dense_bytes=settings["dense_bytes"],
    )
