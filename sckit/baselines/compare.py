"""Side-by-side comparison of Succinct Compression with the baselines on one model."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sckit.baselines.result import (
    BaselineResult,
    check_model,
    dense_bytes,
    n_elements,
    state_tensors,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from torch import nn

__all__ = ["DEFAULT_METHODS", "METHODS", "compare", "succinct"]

#: Every method name :func:`compare` knows.
METHODS: tuple[str, ...] = (
    "dense",
    "zstd-3",
    "zstd-19",
    "lzma",
    "zipnn",
    "zipnn-huffman",
    "deep_compression",
    "deepsz",
    "succinct",
    "deep_compression+succinct",
)
#: What :func:`compare` runs by default: all but ``zipnn-huffman`` (a variant of ``zipnn``).
DEFAULT_METHODS: tuple[str, ...] = tuple(m for m in METHODS if m != "zipnn-huffman")
COLUMNS = [
    "method",
    "size_bytes",
    "ratio",
    "bits_per_weight",
    "encode_s",
    "decode_s",
    "accuracy",
    "lossless",
    "note",
]


def _example_input(model: nn.Module, example_input: Any) -> Any:
    if example_input is not None:
        return example_input
    name = getattr(model, "_sckit_zoo", None)
    if isinstance(name, str):
        from sckit.zoo import default_input

        return default_input(name)
    return None


def succinct(model: nn.Module, *, example_input: Any = None) -> BaselineResult:
    """Succinct Compression of ``model`` as a :class:`BaselineResult` (lossless).

    With an example input (or a zoo model, whose default input is known) this is
    ``sckit.compress``: ``size_bytes = sm.nbytes``, ``encode_s`` the compression (including the
    engine's verification forward), ``decode_s`` a full ``sm.to_dense()``, and ``model`` the
    :class:`~sckit.engine.SuccinctModel` itself, so accuracy is measured on compressed inference.
    Without one, each tensor goes through ``sckit.tensor_io.encode_tensor`` (sizes are the RAS
    ``nbytes``; tensors whose RAS is not smaller stay dense) and ``model`` is the decoded copy.
    """
    import torch

    check_model(model)
    state = state_tensors(model)
    x = _example_input(model, example_input)
    if x is not None:
        from sckit.engine import compress

        t0 = time.perf_counter()
        sm = compress(model, x)
        encode_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        sm.to_dense()
        decode_s = time.perf_counter() - t0
        return BaselineResult(
            method="succinct",
            size_bytes=int(sm.nbytes),
            dense_bytes=dense_bytes(state),
            n_weights=n_elements(state),
            encode_s=encode_s,
            decode_s=decode_s,
            lossless=True,
            model=sm,
            params={"via": "sckit.compress"},
        )
    from sckit.baselines.result import rebuild_model
    from sckit.tensor_io import decode_tensor, encode_tensor

    t0 = time.perf_counter()
    encoded: dict[str, Any] = {}
    size = 0
    for name, t in state.items():
        plain = t.numel() * t.element_size()
        try:
            r = encode_tensor(t.detach().cpu()) if t.numel() else None
        except (ValueError, TypeError, NotImplementedError):
            r = None
        if r is not None and r.nbytes < plain:
            encoded[name] = r
            size += int(r.nbytes)
        else:
            size += plain
    encode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = {name: decode_tensor(r) for name, r in encoded.items()}
    decode_s = time.perf_counter() - t0
    with torch.no_grad():
        out = rebuild_model(model, decoded)
    return BaselineResult(
        method="succinct",
        size_bytes=size,
        dense_bytes=dense_bytes(state),
        n_weights=n_elements(state),
        encode_s=encode_s,
        decode_s=decode_s,
        lossless=True,
        model=out,
        params={"via": "sckit.tensor_io"},
    )


def _dense(model: nn.Module) -> BaselineResult:
    state = state_tensors(model)
    return BaselineResult(
        "dense", dense_bytes(state), dense_bytes(state), n_elements(state), 0.0, 0.0, True, model
    )


def _runner(
    name: str,
    eval_fn: Callable[[nn.Module], float] | None,
    example_input: Any,
    options: Mapping[str, Mapping[str, Any]],
) -> tuple[Callable[[nn.Module], BaselineResult], str]:
    from sckit.baselines import coders
    from sckit.baselines.deep_compression import deep_compression
    from sckit.baselines.deepsz import deepsz

    kw = dict(options.get(name, {}))
    if name == "dense":
        return _dense, ""
    if name.startswith("zstd-"):
        level = int(name.split("-", 1)[1])
        return (lambda m: coders.zstd(m, level=level, **kw)), ""
    if name == "lzma":
        return (lambda m: coders.lzma_coder(m, **kw)), ""
    if name == "zipnn":
        from sckit.baselines import zipnn_pkg

        if kw.get("package") is False or zipnn_pkg.version() is None:
            why = "requested" if kw.get("package") is False else "zipnn package not installed"
            note = f"zipnn-style (sckit) stand-in ({why})"
        else:
            note = f"{zipnn_pkg.label()} (PyPI package), threads={kw.get('threads', 1)}"
        return (lambda m: coders.zipnn(m, **kw)), note
    if name == "zipnn-huffman":
        kw["package"] = False
        return (lambda m: coders.zipnn(m, entropy="huffman", **kw)), (
            "zipnn-style (sckit) stand-in, Huffman per byte plane")
    if name == "deep_compression":
        return (lambda m: deep_compression(m, **kw)), ""
    if name == "deepsz":
        note = ""
        if "error_bound" not in kw:
            if eval_fn is None:
                kw["error_bound"] = 1e-3
                note = "no eval: fixed error bound 1e-3"
            else:
                kw.setdefault("eval_fn", eval_fn)
        return (lambda m: deepsz(m, **kw)), note
    if name == "succinct":
        kw.setdefault("example_input", example_input)
        return (lambda m: succinct(m, **kw)), ""
    raise ValueError(f"unknown method {name!r}; known: {list(METHODS)}")


def run_method(
    name: str,
    model: nn.Module,
    *,
    eval: Callable[[nn.Module], float] | None = None,  # noqa: A002 - same name as compare()
    example_input: Any = None,
    **options: Any,
) -> BaselineResult:
    """Run one method of :data:`METHODS` (except the composite ``"deep_compression+succinct"``)
    on ``model`` with keyword ``options`` for it; what :func:`compare` and ``sckit.sweep`` call."""
    run, _note = _runner(name, eval, example_input, {name: options})
    return run(model)


def compare(
    model: nn.Module,
    methods: Sequence[str | Callable[[nn.Module], BaselineResult]] | None = None,
    *,
    eval: Callable[[nn.Module], float] | None = None,  # noqa: A002 - the documented public name
    example_input: Any = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per method: size_bytes, ratio, bits_per_weight, encode_s, decode_s, accuracy, lossless.

    ``methods``: names from :data:`METHODS` (default :data:`DEFAULT_METHODS`) or callables
    ``model -> BaselineResult``. ``ratio`` is the model's plain state bytes (fp32) over the
    method's bytes; ``accuracy`` is ``eval(decoded model)`` when ``eval`` is given.
    ``options[name]`` passes keyword arguments to a method (e.g. ``{"deep_compression":
    {"prune_amount": 0.92}}``). ``"succinct"`` is Succinct Compression of the model itself;
    ``"deep_compression+succinct"`` is Succinct Compression of Deep Compression's pruned +
    quantized model (lossless with respect to it, so its accuracy must equal Deep Compression's).
    A method that cannot run here (a missing optional module) gets a row with a ``note`` and
    NaN figures, never a silent gap. ``progress`` shows a tqdm bar over the methods (a widget
    in notebooks): on ImageNet-size models DeepSZ's error-bound search alone takes minutes.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    check_model(model)
    if eval is not None and not callable(eval):
        raise TypeError("eval must be a callable model -> accuracy or None")
    options = dict(options or {})
    unknown_opts = [k for k in options if k not in METHODS]
    if unknown_opts:
        raise ValueError(f"options for unknown method(s) {unknown_opts}; known: {list(METHODS)}")
    names = list(DEFAULT_METHODS if methods is None else methods)
    for m in names:
        if isinstance(m, str) and m not in METHODS:
            raise ValueError(f"unknown method {m!r}; known: {list(METHODS)}")
        if not isinstance(m, str) and not callable(m):
            raise TypeError(f"methods must hold names or callables, got {type(m).__name__}")
    base_state = state_tensors(model)
    base_bytes = dense_bytes(base_state)
    results: dict[str, BaselineResult] = {}
    rows = []
    bar = tqdm(names, desc="compare", unit="method", disable=not progress)
    for m in bar:
        label = m if isinstance(m, str) else getattr(m, "__name__", "custom")
        bar.set_postfix_str(label)
        note = ""
        try:
            if m == "deep_compression+succinct":
                dc = results.get("deep_compression")
                if dc is None:
                    run, _ = _runner("deep_compression", eval, example_input, options)
                    dc = run(model)
                sub = succinct(dc.model, example_input=_example_input(model, example_input))
                res = BaselineResult(
                    label,
                    sub.size_bytes,
                    base_bytes,
                    sub.n_weights,
                    dc.encode_s + sub.encode_s,
                    sub.decode_s,
                    False,
                    sub.model,
                    params={"via": sub.params.get("via")},
                )
                note = "P+Q as deep_compression, then Succinct (lossless w.r.t. P+Q)"
            elif isinstance(m, str):
                run, note = _runner(m, eval, example_input, options)
                res = run(model)
            else:
                res = m(model)
                if not isinstance(res, BaselineResult):
                    raise TypeError(
                        f"method {label} returned {type(res).__name__}, not BaselineResult"
                    )
        except ImportError as exc:
            rows.append({"method": label, "note": f"unavailable: {exc}"})
            continue
        results[label] = res
        row = res.summary()
        row["method"] = label
        row["ratio"] = base_bytes / res.size_bytes if res.size_bytes else float("inf")
        row["accuracy"] = float(eval(res.model)) if eval is not None else float("nan")
        via = res.params.get("via") if isinstance(res.params, Mapping) else None
        row["note"] = "; ".join(x for x in (note, f"via {via}" if via else "") if x)
        rows.append(row)
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df:
            df[c] = float("nan")
    return df[COLUMNS]
