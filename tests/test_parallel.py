"""sckit.parallel: thread-pool encode/decode is bit-identical to serial, ordered, bounded."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from sckit.parallel import decode_many, default_threads, encode_many, imap_bounded


def _bf16_like(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    f = (rng.standard_normal(shape, dtype=np.float32) * 0.02).view(np.uint32)
    return (f >> 16).astype(np.uint16)


@pytest.fixture(scope="module")
def arrays() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = [(256, 512), (64, 300), (1000,), (33, 7, 5), (512, 256), (1, 1)]
    out = [_bf16_like(rng, s) for s in shapes]
    out[4][::3] = 0  # a sparse-ish one: exercises the sparse / distance path
    return out


def test_encode_decode_bit_exact_across_thread_counts(arrays):
    dtypes = ["bfloat16"] * len(arrays)
    ref = encode_many(arrays, dtypes=dtypes, threads=1)
    ref_bytes = [r.to_bytes() for r in ref]
    for threads in (2, 3, 8):
        got = encode_many(arrays, dtypes=dtypes, threads=threads)
        assert [r.to_bytes() for r in got] == ref_bytes
        dec = decode_many(got, threads=threads)
        for a, d in zip(arrays, dec, strict=True):
            assert d.dtype == np.uint16 and np.array_equal(d.view(np.uint16), a)


def test_imap_bounded_keeps_order_and_budget():
    running = 0
    peak = 0
    lock = threading.Lock()

    def job(x: int) -> int:
        nonlocal running, peak
        with lock:
            running += x
            peak = max(peak, running)
        time.sleep(0.01 * (5 - x % 5))  # finish out of order
        with lock:
            running -= x
        return x * x

    items = [1, 4, 2, 3, 5, 1, 1, 2]
    out = list(imap_bounded(job, items, threads=4, cost=float, budget=6))
    assert out == [x * x for x in items]
    assert peak <= 6  # never more than the budget in flight (one item alone may exceed it)
    big = list(imap_bounded(job, [9, 9], threads=4, cost=float, budget=6))
    assert big == [81, 81]


def test_imap_bounded_pulls_lazily_and_raises_in_order():
    pulled = []

    def gen():
        for i in range(100):
            pulled.append(i)
            yield i

    it = imap_bounded(lambda x: x, gen(), threads=2)
    assert next(it) == 0
    assert len(pulled) <= 4  # a few ahead, not the whole input
    it.close()

    def boom(x: int) -> int:
        if x == 3:
            raise RuntimeError("bad item 3")
        return x

    got = []
    with pytest.raises(RuntimeError, match="bad item 3"):
        for v in imap_bounded(boom, range(10), threads=3):
            got.append(v)
    assert got == [0, 1, 2]


def test_threads_validated():
    assert default_threads() >= 1
    with pytest.raises(ValueError, match="threads"):
        list(imap_bounded(abs, [1], threads=0))
