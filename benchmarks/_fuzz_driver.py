"""The worker-subprocess driver shared by ``fuzz_container.py`` and ``fuzz_structures.py``.

A fuzzer script run with ``--worker --start S --stop N`` calls :func:`serve`, which runs cases
``S .. N-1`` and prints ``READY`` (after a few warm-up cases), then ``B i`` before and
``E i outcome description`` after each case. :func:`drive` starts such workers, reads their
lines with a timeout, counts a worker that stops answering as a ``hang`` and one that dies as
a ``crash``, and restarts a worker after the case it lost.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

OUTCOMES = ("format_error", "ok", "other", "crash", "hang")


def serve(run_one: Callable[[int], tuple[str, str]], start: int, stop: int) -> None:
    """The worker side: run cases ``start .. stop-1`` with ``run_one(i) -> (outcome, what)``."""
    for i in range(start, min(start + 3, stop)):  # compile / load the kernels before the clock
        run_one(i)
    print("READY", flush=True)
    for i in range(start, stop):
        print(f"B {i}", flush=True)
        outcome, what = run_one(i)
        print(f"E {i} {outcome} {what}".replace("\n", " "), flush=True)


def drive(script: str, cases: int, worker_args: list[str], *, timeout: float, start_timeout: float,
          verbose: bool, env: dict[str, str], cwd: Path | None = None
          ) -> tuple[Counter, list[str], Counter]:
    """Run cases ``0 .. cases-1`` of ``script --worker *worker_args``; ``(outcome counts,
    descriptions of the cases that were not format_error/ok, counts by (second word of the
    case's description, outcome))``."""
    counts: Counter = Counter({k: 0 for k in OUTCOMES})
    by_kind: Counter = Counter()
    bad: list[str] = []
    i = 0
    env = dict(os.environ, PYTHONFAULTHANDLER="0", **env)
    t0 = time.monotonic()
    while i < cases:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(script), "--worker", *worker_args,
             "--start", str(i), "--stop", str(cases)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd,
        )
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        buf = b""
        current, limit = None, start_timeout
        while True:
            line: str | None = ""
            while b"\n" not in buf:  # unbuffered reads: select() misses lines already buffered
                ready, _, _ = select.select([fd], [], [], limit)
                if not ready:
                    line = None
                    break
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buf += chunk
            if line is not None and b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode(errors="replace")
            at = current if current is not None else i
            if line is None:  # no answer in time: a hang (or a stuck start)
                proc.kill()
                proc.wait()
                counts["hang"] += 1
                bad.append(f"hang: case {at}")
                i = at + 1
                break
            if not line:  # the worker died
                proc.wait()
                if current is None and i >= cases:
                    break
                counts["crash"] += 1
                bad.append(f"crash (rc {proc.returncode}): case {at}")
                i = at + 1
                break
            parts = line.split(" ", 3)
            if parts[0] == "READY":
                limit = timeout
            elif parts[0] == "B":
                current = int(parts[1])
            elif parts[0] == "E":
                outcome = parts[2]
                counts[outcome] += 1
                label = parts[3].split() if len(parts) > 3 else []
                by_kind[(label[1] if len(label) > 1 else "?", outcome)] += 1
                if outcome not in ("format_error", "ok"):
                    bad.append(f"{outcome}: case {parts[1]}: {parts[3] if len(parts) > 3 else ''}")
                current = None
                i = int(parts[1]) + 1
                if verbose and i % 1000 == 0:
                    print(f"  {i} cases, {time.monotonic() - t0:.0f} s: {dict(counts)}", flush=True)
        proc.stdout.close()
        try:  # a worker that answered everything but does not exit must not stall the run
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return counts, bad, by_kind
