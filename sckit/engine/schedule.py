"""Materialise RAS-encoded weights just before the module that uses them runs; decode-ahead.

The runtime owns, per encoded parameter, its RAS and the ``nn.Parameter`` object(s) it backs. A
forward pre-hook on each *unit* (the module that uses the parameter, see ``engine.trace``) decodes
the weights and points the parameter at them (``param.data = decoded``); the matching forward hook
points it back at an empty placeholder, so the decoded storage is freed as soon as the layer is
done. Keeping the ``Parameter`` objects (instead of deleting attributes) is what makes tied weights
and modules that read another module's weights work unchanged.

Decode-ahead (seed 000, appendix B.3, "querying schedule module"): the traced call order is the
prefetch plan. When unit k starts, the decode of unit k+1's weights is submitted to one background
thread, so it overlaps unit k's compute (torch kernels release the GIL; numba kernels compiled with
``nogil=True`` do too). If the actual call order leaves the plan, the prefetch is dropped and the
unit decodes synchronously - correctness never depends on the plan.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
from torch import nn

__all__ = ["Runtime"]

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
# with RAS.decode_rows (select on the level-0 delimiter, seed 000 sec. 5 step 2). All decode
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


class Runtime:
    """Hook state of one ``SuccinctModel``: which RAS backs which parameter, timings, prefetch."""

    def __init__(
        self,
        ras: dict[str, Any],
        params: dict[str, nn.Parameter],
        units: dict[str, list[str]],
        schedule: list[str],
        *,
        decoder: Any,
        decode_ahead: bool = False,
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
        self._refcount: dict[str, int] = {}
        self._pending: tuple[int, Future] | None = None
        self._pos = 0
        self._t_start: dict[str, list[float]] = {}
        # measurements of the last forward, read by SuccinctModel.report()
        self.decode_ms: dict[str, float] = {}
        self.wait_ms: dict[str, float] = {}
        self.compute_ms: dict[str, float] = {}
        self.handles: list[Any] = []

    def set_decoder(self, decoder: Any) -> None:
        """Decode with ``decoder`` from now on; placeholders move to its device (between
        forwards only: the model's parameters must all be at rest)."""
        if self._refcount:
            raise RuntimeError("cannot change the decoder during a forward")
        self.decoder = decoder
        for name in self.ras:
            p = self.params[name]
            ph = torch.empty(0, dtype=p.dtype, device=decoder.device or p.device)
            self._placeholders[name] = ph
            p.data = ph

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
        """Reset per-forward state and measurements (called by SuccinctModel.forward)."""
        self._pos = 0
        self._refcount.clear()
        self.decode_ms = {}
        self.wait_ms = {}
        self.compute_ms = {}
        self._t_start = {}

    def end(self) -> None:
        """Free everything still materialised and drop an unused prefetch (also after errors)."""
        if self._pending is not None:
            _, fut = self._pending
            self._pending = None
            try:
                fut.result()
            except Exception:  # noqa: BLE001 - a failed prefetch is re-done synchronously
                pass
        for name in list(self._refcount):
            self.params[name].data = self._placeholders[name]
        self._refcount.clear()

    def _decode_params(self, names: list[str]) -> dict[str, tuple[torch.Tensor, float]]:
        out = {}
        for name in names:
            t0 = time.perf_counter()
            t = self.decoder.decode(name, self.ras[name])
            out[name] = (t, (time.perf_counter() - t0) * 1e3)
        return out

    def _take_prefetch(self, pos: int) -> dict[str, tuple[torch.Tensor, float]]:
        if self._pending is None:
            return {}
        at, fut = self._pending
        self._pending = None
        if at != pos:
            fut.result()  # plan diverged: wait (bounded: one layer) and drop it
            return {}
        return fut.result()

    def _enter(self, unit: str) -> None:
        # where are we in the plan? normally schedule[_pos] == unit; resynchronise otherwise
        pos = self._pos
        if pos >= len(self.schedule) or self.schedule[pos] != unit:
            try:
                pos = self.schedule.index(unit, pos)
            except ValueError:
                pos = -1
        t0 = time.perf_counter()
        ready = self._take_prefetch(pos) if pos >= 0 else self._take_prefetch(-2)
        need = [n for n in self.units[unit] if self._refcount.get(n, 0) == 0 and n not in ready]
        ready.update(self._decode_params(need))
        for name in self.units[unit]:
            count = self._refcount.get(name, 0)
            if count == 0:
                tensor, ms = ready[name]
                self.params[name].data = tensor
                self.decode_ms[name] = self.decode_ms.get(name, 0.0) + ms
            self._refcount[name] = count + 1
        self.wait_ms[unit] = self.wait_ms.get(unit, 0.0) + (time.perf_counter() - t0) * 1e3
        if pos >= 0:
            self._pos = pos + 1
            if self.decode_ahead and self._pos < len(self.schedule):
                nxt = self.schedule[self._pos]
                todo = [n for n in self.units[nxt] if n not in self.units[unit]]
                if todo:
                    self._pending = (self._pos, _pool().submit(self._decode_params, todo))
        self._t_start.setdefault(unit, []).append(time.perf_counter())

    def _leave(self, unit: str) -> None:
        starts = self._t_start.get(unit)
        if starts:
            ms = (time.perf_counter() - starts.pop()) * 1e3
            self.compute_ms[unit] = self.compute_ms.get(unit, 0.0) + ms
        for name in self.units[unit]:
            count = self._refcount.get(name, 0) - 1
            if count <= 0:
                self._refcount.pop(name, None)
                self.params[name].data = self._placeholders[name]
            else:
                self._refcount[name] = count

    def remove(self) -> None:
        """Unregister all hooks."""
        for h in self.handles:
            h.remove()
        self.handles.clear()
