"""Step-by-step traces of wavelet-matrix queries, for teaching (the WaveletMatrixViewer widget).

Each trace lists, level by level, which bit the query reads and which rank it computes, using
only the structure's public per-level bitmaps (``level_bits``) and ``zeros``; the final answer is
checked against the real query, so a trace can never teach a wrong walk.
Algorithms 1-3 of Claude, Navarro and Ordonez, "The wavelet matrix" (2015).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Step", "Trace", "trace_access", "trace_rank", "trace_select"]


@dataclass(frozen=True)
class Step:
    """One level of a walk: the positions read at ``level`` and what was derived from them."""

    level: int
    positions: tuple[int, ...]  # bits read on this level (highlighted by the viewer)
    bit: int  # the symbol bit this level decides
    note: str


@dataclass(frozen=True)
class Trace:
    query: str
    steps: tuple[Step, ...]
    result: int


def _levels(wm) -> list[np.ndarray]:
    return [np.asarray(wm.level_bits(lvl), dtype=np.int64) for lvl in range(wm.n_levels)]


def trace_access(wm, i: int) -> Trace:
    """Walk of ``access(i)``: at each level read bit ``B_l[i]``, then map ``i`` with a rank."""
    if not 0 <= i < len(wm):
        raise IndexError(f"access({i}) outside [0, {len(wm)})")
    levels, zeros = _levels(wm), wm.zeros
    steps, sym, i0 = [], 0, i
    for lvl, bits in enumerate(levels):
        b = int(bits[i])
        ones = int(bits[:i].sum())
        nxt = int(zeros[lvl]) + ones if b else i - ones
        how = f"z[{lvl}] + rank1({i}) = {zeros[lvl]} + {ones}" if b else f"rank0({i})"
        steps.append(Step(lvl, (i,), b, f"read B{lvl}[{i}] = {b}; next position {how} = {nxt}"))
        sym, i = (sym << 1) | b, nxt
    assert sym == int(wm.access(i0))
    return Trace(f"access({i0})", tuple(steps), sym)


def trace_rank(wm, c: int, i: int) -> Trace:
    """Walk of ``rank(c, i)``: follow ``c``'s bits, narrowing ``[p, i)`` to ``c``'s node."""
    if not 0 <= c < wm.sigma:
        raise ValueError(f"symbol {c} outside [0, {wm.sigma})")
    if not 0 <= i <= len(wm):
        raise IndexError(f"rank position {i} outside [0, {len(wm)}]")
    levels, zeros, L = _levels(wm), wm.zeros, wm.n_levels
    steps, p, j = [], 0, i
    for lvl, bits in enumerate(levels):
        b = (c >> (L - 1 - lvl)) & 1
        rp, rj = int(bits[:p].sum()), int(bits[:j].sum())
        np_, nj = (int(zeros[lvl]) + rp, int(zeros[lvl]) + rj) if b else (p - rp, j - rj)
        steps.append(Step(lvl, tuple(range(p, j)), b,
                          f"bit {b} of {c}: range [{p}, {j}) -> [{np_}, {nj}) on level {lvl + 1}"))
        p, j = np_, nj
    result = j - p
    assert result == int(wm.rank(c, i))
    return Trace(f"rank({c}, {i})", tuple(steps), result)


def trace_select(wm, c: int, k: int) -> Trace:
    """Walk of ``select(c, k)``: find ``c``'s node on the last level, then climb with selects."""
    if not 0 <= c < wm.sigma:
        raise ValueError(f"symbol {c} outside [0, {wm.sigma})")
    total = int(wm.rank(c, len(wm)))
    if not 0 <= k < total:
        raise IndexError(f"select({c}, {k}): {c} occurs {total} times")
    levels, zeros, L = _levels(wm), wm.zeros, wm.n_levels
    p = 0
    for lvl, bits in enumerate(levels):
        b = (c >> (L - 1 - lvl)) & 1
        ones = int(bits[:p].sum())
        p = int(zeros[lvl]) + ones if b else p - ones
    pos, steps = p + k, []
    for lvl in range(L - 1, -1, -1):
        bits, b = levels[lvl], (c >> (L - 1 - lvl)) & 1
        target = pos - int(zeros[lvl]) if b else pos
        where = np.flatnonzero(bits == b)
        new = int(where[target])
        steps.append(Step(lvl, (new,), b, f"select{b}({target}) on level {lvl} = {new}"))
        pos = new
    assert pos == int(wm.select(c, k))
    return Trace(f"select({c}, {k})", tuple(steps), pos)
