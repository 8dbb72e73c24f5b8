"""sckit.atomic.atomic_open: complete file or the old one, plain-open permissions, no leftovers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sckit.atomic import atomic_open


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_writes_binary_and_text_with_open_permissions(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    with atomic_open(tmp_path / "a.bin") as f:
        f.write(b"\x00\x01")
    with atomic_open(tmp_path / "b.txt", "w", encoding="utf-8") as f:
        f.write("é")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "é"
    assert _mode(tmp_path / "a.bin") == _mode(plain) == _mode(tmp_path / "b.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "plain"]


def test_error_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "m.sck"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="mid-write"), atomic_open(target) as f:
        f.write(b"new, half")
        raise RuntimeError("mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["m.sck"]


def test_bad_mode() -> None:
    with pytest.raises(ValueError, match="mode"), atomic_open("x", "a"):
        pass


# -- stale temporaries, symlinks ------------------------------------------------------------------
_HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.skipif(os.name != "posix", reason="flock and pids")
def test_stale_temporaries_removed_live_ones_kept(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    target = tmp_path / "m.sck"
    dead = tmp_path / f".m.sck.{_dead_pid()}.abc123.tmp"
    dead.write_bytes(b"x" * 1000)
    old_style = tmp_path / ".m.sck.k3j_9x.tmp"  # before pids were in the name: removed by age
    old_style.write_bytes(b"y")
    os.utime(old_style, (time.time() - 3600, time.time() - 3600))
    young_unknown = tmp_path / ".m.sck.q1w2e3.tmp"  # no pid, young: could be a writer starting
    young_unknown.write_bytes(b"z")
    other_target = tmp_path / f".other.sck.{_dead_pid()}.abc.tmp"  # another file's temporary
    other_target.write_bytes(b"o")
    live = tmp_path / f".m.sck.{os.getpid() + 1}.live01.tmp"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(live)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        os.utime(live, (time.time() - 3600, time.time() - 3600))  # old, but its lock is held
        with atomic_open(target) as f:
            f.write(b"new")
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == sorted(["m.sck", live.name, young_unknown.name, other_target.name]), names
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone (its lock with it): the next save removes its temporary
    with atomic_open(target) as f:
        f.write(b"newer")
    assert not live.exists() and target.read_bytes() == b"newer"


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_killed_save_leaves_nothing_after_the_next_save(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    target = tmp_path / "m.sck"
    code = f"""
import sys, time, torch
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
from sckit.container import Writer
w = Writer({str(target)!r})
w.add_tensor("a", torch.zeros(1 << 20))
print("written", flush=True)
time.sleep(60)
"""
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "written"
        temps = [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]
        assert len(temps) == 1 and temps[0].stat().st_size >= 4 << 20  # streamed, not held back
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.wait()
    assert temps[0].exists()
    with atomic_open(target) as f:
        f.write(b"ok")
    assert sorted(q.name for q in tmp_path.iterdir()) == ["m.sck"]


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_saving_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "model.sck"
    real.write_bytes(b"old")
    link = tmp_path / "link.sck"
    link.symlink_to(real)
    with atomic_open(link) as f:
        f.write(b"new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"new"
    dangling = tmp_path / "dangling.sck"
    dangling.symlink_to(real_dir / "later.sck")
    with atomic_open(dangling) as f:
        f.write(b"made")
    assert dangling.is_symlink() and (real_dir / "later.sck").read_bytes() == b"made"
    assert sorted(p.name for p in real_dir.iterdir()) == ["later.sck", "model.sck"]
