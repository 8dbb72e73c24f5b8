"""A small hand-written validator for the container header: each spec checks one JSON value and
raises ``FormatError`` naming the field (``tensors[3].shape``), so a forged header fails with a
message instead of a ``TypeError`` or ``OverflowError`` deep inside the loader.

JSON is parsed with :func:`parse_json`: ``NaN``/``Infinity`` and floats that overflow are
refused, integers are limited in size, and nesting deeper than :data:`MAX_DEPTH` is refused
(Python's parser would otherwise raise ``RecursionError``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from sckit.errors import FormatError

__all__ = ["MAX_DEPTH", "Bool", "Float", "Int", "JsonValue", "List", "Map", "Nullable", "Obj",
           "OneOf", "Spec", "Str", "fail", "parse_json"]

MAX_DEPTH = 32
MAX_INT = 2**63 - 1


def fail(where: str, what: str) -> FormatError:
    return FormatError(f"{where}: {what}" if where else what)


def _walk(v: Any, limit: int, where: str, *, finite: bool = True) -> None:
    """Refuse nesting deeper than ``limit`` and non-finite numbers anywhere in ``v``, naming the
    place; iterative, so a deep value cannot exhaust the stack."""
    stack: list[tuple[Any, int, str]] = [(v, 1, where)]
    while stack:
        x, d, at = stack.pop()
        if d > limit:
            raise fail(at, f"nested deeper than {limit} levels")
        if isinstance(x, dict):
            stack.extend((y, d + 1, f"{at}[{str(k)[:40]!r}]") for k, y in x.items())
        elif isinstance(x, list):
            stack.extend((y, d + 1, f"{at}[{i}]") for i, y in enumerate(x))
        elif finite and isinstance(x, float) and not math.isfinite(x):
            raise fail(at, f"{x} is not a finite number")


def parse_json(raw: bytes, where: str) -> Any:
    """Parse UTF-8 JSON; nesting past the parser's recursion limit is a FormatError (the schema
    bounds depth below that: every level is checked, free-form values to MAX_DEPTH). NaN,
    Infinity and floats that overflow parse to non-finite floats, which every number spec (and
    :class:`JsonValue`) refuses with the field's name; Python's own limit on integer digits
    refuses absurd integers."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(where, f"not valid UTF-8 ({exc})") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise fail(where, f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise fail(where, f"not valid JSON ({exc})") from None
    # no walk over the whole value here (it cost 4 ms of a ResNet-50 load): the schema checks
    # each level it expects, and free-form values (JsonValue) are walked with a depth bound
    return value


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a bool",
            int: "an integer", float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


class Spec:
    """Checks one JSON value; ``check`` returns it (possibly normalised) or raises FormatError."""

    def check(self, v: Any, where: str) -> Any:
        raise NotImplementedError


class Int(Spec):
    def __init__(self, lo: int = 0, hi: int = MAX_INT) -> None:
        self.lo, self.hi = lo, hi

    def check(self, v: Any, where: str) -> int:
        if not isinstance(v, int) or isinstance(v, bool):
            raise fail(where, f"must be an integer, got {_kind(v)}")
        if not self.lo <= v <= self.hi:
            raise fail(where, f"{v} is out of range [{self.lo}, {self.hi}]")
        return v


class Float(Spec):
    """A finite JSON number (integers accepted)."""

    def check(self, v: Any, where: str) -> float | int:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise fail(where, f"must be a number, got {_kind(v)}")
        if isinstance(v, float) and not math.isfinite(v):
            raise fail(where, "must be finite")
        return v


class Bool(Spec):
    def check(self, v: Any, where: str) -> bool:
        if not isinstance(v, bool):
            raise fail(where, f"must be true or false, got {_kind(v)}")
        return v


