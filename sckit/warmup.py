"""numba's first-run compile: a visible progress bar, and ``sckit warmup`` to do it ahead of time.

Every kernel is ``@njit(cache=True)``: numba compiles it on its first call with new argument
types and keeps the machine code in its on-disk cache, so later processes only load it (LeNet-5's
first compress: about 14 CPU seconds of compiling with an empty cache, 1 s loading from a full
one, on a 2-core EPYC). A new install starts with that cache empty and cannot fill it at install
time: pip's build isolation builds the wheel without numba, a wheel runs no install hook, and
numba keys its cache by the host CPU and the installed sources' timestamps.

So the first call compiles, and says so: :func:`compile_progress` listens to numba's compile
events and shows a tqdm bar (kernels compiled, the one in progress, time) from the first compile
of an sckit kernel on; a run with a full cache compiles nothing and shows nothing.
``sckit.compress`` runs under it (:func:`shows_compile_progress`); ``SCKIT_COMPILE_PROGRESS=0``
turns the bar off. :func:`warmup` (``sckit warmup``) compiles the common paths ahead of time,
e.g. in a Docker image build or a CI step, by running the real workloads on small inputs.
"""

from __future__ import annotations

import argparse
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["WarmupReport", "add_parser", "compile_progress", "shows_compile_progress", "warmup"]

F = TypeVar("F", bound=Callable[..., Any])

_active = threading.local()
_REFRESH_S = 0.5  # the bar's clock keeps moving during one long compile


@dataclass
class CompileLog:
    """What one :func:`compile_progress` block saw: sckit kernels (signatures) numba compiled."""

    kernels: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _enabled() -> bool:
    return os.environ.get("SCKIT_COMPILE_PROGRESS", "1").strip().lower() not in (
        "0", "false", "no", "off")


@contextmanager
def compile_progress(desc: str = "sckit: compiling kernels (first run only)", *,
                     progress: bool | None = None) -> Iterator[CompileLog]:
    """Show a tqdm bar while numba compiles sckit kernels inside this block.

    The bar opens on the first compile (a block that only loads cached kernels prints nothing),
    counts the sckit kernels compiled (numba's own helpers compiled on the way are not counted)
    and names the one in progress. Nested blocks report to the outer one. Yields a
    :class:`CompileLog`.
    """
    from numba.core import event

    if getattr(_active, "log", None) is not None:  # nested: the outer block reports
        yield _active.log
        return
    show = _enabled() if progress is None else progress
    log = CompileLog()
    state: dict[str, Any] = {"bar": None}
    lock = threading.Lock()
    stop = threading.Event()

    def open_bar() -> Any:
        if state["bar"] is None and show:
            from tqdm.auto import tqdm

            state["bar"] = tqdm(desc=desc, unit=" kernels", total=None, leave=True)
            threading.Thread(target=ticker, daemon=True, name="sckit-compile-bar").start()
        return state["bar"]

    def ticker() -> None:
        while not stop.wait(_REFRESH_S):
            with lock:
                if state["bar"] is not None:
                    state["bar"].refresh()

    class Listener(event.Listener):
        def on_start(self, ev: Any) -> None:
            fn = ev.data["dispatcher"].py_func
            if not fn.__module__.startswith("sckit."):
                return
            with lock:
                bar = open_bar()
                if bar is not None:
                    bar.set_postfix_str(f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__qualname__}")

        def on_end(self, ev: Any) -> None:
            fn = ev.data["dispatcher"].py_func
            if not fn.__module__.startswith("sckit."):
                return
            args = ", ".join(str(a) for a in ev.data["args"])
            with lock:
                log.kernels.append(f"{fn.__module__}.{fn.__qualname__}({args})")
                if state["bar"] is not None:
                    state["bar"].update(1)

    listener = Listener()
    t0 = time.perf_counter()
    _active.log = log
    try:
        with event.install_listener("numba:compile", listener):
            yield log
    finally:
        _active.log = None
        log.seconds = time.perf_counter() - t0
        stop.set()
        with lock:
            if state["bar"] is not None:
                state["bar"].set_postfix_str("done; cached for next time")
                state["bar"].close()


def shows_compile_progress(fn: F) -> F:
    """Run ``fn`` under :func:`compile_progress` (for the public calls a first run starts with)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with compile_progress():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ------------------------------------------------------------------ warmup
@dataclass
class WarmupReport:
    """What :func:`warmup` did: kernels compiled now (0 when the cache was already full)."""

    kernels: list[str]
    seconds: float
    steps: list[str]

    def __str__(self) -> str:
        return (f"{len(self.kernels)} kernel signatures compiled into numba's cache in "
                f"{self.seconds:.1f} s ({', '.join(self.steps)})")


def _ras_paths() -> None:
    """Row decode, random access and loading, which ``compress`` alone does not reach."""
    import numpy as np

    from sckit.ras import encode

    rng = np.random.default_rng(0)
    w = (rng.standard_normal((16, 3, 5, 5)) * 0.05).astype(np.float32).view(np.uint32)
    idx = np.stack([rng.integers(0, s, 64) for s in w.shape], axis=1)
    for kind in ("block", "element"):
        for layout in ("wm", "bytegroup"):
            r = encode(w, dtype="float32", kind=kind, layout=layout)
            r.decode_rows(1, 3)
            r.access_many(idx)
            r.access((1, 2, 3, 4))
            # loading: validation and table kernels, over read-only arrays as a file gives them
            type(r).from_bytes(r.to_bytes()).decode()


def warmup(models: Sequence[str] = ("lenet5", "resnet18"), *, progress: bool = True,
           access: bool = True) -> WarmupReport:
    """Compile the kernels of the common paths into numba's cache, under a progress bar.

    Runs what a first session runs, on the real code: ``sckit.compress`` (exact mode) and one
    forward of each zoo model in ``models`` at its default input, then (``access``) row decode
    and random access of float32 RAS in both layouts. Kernels already cached are only loaded.
    """
    steps: list[str] = []
    with compile_progress("sckit warmup: compiling kernels", progress=progress) as log:
        if models:
            import torch

            from sckit import zoo
            from sckit.engine import compress

            for name in models:
                model = zoo.create_model(name, seed=0).eval()
                x = zoo.default_input(name)
                sm = compress(model, x, mode="exact")
                with torch.inference_mode():
                    sm(x)
                steps.append(f"compress {name}")
        if access:
            _ras_paths()
            steps.append("RAS rows and access")
    return WarmupReport(list(log.kernels), log.seconds, steps)


# ------------------------------------------------------------------ command line
def _cli(args: argparse.Namespace) -> int:
    report = warmup(args.models, progress=not args.quiet, access=not args.no_access)
    print(report)
    return 0


def add_parser(sub: Any) -> None:
    """Register ``sckit warmup`` on the console script's subparsers."""
    p = sub.add_parser(
        "warmup", help="compile sckit's kernels into numba's cache ahead of first use",
        description="Compile sckit's numba kernels into numba's on-disk cache by compressing "
        "small zoo models (the first compress does this by itself, with a progress bar; run "
        "this ahead of time, e.g. when building an image).")
    p.add_argument("--models", nargs="*", default=["lenet5", "resnet18"],
                   help="zoo models to compress (default: lenet5 resnet18)")
    p.add_argument("--no-access", action="store_true",
                   help="skip the row-decode and random-access kernels")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli)
