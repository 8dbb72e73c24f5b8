"""What every sckit dashboard shares: a status line and handlers that never kill the kernel."""

from __future__ import annotations

import functools
import html
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as W

__all__ = ["Panel", "safe"]


class Panel(W.VBox):
    """A VBox with a ``status`` line. Handlers wrapped with :func:`safe` report errors there
    instead of raising into the kernel, and the view is only updated after a handler succeeds,
    so a failure never leaves a half-updated panel."""

    def __init__(self, children: list[W.Widget] | tuple = (), **kwargs: Any) -> None:
        self.status = W.HTML(value="")
        self.last_error: str | None = None
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
