"""Write files so that readers see the old content or the new one, never half a file.

A temporary file in the target's folder is written, flushed to disk and renamed over the target
(``os.replace`` is atomic on POSIX and Windows); on any error the temporary file is removed and
the old target is left as it was. Every file sckit writes for users goes through here: model
containers, reports, the trained-model cache and compiled kernels.

Temporary files are named ``.<name>.<pid>.<random>.tmp`` and their writer holds an exclusive
``flock`` on them while it writes. A writer killed with SIGKILL cannot remove its temporary file,
but the kernel drops its lock, so the next write into the folder removes temporaries of the same
target whose lock is free and whose writer process is gone (or which are older than
:data:`STALE_AFTER_S`): a live writer's file is never touched, because its lock is held.

A symlink at the target is kept: the file it points to is what gets replaced.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:  # POSIX advisory locks; elsewhere stale files are recognised by age alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["STALE_AFTER_S", "atomic_open", "remove_stale_temporaries", "resolve_target"]

# a temporary whose lock is free is left alone this long unless its writer is known dead: the
# window between mkstemp and flock, and writers on another host sharing the folder (NFS)
STALE_AFTER_S = 300.0


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


def resolve_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to ``path`` should replace: the final target of a symlink chain (dangling
    links included), else ``path`` itself, so saving through a link keeps the link."""
    p = Path(path)
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # exists but belongs to someone else (or an absurd number: keep)
    return True


def remove_stale_temporaries(target: str | os.PathLike[str], *, now: float | None = None) -> list[str]:
    """Remove temporaries left by killed writers of ``target`` (same folder and name pattern);
    returns the names removed. A file is removed only when no process holds its lock and either
    its writer's pid is gone or it is older than :data:`STALE_AFTER_S`."""
    t = Path(target)
    folder, name = t.parent, t.name
    pattern = re.compile(rf"^\.{re.escape(name)}\.(?:(\d+)\.)?[A-Za-z0-9_]+\.tmp$")
    removed: list[str] = []
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for de in entries:
        m = pattern.match(de.name)
        if not m:
            continue
        with contextlib.suppress(OSError):
            if _remove_if_stale(de.path, int(m.group(1)) if m.group(1) else None, now):
                removed.append(de.name)
    return removed


def _remove_if_stale(path: str, pid: int | None, now: float) -> bool:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not (st.st_mode & 0o170000 == 0o100000):  # a regular file only
            return False
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # a live writer holds it
        dead = pid is not None and pid != os.getpid() and not _pid_alive(pid)
        if not (dead or now - st.st_mtime > STALE_AFTER_S):
            return False
        # the name may have been renamed onto the target since we opened it: unlink only if the
        # path still names the inode we locked
        cur = os.stat(path, follow_symlinks=False)
        if (cur.st_dev, cur.st_ino) != (st.st_dev, st.st_ino):
            return False
        os.unlink(path)
        return True
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", *,
                encoding: str | None = None) -> Iterator[IO[Any]]:
    """``with atomic_open(path) as f: f.write(...)``: ``path`` appears, complete, on success.

    ``mode`` is "wb", "w" (text, ``encoding`` as for ``open``) or "w+b" (binary, seekable and
    readable: the container writer goes back to fill in its prefix). The file gets the
    permissions a plain ``open`` would give it (mkstemp's are 0600). A symlink at ``path`` is
    kept and its target replaced; stale temporaries of killed writers of the same target are
    removed first (see the module docstring).
    """
    if mode not in ("wb", "w", "w+b"):
        raise ValueError(f"mode must be 'wb', 'w' or 'w+b', got {mode!r}")
    target = resolve_target(path)
    folder = target.parent
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel however this process ends
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
            # renamed while still open and locked, so a cleaner never sees it unlocked
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
