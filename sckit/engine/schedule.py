"""Materialise RAS-encoded weights just before the module that uses them runs; decode-ahead; cache.

The runtime owns, per encoded parameter, its RAS and the ``nn.Parameter`` object(s) it backs. A
forward pre-hook on each *unit* (the module that uses the parameter, see ``engine.trace``) decodes
the weights and points the parameter at them (``param.data = decoded``); the matching forward hook
points it back at an empty placeholder, so the decoded storage is freed as soon as the layer is
done. Keeping the ``Parameter`` objects (instead of deleting attributes) is what makes tied weights
and modules that read another module's weights work unchanged.

Decode-ahead (Succinct Compression, appendix B.3, "querying schedule module"): the traced call order is the
prefetch plan. One background thread walks it continuously, ahead of the forward, decoding unit
after unit until the decoded-but-not-yet-used weights reach ``Runtime.ahead_bytes``. Looking one
unit ahead is not enough: ResNets alternate big convolutions with BatchNorms (whose weights are
encoded too), so a conv's decode would only overlap the BatchNorm before it. Torch kernels and the
numba decoders (``nogil=True``) release the GIL, so the two threads really run in parallel. If
the actual call order leaves the plan, the forward decodes synchronously and prefetches that no
longer match are dropped - correctness never depends on the plan.

The decoded-weight cache (``cache_bytes``) keeps the weights that cost the most decode time per
byte resident: the first forward measures, then a greedy choice by decode ms per byte fills the
budget. Cached weights stay the parameters' data between forwards; all others are placeholders.
"""

from __future__ import annotations

import numbers
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
from torch import nn

__all__ = ["AHEAD_MIN_BYTES", "Runtime", "greedy_cache"]

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """One shared background decode thread (created on first use, so import stays cheap)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sckit-decode-ahead")
        return _POOL


# Large tensors are decoded in dim-0 row ranges of about this many weights (1 MB of float32)
# with RAS.decode_rows (select on the level-0 delimiter, Succinct Compression, sec. 5, step 2). All decode
# kernels release the GIL, so chunking only bounds the latency of one call; measured on
# ResNet-50 (best/median GB/s per core): 64K chunks 2.90/2.57, 256K 3.04/2.75, 1M 3.09/2.90.
CHUNK_WEIGHTS = 1 << 18
_UINT = {1: (torch.uint8, "uint8"), 2: (torch.int16, "uint16"), 4: (torch.int32, "uint32"), 8: (torch.int64, "uint64")}


def decode_ras(r: Any, device: torch.device | None = None) -> torch.Tensor:
    """Decode one RAS into a fresh dense tensor (bit-exact; right dtype and shape)."""
    from sckit.tensor_io import decode_tensor, torch_dtype

    shape = tuple(r.shape)
    if len(shape) < 2 or r.n_weights <= CHUNK_WEIGHTS:
        t = decode_tensor(r)
    else:
        t = torch.empty(shape, dtype=torch_dtype(r.dtype))
        view_dt, np_dt = _UINT[t.element_size()]
        buf = t.view(view_dt).numpy().view(np_dt)
        rows = max(1, CHUNK_WEIGHTS // max(1, r.n_weights // shape[0]))
        for start in range(0, shape[0], rows):
            stop = min(start + rows, shape[0])
            r.decode_rows(start, stop, out=buf[start:stop])
    if device is not None and device.type != "cpu":
        t = t.to(device)
    return t


# Floor of the decode-ahead budget (bytes of decoded weights waiting for their unit). The default
# is max(2 x the largest unit's decoded bytes, this): the worker can finish the next big layer
# while the current one's successor waits, and small layers run far ahead.
AHEAD_MIN_BYTES = 16 << 20


def check_cache_bytes(value: Any) -> int:
    """``value`` as a cache budget in bytes, or ValueError saying what is allowed."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"cache_bytes={value!r}; expected an int >= 0 (bytes of decoded weights "
                         "kept resident between forwards; 0 keeps none)")
    return int(value)


