"""Append-only JSON-lines cache of sweep rows, so interrupted sweeps resume and repeats are free.

One line per finished configuration: ``{"v": 1, "key": <config key>, "row": {...}}``. Each line is
written whole, flushed and fsync'ed before the next configuration starts, so an interruption
(Ctrl-C, a killed kernel, a crash) can at worst leave a *truncated last line*; reading ignores it
with a warning and the next append cuts it off first. Earlier lines are never rewritten. JSON, not
pickle: a cache file from elsewhere cannot execute code, and it stays human-readable.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

__all__ = ["SweepCache", "CACHE_VERSION"]

CACHE_VERSION = 1


def _clean(value: Any) -> Any:
    """Row values as JSON: numpy scalars to Python, NaN to null (JSON has no NaN)."""
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else value  # +/-inf: json writes Infinity, reads it back
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class SweepCache:
    """A sweep cache file at ``path`` (created on first append; parent folder must exist)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise ValueError(f"cache path {self.path} is a directory; pass a file path (e.g. sweep.jsonl)")
        self._good_end: int | None = None  # byte offset after the last complete line

    def load(self) -> dict[str, dict[str, Any]]:
        """Rows by key (the last line of a key wins). Truncated or unreadable lines are skipped with
        a warning naming the line."""
        rows: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            self._good_end = 0
            return rows
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1  # 0 when there is no complete line
        self._good_end = end
        if end < len(data):
            warnings.warn(
                f"sweep cache {self.path}: ignoring a truncated last line ({len(data) - end} bytes, "
                "an interrupted write); that configuration will run again",
                RuntimeWarning,
                stacklevel=3,
            )
        for lineno, raw in enumerate(data[:end].splitlines(), 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                key, row, version = rec["key"], rec["row"], rec.get("v")
            except (ValueError, KeyError, TypeError):
                warnings.warn(f"sweep cache {self.path}: skipping unreadable line {lineno}", RuntimeWarning, stacklevel=3)
                continue
            if version != CACHE_VERSION or not isinstance(row, dict):
                warnings.warn(
                    f"sweep cache {self.path}: skipping line {lineno} (format version {version!r}, "
                    f"expected {CACHE_VERSION})",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            rows[str(key)] = row
        return rows

    def append(self, key: str, row: dict[str, Any]) -> None:
        """Write one row as one line, flushed and synced to disk before returning."""
        line = json.dumps({"v": CACHE_VERSION, "key": key, "row": _clean(row)}, sort_keys=True)
        if "\n" in line:  # json.dumps never emits raw newlines; guard the one-line invariant anyway
            raise ValueError("cache line must not contain a newline")
        if self._good_end is None:
            self.load()
        good_end = self._good_end or 0
        with open(self.path, "ab") as fh:
            if fh.tell() != good_end:
                # cut a truncated tail left by an interrupted write, so it cannot glue onto this line
                fh.truncate(good_end)
                fh.seek(good_end)
            fh.write(line.encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
            self._good_end = fh.tell()
