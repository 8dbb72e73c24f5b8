"""What every sckit dashboard shares: a status line, handlers that never kill the kernel, and
controls whose values are checked before anything uses them."""

from __future__ import annotations

import functools
import html
import math
import numbers
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as W

__all__ = ["FIGURE_HEIGHT", "Panel", "number_check", "safe"]

#: explicit height of every dashboard figure: without one a plot in a flexible container can
#: collapse to a few pixels in JupyterLab
FIGURE_HEIGHT = 460


def number_check(name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False,
                 integer: bool = False) -> Callable[[Any], str | None]:
    """A check for a numeric control: returns the message for a bad value, None for a good one.

    Rejects bools (``True`` is not a count of bits), non-numbers, NaN and infinities, non-integers
    when ``integer``, and values outside [low, high] (an open end excludes the bound).
    """
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    what = f"{'an integer' if integer else 'a finite number'}"
    if low is not None or high is not None:
        what += (f" in {lo}{'-inf' if low is None else format(low, 'g')}, "
                 f"{'inf' if high is None else format(high, 'g')}{hi}")

    def check(value: Any) -> str | None:
        bad = f"{name}={value!r} is not valid: expected {what}"
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return bad
        if integer and not isinstance(value, numbers.Integral):
            return bad
        v = float(value)
        if not math.isfinite(v):
            return bad
        if low is not None and (v < low or (low_open and v == low)):
            return bad
        if high is not None and (v > high or (high_open and v == high)):
            return bad
        return None

    return check


class Panel(W.VBox):
    """A VBox with a ``status`` line. Handlers wrapped with :func:`safe` report errors there
    instead of raising into the kernel, and the view is only updated after a handler succeeds,
    so a failure never leaves a half-updated panel."""

    def __init__(self, children: list[W.Widget] | tuple = (), **kwargs: Any) -> None:
        self.status = W.HTML(value="")
        self.last_error: str | None = None
        self.last_traceback: str | None = None
        super().__init__(children=[*children, self.status], **kwargs)

    def set_children(self, children: list[W.Widget]) -> None:
        self.children = [*children, self.status]

    def info(self, text: str) -> None:
        self.last_error = None
        self.status.value = f"<span style='color:#555'>{html.escape(text)}</span>"

    def error(self, text: str) -> None:
        self.last_error = text
        self.status.value = (f"<div style='color:#b00020;border-left:3px solid #b00020;"
                             f"padding-left:6px'>{html.escape(text)}</div>")

    def watch(self, widget: W.Widget, check: Callable[[Any], str | None],
              then: Callable[[Any], Any] | None = None) -> None:
        """Check every new ``widget.value`` (a slider dragged, or set from code): a bad one is
        reported in the status line and the control goes back to its last good value, so no
        later action ever sees it; a good one is passed to ``then``."""
        good = {"value": widget.value, "reverting": False}

        def on_change(change: dict[str, Any]) -> None:
            if good["reverting"]:
                return
            message = check(change["new"])
            if message is not None:
                good["reverting"] = True
                try:
                    widget.value = good["value"]
                finally:
                    good["reverting"] = False
                self.error(message + f"; kept {good['value']!r}")
                return
            good["value"] = change["new"]
            if then is not None:
                then(change["new"])

        widget.observe(on_change, names="value")


def safe(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a Panel handler; on an exception show ``ErrorType: message`` in the panel's status."""

    @functools.wraps(method)
    def wrapper(self: Panel, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a widget must survive any user input
            self.error(f"{type(exc).__name__}: {exc}")
            self.last_traceback = traceback.format_exc()
            return None

    return wrapper