def greedy_cache(cost_ms: dict[str, float], nbytes: dict[str, int], budget: int) -> set[str]:
    """The weights to keep decoded under ``budget`` bytes: most decode ms saved per byte first,
    each taken if it still fits (the density greedy of a 0/1 knapsack: near optimal when weights
    are small against the budget, and predictable). Ties go by name, so the choice is stable."""
    order = sorted(cost_ms, key=lambda n: (-cost_ms[n] / max(1, nbytes[n]), n))
    chosen: set[str] = set()
    used = 0
    for name in order:
        if used + nbytes[name] <= budget:
            chosen.add(name)
            used += nbytes[name]
    return chosen


def _spare_core() -> bool:
    """Whether torch's intra-op threads leave a core free for the decode worker."""
    try:
        cores = len(os.sched_getaffinity(0))  # a container's CPU set, not the host's
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return torch.get_num_threads() < cores


class _Ahead:
    """Decode-ahead state of one forward, shared by the forward thread and the worker; every field
    is read and written under ``cond``."""

    def __init__(self, budget: int) -> None:
        self.cond = threading.Condition()
        self.budget = budget
        # next (schedule position, index into that unit's names) the worker decodes; only moves on
        self.cursor = (0, 0)
        # (position, name) -> (tensor, decode ms); inserted in cursor order, so sorted by position
        self.ready: dict[tuple[int, str], tuple[torch.Tensor, float]] = {}
        self.inflight: tuple[int, str] | None = None
        self.pending = 0  # bytes in ready + in flight: decoded (or decoding), not yet in use
        self.peak = 0
        self.stop = False
        self.future: Future | None = None