class Str(Spec):
    def __init__(self, max_len: int = 4096, *, choices: tuple[str, ...] | None = None,
                 pattern: str | None = None) -> None:
        self.max_len, self.choices = max_len, choices
        self.pattern = re.compile(pattern) if pattern else None

    def check(self, v: Any, where: str) -> str:
        if not isinstance(v, str):
            raise fail(where, f"must be a string, got {_kind(v)}")
        if len(v) > self.max_len:
            raise fail(where, f"string of {len(v)} characters (at most {self.max_len})")
        if self.choices is not None and v not in self.choices:
            raise fail(where, f"{v[:40]!r} is not one of {list(self.choices)}")
        if self.pattern is not None and not self.pattern.fullmatch(v):
            raise fail(where, f"{v[:40]!r} is not a valid value")
        return v


class Nullable(Spec):
    def __init__(self, inner: Spec) -> None:
        self.inner = inner

    def check(self, v: Any, where: str) -> Any:
        return None if v is None else self.inner.check(v, where)


class OneOf(Spec):
    """The first spec that accepts the value; the error of the last one otherwise."""

    def __init__(self, *specs: Spec) -> None:
        self.specs = specs

    def check(self, v: Any, where: str) -> Any:
        err: FormatError | None = None
        for s in self.specs:
            try:
                return s.check(v, where)
            except FormatError as exc:
                err = exc
        assert err is not None
        raise err


class List(Spec):
    def __init__(self, item: Spec, *, max_len: int = 10**7, length: int | None = None) -> None:
        self.item, self.max_len, self.length = item, max_len, length

    def check(self, v: Any, where: str) -> list[Any]:
        if not isinstance(v, list):
            raise fail(where, f"must be a list, got {_kind(v)}")
        if self.length is not None and len(v) != self.length:
            raise fail(where, f"must have {self.length} items, has {len(v)}")
        if len(v) > self.max_len:
            raise fail(where, f"list of {len(v)} items (at most {self.max_len})")
        return [self.item.check(x, f"{where}[{i}]") for i, x in enumerate(v)]


class Map(Spec):
    """An object with arbitrary (checked) keys and uniform values."""

    def __init__(self, value: Spec, *, key: Str | None = None, max_len: int = 10**7) -> None:
        self.value, self.key, self.max_len = value, key or Str(), max_len

    def check(self, v: Any, where: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise fail(where, f"must be an object, got {_kind(v)}")
        if len(v) > self.max_len:
            raise fail(where, f"object of {len(v)} entries (at most {self.max_len})")
        out = {}
        for k, x in v.items():
            self.key.check(k, f"{where} key {k[:40]!r}")
            out[k] = self.value.check(x, f"{where}[{k[:60]!r}]")
        return out


class Obj(Spec):
    """An object with named fields: ``required`` and ``optional`` specs; unknown keys refused
    (a reader must not silently ignore a field it does not understand)."""

    def __init__(self, required: dict[str, Spec], optional: dict[str, Spec] | None = None,
                 *, check: Callable[[dict[str, Any], str], None] | None = None) -> None:
        self.required, self.optional, self.extra_check = required, optional or {}, check

    def check(self, v: Any, where: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise fail(where, f"must be an object, got {_kind(v)}")
        out = {}
        for k, spec in self.required.items():
            sub = f"{where}.{k}" if where else k
            if k not in v:
                raise fail(sub, "missing")
            out[k] = spec.check(v[k], sub)
        for k, x in v.items():
            if k in self.required:
                continue
            sub = f"{where}.{k}" if where else k
            opt = self.optional.get(k)
            if opt is None:
                raise fail(sub[:120], "unknown field")
            out[k] = opt.check(x, sub)
        if self.extra_check is not None:
            self.extra_check(out, where)
        return out


class JsonValue(Spec):
    """Any JSON value of finite numbers nested at most ``max_depth`` deep."""

    def __init__(self, max_depth: int = 8) -> None:
        self.max_depth = max_depth

    def check(self, v: Any, where: str) -> Any:
        _walk(v, self.max_depth, where)
        return v
