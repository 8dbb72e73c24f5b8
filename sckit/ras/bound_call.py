"""A numba kernel's compiled entry point, bound once to a call's argument types.

A whole-tensor decode calls one kernel with ~16-24 arguments. numba's dispatcher types every
argument on every call to pick the compiled overload (measured 0.35 us of a 1.9 us call for the
24 arguments of the fused wavelet-matrix decoder: a model of hundreds of small tensors pays it
per tensor). The overload's ``entry_point`` unboxes the arguments without that search, but it
trusts them to have the types it was compiled for: the caller binds it to arguments fixed per
tensor and passes it per-call arrays only of a type it has checked itself (see
:func:`out_ok`), and otherwise goes through the dispatcher.

Binding types the arguments in Python (~150 us for 16 arrays), so it is done only for a
tensor decoded more than once: a checkpoint load decodes each tensor once and would pay it for
nothing. The caller keeps a state: an int ``k >= 0`` (dispatcher calls left before binding,
``BIND_AFTER`` at first), ``-1`` (unbindable: always the dispatcher), or the entry point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numba.core.typing.typeof import Purpose, typeof


def bind(kernel: Any, args: Sequence[object]) -> Callable[..., Any] | None:
    """``kernel``'s compiled entry point for exactly the types of ``args``, or None where it
    has not been compiled for them yet (call the dispatcher once first)."""
    try:
        sig = tuple(typeof(a, Purpose.argument) for a in args)
    except (TypeError, ValueError):  # a type numba cannot name: keep the dispatcher
        return None
    cres = kernel.overloads.get(sig)
    return None if cres is None else cres.entry_point


BIND_AFTER = 1


def next_state(state: int, kernel: Any, args: Sequence[object]) -> Any:
    """The state after a dispatcher call with ``args`` (see the module docstring)."""
    if state > 0:
        return state - 1
    return bind(kernel, args) or -1


def out_ok(out: np.ndarray) -> bool:
    """``out`` (already of the right dtype, C-contiguous and writeable) is also of the type a
    bound entry point was compiled for: an aligned base-class array. numba types unaligned
    arrays apart, and an entry point does not check."""
    return type(out) is np.ndarray and out.flags.aligned
