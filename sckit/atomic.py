"""Write files so that readers see the old content or the new one, never half a file.

A temporary file in the target's folder is written, flushed to disk and renamed over the target
(``os.replace`` is atomic on POSIX and Windows); on any error the temporary file is removed and
the old target is left as it was. Every file sckit writes for users goes through here: model
containers, reports, the trained-model cache and compiled kernels.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open"]


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask, read once on first use. Linux shows it in /proc; elsewhere os.umask
    can only read it by setting it, which briefly races with threads creating files."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", *,
                encoding: str | None = None) -> Iterator[IO[Any]]:
    """``with atomic_open(path) as f: f.write(...)``: ``path`` appears, complete, on success.

    ``mode`` is "wb" or "w" (text, ``encoding`` as for ``open``). The file gets the permissions
    a plain ``open`` would give it (mkstemp's are 0600).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    folder = target.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable (not every filesystem can)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
