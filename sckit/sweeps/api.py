"""What-if sweeps: measure size, latency and accuracy over a grid of configurations.

``sweep(model, grid, example_input=...)`` expands ``grid`` (grammar in :mod:`sckit.sweeps.grid`),
runs every configuration in-process or on an executor, and returns one row per configuration.
Feed the result to :func:`sckit.pareto_front` / :func:`sckit.plot_pareto`.

Scale-out. A ``fork``ed worker that runs torch with more than one thread after the parent used
torch's thread pool hangs (../shared/ENVIRONMENT.md; reproduced here with ``threads=2``), so use
``spawn``/``forkserver`` pools; ``sweep`` refuses a fork pool with ``threads > 1``. Timing uses
one torch thread unless ``threads`` says otherwise. The model, input and ``evaluate`` travel
as one cloudpickle blob (notebook-defined classes and functions work)::

    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        df = sckit.sweep(model, grid, example_input=x, executor=ex)

    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1) as lc, Client(lc) as client:
        df = sckit.sweep(model, grid, example_input=x, executor=client)
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sckit.sweeps.grid import CONFIG_COLUMNS, config_key, expand_grid
from sckit.sweeps.worker import configured_model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from torch import nn

__all__ = ["sweep", "configured_model", "MEASURE_COLUMNS", "TIMING_COLUMNS"]

#: measurement columns of a sweep row, in order
MEASURE_COLUMNS = (
    "size_bytes",
    "compression_ratio",
    "resident_bytes",
    "latency_ms",
    "latency_q1_ms",
    "latency_q3_ms",
    "latency_min_ms",
    "speedup",
    "batch_size",
    "threads",
    "accuracy",
    "roundtrip_ok",
    "weights_hash",
    "run_s",
    "cached",
    "error",
    "config_hash",
)
#: columns that depend on the machine, the load and the run (everything else is deterministic)
TIMING_COLUMNS = ("latency_ms", "latency_q1_ms", "latency_q3_ms", "latency_min_ms", "speedup",
                  "threads", "run_s", "cached", "config_hash")


def _callable_name(fn: Callable[..., Any] | None) -> str | None:
    if fn is None:
        return None
    inner = getattr(fn, "func", fn)  # functools.partial
    name = f"{getattr(inner, '__module__', '?')}.{getattr(inner, '__qualname__', type(inner).__name__)}"
    if inner is not fn:
        name += f"(*{getattr(fn, 'args', ())!r}, **{getattr(fn, 'keywords', {})!r})"
    return name


def _input_digest(x: Any) -> str:
    """Digest of the example input (shapes, dtypes and values), for the cache key."""
    import hashlib

    import torch

    h = hashlib.blake2b(digest_size=12)

    def walk(obj: Any) -> None:
        if isinstance(obj, torch.Tensor):
            t = obj.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(obj, Mapping):
            for k in sorted(obj):
                h.update(f"K{k}".encode())
                walk(obj[k])
        elif isinstance(obj, tuple | list):
            h.update(f"L{len(obj)}".encode())
            for item in obj:
                walk(item)
        else:
            h.update(repr(obj).encode())

    walk(x)
    return h.hexdigest()


def _is_dask(executor: Any) -> bool:
    return type(executor).__module__.split(".")[0] == "distributed"


def _is_fork_pool(executor: Any) -> bool:
    if not isinstance(executor, cf.ProcessPoolExecutor):
        return False
    ctx = getattr(executor, "_mp_context", None)  # private, but the only way to ask a pool
    return ctx is not None and ctx.get_start_method() == "fork"


def _baseline_names() -> tuple[str, ...] | None:
    try:
        from sckit import baselines
    except ImportError:
        return None
    # the names sckit.compare knows; "dense" is every sweep's reference row already
    return tuple(str(n) for n in getattr(baselines, "METHODS", ()) if n != "dense")


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def sweep(
    model: nn.Module,
    grid: Mapping[str, Any],
    *,
    example_input: Any,
    evaluate: Callable[[nn.Module], float] | None = None,
    executor: Any = None,
    cache: str | Path | None = None,
    repeats: int = 5,
    warmup: int = 1,
    threads: int | None = None,
    progress: bool = True,
    seed: int = 0,
    on_error: str = "raise",
) -> pd.DataFrame:
    """Measure every configuration of ``grid`` on ``model``; one row per configuration.

    Args:
        model: the dense source model (never modified).
        grid: dict of axes ``ras``, ``prune``, ``quantize``, ``mode``, ``baselines``
            (see :mod:`sckit.sweeps.grid`); invalid grids raise ``ValueError`` naming the bad key
            or option. The first row is always the dense reference. ``mode``: ``"exact"``
            (default) and/or ``"fast"``, passed to :func:`sckit.compress`; fast mode is
            calibrated on ``example_input`` and ``latency_ms`` times that mode.
        example_input: the batch latency is timed on (a tensor, tuple of args or dict of kwargs).
        evaluate: ``evaluate(model) -> float`` (e.g. :func:`sckit.data.evaluate`), called on the
            model each configuration produces (the ``SuccinctModel`` itself). With an executor it
            must be picklable (cloudpickle: notebook functions work).
        executor: None (in-process, in order), any ``concurrent.futures.Executor`` (use a
            ``spawn``/``forkserver`` context for process pools), or a ``dask.distributed.Client``.
        cache: path of a JSON-lines file; finished rows are appended one by one, so an
            interrupted sweep resumes and a repeated one is free. Keyed by the configuration,
            the model's weights, the example input, ``repeats``/``warmup``/``threads``/``seed``,
            the evaluate function's name and the sckit version.
        repeats, warmup: ``latency_ms`` is the median of ``repeats`` forwards after ``warmup``
            (:func:`sckit.timing.time_forward`, the timing the WhatIfPanel and the report use
            too); ``latency_q1_ms``/``latency_q3_ms`` are its quartiles and ``latency_min_ms`` the
            best run (the steadiest figure on a shared machine).
        threads: torch intra-op threads while measuring (in-process the previous setting is
            restored afterwards). None means 1: batch-1 latency of small models gains little from
            more threads and on a busy machine loses a lot, and timings stay comparable between
            in-process and executor runs. Recorded in the ``threads`` column.
        progress: show a tqdm.auto bar with ETA (a widget in notebooks, text in terminals).
        seed: every configuration starts from this seed (Python, numpy, torch), so results do
            not depend on the order or the worker.
        on_error: "raise" (default; finished rows stay cached) or "record" (the row gets the
            message in ``error`` and NaN measurements, and is not cached).

    Returns:
        DataFrame with the configuration columns (``kind``, ``label``, ``prune_method``,
        ``prune_amount``, ``quantize_method``, ``quantize_bits``, ``ras``, ``fpr_threshold``,
        ``mode`` (None for the dense and baseline rows), ``baseline``) and the measurements:
        ``size_bytes`` (compressed; equal for both modes of a configuration),
        ``compression_ratio`` (original dense bytes / size), ``resident_bytes`` (what the model
        holds in memory while it runs: ``size_bytes`` plus fast mode's shrunk weights and CSR
        arrays; the plain size for dense and decoded baseline models), ``latency_ms``
        with its quartiles ``latency_q1_ms``/``latency_q3_ms`` and best run ``latency_min_ms``,
        ``speedup`` (dense reference latency / latency, same sweep), ``batch_size``,
        ``threads``, ``accuracy`` (NaN without ``evaluate``), ``roundtrip_ok`` (weights given
        to the compressor hash-equal the decoded ones),
        ``weights_hash`` (of the weights measured), ``run_s``, ``cached``, ``error``,
        ``config_hash``.
    """
    import torch
    from torch import nn

    from sckit import __version__
    from sckit.sweeps.cache import SweepCache
    from sckit.sweeps.worker import (
        dump_payload,
        run_config,
        run_config_remote,
        state_bytes,
        weights_hash,
    )

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_int("repeats", repeats, 1)
    _check_int("warmup", warmup, 0)
    _check_int("seed", seed, 0)
    if threads is not None:
        _check_int("threads", threads, 1)
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    if executor is not None and not hasattr(executor, "submit"):
        raise TypeError(f"executor must have .submit (concurrent.futures.Executor or dask Client), got {type(executor).__name__}")
    if evaluate is not None and not callable(evaluate):
        raise TypeError(f"evaluate must be callable, got {type(evaluate).__name__}")

    # one thread unless asked: in-process and worker timings stay comparable, and on a shared CPU
    # a 2-thread forward of LeNet-5 measured 120 ms against 0.4 ms with 1 thread (load ~10, 2 cores)
    run_threads = threads if threads is not None else 1
    if run_threads > 1 and _is_fork_pool(executor):
        # measured (../shared/ENVIRONMENT.md, and again here): a forked worker that runs torch with
        # more than one intra-op thread after the parent used its thread pool hangs forever
        raise ValueError(
            f"threads={run_threads} with a fork-based ProcessPoolExecutor hangs once torch has run "
            "in this process; use mp_context=multiprocessing.get_context('spawn') (or "
            "'forkserver'), or threads=1"
        )
    wants_baselines = isinstance(grid, Mapping) and bool(grid.get("baselines"))
    configs = expand_grid(grid, baseline_names=_baseline_names() if wants_baselines else None)
    settings = {
        "repeats": repeats,
        "warmup": warmup,
        "seed": seed,
        "threads": run_threads,
        "dense_bytes": state_bytes(model),
    }
    context = {
        "model": weights_hash(model),
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "input": _input_digest(example_input),
        "evaluate": _callable_name(evaluate),
        "sckit": __version__,
        **{k: settings[k] for k in ("repeats", "warmup", "seed", "threads")},
    }
    keys = [config_key(cfg, context) for cfg in configs]
    store = SweepCache(cache) if cache is not None else None
    done: dict[int, dict[str, Any]] = {}
    cached_idx: set[int] = set()
    if store is not None:
        old = store.load()
        for i, k in enumerate(keys):
            if isinstance(old.get(k, {}).get("measured"), dict):
                done[i] = _upgrade_cached(configs[i], old[k]["measured"])
                cached_idx.add(i)
    todo = [i for i in range(len(configs)) if i not in done]
    errors: dict[int, str] = {}

    from tqdm.auto import tqdm

    bar = tqdm(total=len(configs), initial=len(done), desc="sweep", unit="cfg", disable=not progress)

    def finish(i: int, measured: dict[str, Any]) -> None:
        done[i] = measured
        if store is not None:
            store.append(keys[i], {"config": dict(configs[i]), "measured": measured})
        bar.set_postfix_str(configs[i]["label"][:40], refresh=False)
        bar.update(1)

    def failed(i: int, exc: BaseException) -> None:
        if on_error == "raise":
            if hasattr(exc, "add_note"):  # Python 3.11+
                exc.add_note(f"sckit.sweep: configuration {configs[i]['label']!r} failed")
            raise exc
        errors[i] = f"{type(exc).__name__}: {exc}"
        bar.update(1)

    try:
        if executor is None:
            old_threads = torch.get_num_threads()
            torch.set_num_threads(run_threads)
            try:
                for i in todo:
                    try:
                        measured = run_config(
                            model, configs[i], example_input=example_input, evaluate=evaluate,
                            repeats=repeats, warmup=warmup, seed=seed, dense_bytes=settings["dense_bytes"],
                        )
                    except Exception as exc:  # noqa: BLE001 - on_error decides
                        failed(i, exc)
                        continue
                    finish(i, measured)
            finally:
                torch.set_num_threads(old_threads)
        elif todo:
            payload = dump_payload(model, example_input, evaluate)
            _run_on_executor(executor, payload, configs, todo, settings, finish, failed, run_config_remote)
    finally:
        bar.close()
    return _frame(configs, keys, done, cached_idx, errors)


def _upgrade_cached(cfg: Mapping[str, Any], measured: dict[str, Any]) -> dict[str, Any]:
    """A cached row written before ``resident_bytes`` existed: for the dense reference and exact
    succinct rows it equals ``size_bytes`` (nothing is held besides); others stay missing."""
    if "resident_bytes" not in measured and cfg["kind"] in ("dense", "succinct") \
            and cfg.get("mode") in (None, "exact"):
        return {**measured, "resident_bytes": measured.get("size_bytes")}
    return measured


def _run_on_executor(
    executor: Any,
    payload: bytes,
    configs: list[dict[str, Any]],
    todo: list[int],
    settings: dict[str, Any],
    finish: Callable[[int, dict[str, Any]], None],
    failed: Callable[[int, BaseException], None],
    worker: Callable[..., dict[str, Any]],
) -> None:
    """Submit every remaining configuration; record each as it completes (any order)."""
    completed: Any
    if _is_dask(executor):
        from distributed import as_completed

        # one copy of the model per worker instead of one per task
        shared = executor.scatter(payload, broadcast=True)
        futures = {executor.submit(worker, shared, configs[i], settings, pure=False): i for i in todo}
        completed = as_completed(list(futures))
    else:
        futures = {executor.submit(worker, payload, configs[i], settings): i for i in todo}
        completed = cf.as_completed(futures)
    try:
        for fut in completed:
            i = futures[fut]
            try:
                measured = fut.result()
            except Exception as exc:  # noqa: BLE001 - on_error decides
                failed(i, exc)
                continue
            finish(i, measured)
    except BaseException:
        for fut in futures:  # stop what has not started; finished rows are already cached
            fut.cancel()
        raise


def _frame(
    configs: list[dict[str, Any]],
    keys: list[str],
    done: dict[int, dict[str, Any]],
    cached_idx: set[int],
    errors: dict[int, str],
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    rows = []
    for i, cfg in enumerate(configs):
        row = {c: cfg.get(c) for c in CONFIG_COLUMNS}
        m = done.get(i, {})
        row.update({c: m.get(c) for c in MEASURE_COLUMNS})
        row["cached"] = i in cached_idx
        row["error"] = errors.get(i)
        row["config_hash"] = keys[i]
        rows.append(row)
    df = pd.DataFrame(rows, columns=[*CONFIG_COLUMNS, *MEASURE_COLUMNS])
    for c in ("prune_amount", "fpr_threshold", "compression_ratio", "latency_ms", "latency_q1_ms",
              "latency_q3_ms", "latency_min_ms", "accuracy", "run_s"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    for c in ("quantize_bits", "size_bytes", "resident_bytes", "batch_size", "threads"):
        df[c] = pd.array([None if v is None or v != v else int(v) for v in df[c]], dtype="Int64")
    df["roundtrip_ok"] = pd.array(list(df["roundtrip_ok"]), dtype="boolean")
    dense = df.loc[df["kind"] == "dense", "latency_ms"]
    ref = float(dense.iloc[0]) if len(dense) else np.nan
    df["speedup"] = ref / df["latency_ms"]
    return df
