"""Thread pools over numba kernels that release the GIL: many tensors encoded or decoded at once.

The RAS build and decode kernels are compiled with ``nogil=True`` (:mod:`sckit.ras.grammar`,
:mod:`sckit.succinct._hwm_kernels`), so plain threads run them on all cores without copying the
tensors to other processes. Results never depend on the thread count: each tensor is encoded or
decoded by exactly one thread, with the same code as the serial path, and results are handed
back in input order.

:func:`imap_bounded` is the streaming primitive: it keeps at most a given *cost* (an estimate of
each job's peak working memory) in flight, so packing a checkpoint larger than the machine's RAM
holds a few tensors at a time, never the whole model.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

__all__ = ["decode_many", "default_threads", "encode_many", "imap_bounded"]

T = TypeVar("T")
R = TypeVar("R")


def default_threads() -> int:
    """The cores this process may run on (``sched_getaffinity``; ``cpu_count`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _check_threads(threads: int | None) -> int:
    if threads is None:
        return default_threads()
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    return threads


def imap_bounded(fn: Callable[[T], R], items: Iterable[T], *, threads: int | None = None,
                 cost: Callable[[T], float] | None = None,
                 budget: float = float("inf")) -> Iterator[R]:
    """``fn(item)`` for each item on a thread pool, yielded in input order.

    At most ``threads`` jobs run at once (one more waits queued, so every core stays busy while
    the caller consumes a result), and a new one is started only while the summed
    ``cost(item)`` of the unfinished-or-unconsumed jobs stays within ``budget`` (one job always
    runs, whatever its cost). Items are pulled from ``items`` lazily, so a generator that reads
    tensors from disk reads them only as fast as they are consumed. ``threads=1`` runs ``fn`` in
    the caller's thread (no pool), the reference the threaded results are bit-identical to.

    An exception in ``fn`` is raised at its item's position; later jobs are cancelled or waited
    for, never left running.
    """
    n = _check_threads(threads)
    if n == 1:
        for item in items:
            yield fn(item)
        return
    price = cost or (lambda _item: 0.0)
    it = iter(items)
    queue: deque[tuple[Future[R], float]] = deque()
    spent = 0.0
    pending: list[T] = []  # at most one item pulled but not yet admitted
    exhausted = False
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="sckit") as pool:
        try:
            while True:
                while len(queue) <= n and not exhausted:
                    if not pending:
                        try:
                            pending.append(next(it))
                        except StopIteration:
                            exhausted = True
                            break
                    c = float(price(pending[0]))
                    if queue and spent + c > budget:
                        break
                    queue.append((pool.submit(fn, pending.pop()), c))
                    spent += c
                if not queue:
                    return
                fut, c = queue.popleft()
                result = fut.result()
                spent -= c
                yield result
        finally:
            for fut, _ in queue:
                fut.cancel()


def encode_many(arrays: Sequence[np.ndarray], *, dtypes: Sequence[str | None] | None = None,
                threads: int | None = None, **kw: Any) -> list[Any]:
    """:func:`sckit.ras.encode` of each array on ``threads`` threads (default: all cores).

    ``dtypes``: per-array logical dtype (e.g. "bfloat16" for uint16 bit patterns); keyword
    arguments go to every ``encode`` call. The RAS are identical to serial encoding.
    """
    from sckit.ras import encode

    names = list(dtypes) if dtypes is not None else [None] * len(arrays)
    if len(names) != len(arrays):
        raise ValueError(f"{len(arrays)} arrays but {len(names)} dtypes")
    jobs = list(zip(arrays, names, strict=True))
    return list(imap_bounded(lambda job: encode(job[0], dtype=job[1], **kw), jobs,
                             threads=threads))


def decode_many(ras: Sequence[Any], *, threads: int | None = None) -> list[np.ndarray]:
    """``r.decode()`` of each RAS on ``threads`` threads; bit patterns as from serial decode."""
    return list(imap_bounded(lambda r: r.decode(), list(ras), threads=threads))
