"""Record headline results in notebooks and read them back (issue 8).

In a notebook, ``record(name, value)`` emits a display output carrying the JSON value and a
metadata marker; after a headless run (papermill / nbclient), ``records(path)`` reads every
marked output back with nbformat. This replaces scrapbook (unmaintained since 2021, partly
broken on pandas 3 - ../shared/ENVIRONMENT.md). Outside a Jupyter kernel ``record`` stores the
value in an in-process dict (``recorded()``), so the same code runs in scripts and tests.

>>> record("ratio", 3.5)
>>> recorded()["ratio"]
3.5
"""

from __future__ import annotations

import json
import math
import numbers
from os import PathLike
from typing import Any

__all__ = ["record", "records", "recorded", "clear", "MARKER", "MIME"]

MARKER = "sckit_record"  # output metadata key; its value is the record name
MIME = "application/json"

_RECORDS: dict[str, Any] = {}


def _jsonable(value: Any, where: str = "value") -> Any:
    """Return ``value`` as plain JSON types; numpy scalars become Python numbers.

    Raises TypeError naming the offending type (and where it sits in a nested value), and
    ValueError for NaN/inf, which JSON cannot represent.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value!r}; JSON cannot represent NaN or infinity")
        return float(value)
    # numpy scalars (np.float32, np.int64, np.bool_) and 0-d arrays: convert, lazily (no numpy
    # import needed for plain values)
    mod = type(value).__module__
    if mod == "numpy":
        import numpy as np

        if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
            return _jsonable(value.item(), where)
        raise TypeError(
            f"{where} has type numpy.{type(value).__name__}; record JSON values only "
            "(convert arrays with .tolist())"
        )
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a key of type {type(k).__name__}; keys must be str")
            out[k] = _jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, numbers.Integral):
        return int(value)
    raise TypeError(
        f"{where} has type {type(value).__module__}.{type(value).__qualname__}, which is not "
        "JSON-serialisable; record str, bool, int, float, None, lists or dicts of them"
    )


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (not a terminal IPython, not plain Python)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def record(name: str, value: Any) -> None:
    """Record ``value`` under ``name``.

    Always stores into the in-process dict (``recorded()``). Inside a Jupyter kernel it also
    displays an output ``{"application/json": {"name": name, "value": value}}`` with metadata
    ``{"sckit_record": name}`` so :func:`records` finds it in the saved notebook.

    Raises:
        TypeError: ``name`` is not a str, or ``value`` is not JSON-serialisable (the message
            names its type).
        ValueError: empty name, or NaN/inf in ``value``.
    """
    if not isinstance(name, str):
        raise TypeError(f"record name must be str, got {type(name).__name__}")
    if not name:
        raise ValueError("record name must not be empty")
    clean = _jsonable(value)
    _RECORDS[name] = clean
    if _in_kernel():
        from IPython.display import display

        display(
            {MIME: {"name": name, "value": clean}, "text/plain": f"{name} = {clean!r}"},
            raw=True,
            metadata={MARKER: name},
        )


def recorded() -> dict[str, Any]:
    """A copy of the values recorded in this process (last write per name wins)."""
    return dict(_RECORDS)


def clear() -> None:
    """Forget the values recorded in this process."""
    _RECORDS.clear()


def records(path: str | PathLike[str] | Any) -> dict[str, Any]:
    """Read ``{name: value}`` from an executed notebook's outputs (last record of a name wins).

    ``path`` is a ``.ipynb`` path or an already-loaded ``nbformat.NotebookNode``. Outputs
    without the ``sckit_record`` marker are ignored.
    """
    import nbformat

    if isinstance(path, str | PathLike):
        nb = nbformat.read(path, as_version=4)
    elif isinstance(path, dict) and "cells" in path:
        nb = path
    else:
        raise TypeError(f"records() takes a notebook path or NotebookNode, got {type(path).__name__}")
    found: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") not in ("display_data", "execute_result"):
                continue
            name = (out.get("metadata") or {}).get(MARKER)
            if name is None:
                continue
            payload = (out.get("data") or {}).get(MIME)
            if isinstance(payload, str):  # some writers keep JSON mime data as text
                payload = json.loads(payload)
            if not isinstance(payload, dict) or "value" not in payload:
                raise ValueError(f"record {name!r} in {path!s} has no {MIME} value")
            found[str(payload.get("name", name))] = payload["value"]
    return found