class Runtime:
    """Hook state of one ``SuccinctModel``: which RAS backs which parameter, timings, decode-ahead
    and the decoded-weight cache.

    ``decode_ahead``: True, False or "auto" (on when torch's threads leave a core spare, decided
    at each forward's start; ``decode_ahead_used`` says what the last forward did).
    ``ahead_bytes``: budget of decoded weights waiting for their unit (settable between forwards).
    ``cache_bytes``: budget of decoded weights kept resident (``set_cache_bytes``).
    """

    def __init__(
        self,
        ras: dict[str, Any],
        params: dict[str, torch.Tensor],  # parameters and encoded weight buffers
        units: dict[str, list[str]],
        schedule: list[str],
        *,
        decoder: Any,
        decode_ahead: bool | str = False,
        cache_bytes: int = 0,
    ) -> None:
        # decoder: sckit.engine.decode.CpuDecoder or KernelDecoder (``.device``, ``.decode``)
        self.ras = ras
        self.params = params
        # only encoded parameters are materialised; dense ones need no hook
        self.units = {u: [p for p in ps if p in ras] for u, ps in units.items()}
        self.units = {u: ps for u, ps in self.units.items() if ps}
        self.schedule = [u for u in schedule if u in self.units]
        self.decode_ahead = decode_ahead
        self.decoder = decoder
        self._placeholders = {
            n: torch.empty(0, dtype=p.dtype, device=decoder.device or p.device)
            for n, p in params.items()
        }
        # decoded size of each encoded weight: budgets are in these bytes
        self.decoded_nbytes = {n: int(torch.Size(r.shape).numel()) * params[n].element_size()
                               for n, r in ras.items()}
        largest = max((sum(self.decoded_nbytes[n] for n in ps) for ps in self.units.values()),
                      default=0)
        self.ahead_bytes = max(2 * largest, AHEAD_MIN_BYTES)
        self.cache_bytes = check_cache_bytes(cache_bytes)
        self._cache: dict[str, torch.Tensor] = {}
        self._cache_dirty = True  # re-decide the cached set at the next chance
        # fastest decode seen per weight (ms), over forwards: what the cache choice ranks by
        self.decode_cost_ms: dict[str, float] = {}
        self._refcount: dict[str, int] = {}
        self._ahead: _Ahead | None = None
        self._active = False
        self._pos = 0
        self._t_start: dict[str, list[float]] = {}
        # measurements of the last forward, read by SuccinctModel.report()
        self.decode_ms: dict[str, float] = {}
        self.wait_ms: dict[str, float] = {}
        self.compute_ms: dict[str, float] = {}
        self.decode_ahead_used = False
        # "auto" measured on the example input (SuccinctModel.tune_decode_ahead): None = not
        # measured (on whenever a core is spare), else whether decode-ahead ran faster there
        self.auto_pays: bool | None = None
        self.prefetch_hits = 0  # unit calls whose weights were all decoded ahead, no waiting
        self.peak_ahead_bytes = 0  # most bytes the worker held decoded ahead at once
        self.handles: list[Any] = []

    @property
    def decode_ahead(self) -> bool | str:
        """True, False or "auto" (as set; see ``decode_ahead_used`` for the last forward)."""
        return self._decode_ahead

    @decode_ahead.setter
    def decode_ahead(self, value: bool | str) -> None:
        if isinstance(value, str) and value != "auto":
            raise ValueError(f"decode_ahead={value!r}; expected True, False or 'auto'")
        self._decode_ahead: bool | str = value if isinstance(value, str) else bool(value)

    # -- decoded-weight cache ----------------------------------------------------------------
    @property
    def cached(self) -> set[str]:
        """Names of the weights resident decoded between forwards."""
        return set(self._cache)

    @property
    def cache_nbytes(self) -> int:
        """Bytes of decoded weights resident in the cache now."""
        return sum(self.decoded_nbytes[n] for n in self._cache)

    def set_cache_bytes(self, n: int) -> None:
        """Keep up to ``n`` bytes of decoded weights resident (0: none). Applied now between
        forwards (once a forward has measured decode costs), else when the forward ends."""
        self.cache_bytes = check_cache_bytes(n)
        self._cache_dirty = True
        if not self._active:
            self._refill_cache()

    def _refill_cache(self) -> None:
        # the weights a forward has not decoded yet have no cost: wait for one that does
        if not self.decode_cost_ms and self.cache_bytes:
            return
        self._cache_dirty = False
        want = greedy_cache(self.decode_cost_ms, self.decoded_nbytes, self.cache_bytes)
        for name in [n for n in self._cache if n not in want]:
            del self._cache[name]
            self.params[name].data = self._placeholders[name]
        for name in sorted(want - self._cache.keys()):
            t = self.decoder.decode(name, self.ras[name])
            self._cache[name] = t
            self.params[name].data = t

    def set_decoder(self, decoder: Any) -> None:
        """Decode with ``decoder`` from now on; placeholders move to its device (between
        forwards only: the model's parameters must all be at rest). A new device or decoder kind
        drops the cache and the decode costs measured so far."""
        if self._active or self._refcount:
            raise RuntimeError("cannot change the decoder during a forward")
        same = (decoder.device, decoder.kind) == (self.decoder.device, self.decoder.kind)
        if not same:
            self._cache.clear()
            self.decode_cost_ms.clear()
            self._cache_dirty = True
        self.decoder = decoder
        for name in self.ras:
            p = self.params[name]
            ph = torch.empty(0, dtype=p.dtype, device=decoder.device or p.device)
            self._placeholders[name] = ph
            p.data = self._cache.get(name, ph)

    # -- hook installation -------------------------------------------------------------------
    def install(self, model: nn.Module) -> None:
        """Register the pre/post hooks on every unit module of ``model``."""
        modules = dict(model.named_modules(remove_duplicate=False))
        for unit in self.units:
            mod = modules[unit]
            self.handles.append(mod.register_forward_pre_hook(self._make_pre(unit)))
            self.handles.append(mod.register_forward_hook(self._make_post(unit), always_call=True))
        # layers that decode nothing (dense ones) still get their compute time measured
        for name, mod in modules.items():
            if name not in self.units and any(p is not None for p in mod._parameters.values()):
                self.handles.append(mod.register_forward_pre_hook(self._make_tick(name)))
                self.handles.append(mod.register_forward_hook(self._make_tock(name), always_call=True))
        for name in self.ras:
            self.params[name].data = self._placeholders[name]

    def _make_tick(self, unit: str):  # noqa: ANN202
        def tick(_mod: nn.Module, _args: Any) -> None:
            self._t_start.setdefault(unit, []).append(time.perf_counter())

        return tick

    def _make_tock(self, unit: str):  # noqa: ANN202
        def tock(_mod: nn.Module, _args: Any, _out: Any) -> None:
            starts = self._t_start.get(unit)
            if starts:
                ms = (time.perf_counter() - starts.pop()) * 1e3
                self.compute_ms[unit] = self.compute_ms.get(unit, 0.0) + ms

        return tock

    def _make_pre(self, unit: str):  # noqa: ANN202
        def pre(_mod: nn.Module, _args: Any) -> None:
            self._enter(unit)

        return pre

    def _make_post(self, unit: str):  # noqa: ANN202
        def post(_mod: nn.Module, _args: Any, _out: Any) -> None:
            self._leave(unit)

        return post

    # -- per forward -------------------------------------------------------------------------
    def begin(self) -> None:
        """Reset per-forward state and measurements, start decode-ahead (called by
        SuccinctModel.forward)."""
        if self._ahead is not None:  # a forward that never reached end(): its worker stops first
            self._stop_ahead()
        self._active = True
        self._pos = 0
        self._refcount.clear()
        self.decode_ms = {}
        self.wait_ms = {}
        self.compute_ms = {}
        self._t_start = {}
        self.prefetch_hits = 0
        self.peak_ahead_bytes = 0
        if self._decode_ahead == "auto":
            want = self.auto_pays is not False and _spare_core()
        else:
            want = bool(self._decode_ahead)
        self.decode_ahead_used = bool(want and self.schedule)
        if self.decode_ahead_used:
            st = _Ahead(self.ahead_bytes)
            try:
                st.future = _pool().submit(self._ahead_worker, st)
            except RuntimeError:  # interpreter shutting down: no new threads, decode in line
                self.decode_ahead_used = False
                return
            self._ahead = st

    def end(self) -> None:
        """Stop decode-ahead, free everything still materialised (also after errors), and fill
        the cache once the forward has measured what to keep."""
        if self._ahead is not None:
            self._stop_ahead()
        for name in list(self._refcount):
            self.params[name].data = self._placeholders[name]
        self._refcount.clear()
        self._active = False
        if self._cache_dirty:
            self._refill_cache()

    def _stop_ahead(self) -> None:
        st, self._ahead = self._ahead, None
        assert st is not None
        with st.cond:
            st.stop = True
            st.cond.notify_all()
        if st.future is not None and not st.future.cancel():
            # waits for at most the one decode in flight; the worker catches decode errors
            # itself, and anything else it hit cost only prefetches the forward re-did
            st.future.exception()
        for (_, name), (_, ms) in st.ready.items():
            self._note_decode(name, ms)  # decoded and unused: still time spent decoding
        st.ready.clear()
        self.peak_ahead_bytes = st.peak

    def _decode_one(self, name: str) -> tuple[torch.Tensor, float]:
        t0 = time.perf_counter()
        t = self.decoder.decode(name, self.ras[name])
        return t, (time.perf_counter() - t0) * 1e3

    def _note_decode(self, name: str, ms: float) -> None:
        self.decode_ms[name] = self.decode_ms.get(name, 0.0) + ms
        best = self.decode_cost_ms.get(name)
        if best is None:
            self._cache_dirty = True  # a weight measured for the first time may belong cached
        if best is None or ms < best:
            self.decode_cost_ms[name] = ms

    def _ahead_worker(self, st: _Ahead) -> None:
        """Background thread: decode along the schedule until it ends, within ``st.budget``."""
        sched, units, nbytes, cache = self.schedule, self.units, self.decoded_nbytes, self._cache
        while True:
            with st.cond:
                while True:
                    pos, i = st.cursor
                    if st.stop or pos >= len(sched):
                        return
                    names = units[sched[pos]]
                    if i >= len(names):
                        st.cursor = (pos + 1, 0)
                        continue
                    name = names[i]
                    if name in cache:  # the cache changes only between forwards
                        st.cursor = (pos, i + 1)
                        continue
                    size = nbytes[name]
                    # one decode always proceeds, even when a budget is smaller than one weight
                    if st.pending and st.pending + size > st.budget:
                        st.cond.wait()
                        continue
                    st.cursor = (pos, i + 1)
                    st.inflight = (pos, name)
                    st.pending += size
                    st.peak = max(st.peak, st.pending)
                    break
            got = None
            try:
                got = self._decode_one(name)
            except Exception:  # noqa: BLE001 - the forward decodes it again and sees the error
                pass
            finally:
                with st.cond:
                    st.inflight = None
                    if got is None:
                        st.pending -= size
                    else:
                        st.ready[(pos, name)] = got
                    st.cond.notify_all()

    def _take_ahead(self, pos: int, need: list[str]) -> tuple[dict[str, tuple[torch.Tensor, float]], bool]:
        """Weights the worker decoded for schedule position ``pos`` (waiting for one in flight),
        and whether the forward had to wait. Also moves the worker past ``pos``: what it has not
        started there, the forward decodes itself."""
        st = self._ahead
        assert st is not None
        got: dict[str, tuple[torch.Tensor, float]] = {}
        waited = False
        with st.cond:
            if st.cursor < (pos + 1, 0):
                st.cursor = (pos + 1, 0)
            # entries for positions already passed were skipped (plan divergence, a weight still
            # in use): drop them so they stop holding the budget
            stale = []
            for key in st.ready:
                if key[0] >= pos:
                    break
                stale.append(key)
            for key in stale:
                _, ms = st.ready.pop(key)
                st.pending -= self.decoded_nbytes[key[1]]
                self._note_decode(key[1], ms)
            for name in need:
                while st.inflight == (pos, name):
                    waited = True
                    st.cond.wait()
                entry = st.ready.pop((pos, name), None)
                if entry is not None:
                    st.pending -= self.decoded_nbytes[name]
                    got[name] = entry
            st.cond.notify_all()
        return got, waited

    def _locate(self, unit: str) -> int:
        """Schedule position of this call of ``unit`` (-1: off the plan), advancing the plan."""
        pos = self._pos
        if pos >= len(self.schedule) or self.schedule[pos] != unit:
            try:
                pos = self.schedule.index(unit, pos)
            except ValueError:
                return -1
        self._pos = pos + 1
        return pos

    def _enter(self, unit: str) -> None:
        pos = self._locate(unit)
        t0 = time.perf_counter()
        names = [n for n in self.units[unit] if n not in self._cache]
        need = [n for n in names if n not in self._refcount]
        got: dict[str, tuple[torch.Tensor, float]] = {}
        if need and pos >= 0 and self._ahead is not None:
            got, waited = self._take_ahead(pos, need)
            if len(got) == len(need) and not waited:
                self.prefetch_hits += 1
        for name in need:
            tensor, ms = got[name] if name in got else self._decode_one(name)
            self.params[name].data = tensor
            self._note_decode(name, ms)
        for name in names:
            self._refcount[name] = self._refcount.get(name, 0) + 1
        self.wait_ms[unit] = self.wait_ms.get(unit, 0.0) + (time.perf_counter() - t0) * 1e3
        self._t_start.setdefault(unit, []).append(time.perf_counter())

    def _leave(self, unit: str) -> None:
        starts = self._t_start.get(unit)
        if starts:
            ms = (time.perf_counter() - starts.pop()) * 1e3
            self.compute_ms[unit] = self.compute_ms.get(unit, 0.0) + ms
        for name in self.units[unit]:
            count = self._refcount.get(name, 0) - 1
            if count > 0:
                self._refcount[name] = count
            elif self._refcount.pop(name, None) is not None:
                self.params[name].data = self._placeholders[name]

    def remove(self) -> None:
        """Unregister all hooks."""
        for h in self.handles:
            h.remove()
        self.handles.clear()
